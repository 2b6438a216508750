"""U-Nets for lesion segmentation — goel2021 §3.1 (Goel, Ko, Mishra, CS231n report 2021).

The report trains two segmentation models on HAM10000 with Dice loss (Table 3):

* a **plain U-Net** (Ronneberger et al., MICCAI 2015) with two changes the report names: batch normalisation
  after every 3×3 convolution and 'same' padding, so the output mask has the input's size. Five levels,
  four 2×2 max-poolings, encoder widths 64–1024, 2×2 up-convolutions (transposed, stride 2) halving the
  channels, skip concatenations, 1×1 sigmoid head. Input 448×592 in the report (H and W divisible by 16).
* a **DenseNet121-encoder U-Net** built with qubvel segmentation-models 1.0.1 ``Unet('densenet121')``
  (ImageNet encoder, input 448×576). segmentation-models does not run under Keras 3 (reference/keras3.md),
  so :func:`unet` rebuilds its architecture layer for layer, for ``densenet121`` and ``vgg16``:
  ``Unet(backbone_name, classes=1, activation='sigmoid', decoder_block_type='upsampling',
  decoder_filters=(256, 128, 64, 32, 16), decoder_use_batchnorm=True)``. Same layers, order, shapes,
  initialisers and BN settings, same parameter count, and layer names that differ only where Keras 3 forbids
  the original (no '/'), so weights saved by segmentation-models load with
  :func:`dermkit.weights.segmentation_models.import_segmentation_models`.

Layer names
-----------
Plain U-Net: ``encoder_block{0..3}_conv{1,2}`` / ``_bn{1,2}`` / ``_relu{1,2}``, ``encoder_block{0..3}_pool``,
``bottleneck_conv{1,2}`` / ..., ``decoder_stage{0..3}_upconv``, ``decoder_stage{0..3}_concat``,
``decoder_stage{0..3}_conv{1,2}`` / ..., ``final_conv``, ``final_activation`` (stage 0 is the deepest).

Backbone U-Nets (as segmentation-models names them): the keras.applications encoder's own names
(``conv1_conv``, ``pool4_conv``, ``block5_conv3``, ...), ``center_block{1,2}_{conv,bn,relu}`` (VGG16 only),
``decoder_stage{0..4}_upsampling``, ``decoder_stage{0..3}_concat``,
``decoder_stage{0..4}{a,b}_{conv,bn,relu}``, ``final_conv``. segmentation-models names the head activation
after the activation (``sigmoid``); dermkit names it ``final_activation`` whatever the activation (it holds
no weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dermkit._optional import require_tensorflow
from dermkit.errors import DermkitDataError

require_tensorflow("dermkit.models.unet")

import keras  # noqa: E402

__all__ = ["unet", "PLAIN_UNET_FILTERS", "BACKBONES", "DEFAULT_DECODER_FILTERS"]

# Keras' BatchNormalization defaults, which both the plain U-Net and segmentation-models' decoder use
# (segmentation-models passes only ``axis``).
BN_AXIS = -1
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-3

#: Encoder widths of the original U-Net, level 0 (full resolution) to level 4 (bottleneck, 1/16).
PLAIN_UNET_FILTERS = (64, 128, 256, 512, 1024)
#: Ronneberger et al. initialise from N(0, sqrt(2/N)), N = fan-in: He normal.
PLAIN_UNET_INITIALIZER = "he_normal"

#: segmentation-models' default decoder widths, deepest stage first (one up-sampling ×2 each).
DEFAULT_DECODER_FILTERS = (256, 128, 64, 32, 16)
#: segmentation-models' decoder convolutions (``Conv3x3BnReLU``) and head initialisers.
DECODER_INITIALIZER = "he_uniform"
HEAD_INITIALIZER = "glorot_uniform"
#: segmentation-models' centre block width (VGG encoders end in a max-pooling).
CENTER_FILTERS = 512


@dataclass(frozen=True)
class BackboneSpec:
    """How segmentation-models attaches a U-Net decoder to one keras.applications encoder.

    Attributes:
        skips: encoder layers whose outputs feed decoder stages 0, 1, ... (deepest first). These are
            segmentation-models' ``get_feature_layers(name, n=4)``: for DenseNet121 its layer indices
            (311, 139, 51, 4) in keras-applications 1.0.8, which name the layers below. Its VGG16 table
            also lists ``block1_conv2``, but ``Unet`` takes the first four only: stage 4 has no skip.
        center_block: whether the encoder ends in a max-pooling, after which segmentation-models inserts
            two Conv3×3(512) → BN → ReLU blocks (``center_block1``, ``center_block2``).
    """

    skips: tuple[str, ...]
    center_block: bool


BACKBONES: dict[str, BackboneSpec] = {
    "densenet121": BackboneSpec(
        skips=("pool4_conv", "pool3_conv", "pool2_conv", "conv1_relu"),
        center_block=False,
    ),
    "vgg16": BackboneSpec(
        skips=("block5_conv3", "block4_conv3", "block3_conv3", "block2_conv2"),
        center_block=True,
    ),
}

#: Height and width must be multiples of this (4 poolings for the plain U-Net, 5 stride-2 steps otherwise).
PLAIN_UNET_DIVISOR = 2 ** (len(PLAIN_UNET_FILTERS) - 1)
BACKBONE_DIVISOR = 32


def unet(
    input_shape: Sequence[int | None],
    *,
    num_classes: int = 1,
    backbone: str | None = None,
    encoder_weights: str | None = None,
    weights: str | None = None,
    preprocess: bool = True,
    decoder_filters: Sequence[int] | None = None,
    activation: str = "sigmoid",
    name: str | None = None,
) -> keras.Model:
    """Build goel2021's segmentation U-Net: the plain U-Net (``backbone=None``) or segmentation-models' U-Net.

    **Plain U-Net** (``backbone=None``; model name ``"unet"``). Per level two Conv3×3 → BN → ReLU, 'same'
    padding; the convolutions have **no bias**, because the BN that follows each one subtracts the batch
    mean (a bias would be cancelled) and adds its own offset β — the same choice segmentation-models makes
    for convolutions followed by BN. Up-sampling is Conv2DTranspose(2×2, stride 2) to half the channels,
    with bias (no BN follows it, as in the original U-Net). Head: Conv1×1 (bias) → ``activation``.
    With 3 input channels and ``num_classes=1`` it has **31,049,409** parameters (31,037,633 trainable and
    11,776 BN moving statistics). It has no ImageNet encoder, so it takes RGB in [0, 1] as is: ``preprocess``
    changes nothing and ``encoder_weights`` must be None.

    **Backbone U-Net** (``backbone="densenet121"`` or ``"vgg16"``; model name ``"unet_<backbone>"``).
    segmentation-models' ``Unet(backbone, decoder_block_type='upsampling', decoder_use_batchnorm=True)``:
    keras.applications encoder (``include_top=False``), skips from :data:`BACKBONES`, a centre block for
    VGG16, then per decoder stage UpSampling2D(2) (nearest) → concatenate skip (stages 0–3) → 2 ×
    (Conv3×3, no bias, He uniform → BN → ReLU); head Conv3×3 (bias, Glorot uniform) → ``activation``.
    With 3 input channels and ``num_classes=1``: 12,144,977 parameters (densenet121) and 23,752,273 (vgg16),
    as segmentation-models 1.0.1 reports. With ``preprocess=True`` an ``ImageNetPreprocess`` layer (DenseNet:
    "torch", VGG: "caffe") comes first, so the model takes RGB in [0, 1]; segmentation-models leaves this
    to the caller, so use ``preprocess=False`` to compare with its models.

    The head activation runs in float32, so outputs stay float32 under a mixed-precision policy.

    Every argument after ``input_shape`` is keyword-only.

    Args:
        input_shape: ``(H, W, C)``. H and W may be None (any size at call time); an integer H or W must be a
            multiple of 16 (plain U-Net; the report used 448×592) or 32 (backbones; 448×576).
        num_classes: output channels (≥ 1); 1 for the binary lesion mask.
        backbone: None (plain U-Net), ``"densenet121"`` or ``"vgg16"``.
        encoder_weights: backbone U-Nets only: None (random), ``"imagenet"`` or a path to a Keras "notop"
            weights file, resolved by :func:`dermkit.weights.build_encoder`. Must be None without a backbone.
        weights: None, a registry name or a path to a Keras 3, legacy Keras 2 or segmentation-models
            ``.h5`` file with weights for the whole model, loaded by :func:`dermkit.weights.load_weights`.
        preprocess: backbone U-Nets: put the encoder's ImageNet preprocessing inside the model (input RGB
            in [0, 1]); False for parity with segmentation-models. No effect on the plain U-Net.
        decoder_filters: backbone U-Nets only: five decoder widths, deepest stage first; None means
            segmentation-models' (256, 128, 64, 32, 16). Must be None for the plain U-Net, whose decoder
            mirrors its encoder (512, 256, 128, 64).
        activation: head activation, any ``keras.activations`` name ("sigmoid", "softmax", "linear", ...).
        name: the model's name; None gives ``"unet"`` (plain) or ``"unet_<backbone>"``.

    Returns:
        A functional ``keras.Model`` mapping ``[B, H, W, C]`` to ``[B, H, W, num_classes]``.

    Raises:
        DermkitDataError: (a ValueError) H or W not divisible by 16 (plain) or 32 (backbone), naming them.
        ValueError: unknown backbone, bad ``input_shape``, ``num_classes``, ``decoder_filters``, or
            ``encoder_weights`` / ``decoder_filters`` given for the plain U-Net.
    """
    input_shape = _check_input_shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer. Received: num_classes={num_classes!r}")
    if not isinstance(activation, str) or not activation:
        raise ValueError(f"activation must be the name of a Keras activation. Received: activation={activation!r}")

    if backbone is None:
        if encoder_weights is not None:
            raise ValueError(
                "The plain U-Net (backbone=None) has no pretrained encoder; encoder_weights must be None. "
                f"Received: encoder_weights={encoder_weights!r}"
            )
        if decoder_filters is not None:
            raise ValueError(
                "decoder_filters applies to backbone U-Nets only; the plain U-Net's decoder mirrors its "
                f"encoder {PLAIN_UNET_FILTERS[-2::-1]}. Received: decoder_filters={decoder_filters!r}"
            )
        _check_divisible(input_shape, PLAIN_UNET_DIVISOR, "the plain U-Net (4 poolings)")
        model = _build_plain_unet(input_shape, num_classes, activation, name=name or "unet")
    else:
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be None or one of {sorted(BACKBONES)}. Received: backbone={backbone!r}")
        decoder_filters = _check_decoder_filters(decoder_filters)
        _check_divisible(input_shape, BACKBONE_DIVISOR, f"unet(backbone={backbone!r})")
        model = _build_backbone_unet(
            input_shape, num_classes, backbone, encoder_weights, preprocess, decoder_filters, activation,
            name=name or f"unet_{backbone}",
        )

    if weights is not None:
        from dermkit.weights import load_weights

        load_weights(model, weights, head=("final_conv",))  # the declared head
    return model


# --------------------------------------------------------------------------------------------------------
# Validation


def _check_input_shape(input_shape) -> tuple[int | None, int | None, int]:
    shape = tuple(input_shape) if isinstance(input_shape, Sequence) else None
    ok = shape is not None and len(shape) == 3
    ok = ok and all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape[:2])
    ok = ok and isinstance(shape[2], int) and not isinstance(shape[2], bool) and shape[2] > 0
    if not ok:
        raise ValueError(
            "input_shape must be (height, width, channels) with positive integers (height and width may be "
            f"None). Received: input_shape={input_shape!r}"
        )
    return shape


def _check_divisible(input_shape, divisor: int, what: str) -> None:
    height, width = input_shape[:2]
    bad = [(axis, size) for axis, size in (("height", height), ("width", width)) if size is not None and size % divisor]
    if bad:
        detail = ", ".join(f"{axis} {size} (nearest: {_nearest_multiples(size, divisor)})" for axis, size in bad)
        raise DermkitDataError(
            f"{what} needs height and width divisible by {divisor}; {detail} is not. "
            f"Received: input_shape={tuple(input_shape)}"
        )


def _nearest_multiples(size: int, divisor: int) -> str:
    below = size // divisor * divisor
    return " or ".join(str(s) for s in (below, below + divisor) if s > 0)


def _check_decoder_filters(decoder_filters) -> tuple[int, ...]:
    if decoder_filters is None:
        return DEFAULT_DECODER_FILTERS
    filters = tuple(decoder_filters) if isinstance(decoder_filters, Sequence) else ()
    if len(filters) != len(DEFAULT_DECODER_FILTERS) or not all(
        isinstance(f, int) and not isinstance(f, bool) and f > 0 for f in filters
    ):
        raise ValueError(
            f"decoder_filters must be {len(DEFAULT_DECODER_FILTERS)} positive integers, one per ×2 up-sampling "
            f"stage (deepest first), e.g. {DEFAULT_DECODER_FILTERS}. Received: decoder_filters={decoder_filters!r}"
        )
    return filters


# --------------------------------------------------------------------------------------------------------
# Blocks


def apply_conv_bn_relu(x, filters: int, *, kernel_initializer: str, conv_name: str, bn_name: str, relu_name: str):
    """Conv3×3 ('same', no bias) → BatchNormalization → ReLU, each layer named."""
    x = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_initializer=kernel_initializer, name=conv_name
    )(x)
    x = keras.layers.BatchNormalization(axis=BN_AXIS, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=bn_name)(x)
    return keras.layers.Activation("relu", name=relu_name)(x)


def apply_plain_double_conv(x, filters: int, *, name: str):
    """The plain U-Net's level: 2 × (Conv3×3 → BN → ReLU), layers ``{name}_conv{i}``, ``_bn{i}``, ``_relu{i}``."""
    for i in (1, 2):
        x = apply_conv_bn_relu(
            x,
            filters,
            kernel_initializer=PLAIN_UNET_INITIALIZER,
            conv_name=f"{name}_conv{i}",
            bn_name=f"{name}_bn{i}",
            relu_name=f"{name}_relu{i}",
        )
    return x


def apply_sm_conv3x3_bn_relu(x, filters: int, *, name: str):
    """segmentation-models' ``Conv3x3BnReLU``: layers ``{name}_conv``, ``{name}_bn``, ``{name}_relu``."""
    return apply_conv_bn_relu(
        x,
        filters,
        kernel_initializer=DECODER_INITIALIZER,
        conv_name=f"{name}_conv",
        bn_name=f"{name}_bn",
        relu_name=f"{name}_relu",
    )


def apply_sm_decoder_block(x, skip, filters: int, *, stage: int):
    """segmentation-models' ``DecoderUpsamplingX2Block``: UpSampling2D(2) → [concat skip] → 2 × Conv3x3BnReLU."""
    x = keras.layers.UpSampling2D(size=2, name=f"decoder_stage{stage}_upsampling")(x)
    if skip is not None:
        x = keras.layers.Concatenate(axis=-1, name=f"decoder_stage{stage}_concat")([x, skip])
    x = apply_sm_conv3x3_bn_relu(x, filters, name=f"decoder_stage{stage}a")
    return apply_sm_conv3x3_bn_relu(x, filters, name=f"decoder_stage{stage}b")


def apply_head(x, num_classes: int, activation: str, *, kernel_size: int, kernel_initializer: str):
    """Conv (bias) to ``num_classes`` → ``activation`` in float32 (``final_conv``, ``final_activation``)."""
    x = keras.layers.Conv2D(
        num_classes,
        kernel_size,
        padding="same",
        use_bias=True,
        kernel_initializer=kernel_initializer,
        name="final_conv",
    )(x)
    return keras.layers.Activation(activation, dtype="float32", name="final_activation")(x)


# --------------------------------------------------------------------------------------------------------
# Models


def _build_plain_unet(input_shape, num_classes: int, activation: str, *, name: str = "unet") -> keras.Model:
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    skips = []
    for level, filters in enumerate(PLAIN_UNET_FILTERS[:-1]):
        x = apply_plain_double_conv(x, filters, name=f"encoder_block{level}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"encoder_block{level}_pool")(x)
    x = apply_plain_double_conv(x, PLAIN_UNET_FILTERS[-1], name="bottleneck")

    for stage, (filters, skip) in enumerate(zip(PLAIN_UNET_FILTERS[-2::-1], reversed(skips))):
        x = keras.layers.Conv2DTranspose(
            filters,
            2,
            strides=2,
            padding="same",
            kernel_initializer=PLAIN_UNET_INITIALIZER,
            name=f"decoder_stage{stage}_upconv",
        )(x)
        x = keras.layers.Concatenate(axis=-1, name=f"decoder_stage{stage}_concat")([x, skip])
        x = apply_plain_double_conv(x, filters, name=f"decoder_stage{stage}")

    outputs = apply_head(x, num_classes, activation, kernel_size=1, kernel_initializer=PLAIN_UNET_INITIALIZER)
    return keras.Model(inputs, outputs, name=name)


def _build_backbone_unet(
    input_shape, num_classes: int, backbone: str, encoder_weights, preprocess: bool, decoder_filters, activation,
    *, name: str,
) -> keras.Model:
    from dermkit.weights import ENCODERS, build_encoder

    spec = BACKBONES[backbone]
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if preprocess:
        from dermkit.models.layers import ImageNetPreprocess

        x = ImageNetPreprocess(mode=ENCODERS[backbone].preprocess, name="imagenet_preprocess")(x)
    # The encoder's layers are built on ``x``, so they sit flat in this model under their own names.
    encoder = build_encoder(backbone, encoder_weights=encoder_weights, input_tensor=x, input_shape=input_shape)
    skips = [encoder.get_layer(name).output for name in spec.skips]

    x = encoder.output
    if spec.center_block:
        x = apply_sm_conv3x3_bn_relu(x, CENTER_FILTERS, name="center_block1")
        x = apply_sm_conv3x3_bn_relu(x, CENTER_FILTERS, name="center_block2")
    for stage, filters in enumerate(decoder_filters):
        skip = skips[stage] if stage < len(skips) else None
        x = apply_sm_decoder_block(x, skip, filters, stage=stage)

    outputs = apply_head(x, num_classes, activation, kernel_size=3, kernel_initializer=HEAD_INITIALIZER)
    return keras.Model(inputs, outputs, name=name)


import dermkit._register  # noqa: E402, F401  (every dermkit serialisable registered with Keras)
