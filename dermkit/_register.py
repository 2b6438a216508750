"""Register every dermkit Keras serialisable (layers, losses, metrics) with Keras, by importing its module.

A saved ``.keras`` model names its custom objects ``"dermkit>ImageNetPreprocess"``, ``"dermkit>DiceF1Loss"``,
...; ``keras.saving.load_model`` finds them only once the module that defines each one has run its
``@keras.saving.register_keras_serializable(package="dermkit")`` decorator. Importing this module imports
all of :data:`REGISTERED_MODULES` (and so needs TensorFlow).

When it runs: :func:`dermkit.load_model` imports it; so do the TensorFlow-using modules of
``dermkit.models`` (the builders and ``dermkit.models.layers``), ``dermkit.losses`` (its ``__init__``, run
by any import of a loss) and ``dermkit.metrics.keras_metrics`` (also reached through the lazy
``dermkit.metrics.ChannelDice``). ``import dermkit``, ``import dermkit.models`` and ``import dermkit.metrics``
stay free of TensorFlow; the first use of a builder, a loss or a Keras metric registers everything.
"""

from __future__ import annotations

import importlib

from dermkit._optional import require_tensorflow

__all__ = ["REGISTERED_MODULES", "register_all"]

#: Every module of dermkit that defines a ``register_keras_serializable(package="dermkit")`` object
#: (a test checks this list against the source tree).
REGISTERED_MODULES = (
    "dermkit.models.layers",
    "dermkit.models.attention",
    "dermkit.losses.dice",
    "dermkit.losses.class_weighted",
    "dermkit.losses.weighting",
    "dermkit.losses.sample_weighting",
    "dermkit.metrics.keras_metrics",
    "dermkit.training.schedules",
    "dermkit.models.alexnet",
    "dermkit.losses.triplet",
    "dermkit.models.partialconv",
    "dermkit.losses.inpainting",
    "dermkit.models.dilated_unet",
    "dermkit.models.dcgan",
    "dermkit.training.gan",
    "dermkit.training.triplet",
)


def register_all() -> None:
    """Import every module of :data:`REGISTERED_MODULES` (idempotent).

    Safe to call from one of those modules while it is being imported: a module already in ``sys.modules``
    is not run again, and this module only needs the modules' side effect (their decorators).

    Raises:
        ImportError: TensorFlow is not installed (the message names the extra to install).
    """
    require_tensorflow("registering dermkit's Keras layers, losses and metrics")
    for name in REGISTERED_MODULES:
        importlib.import_module(name)


register_all()
