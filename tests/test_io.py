"""Atomic writers: outputs get the mode the umask gives (not mkstemp's 0600), no temporary files left behind."""

from __future__ import annotations

import os
import stat

import pytest

from dermkit._io import atomic_path, atomic_write_text, is_temporary, remove_temporaries, temporary_prefix


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


@pytest.mark.parametrize(("name", "temporary"), [
    (".best.tmp-ab12cd34.weights.h5", True),  # save_weights_atomically
    (".table_T.tmp-k3j4l5m6.md", True),  # atomic_path
    (".history.k3j4l5m6.csv", True),  # an earlier version's mkstemp name
    (".best.ab12cd34.tmp.weights.h5", True),  # an earlier version's weights temporary
    ("best.weights.h5", False),
    (".fingerprint", False),
    ("table.tmp-ab12cd34.md", False),  # not hidden: not ours
    ("best.weights.h5.corrupt", False),
])
def test_is_temporary_knows_every_temporary_name_dermkit_writes(name, temporary):
    assert is_temporary(name) is temporary


def test_the_names_the_atomic_writers_use_are_temporary(tmp_path):
    seen = []
    with atomic_path(tmp_path / "table_T.md") as tmp:
        seen.append(tmp.name)
        tmp.write_text("x")
    assert seen[0].startswith(temporary_prefix("table_T")) and is_temporary(seen[0])


def test_remove_temporaries_removes_them_below_a_folder_and_nothing_else(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    temporaries = [tmp_path / ".x.tmp-12345678.json", tmp_path / "a" / ".y.abcdefgh.csv",
                   tmp_path / "a" / "b" / ".z.tmp-aaaaaaaa.weights.h5"]
    kept = [tmp_path / "x.json", tmp_path / "a" / ".fingerprint", tmp_path / "a" / "b" / "z.weights.h5"]
    for path in temporaries + kept:
        path.write_text("x")
    (tmp_path / ".staged.tmp-bbbbbbbb").mkdir()  # a temporary folder
    (tmp_path / ".staged.tmp-bbbbbbbb" / "f").write_text("x")
    removed = remove_temporaries(tmp_path)
    assert sorted(removed) == sorted(temporaries + [tmp_path / ".staged.tmp-bbbbbbbb"])
    assert all(p.exists() for p in kept) and not any(p.exists() for p in temporaries)
    assert remove_temporaries(tmp_path / "missing") == []
    (tmp_path / "a" / ".y.abcdefgh.csv").write_text("x")
    assert remove_temporaries(tmp_path, recursive=False) == []  # only the folder itself
