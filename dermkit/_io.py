"""File-writing helpers shared by the whole package: no partial outputs, no silent overwrites."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["check_overwrite", "atomic_path", "atomic_write_text", "atomic_savez", "default_file_mode",
           "TEMP_MARKER", "temporary_prefix", "is_temporary", "remove_temporaries"]

#: Every temporary name dermkit writes is hidden and holds this marker: ``.NAME.tmp-XXXXXXXX.SUFFIX``.
TEMP_MARKER = ".tmp-"
#: Temporary names of earlier versions: ``.STEM.XXXXXXXX.SUFFIX`` (mkstemp) and ``.STEM.XXXXXXXX.tmp.weights.h5``.
_LEGACY_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}(\.tmp\.weights\.h5|\.[A-Za-z0-9]+)?$")


def temporary_prefix(name: str) -> str:
    """The ``mkstemp`` prefix of a temporary file standing for the final file name ``name``."""
    return f".{name}{TEMP_MARKER}"


def is_temporary(name: str) -> bool:
    """Whether the file or folder name ``name`` is a temporary dermkit writes (then renames): hidden, with
    :data:`TEMP_MARKER` in it, or an earlier version's hidden ``mkstemp`` name."""
    return name.startswith(".") and (TEMP_MARKER in name or bool(_LEGACY_TEMP.match(name)))


def remove_temporaries(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Delete the temporaries (:func:`is_temporary`) a killed writer left in ``folder`` (and below it).

    Only for folders dermkit owns and while no other process writes into them (the engine calls it for the
    row it holds the lock of). Returns what was removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in sorted(folder.iterdir()):
        if is_temporary(path.name):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        elif recursive and path.is_dir() and not path.is_symlink():
            removed += remove_temporaries(path, recursive=True)
    return removed


def default_file_mode() -> int:
    """The mode a newly created file gets under the current umask (0o644 under umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def check_overwrite(path: str | os.PathLike, overwrite: bool) -> Path:
    """Return ``Path(path)``; raise ``FileExistsError`` if it exists and ``overwrite`` is False."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (or --overwrite) to replace it.")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path`` atomically.

    The output gets the usual mode of a new file under the umask (not ``mkstemp``'s 0600). If the body
    raises, the temporary file is removed and ``path`` is untouched, so a crash never leaves a
    partially written output. The temporary name keeps the suffix, so writers that dispatch on it
    (``PIL.Image.save``, ``pandas``, ``h5py``) behave as for the final name.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = check_overwrite(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path.stem), suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files: give the output the mode the umask gives
            os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike, text: str, overwrite: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8). Returns the path."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_savez(path: str | os.PathLike, arrays: dict, *, overwrite: bool = False) -> Path:
    """Write ``arrays`` (name → array) to the ``.npz`` file ``path`` atomically (``np.savez_compressed``).
    Returns the path."""
    import numpy as np

    with atomic_path(path, overwrite=overwrite) as tmp:
        np.savez_compressed(tmp, **arrays)
    return Path(path)
