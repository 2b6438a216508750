"""Small helpers on built Keras models."""

from __future__ import annotations

import os
from pathlib import Path

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.models.utils")

import keras  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["set_batchnorm_momentum", "batchnorm_layers", "save_model_for_inference", "lsuv_init"]


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


def lsuv_init(model: keras.Model, images, *, seed: int = 0, layers=None) -> keras.Model:
    """Layer-sequential unit-variance initialisation (Mishkin & Matas, "All you need is a good init", ICLR 2016)
    of a model's convolutions, in place, for training from random weights.

    Each ``keras.layers.Conv2D`` of ``model`` (or of ``layers``), in the model's layer order, gets an
    orthonormal kernel (``keras.initializers.Orthogonal``, seeded) and a zero bias, and is then rescaled so
    that its **pre-activation** output on ``images`` has unit standard deviation. The convolution is linear
    in its kernel once the bias is zero, so one rescale is exact (no iteration); later layers see the
    already rescaled earlier ones. Why it matters: a from-scratch VGG16 takes ImageNet-"caffe" inputs (pixel
    values ± 128) and keeps that scale through Keras' default Glorot kernels, so its features (and an LSTM or
    softmax fed by them) start saturated and train slowly or not at all; after LSUV every layer starts at
    unit scale. Used by barata2020's ``--quick`` run (random encoders); ImageNet weights need none of it.

    Args:
        model: a built functional (or sequential) Keras model whose convolutions take their input from the
            model's graph (the hierarchical classifier: pass its ``encoder``).
        images: a batch the model takes (e.g. 16–64 training images); only its statistics are used.
        seed: seeds the orthonormal kernels (layer i uses ``seed + i``).
        layers: the Conv2D layers to initialise, default every Conv2D of ``model`` in order.

    Returns:
        ``model``.

    Raises:
        ValueError: ``layers`` holds a layer that is not a ``Conv2D`` of ``model``, or a layer's output on
            ``images`` is constant (its scale is undefined).
    """
    from keras import ops

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if layers is not None:
        layers = list(layers)
        bad = [getattr(layer, "name", layer) for layer in layers if not any(layer is c for c in convs)]
        if bad:
            raise ValueError(f"lsuv_init: layers must be Conv2D layers of the model. Received: {bad}")
        convs = [c for c in convs if any(c is layer for layer in layers)]
    x = ops.convert_to_tensor(images)
    for i, conv in enumerate(convs):
        kernel = keras.initializers.Orthogonal(seed=int(seed) + i)(tuple(conv.kernel.shape))
        conv.kernel.assign(kernel)
        if conv.use_bias:
            conv.bias.assign(ops.zeros_like(conv.bias))
        inputs = keras.Model(model.input, conv.input)(x)
        pre = conv.convolution_op(inputs, conv.kernel)
        std = float(np.std(ops.convert_to_numpy(pre).astype(np.float64)))
        if not np.isfinite(std) or std == 0.0:
            raise ValueError(f"lsuv_init: layer {conv.name!r} gives a constant output on the images given "
                             f"(std {std}); pass a batch of real, varied images")
        conv.kernel.assign(conv.kernel / std)
    return model
