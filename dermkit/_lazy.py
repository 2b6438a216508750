"""Lazy package exports and the registration rule shared by dermkit's packages (issue 18).

Every public class and function is importable from its package's top (``from dermkit.training import
GANTrainer``). Packages that dermkit's TensorFlow-free parts import (``dermkit.data``, ``dermkit.metrics``,
``dermkit.training`` — the paper grids of ``dermkit.papers`` and the ``synth`` / scoring commands read them)
resolve their exports on first access (PEP 562 module ``__getattr__``), so importing them stays
TensorFlow-free. The rule that makes ``keras.saving.load_model`` work after importing any dermkit package:

* ``import dermkit.models``, ``dermkit.losses``, ``dermkit.explain`` import TensorFlow and register every
  dermkit serialisable (:mod:`dermkit._register`) at once;
* ``import dermkit.data``, ``dermkit.metrics``, ``dermkit.training`` register everything at once when Keras is
  already imported, and otherwise at the first access of an export that needs TensorFlow.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports", "register_if_keras_loaded"]


def register_if_keras_loaded() -> None:
    """Register every dermkit serialisable when Keras is already imported (it costs no TensorFlow import)."""
    if "keras" in sys.modules:
        from dermkit._register import register_all

        register_all()


def lazy_exports(package: str, exports: Mapping[str, str],
                 namespace: dict) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package`` for ``exports`` (name → defining module).

    The first access of a name imports its module, caches the object in the package's ``namespace`` and, if
    that import loaded Keras, registers every dermkit serialisable (:func:`register_if_keras_loaded`).
    """

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        register_if_keras_loaded()
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
