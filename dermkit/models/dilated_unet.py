"""bisla2019's seven-channel dilated U-Net for lesion segmentation (Section 3.2.3, Table 1, Fig. 4A).

A U-Net whose encoder ends in dilated convolutions and whose decoder uses transposed convolutions, so a
380×380 input gives a 380×380 mask with no cropping. Every convolution is 3×3 with stride 1 and ReLU
("Each convolution layer, except for the last one, is followed by a ReLU nonlinearity"); Table 1, with the
output size of each layer for a 380×380 input:

    down1       conv, conv (valid)                    378, 376   64    (376 kept for the skip)
                maxpool 2×2 stride 2                  188
    down2       conv, conv                            186, 184   128   (184 kept)
                maxpool                               92
    down3       conv, conv                            90, 88     256   (88 kept)
                maxpool                               44
    bottleneck  conv ×4, valid, dilations 2, 2, 4, 4  40, 36, 28, 20   512, 512, 1024, 1024
    mirror      trans-conv ×4, valid, stride 1,       28, 36, 40, 44   1024, 512, 512, 512
                dilations 4, 4, 2, 2
    up3         up-conv (×2 up-sampling, 3×3 'same')  88         256   then concat with the 88 skip
                trans-conv ×2 (valid, +2 px each)     90, 92     256
    up2         up-conv, concat 184 skip, 2 trans     184, 186, 188    128
    up1         up-conv, concat 376 skip, 2 trans     376, 378, 380    64
    head        conv 1×1 + sigmoid                    380        1

The up-sampling of "Up-Conv" is nearest-neighbour (Keras ``UpSampling2D``'s default; the paper does not say
which). The input is :func:`dermkit.preprocessing.channels.seven_channel_input` (RGB + HSV + CIELAB L, each
normalised to mean 0.5 / std 0.5). The four bottleneck convolutions have no bias (the authors' code,
../shared/reference/bisla2019.md); every other convolution has one. Initialisers are Keras' defaults.

Sizes. The valid convolutions need ``(s − 4)`` divisible by 8 at each pooling and at least one pixel left
after the bottleneck: the side ``s`` must be ``8k + 4`` with ``k ≥ 28`` — 228, 236, …, 380, … — and the
output then has the input's size. Other sizes are refused with the nearest valid ones.

Training (paper and reference notes; run by the paper module): binary cross-entropy, Adam 1e-4 (β 0.9,
0.999), batch 15, learning rate ×0.1 every 30 epochs, horizontal and vertical flips, images resized to 400
then centre-cropped to 380; inference: :func:`dermkit.data.masks.binarize_and_fill` (threshold 0.4, then
hole filling).
"""

from __future__ import annotations

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.models.dilated_unet")

import keras  # noqa: E402

__all__ = [
    "dilated_unet",
    "SevenChannelInput",
    "segmentation_optimizer",
    "valid_input_sizes",
    "check_input_size",
    "TABLE1",
    "MIN_INPUT_SIZE",
    "PAPER_INPUT_SIZE",
    "INPUT_CHANNELS",
]

#: The paper's input: 7 × 380 × 380.
PAPER_INPUT_SIZE = 380
#: The smallest side the table allows (k = 28).
MIN_INPUT_SIZE = 228
#: RGB + HSV + L.
INPUT_CHANNELS = 7

#: Table 1 as (layer name, kind, channels at width 1, output side for a 380 input), in order. Kinds:
#: ``conv`` (3×3 valid, or dilated), ``pool``, ``tconv`` (3×3 valid transposed), ``upconv`` (×2 up-sampling,
#: then 3×3 'same' conv), ``head`` (1×1). The skip concatenations (``up*_concat``) are not Table 1 rows.
TABLE1 = (
    ("down1_conv1", "conv", 64, 378),
    ("down1_conv2", "conv", 64, 376),
    ("down1_pool", "pool", 64, 188),
    ("down2_conv1", "conv", 128, 186),
    ("down2_conv2", "conv", 128, 184),
    ("down2_pool", "pool", 128, 92),
    ("down3_conv1", "conv", 256, 90),
    ("down3_conv2", "conv", 256, 88),
    ("down3_pool", "pool", 256, 44),
    ("bottleneck_conv1", "conv", 512, 40),
    ("bottleneck_conv2", "conv", 512, 36),
    ("bottleneck_conv3", "conv", 1024, 28),
    ("bottleneck_conv4", "conv", 1024, 20),
    ("mirror_tconv1", "tconv", 1024, 28),
    ("mirror_tconv2", "tconv", 512, 36),
    ("mirror_tconv3", "tconv", 512, 40),
    ("mirror_tconv4", "tconv", 512, 44),
    ("up3_upconv", "upconv", 256, 88),
    ("up3_tconv1", "tconv", 256, 90),
    ("up3_tconv2", "tconv", 256, 92),
    ("up2_upconv", "upconv", 128, 184),
    ("up2_tconv1", "tconv", 128, 186),
    ("up2_tconv2", "tconv", 128, 188),
    ("up1_upconv", "upconv", 64, 376),
    ("up1_tconv1", "tconv", 64, 378),
    ("up1_tconv2", "tconv", 64, 380),
    ("head", "head", 1, 380),
)

_BOTTLENECK_DILATIONS = (2, 2, 4, 4)
_MIRROR_DILATIONS = (4, 4, 2, 2)


@keras.saving.register_keras_serializable(package="dermkit")
class SevenChannelInput(keras.layers.Layer):
    """RGB in [0, 1] → bisla2019's 7 normalised channels inside a model (the TensorFlow twin of
    :func:`dermkit.preprocessing.channels.seven_channel_input`): ``[R, G, B, H, S, V, L*/100]``, each
    ``(x − 0.5) / 0.5``.

    HSV is ``tf.image.rgb_to_hsv`` (hue in [0, 1), the same definition as OpenCV's ``H/360``); ``L*`` is CIE
    1976 lightness from sRGB (linearised, ``Y = 0.2126 R + 0.7152 G + 0.0722 B``, D65), the exact formula
    (OpenCV's float conversion, used by the NumPy function, agrees to about 0.3 ``L*``).
    """

    def call(self, inputs):
        import tensorflow as tf

        rgb = tf.clip_by_value(tf.cast(inputs, "float32"), 0.0, 1.0)
        hsv = tf.image.rgb_to_hsv(rgb)
        linear = tf.where(rgb <= 0.04045, rgb / 12.92, tf.pow((rgb + 0.055) / 1.055, 2.4))
        y = tf.reduce_sum(linear * tf.constant([0.2126, 0.7152, 0.0722]), axis=-1, keepdims=True)
        delta = 6.0 / 29.0
        f = tf.where(y > delta**3, tf.pow(tf.maximum(y, delta**3), 1.0 / 3.0), y / (3 * delta**2) + 4.0 / 29.0)
        lightness = tf.clip_by_value((116.0 * f - 16.0) / 100.0, 0.0, 1.0)
        channels = tf.concat([rgb, hsv, lightness], axis=-1)
        return tf.cast((channels - 0.5) / 0.5, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], INPUT_CHANNELS)


def segmentation_optimizer(
    *, steps_per_epoch: int, epochs: int, learning_rate: float = 1e-4, decay_every: int = 30
) -> keras.optimizers.Optimizer:
    """bisla2019's segmentation optimiser: Adam (β 0.9, 0.999) at ``learning_rate`` (1e-4), multiplied by 0.1
    every ``decay_every`` epochs (reference notes), as a :class:`~dermkit.training.schedules.StepDecay` on
    optimizer steps (boundaries at ``k · decay_every · steps_per_epoch`` for every ``k`` before ``epochs``)."""
    from dermkit.training.schedules import StepDecay

    for name, value in (("steps_per_epoch", steps_per_epoch), ("epochs", epochs), ("decay_every", decay_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    boundaries = [k * decay_every * steps_per_epoch for k in range(1, -(-epochs // decay_every))]
    schedule = StepDecay(learning_rate, boundaries, 0.1)
    return keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.999)


def valid_input_sizes(lo: int = MIN_INPUT_SIZE, hi: int = 1024) -> list[int]:
    """The sides in ``[lo, hi]`` that :func:`dilated_unet` accepts: ``8k + 4`` with ``k ≥ 28``."""
    return [s for s in range(max(lo, MIN_INPUT_SIZE), hi + 1) if (s - 4) % 8 == 0]


def _nearest(side: int) -> list[int]:
    if side <= MIN_INPUT_SIZE:
        return [MIN_INPUT_SIZE]
    below = MIN_INPUT_SIZE + 8 * ((side - MIN_INPUT_SIZE) // 8)
    return [below, below + 8]


def check_input_size(side, *, name: str = "input size") -> int:
    """``side`` if it is a valid input side of :func:`dilated_unet`; otherwise a ValueError naming the nearest
    valid sides."""
    if isinstance(side, bool) or not isinstance(side, int) or side < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {side!r}")
    if side < MIN_INPUT_SIZE or (side - 4) % 8:
        raise ValueError(
            f"{name} {side} does not give integral sizes through bisla2019 Table 1 (valid sides are 8k + 4 "
            f"with k >= 28: 228, 236, ..., 380, ...); nearest valid: {_nearest(side)}. Received: {side!r}"
        )
    return side


def _channels(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


def _conv(x, filters, name, *, dilation=1, padding="valid", use_bias=True, kernel=3, activation="relu"):
    return keras.layers.Conv2D(filters, kernel, padding=padding, dilation_rate=dilation, use_bias=use_bias,
                               activation=activation, name=name)(x)


def _tconv(x, filters, name, *, dilation=1):
    return keras.layers.Conv2DTranspose(filters, 3, padding="valid", dilation_rate=dilation, activation="relu",
                                        name=name)(x)


def apply_up_block(x, skip, filters: int, *, name: str):
    """Up-Conv (×2 nearest up-sampling, 3×3 'same' conv, ReLU) → concat skip → 2 × transposed conv (+2 px)."""
    x = keras.layers.UpSampling2D(2, name=f"{name}_upsample")(x)
    x = _conv(x, filters, f"{name}_upconv", padding="same")
    x = keras.layers.Concatenate(name=f"{name}_concat")([x, skip])
    x = _tconv(x, filters, f"{name}_tconv1")
    return _tconv(x, filters, f"{name}_tconv2")


def dilated_unet(
    input_shape=(PAPER_INPUT_SIZE, PAPER_INPUT_SIZE, INPUT_CHANNELS),
    *,
    width: float = 1.0,
    preprocess: bool = False,
    weights=None,
    name: str = "dilated_unet",
) -> keras.Model:
    """bisla2019's segmentation network, Table 1 layer by layer (module docstring).

    Args:
        input_shape: ``(H, W, C)``; H and W each ``8k + 4`` with ``k ≥ 28`` (228, 236, …, 380); C is 7 for
            the paper's input (:func:`~dermkit.preprocessing.channels.seven_channel_input`), any C ≥ 1 is
            accepted. Default ``(380, 380, 7)``.
        width: multiplies every channel count (rounded, at least 1) for quick runs; sizes are unchanged.
            Default 1.0 (the paper's, 64 … 1024).
        preprocess: when True the model takes RGB float32 in [0, 1] (``input_shape`` ``(H, W, 3)``) and computes
            the seven channels inside (:class:`SevenChannelInput`, layer ``seven_channels``); False (default,
            Table 1) takes the 7-channel array.
        weights: None, a registry name or a Keras 3 / legacy Keras 2 ``.h5`` file for the whole model
            (:func:`dermkit.weights.load_weights`; the 1×1 ``head`` is the declared head).
        name: model name.

    Returns:
        An uncompiled ``keras.Model`` ``[B, H, W, C]`` → float32 ``[B, H, W, 1]`` sigmoid probabilities. Layer
        names are Table 1's (:data:`TABLE1`) plus ``down*_`` / ``up*_upsample`` / ``up*_concat``.

    Raises:
        ValueError: a bad ``input_shape`` (the message lists the nearest valid sides) or ``width``.
    """
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (H, W, C). Received: input_shape={input_shape!r}")
    h = check_input_size(input_shape[0], name="input height")
    w = check_input_size(input_shape[1], name="input width")
    c = input_shape[2]
    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
        raise ValueError(f"input channels must be a positive integer. Received: input_shape={input_shape!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 4:
        raise ValueError(f"width must be a number in (0, 4]. Received: width={width!r}")
    if not isinstance(preprocess, bool):
        raise ValueError(f"preprocess must be True or False. Received: preprocess={preprocess!r}")
    if preprocess and c != 3:
        raise ValueError(f"preprocess=True takes RGB: input_shape must be (H, W, 3). Received: {input_shape!r}")

    inputs = keras.Input(shape=(h, w, c), name="input")
    x = SevenChannelInput(name="seven_channels")(inputs) if preprocess else inputs
    skips = []
    for level, base in enumerate((64, 128, 256), start=1):
        x = _conv(x, _channels(base, width), f"down{level}_conv1")
        x = _conv(x, _channels(base, width), f"down{level}_conv2")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    for i, (base, dilation) in enumerate(zip((512, 512, 1024, 1024), _BOTTLENECK_DILATIONS), start=1):
        x = _conv(x, _channels(base, width), f"bottleneck_conv{i}", dilation=dilation, use_bias=False)
    for i, (base, dilation) in enumerate(zip((1024, 512, 512, 512), _MIRROR_DILATIONS), start=1):
        x = _tconv(x, _channels(base, width), f"mirror_tconv{i}", dilation=dilation)
    for level, base in ((3, 256), (2, 128), (1, 64)):
        x = apply_up_block(x, skips[level - 1], _channels(base, width), name=f"up{level}")
    outputs = _conv(x, 1, "head", kernel=1, activation=None)
    outputs = keras.layers.Activation("sigmoid", dtype="float32", name="sigmoid")(outputs)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        from dermkit.weights import load_weights

        load_weights(model, weights, head=("head",))
    return model


import dermkit._register  # noqa: E402, F401  (every dermkit serialisable registered with Keras)
