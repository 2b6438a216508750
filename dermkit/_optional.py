"""Lazy access to TensorFlow / Keras.

Readers, superpixel conversion and NumPy metrics work without TensorFlow; models, losses, pipelines and
trainers need it. Those subpackages call :func:`require_tensorflow` before importing Keras, so a missing
install fails with a message naming the extra to install instead of a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib.util
import os

__all__ = ["require_tensorflow", "tensorflow_available"]

_INSTALL_HINT = (
    "pip install 'dermkit[cpu]' (tensorflow-cpu) or pip install 'dermkit[gpu]' (TensorFlow with CUDA)"
)


def tensorflow_available() -> bool:
    """True when TensorFlow can be imported (without importing it)."""
    return importlib.util.find_spec("tensorflow") is not None


def require_tensorflow(feature: str) -> None:
    """Raise ``ImportError`` naming the extra to install when TensorFlow is missing.

    Args:
        feature: what needs TensorFlow, e.g. ``"dermkit.models"``; it appears in the message.

    Raises:
        ImportError: TensorFlow is not installed.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not tensorflow_available():
        raise ImportError(f"{feature} needs TensorFlow, which is not installed: {_INSTALL_HINT}.")
    backend = os.environ.get("KERAS_BACKEND")
    if backend != "tensorflow":
        raise ImportError(
            f"{feature} runs on the TensorFlow backend of Keras 3; KERAS_BACKEND={backend!r} is set. "
            "Unset it or set KERAS_BACKEND=tensorflow before importing dermkit."
        )
