"""Atomic writers: outputs get the mode the umask gives (not mkstemp's 0600), no temporary files left behind."""

from __future__ import annotations

import os
import stat

import pytest

from dermkit._io import atomic_path, atomic_write_text


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_outputs_get_the_umask_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        text = atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_path(tmp_path / "b.csv") as tmp:
            tmp.write_text("y")
    finally:
        os.umask(old)
    assert stat.S_IMODE(text.stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "b.csv").stat().st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.csv"]


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "c.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_savez_round_trip_and_no_silent_overwrite(tmp_path):
    import numpy as np

    from dermkit._io import atomic_savez

    path = atomic_savez(tmp_path / "a.npz", {"x": np.arange(3), "names": np.array(["a", "b"])})
    with np.load(path) as f:
        assert f["x"].tolist() == [0, 1, 2] and f["names"].tolist() == ["a", "b"]
    with pytest.raises(FileExistsError):
        atomic_savez(path, {"x": np.zeros(1)})
    atomic_savez(path, {"x": np.ones(2)}, overwrite=True)
    with np.load(path) as f:
        assert f["x"].tolist() == [1.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]  # no temporary left behind
