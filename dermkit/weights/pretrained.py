"""Build a model ready to predict from released weights: registry name → builder + arguments + weights."""

from __future__ import annotations

import os
from typing import Any

from dermkit.weights.loading import weights_info
from dermkit.weights.registry import REGISTRY

__all__ = ["pretrained_model"]


def pretrained_model(
    weights: str | os.PathLike,
    *,
    builder: str | None = None,
    input_size: tuple[int, int] | None = None,
    **builder_kwargs: Any,
):
    """Rebuild the model a weights file belongs to and load it.

    Args:
        weights: a registry name (``weights/README.md``; the entry names its builder, arguments and input
            size) or a path to a weights file (then ``builder`` and its arguments must be given, or default
            to the kawahara2018 ISIC 2017 Part 2 model: ``vgg16_fcn`` with 4 classes at 336×336).
        builder: a :mod:`dermkit.models` builder name, overriding the registry's.
        input_size: ``(height, width)``; default the registry entry's (336×336 for kawahara2018).
        **builder_kwargs: further builder arguments (override the registry's).

    Returns:
        The built ``keras.Model`` with the weights loaded (RGB float32 [0, 1] input, ``preprocess=True``).

    Raises:
        ValueError: unknown registry name (close matches listed). Errors of the loader otherwise.
    """
    import dermkit.models

    name = os.fspath(weights)
    looks_like_path = os.path.exists(name) or os.sep in name or name.endswith(".h5")
    if name in REGISTRY or not looks_like_path:
        entry = weights_info(name)  # raises with close matches for an unknown name
        kwargs = {**entry.builder_kwargs, **builder_kwargs}
        builder = builder or entry.builder
        size = input_size or entry.input_size
    else:
        kwargs = {"num_classes": 4, **builder_kwargs} if builder in (None, "vgg16_fcn") else dict(builder_kwargs)
        builder = builder or "vgg16_fcn"
        size = input_size or (336, 336)
    build = getattr(dermkit.models, builder)
    return build(input_shape=(int(size[0]), int(size[1]), 3), weights=name, **kwargs)
