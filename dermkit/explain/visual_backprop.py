"""VisualBackProp (Bojarski et al., "VisualBackProp: efficient visualization of CNNs", 2016; ICRA 2018) — the
visualisation of bisla2019 Figs. 2 and 8 ("highlights the part of the image that the network focuses on").

The method, as Bojarski et al. describe it: (1) average the feature maps of each chosen convolutional layer
over its channels (after the ReLU); (2) scale the deepest averaged map up to the size of the one before it
with a deconvolution (transposed convolution) whose weights are all 1 and bias 0; (3) multiply point-wise
with that shallower averaged map; (4) repeat up to the input's size (the last scaling goes from the
shallowest chosen layer to the input); (5) normalise the result to [0, 1].

Scaling. Between two maps of sides ``h → H`` the deconvolution has stride ``s = H / h`` (rounded; one side at
a time) and kernel ``k`` — by default ``k = s``, which copies each value into an ``s × s`` block (the exact
up-sampling when the layers are separated by pooling or strided blocks, as in ResNet-50); Bojarski et al.
use the kernel of the convolution that produced the deeper map (e.g. ``kernel_size=3`` for 3×3 stride-2
convolutions), where the overlapping windows add up. The deconvolution's output ``(h − 1)·s + k`` is cropped
(or zero-padded) at the bottom/right to ``H`` when the two differ (valid convolutions). Layers of equal size
are multiplied without scaling.

Default layers: for :func:`dermkit.models.classifiers.resnet50_classifier` the outputs of ResNet-50's five
stages (:data:`RESNET50_LAYERS`); for any other model every ReLU-activated 4-D layer output (``ReLU`` layers,
``Activation("relu")`` and convolutions with ``activation="relu"``).
"""

from __future__ import annotations

import numpy as np

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.explain.visual_backprop")

import keras  # noqa: E402

__all__ = ["visual_backprop", "ones_deconvolution", "default_layers", "RESNET50_LAYERS"]

#: The stage outputs of Keras' ResNet-50 (112, 56, 28, 14, 7 px at 224).
RESNET50_LAYERS = ("conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out")


def ones_deconvolution(maps: np.ndarray, stride: tuple[int, int], kernel: tuple[int, int]) -> np.ndarray:
    """Transposed convolution of ``[N, h, w]`` maps with an all-ones ``kernel`` at ``stride`` (no padding):
    ``out[i·s + a, j·t + b] += x[i, j]`` for ``0 ≤ a < k_h, 0 ≤ b < k_w`` → ``[N, (h−1)s + k_h, (w−1)t + k_w]``."""
    n, h, w = maps.shape
    (s, t), (kh, kw) = stride, kernel
    out = np.zeros((n, (h - 1) * s + kh, (w - 1) * t + kw), np.float64)
    for a in range(kh):
        for b in range(kw):
            out[:, a:a + (h - 1) * s + 1:s, b:b + (w - 1) * t + 1:t] += maps
    return out


def _fit(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop or zero-pad ``[N, h, w]`` at the bottom/right to ``size``."""
    h, w = size
    maps = maps[:, :h, :w]
    return np.pad(maps, ((0, 0), (0, h - maps.shape[1]), (0, w - maps.shape[2])))


def _scale_to(maps: np.ndarray, size: tuple[int, int], kernel_size: int | None) -> np.ndarray:
    h, w = maps.shape[1:]
    if (h, w) == tuple(size):
        return maps
    stride = (max(1, int(round(size[0] / h))), max(1, int(round(size[1] / w))))
    kernel = stride if kernel_size is None else (int(kernel_size), int(kernel_size))
    return _fit(ones_deconvolution(maps, stride, kernel), size)


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
    kernel_size: int | None = None,
    batch_size: int = 16,
) -> np.ndarray:
    """VisualBackProp masks of ``images`` through ``model`` (module docstring; Bojarski et al. 2016).

    Args:
        model: a Keras model taking ``images`` (e.g. a dermkit classifier: RGB float32 in [0, 1]).
        images: ``[N, H, W, C]`` as the model takes them.
        layers: names of 4-D layers to combine, in any order (sorted shallow to deep by their position in
            the model). Default :func:`default_layers`.
        kernel_size: the ones-deconvolution's kernel; None uses each step's stride. Default None.
        batch_size: prediction batch size.

    Returns:
        ``float32 [N, H, W]`` in [0, 1] (each image normalised by its own min and max; all zeros where the
        mask is constant).

    Raises:
        ValueError: no layers, an unknown layer or one whose output is not ``[B, h, w, C]``, or images that
            are not ``[N, H, W, C]``.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C]. Received: shape {images.shape}")
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
    for shallower in reversed(averaged[:-1]):
        mask = _scale_to(mask, shallower.shape[1:], kernel_size) * shallower
    mask = _scale_to(mask, images.shape[1:3], kernel_size)
    low = mask.min(axis=(1, 2), keepdims=True)
    span = mask.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (mask - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)
