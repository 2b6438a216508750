"""VisualBackProp (Bojarski et al., "VisualBackProp: efficient visualization of CNNs", 2016; ICRA 2018) — the
visualisation of bisla2019 Figs. 2 and 8 ("highlights the part of the image that the network focuses on").

The method, as Bojarski et al. describe it: (1) average the feature maps of each chosen convolutional layer
over its channels (after the ReLU); (2) scale the deepest averaged map up to the size of the one before it
"using deconvolution with filter size and stride that are the same as the ones used in the deepest
convolutional layer for which we are scaling up", with all weights 1 and bias 0; (3) multiply point-wise with
that shallower averaged map; (4) repeat up to the input's size (the last scaling goes from the shallowest
chosen layer to the input); (5) normalise the result to [0, 1].

Scaling (default, ``kernel_size=None``: Bojarski et al.). Between two chosen maps, dermkit undoes, deepest
first, every layer in between that changes the spatial size — a convolution (``Conv2D`` and its subclasses:
kernel, stride, dilation, padding) or pooling layer (pool size, stride, padding), or a ``ZeroPadding2D`` /
``Cropping2D`` — by a transposed convolution with an all-ones kernel of that layer's kernel size and stride
(``out[i·s + a·d] += x[i]``), then crops to the layer's input (the offset of its padding: Keras ``"same"``
puts ``total // 2`` at the top, ``"valid"`` none; a ``ZeroPadding2D`` is cropped off). Layers of parallel
branches with the same sizes (a residual block's shortcut beside its main path) are undone once. Layers that
keep the size (a stride-1 ``"same"`` convolution) are not scaled, as equal maps are multiplied without
scaling. dermkit's choice where Bojarski et al.'s networks have no such layer: a layer whose kernel is smaller
than its stride (ResNet's 1×1 stride-2 convolutions) is undone with kernel = stride, so no pixel is left
without a value. Where a size change is not explained by such layers (an up-sampling layer, a nested model),
the step falls back to the stride rule below.

``kernel_size="stride"`` is the older rule: one deconvolution per step with stride ``s = H / h`` (rounded, per
side) and kernel ``k = s`` (each value copied into an ``s × s`` block); an integer ``kernel_size`` uses that
kernel at the same stride. The result is cropped (or zero-padded) at the bottom/right to the target size.

Default layers: for :func:`dermkit.models.classifiers.resnet50_classifier` the outputs of ResNet-50's five
stages (:data:`RESNET50_LAYERS`); for any other model every ReLU-activated 4-D layer output (``ReLU`` layers,
``Activation("relu")`` and convolutions with ``activation="relu"``).
"""

from __future__ import annotations

import numpy as np

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.explain.visual_backprop")

import keras  # noqa: E402

__all__ = ["visual_backprop", "ones_deconvolution", "default_layers", "scaling_layers", "RESNET50_LAYERS"]

#: The stage outputs of Keras' ResNet-50 (112, 56, 28, 14, 7 px at 224).
RESNET50_LAYERS = ("conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out")


def ones_deconvolution(maps: np.ndarray, stride: tuple[int, int], kernel: tuple[int, int],
                       dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Transposed convolution of ``[N, h, w]`` maps with an all-ones ``kernel`` at ``stride`` (no padding):
    ``out[i·s + a·d, j·t + b·e] += x[i, j]`` for ``0 ≤ a < k_h, 0 ≤ b < k_w`` →
    ``[N, (h−1)s + (k_h−1)d + 1, (w−1)t + (k_w−1)e + 1]``."""
    n, h, w = maps.shape
    (s, t), (kh, kw), (d, e) = stride, kernel, dilation
    out = np.zeros((n, (h - 1) * s + (kh - 1) * d + 1, (w - 1) * t + (kw - 1) * e + 1), np.float64)
    for a in range(kh):
        for b in range(kw):
            out[:, a * d:a * d + (h - 1) * s + 1:s, b * e:b * e + (w - 1) * t + 1:t] += maps
    return out


def _fit(maps: np.ndarray, size: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Crop ``[N, h, w]`` from ``offset`` to ``size``, zero-padding at the bottom/right where it is short."""
    h, w = size
    maps = maps[:, offset[0]:offset[0] + h, offset[1]:offset[1] + w]
    return np.pad(maps, ((0, 0), (0, h - maps.shape[1]), (0, w - maps.shape[2])))


def _stride_rule(maps: np.ndarray, size: tuple[int, int], kernel_size) -> np.ndarray:
    h, w = maps.shape[1:]
    stride = (max(1, int(round(size[0] / h))), max(1, int(round(size[1] / w))))
    kernel = stride if kernel_size in (None, "stride") else (int(kernel_size), int(kernel_size))
    return _fit(ones_deconvolution(maps, stride, kernel), size)


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if np.isscalar(value) else (int(value[0]), int(value[1]))


def _sides(tensor) -> tuple[int, int] | None:
    shape = getattr(tensor, "shape", None)
    if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def _undo_spec(layer) -> dict | None:
    """How to undo one size-changing layer: ``{"in", "out", kind, ...}``, or None when it keeps the size or is
    not a convolution / pooling / padding / cropping layer."""
    try:
        inside, outside = _sides(layer.input), _sides(layer.output)
    except (AttributeError, ValueError):  # a layer used more than once, or not built in a graph
        return None
    if inside is None or outside is None or inside == outside:
        return None
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, _), (left, _) = layer.padding
        return {"in": inside, "out": outside, "crop": (int(top), int(left))}
    if isinstance(layer, keras.layers.Cropping2D):
        (top, _), (left, _) = layer.cropping
        return {"in": inside, "out": outside, "pad": (int(top), int(left))}
    if isinstance(layer, keras.layers.Conv2D):
        kernel, stride = _pair(layer.kernel_size), _pair(layer.strides)
        dilation, padding = _pair(getattr(layer, "dilation_rate", 1)), layer.padding
    elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        kernel, stride, dilation, padding = _pair(layer.pool_size), _pair(layer.strides), (1, 1), layer.padding
    else:
        return None
    return {"in": inside, "out": outside, "kernel": kernel, "stride": stride, "dilation": dilation,
            "padding": padding}


def scaling_layers(model: keras.Model, shallow: str | None, deep: str) -> list[tuple[str, dict]]:
    """The size-changing layers VisualBackProp undoes between layer ``shallow`` (None: the input) and layer
    ``deep``, deepest first, one per size step (parallel branches undone once): ``[(name, spec), ...]``."""
    order = [layer.name for layer in model.layers]
    start = -1 if shallow is None else order.index(shallow)
    stop = order.index(deep)
    chain: list[tuple[str, dict]] = []
    current = _sides(model.get_layer(deep).output)
    for layer in reversed(model.layers[start + 1:stop + 1]):
        spec = _undo_spec(layer)
        if spec is not None and spec["out"] == current:
            chain.append((layer.name, spec))
            current = spec["in"]
    return chain


def _undo(maps: np.ndarray, spec: dict) -> np.ndarray:
    size = spec["in"]
    if "crop" in spec:
        return _fit(maps, size, spec["crop"])
    if "pad" in spec:
        top, left = spec["pad"]
        padded = np.pad(maps, ((0, 0), (top, 0), (left, 0)))
        return _fit(padded, size)
    kernel, stride, dilation = spec["kernel"], spec["stride"], spec["dilation"]
    kernel = tuple(s if (k - 1) * d + 1 < s else k for k, s, d in zip(kernel, stride, dilation))  # k < s: k = s
    dilation = tuple(1 if (k0 - 1) * d + 1 < s else d for k0, s, d in zip(spec["kernel"], stride, dilation))
    up = ones_deconvolution(maps, stride, kernel, dilation)
    offset = (0, 0)
    if spec["padding"] == "same":
        offset = tuple(max(u - n, 0) // 2 for u, n in zip(up.shape[1:], size))
    return _fit(up, size, offset)


def _scale(maps: np.ndarray, size: tuple[int, int], chain, kernel_size) -> np.ndarray:
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    if kernel_size is None and chain:
        out = maps
        for _, spec in chain:
            out = _undo(out, spec)
        if tuple(out.shape[1:]) == tuple(size):
            return out
        return _stride_rule(out, size, "stride")
    return _stride_rule(maps, size, kernel_size)


def _is_relu(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) == "relu" and isinstance(
        layer, (keras.layers.Activation, keras.layers.Conv2D))


def default_layers(model: keras.Model) -> list[str]:
    """The layers :func:`visual_backprop` uses when none are given (module docstring), shallow to deep."""
    names = [layer.name for layer in model.layers]
    if all(name in names for name in RESNET50_LAYERS):
        return list(RESNET50_LAYERS)
    return [layer.name for layer in model.layers if _is_relu(layer) and len(layer.output.shape) == 4]


def visual_backprop(
    model: keras.Model,
    images,
    *,
    layers=None,
    kernel_size: int | str | None = None,
    batch_size: int = 16,
) -> np.ndarray:
    """VisualBackProp masks of ``images`` through ``model`` (module docstring; Bojarski et al. 2016).

    Args:
        model: a Keras model taking ``images`` (e.g. a dermkit classifier: RGB float32 in [0, 1]).
        images: ``[N, H, W, C]`` as the model takes them.
        layers: names of 4-D layers to combine, in any order (sorted shallow to deep by their position in
            the model). Default :func:`default_layers`.
        kernel_size: None (default) — each up-scaling deconvolution takes the kernel size and stride of the
            layer it undoes (Bojarski et al.; :func:`scaling_layers`); ``"stride"`` — kernel = stride = the
            size ratio (the older rule); an int — that kernel at the size ratio's stride.
        batch_size: prediction batch size.

    Returns:
        ``float32 [N, H, W]`` in [0, 1] (each image normalised by its own min and max; all zeros where the
        mask is constant).

    Raises:
        ValueError: no layers, an unknown layer or one whose output is not ``[B, h, w, C]``, images that are
            not ``[N, H, W, C]``, or a bad ``kernel_size``.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C]. Received: shape {images.shape}")
    if not (kernel_size is None or kernel_size == "stride" or (
            isinstance(kernel_size, (int, np.integer)) and not isinstance(kernel_size, bool) and kernel_size >= 1)):
        raise ValueError(f"kernel_size must be None, 'stride' or an integer >= 1. "
                         f"Received: kernel_size={kernel_size!r}")
    names = default_layers(model) if layers is None else list(layers)
    if not names:
        raise ValueError("no layers to combine: pass layers=[...] (names of 4-D convolutional outputs)")
    order = {layer.name: i for i, layer in enumerate(model.layers)}
    unknown = [n for n in names if n not in order]
    if unknown:
        raise ValueError(f"layers not in model {model.name!r}: {unknown}")
    names.sort(key=order.get)
    outputs = [model.get_layer(n).output for n in names]
    bad = [n for n, o in zip(names, outputs) if len(o.shape) != 4]
    if bad:
        raise ValueError(f"layers must output [B, h, w, C] feature maps. Received: {bad}")
    probe = keras.Model(model.inputs, outputs, name=f"{model.name}_visual_backprop")
    features = probe.predict(images, batch_size=batch_size, verbose=0)
    features = features if isinstance(features, (list, tuple)) else [features]
    averaged = [np.asarray(f, np.float64).mean(axis=-1) for f in features]  # shallow → deep, [N, h, w]
    mask = averaged[-1]
    for k in range(len(names) - 1, 0, -1):
        chain = scaling_layers(model, names[k - 1], names[k]) if kernel_size is None else []
        mask = _scale(mask, averaged[k - 1].shape[1:], chain, kernel_size) * averaged[k - 1]
    chain = scaling_layers(model, None, names[0]) if kernel_size is None else []
    mask = _scale(mask, images.shape[1:3], chain, kernel_size)
    low = mask.min(axis=(1, 2), keepdims=True)
    span = mask.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (mask - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)
