"""Small helpers on built Keras models."""

from __future__ import annotations

import os
from pathlib import Path

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.models.utils")

import keras  # noqa: E402

__all__ = ["set_batchnorm_momentum", "batchnorm_layers", "save_model_for_inference"]


def batchnorm_layers(model: keras.Model) -> list:
    """Every ``keras.layers.BatchNormalization`` layer of ``model``, nested models and layers included."""
    found, seen = [], set()

    def walk(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        for child in getattr(layer, "layers", None) or ():
            walk(child)

    for layer in model.layers:
        walk(layer)
    return found


def set_batchnorm_momentum(model: keras.Model, momentum: float | None) -> keras.Model:
    """Set the moving-average momentum of every BatchNormalization layer of ``model``, in place.

    Keras updates a layer's moving statistics as ``moving = momentum · moving + (1 − momentum) · batch``;
    the builders keep Keras' default 0.99 (as segmentation-models and ``keras.applications`` do). goel2021's
    ``--quick`` run uses 0.9: with 0.99 the moving statistics (used at validation and test time) would still
    be mostly their initial values after its few dozen training steps, and every prediction would be off.

    Call it before ``compile``/``fit`` (a traced train step keeps the momentum it was traced with).

    Args:
        model: any Keras model.
        momentum: in [0, 1); None leaves the layers unchanged.

    Returns:
        ``model``.

    Raises:
        ValueError: ``momentum`` outside [0, 1).
    """
    if momentum is None:
        return model
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be a number in [0, 1) or None. Received: momentum={momentum!r}")
    for layer in batchnorm_layers(model):
        layer.momentum = float(momentum)
    return model


def save_model_for_inference(model: keras.Model, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Save ``model`` as a ``.keras`` file without optimizer state, atomically (a third of the size after Adam).

    Keras 3's ``model.save`` ignores ``include_optimizer=False`` and ``keras.models.clone_model`` keeps the
    compile state, so the model is rebuilt uncompiled from its config with the same weights and saved; it
    reloads with :func:`dermkit.load_model` and predicts exactly as ``model``.

    Raises:
        ValueError: ``path`` does not end in ``.keras``. FileExistsError: it exists and ``overwrite`` is False.
    """
    from dermkit._io import atomic_path

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"save_model_for_inference writes a '.keras' file. Received: path={str(path)!r}")
    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.unlink()  # Keras writes the zip itself
        clone.save(tmp)
    return path
