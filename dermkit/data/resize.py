"""The one image-resize rule of dermkit: every model input (training, validation, test, predict) goes through
:func:`resize_image`.

The tf.data pipelines call it inside their graphs; :mod:`dermkit.inference` and
:func:`dermkit.preprocessing.crop.segment_and_crop` call the same TensorFlow ops eagerly, so a model sees the
same array for the same file whichever path fed it (tests/data/test_resize.py checks this on a textured
1022×767 JPEG resized to 336×336).

Rule (``method="auto"``, the default): each axis separately — area averaging along an axis that shrinks
(``tf.image.resize(method="area")``, the anti-aliased average of the source pixels each output pixel covers,
like OpenCV's ``INTER_AREA``), bilinear interpolation with half-pixel centres along an axis that grows (or
stays). The result is rounded to 8-bit levels (``uint8``), as the pipelines cache it; models receive it
divided by 255.
"""

from __future__ import annotations

import numpy as np

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.data.resize")

import tensorflow as tf  # noqa: E402

__all__ = ["IMAGE_RESIZE_METHODS", "resize_image", "resize_image_array"]

#: Accepted ``method`` values: "auto" (the rule above), "area" (area averaging on both axes, also when
#: enlarging), "bilinear" (no anti-aliasing, as ``keras.layers.Resizing``), "antialias" (bilinear with an
#: anti-aliasing kernel when shrinking; slowest).
IMAGE_RESIZE_METHODS = ("auto", "area", "bilinear", "antialias")


def _check(size, method: str) -> tuple[int, int]:
    if method not in IMAGE_RESIZE_METHODS:
        raise ValueError(f"image_resize must be one of {IMAGE_RESIZE_METHODS}. Received: image_resize={method!r}")
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"size must be (height, width). Received: size={size!r}") from exc
    if h < 1 or w < 1:
        raise ValueError(f"size must be two positive integers. Received: size={size!r}")
    return h, w


def resize_image(image, size: tuple[int, int], *, method: str = "auto"):
    """Resize one RGB image to ``size`` by dermkit's rule; returns a ``tf.uint8`` tensor ``[h, w, C]``.

    Works inside a ``tf.data`` / ``tf.function`` graph (dynamic input size) and eagerly.

    Args:
        image: ``uint8 [H, W, C]`` (values 0–255), or float ``[H, W, C]`` in [0, 1] (scaled by 255 first),
            a NumPy array or a tensor.
        size: ``(height, width)`` of the output.
        method: see :data:`IMAGE_RESIZE_METHODS`; default "auto" (module docstring).

    Returns:
        ``tf.uint8 [h, w, C]``: the resized image rounded to the nearest 8-bit level.

    Raises:
        ValueError: unknown ``method`` or a bad ``size``.
    """
    h, w = _check(size, method)
    x = tf.convert_to_tensor(image)
    if x.dtype == tf.uint8:
        x = tf.cast(x, tf.float32)
    else:
        x = tf.cast(x, tf.float32) * 255.0
    if method == "auto":
        shape = tf.shape(x)
        # Shrinking axes by area averaging (an axis kept at its size is an exact copy), then growing axes
        # bilinearly (an axis already at its size is an exact copy with half-pixel centres).
        x = tf.image.resize(x, tf.stack([tf.minimum(shape[0], h), tf.minimum(shape[1], w)]), method="area")
        x = tf.image.resize(x, (h, w), method="bilinear")
    elif method == "antialias":
        x = tf.image.resize(x, (h, w), method="bilinear", antialias=True)
    else:
        x = tf.image.resize(x, (h, w), method=method)
    return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)


def resize_image_array(image, size: tuple[int, int], *, method: str = "auto"):
    """:func:`resize_image` for NumPy callers: returns ``float32 [h, w, C]`` in [0, 1] (the model input)."""
    return np.asarray(resize_image(image, size, method=method)).astype(np.float32) / 255.0
