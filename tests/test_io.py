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
