"""Partial convolutions and bisla2019's purification network (supplement Section 6.1, Fig. 10).

:class:`PartialConv2D` is the partial convolution of Liu et al., "Image Inpainting for Irregular Holes Using
Partial Convolutions", ECCV 2018, Eq. 1–2. With ``W`` the kernel, ``X`` the input window, ``M`` its binary
mask (1 = valid pixel, 0 = hole) and ``sum(1)`` the number of elements of the window (``k_h·k_w·C_in``)::

    x' = Wᵀ (X ⊙ M) · sum(1) / sum(M) + b     if sum(M) > 0        (Eq. 1)
       = 0                                     otherwise
    m' = 1 if sum(M) > 0 else 0                                    (Eq. 2)

Masks may be multi-channel (``[B, H, W, C_in]``, one mask value per input channel, NVIDIA's
``multi_channel=True``) or single-channel (``[B, H, W, 1]``, the same mask for every channel); ``sum`` runs
over the window and the channels. Zero padding counts as hole. The updated mask is returned with one channel
per output filter (all equal), so masks concatenate alongside features.

Padding (default ``"symmetric"``): zero padding of ``k//2`` pixels on every side, then a 'valid' convolution —
Liu et al.'s / NVIDIA's ``PartialConv2d(padding=k//2)``, so a stride-2 window on an even input is centred on
the even pixels. Keras' ``"same"`` (also accepted) pads only the far side when the total padding is odd
(stride 2, even side: ``k//2 − 1`` at the top, ``k//2`` at the bottom), shifting every window by one pixel.
The output side is ``(H + 2·(k//2) − k)//s + 1`` (``ceil(H/s)`` for odd ``k``). bisla2019's code divided by
``sum(M)`` without the ``sum(1)`` factor (../shared/reference/bisla2019.md); dermkit follows Liu et al.

:func:`partialconv_unet` is the purification network (Liu et al. Section 3.3, as the reference notes give
it): seven stride-2 partial convolutions 64/128/256/512/512/512/512 with kernels 7, 5, 5, 3, 3, 3, 3
(batch norm except the first, ReLU); a decoder that, at each level, up-samples features and mask ×2
(nearest), concatenates the encoder's features and mask of that level (at the top: the input image and its
mask) and applies a 3×3 partial convolution + batch norm + LeakyReLU(0.2), with widths 512, 512, 512, 256,
128, 64, then 3 (no batch norm, tanh) for the last layer. Convolutions followed by batch norm have no bias
(the bias would be cancelled by it). The model takes RGB in [0, 1] (scaled to [−1, 1] inside) and returns
the raw network output in [0, 1] (the tanh mapped back); :func:`purify` composites it with the input
(Liu et al.'s ``I_comp``: the input's valid pixels, the network's pixels in the holes).

``depth`` (default 7, the paper's) keeps the first ``depth`` encoder layers and their decoder mirror: the
input side must be divisible by ``2**depth`` (128 for 7; ``depth=6`` runs at 64×64 for quick runs).
"""

from __future__ import annotations

import numpy as np

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.models.partialconv")

import keras  # noqa: E402
from keras import ops  # noqa: E402

__all__ = [
    "PartialConv2D",
    "partialconv_unet",
    "purify",
    "purification_optimizer",
    "ENCODER_FILTERS",
    "ENCODER_KERNELS",
    "DEPTH",
]

#: Liu et al.'s encoder, layer 1 to 7 (all stride 2).
ENCODER_FILTERS = (64, 128, 256, 512, 512, 512, 512)
ENCODER_KERNELS = (7, 5, 5, 3, 3, 3, 3)
#: The paper's number of stride-2 encoder layers.
DEPTH = 7
#: LeakyReLU slope of the decoder (Liu et al.).
LEAKY_SLOPE = 0.2
_PADDINGS = ("symmetric", "same", "valid")


@keras.saving.register_keras_serializable(package="dermkit")
class PartialConv2D(keras.layers.Layer):
    """Partial convolution (Liu et al. 2018, Eq. 1–2; module docstring): ``[x, mask] → [x', mask']``.

    Shapes: ``x`` ``[B, H, W, C_in]``; ``mask`` ``[B, H, W, 1]`` or ``[B, H, W, C_in]`` with values in
    {0, 1} (1 = valid); ``x'`` ``[B, H', W', filters]`` (0 wherever the window holds no valid pixel);
    ``mask'`` ``[B, H', W', filters]`` in {0, 1}, float32.
    """

    def __init__(
        self,
        filters: int,
        kernel_size,
        *,
        strides=1,
        padding: str = "symmetric",
        use_bias: bool = True,
        activation=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        """Args:
            filters: output channels, ≥ 1.
            kernel_size: int or ``(k_h, k_w)``.
            strides: int or ``(s_h, s_w)``. Default 1.
            padding: ``"symmetric"`` (Liu et al./NVIDIA: ``k//2`` zeros on every side, then 'valid'),
                ``"same"`` (Keras/TensorFlow placement: the extra row/column of an odd total padding goes to
                the bottom/right) or ``"valid"``. Padded pixels are holes. Default ``"symmetric"``.
            use_bias: add ``b`` (only where the window holds a valid pixel). Default True.
            activation: applied to ``x'`` (Keras activation name or callable). Default None.
            kernel_initializer, bias_initializer: Keras initialisers.
            **kwargs: ``keras.layers.Layer`` arguments (``name``, ``dtype``).

        Raises:
            ValueError: a bad ``filters``, ``kernel_size``, ``strides`` or ``padding``.
        """
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"filters must be a positive integer. Received: filters={filters!r}")
        if padding not in _PADDINGS:
            raise ValueError(f"padding must be one of {_PADDINGS}. Received: padding={padding!r}")
        self.filters = int(filters)
        self.kernel_size = self._pair(kernel_size, "kernel_size")
        self.strides = self._pair(strides, "strides")
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @staticmethod
    def _pair(value, name: str) -> tuple[int, int]:
        pair = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
        try:
            pair = tuple(int(v) for v in pair)
        except TypeError:
            pair = ()
        if len(pair) != 2 or min(pair) < 1:
            raise ValueError(f"{name} must be a positive int or a pair of them. Received: {name}={value!r}")
        return pair

    def build(self, input_shape):
        x_shape, mask_shape = input_shape
        channels = x_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the input's channel count must be known. Received: {x_shape}")
        if mask_shape[-1] not in (1, channels):
            raise ValueError(
                f"{self.name}: the mask must have 1 or {channels} channels (as the input). Received: {mask_shape}"
            )
        self._check_sides(x_shape, mask_shape)
        self.kernel = self.add_weight(
            name="kernel", shape=(*self.kernel_size, channels, self.filters), initializer=self.kernel_initializer
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
            if self.use_bias
            else None
        )
        self.window_size = float(self.kernel_size[0] * self.kernel_size[1] * channels)  # sum(1)

    def _check_sides(self, x_shape, mask_shape) -> None:
        """The mask must cover the image: same H×W (where both are known)."""
        for axis, name in ((1, "height"), (2, "width")):
            a, b = x_shape[axis], mask_shape[axis]
            if a is not None and b is not None and int(a) != int(b):
                raise ValueError(f"{self.name}: the mask must have the image's H×W. Received: image "
                                 f"{tuple(x_shape)}, mask {tuple(mask_shape)} (another {name})")

    def _pads(self) -> list[tuple[int, int]]:
        return [(0, 0), *((k // 2, k // 2) for k in self.kernel_size), (0, 0)]

    def _conv(self, x, kernel):
        if self.padding == "symmetric":
            return ops.conv(ops.pad(x, self._pads()), kernel, strides=self.strides, padding="valid")
        return ops.conv(x, kernel, strides=self.strides, padding=self.padding)

    def call(self, inputs):
        x, mask = inputs
        self._check_sides(x.shape, mask.shape)
        mask = ops.cast(mask, "float32")
        x_mask = ops.ones_like(ops.cast(x, "float32")) * mask  # the mask broadcast to every input channel
        ones = ops.ones((*self.kernel_size, x.shape[-1], 1), "float32")
        coverage = self._conv(x_mask, ones)  # sum(M), [B, H', W', 1]
        update = ops.cast(coverage > 0.0, "float32")
        ratio = self.window_size / ops.maximum(coverage, 1e-8) * update
        raw = self._conv(x * ops.cast(x_mask, x.dtype), self.kernel)
        out = raw * ops.cast(ratio, raw.dtype)
        if self.bias is not None:
            out = out + self.bias * ops.cast(update, raw.dtype)
        if self.activation is not None:
            out = self.activation(out)
        new_mask = ops.repeat(update, self.filters, axis=-1)
        return out, new_mask

    def compute_output_shape(self, input_shape):
        x_shape, _ = input_shape
        sides = []
        for side, k, s in zip(x_shape[1:3], self.kernel_size, self.strides):
            if side is None:
                sides.append(None)
            elif self.padding == "same":
                sides.append(-(-side // s))
            elif self.padding == "symmetric":
                sides.append((side + 2 * (k // 2) - k) // s + 1)
            else:
                sides.append((side - k) // s + 1)
        shape = (x_shape[0], *sides, self.filters)
        return shape, shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "use_bias": self.use_bias,
            "activation": keras.activations.serialize(self.activation) if self.activation is not None else None,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config


def _pconv_block(x, mask, filters, kernel, strides, *, bn, activation, name, bias=None):
    x, mask = PartialConv2D(filters, kernel, strides=strides, use_bias=(not bn) if bias is None else bias,
                            name=f"{name}_pconv")([x, mask])
    if bn:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    if activation == "relu":
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    elif activation == "leaky":
        x = keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=f"{name}_leaky")(x)
    return x, mask


def partialconv_unet(
    input_shape=(256, 256, 3),
    *,
    depth: int = DEPTH,
    width: float = 1.0,
    weights=None,
    name: str = "partialconv_unet",
) -> keras.Model:
    """bisla2019's purification network: Liu et al.'s partial-convolution U-Net (module docstring).

    Args:
        input_shape: ``(H, W, 3)``; H and W divisible by ``2**depth`` (at least 128 for the paper's depth 7).
            Default ``(256, 256, 3)``.
        depth: stride-2 encoder layers, 1–7: the first ``depth`` of 64 k7, 128 k5, 256 k5, 512 k3 × 4.
            Default 7 (the paper); 6 runs at 64×64.
        width: multiplies every channel count but the output's 3 (quick runs). Default 1.0.
        weights: None, a registry name or a Keras 3 / legacy Keras 2 ``.h5`` file for the whole model
            (:func:`dermkit.weights.load_weights`; no head: every layer must fit).
        name: model name.

    Returns:
        An uncompiled ``keras.Model`` with inputs ``{"image": [B, H, W, 3] RGB in [0, 1], "mask": [B, H, W, 1]
        (1 = valid, 0 = hole)}`` (also callable on the list ``[image, mask]``) and output the raw network
        image ``[B, H, W, 3]`` in [0, 1], float32. Use :func:`purify` for the composite.

    Raises:
        ValueError: bad ``input_shape``, ``depth`` or ``width``.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= DEPTH:
        raise ValueError(f"depth must be an integer in 1..{DEPTH}. Received: depth={depth!r}")
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3 or input_shape[2] != 3:
        raise ValueError(f"input_shape must be (H, W, 3). Received: input_shape={input_shape!r}")
    step = 2**depth
    for side in input_shape[:2]:
        if isinstance(side, bool) or not isinstance(side, int) or side < step or side % step:
            raise ValueError(
                f"input height and width must be positive multiples of 2**depth = {step} (depth={depth}). "
                f"Received: input_shape={input_shape!r}"
            )
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 4:
        raise ValueError(f"width must be a number in (0, 4]. Received: width={width!r}")

    def channels(base: int) -> int:
        return max(1, int(round(base * width)))

    image = keras.Input(shape=tuple(input_shape), name="image")
    mask_in = keras.Input(shape=(*input_shape[:2], 1), name="mask")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_tanh_range")(image)
    mask = keras.layers.Concatenate(name="mask_rgb")([mask_in, mask_in, mask_in])
    levels = [(x, mask)]
    for i in range(depth):
        x, mask = _pconv_block(x, mask, channels(ENCODER_FILTERS[i]), ENCODER_KERNELS[i], 2, bn=i > 0,
                               activation="relu", name=f"enc{i + 1}")
        levels.append((x, mask))
    for i in range(depth, 0, -1):  # decoder level i mirrors encoder layer i; its output joins level i - 1
        skip_x, skip_mask = levels[i - 1]
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"dec{i}_up")(x)
        mask = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"dec{i}_mask_up")(mask)
        x = keras.layers.Concatenate(name=f"dec{i}_concat")([x, skip_x])
        mask = keras.layers.Concatenate(name=f"dec{i}_mask_concat")([mask, skip_mask])
        last = i == 1
        filters = 3 if last else channels(ENCODER_FILTERS[i - 2])
        x, mask = _pconv_block(x, mask, filters, 3, 1, bn=not last, activation=None if last else "leaky",
                               name=f"dec{i}")
    x = keras.layers.Activation("tanh", name="tanh")(x)
    output = keras.layers.Rescaling(0.5, offset=0.5, dtype="float32", name="output")(x)
    model = keras.Model({"image": image, "mask": mask_in}, output, name=name)
    if weights is not None:
        from dermkit.weights import load_weights

        load_weights(model, weights)
    return model


def purification_optimizer(stage: str = "adam") -> keras.optimizers.Optimizer:
    """The purification network's optimisers (supplement 6.1): ``"adam"`` — Adam, constant 2e-4, β (0.5, 0.99),
    "in the beginning of training"; ``"sgd"`` — SGD, momentum 0.9, 1e-4, "in the later stages". The paper does
    not say when it switched; the caller recompiles with the second and states its switch epoch."""
    if stage == "adam":
        return keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.99)
    if stage == "sgd":
        return keras.optimizers.SGD(1e-4, momentum=0.9)
    raise ValueError(f"stage must be 'adam' or 'sgd'. Received: stage={stage!r}")


def _purify_masks(valid_masks, shape: tuple[int, int, int]) -> np.ndarray:
    """``valid_masks`` → ``float32 [N, H, W, 1]`` in {0, 1} by the package's one mask rule, shapes checked."""
    from dermkit.data.masks import binarize_mask

    masks = np.asarray(valid_masks)
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if masks.shape != shape:
        raise ValueError(f"valid_masks must be [N, H, W] or [N, H, W, 1] with the images' N, H, W = {shape}. "
                         f"Received: valid_masks of shape {np.shape(valid_masks)}")
    binary = [binarize_mask(m, where=f"valid_masks[{i}]") for i, m in enumerate(masks)]
    return (np.stack(binary) if binary else np.zeros(shape, bool))[..., None].astype(np.float32)


def purify(model: keras.Model, images, valid_masks, *, batch_size: int = 8) -> np.ndarray:
    """Run the purification network and composite (Liu et al.'s ``I_comp = M ⊙ I + (1 − M) ⊙ I_out``).

    At test time (Table 6, Fig. 10) the masks are :func:`dermkit.preprocessing.purification_test_masks`: the
    occlusions the classical removal (:func:`dermkit.preprocessing.hair.remove_hair`, the authors' setting)
    finds outside the segmented lesion are the holes, so the lesion itself is never repainted — the mask rule
    the network was trained with (:func:`dermkit.preprocessing.purification_pairs`); the paper does not say
    which mask the network gets, dermkit's reading.

    Args:
        model: a :func:`partialconv_unet` model (its ``image`` input fixes H and W).
        images: RGB ``[N, H, W, 3]``, float in [0, 1] or uint8 (scaled by 1/255).
        valid_masks: ``[N, H, W]`` or ``[N, H, W, 1]``, 1 / True = keep the pixel, 0 = fill it: bool, 0/1
            floats (probabilities, > 0.5) or 0/255 integers — :func:`dermkit.data.masks.binarize_mask`.
        batch_size: prediction batch size.

    Returns:
        ``float32 [N, H, W, 3]`` in [0, 1]: the input where the mask is 1, the network's output elsewhere.

    Raises:
        ValueError: images that are not RGB in [0, 1], of another H×W than the model's input, or masks of
            another shape.
        DermkitDataError: a mask whose values fit no binary convention (e.g. 0/100 integers, floats > 1).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be RGB [N, H, W, 3]. Received: images of shape {images.shape}")
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    elif np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32)
        if images.size and (not np.all(np.isfinite(images)) or images.min() < 0.0 or images.max() > 1.0):
            raise ValueError("images must hold finite values in [0, 1] (float RGB) or be uint8.")
    else:
        raise ValueError(f"images must be float RGB in [0, 1] or uint8. Received: dtype {images.dtype}")
    inputs = getattr(model, "inputs", None) or []
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    want = next((tuple(t.shape[1:3]) for t in inputs if str(getattr(t, "name", "")).startswith("image")),
                tuple(inputs[0].shape[1:3]) if inputs else (None, None))
    if all(v is not None for v in want) and tuple(images.shape[1:3]) != want:
        raise ValueError(f"images must be {want[0]}×{want[1]} like the purification network {model.name!r}'s input. "
                         f"Received: images of shape {images.shape} (resize first, e.g. purify_at_scale)")
    masks = _purify_masks(valid_masks, images.shape[:3])
    if not len(images):
        return images.astype(np.float32)
    out = np.asarray(model.predict({"image": images, "mask": masks}, batch_size=batch_size, verbose=0), np.float32)
    return np.clip(masks * images + (1.0 - masks) * out, 0.0, 1.0).astype(np.float32)


import dermkit._register  # noqa: E402, F401  (every dermkit serialisable registered with Keras)
