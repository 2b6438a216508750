"""Exceptions raised by dermkit for bad input data.

Every message names the offending file (when there is one) and says what is wrong with it.
"""

from __future__ import annotations

__all__ = ["DermkitDataError", "DermkitFileNotFoundError"]


class DermkitDataError(ValueError):
    """Input data is malformed: corrupt image, size mismatch, bad JSON, missing column, NaN, ..."""


class DermkitFileNotFoundError(DermkitDataError, FileNotFoundError):
    """A file or folder that the data layout requires does not exist."""
