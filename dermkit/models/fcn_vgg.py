"""kawahara2018's fully convolutional network (Fig. 2, Section II-C) and its Table V / Section III-C variants.

Fig. 2 ("fcn_vgg_bottomheavy" in the authors' release): VGG16 without its top; six feature maps are resized
bilinearly to the input size and concatenated (576 channels); a 1×1 convolution to K and a sigmoid give
one probability map per dermoscopic feature (the features overlap, hence no softmax)::

    block1_conv2 (64, full size)                        ─────────────────────────────┐
    block2_conv2 (128)              ─────────────────── resize_block2 ─────────────┤
    block3_conv3 (256)              ─────────────────── resize_block3 ─────────────┤
    block4_conv3 (512) → reduce_block4 (1×1, 64, ReLU) → resize_block4 ─────────────┤ concat_taps (576)
    block5_conv3 (512) → reduce_block5 (1×1, 32, ReLU) → resize_block5 ─────────────┤   → head_conv (1×1, K)
    block5_pool  (512) → reduce_pool5  (1×1, 32, ReLU) → resize_pool5  ─────────────┘   → head_sigmoid

The resizes use TF1 bilinear semantics (``align_corners=False``, no half-pixel centres), as the original
Keras 2 / TF 1.12 model did, so the released weights reproduce its outputs. 14,782,660 parameters at K = 4.

Variants (all keep the layer names above where the layer exists):

- ``reduce_deep=False, extra_conv=True``: the lesion-segmentation entry of Section III-C — the three deeper
  maps are concatenated unreduced (64 + 128 + 256 + 3 × 512 = 1984 channels) and one more convolution follows
  the concatenation. The paper gives neither its size nor its width; dermkit uses a 1×1 convolution with
  64 filters and ReLU (``extra_conv``; an integer sets the filter count), which keeps the head per-pixel as in
  Fig. 2.
- ``backbone="resnet50"`` / ``"inception_resnet_v2"`` (Table V, "Skip"): six taps at comparable depths, the
  three deepest reduced to 64 / 32 / 32 channels, every tap resized to the input size:

  ============  =========================  =================================================
  slot          ResNet50                   InceptionResNetV2 ('valid' stem; min input 75)
  ============  =========================  =================================================
  block1        conv1_relu (1/2, 64)       3rd stem activation (≈1/2, 64)
  block2        conv2_block3_out (1/4,256) 5th stem activation (≈1/4, 192)
  block3        conv3_block4_out (1/8,512) block35_10_ac (≈1/8, 320)
  block4 → 64   conv4_block6_out (1/16)    block17_20_ac (≈1/16, 1088)
  block5 → 32   conv5_block3_out (1/32)    conv_7b_ac (≈1/32, 1536)
  pool5 → 32    encoder_pool5: 2×2 max pool of the block5 tap ('same' padding), as block5_pool in VGG16
  ============  =========================  =================================================

- ``connection="unet"`` (Table V, "UNet", VGG16 only): the skip-concatenation is replaced by a U-Net decoder
  (no BN, as VGG16 has none). Starting from ``block5_pool``, each stage ``unet_stage{i}`` resizes the running
  map to the next shallower tap (TF1 bilinear, so any input size works), concatenates that tap and applies two
  3×3 convolutions + ReLU; taps ``block5_conv3, block4_conv3, block3_conv3, block2_conv2, block1_conv2`` with
  256, 128, 64, 32, 16 filters (segmentation-models' decoder widths). Then ``head_conv`` (1×1, K) and
  ``head_sigmoid``. ``reduce_deep`` and ``extra_conv`` do not apply.
"""

from __future__ import annotations

import os

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.models.fcn_vgg")

import keras  # noqa: E402

from dermkit.models.layers import BilinearResizeTF1, ImageNetPreprocess  # noqa: E402
from dermkit.weights import ENCODERS, build_encoder, load_weights  # noqa: E402
from dermkit.weights.registry import KAWAHARA2018_LEGACY_NAME_MAP  # noqa: E402

__all__ = ["vgg16_fcn", "BACKBONES", "CONNECTIONS", "TAP_SLOTS", "UNET_DECODER_FILTERS", "DEFAULT_EXTRA_CONV_FILTERS"]

BACKBONES = ("vgg16", "resnet50", "inception_resnet_v2")
CONNECTIONS = ("skip", "unet")
#: Tap slots in concatenation order, and the channels the deeper ones are reduced to (Fig. 2).
TAP_SLOTS = ("block1", "block2", "block3", "block4", "block5", "pool5")
REDUCED_FILTERS = {"block4": 64, "block5": 32, "pool5": 32}
DEFAULT_EXTRA_CONV_FILTERS = 64
UNET_DECODER_FILTERS = (256, 128, 64, 32, 16)
_VGG16_TAPS = {
    "block1": "block1_conv2",
    "block2": "block2_conv2",
    "block3": "block3_conv3",
    "block4": "block4_conv3",
    "block5": "block5_conv3",
    "pool5": "block5_pool",
}
_RESNET50_TAPS = {
    "block1": "conv1_relu",
    "block2": "conv2_block3_out",
    "block3": "conv3_block4_out",
    "block4": "conv4_block6_out",
    "block5": "conv5_block3_out",
}
_IRV2_TAPS = {"block3": "block35_10_ac", "block4": "block17_20_ac", "block5": "conv_7b_ac"}


def vgg16_fcn(
    input_shape=(336, 336, 3),
    *,
    num_classes: int = 4,
    encoder_weights=None,
    weights=None,
    preprocess: bool = True,
    reduce_deep: bool = True,
    extra_conv: bool | int = False,
    backbone: str = "vgg16",
    connection: str = "skip",
    name: str | None = None,
) -> keras.Model:
    """kawahara2018 Fig. 2: VGG16 taps resized to the input size, concatenated, 1×1 conv to K, sigmoid.

    Every argument after ``input_shape`` is keyword-only.

    Args:
        input_shape: ``(H, W, 3)``; ``H``, ``W`` ≥ 32 (≥ 75 for InceptionResNetV2) or ``None`` for a
            size-agnostic model. Default ``(336, 336, 3)`` (the paper's).
        num_classes: K output channels (4: pigment_network, negative_network, milia_like_cyst, streaks).
        encoder_weights: ``None``, ``"imagenet"`` or a path to the Keras notop file
            (:func:`dermkit.weights.build_encoder`). Ignored (not downloaded) when ``weights`` is given.
        weights: ``None``, a registry name (``"isic2017-part2_vgg_f1-batch_aug"``: the authors' released
            model) or a path to a Keras 3 ``.weights.h5`` or legacy Keras 2 ``.h5`` file. Legacy files are
            matched by name, with Keras 2's auto-names ``conv2d_1..4`` mapped to ``reduce_block4``,
            ``reduce_block5``, ``reduce_pool5``, ``head_conv``.
        preprocess: ``True`` — input is RGB float in [0, 1] and the encoder's ImageNet preprocessing is the
            first layer (``preprocess``); ``False`` — input is already preprocessed (caffe mode for VGG16 /
            ResNet50, tf mode for InceptionResNetV2), as the original code fed it.
        reduce_deep: reduce the three deepest taps to 64 / 32 / 32 channels (Fig. 2). ``False``: concatenate
            them unreduced (Section III-C lesion variant).
        extra_conv: ``False`` (Fig. 2); ``True`` adds one 1×1 conv (64 filters, ReLU) named ``extra_conv``
            after the concatenation (Section III-C); an ``int`` sets its filter count.
        backbone: ``"vgg16"``, ``"resnet50"`` or ``"inception_resnet_v2"`` (Table V).
        connection: ``"skip"`` (Fig. 2) or ``"unet"`` (Table V, VGG16 only).
        name: model name; default ``"<backbone>_fcn"`` (``"vgg16_unet"`` for the U-Net variant).

    Returns:
        A ``keras.Model`` from ``[B, H, W, 3]`` to sigmoid probabilities ``[B, H, W, K]`` (float32 even under
        a mixed-precision policy).

    Raises:
        ValueError: an argument is out of range; the message ends with ``Received: ...``.
        DermkitFileNotFoundError, DermkitDataError, OSError: see :func:`dermkit.weights.load_weights` and
            :func:`dermkit.weights.build_encoder`.
    """
    _validate(input_shape, num_classes, encoder_weights, weights, preprocess, reduce_deep, extra_conv, backbone,
              connection)
    input_shape = tuple(input_shape)
    if weights is not None:
        encoder_weights = None  # every encoder weight is overwritten by the loaded file: do not download
    inputs = keras.Input(shape=input_shape, name="image")
    x = ImageNetPreprocess(ENCODERS[backbone].preprocess, name="preprocess")(inputs) if preprocess else inputs
    encoder = build_encoder(backbone, encoder_weights=encoder_weights, input_tensor=x)
    taps = _encoder_taps(encoder, backbone)
    if connection == "unet":
        features = _apply_unet_decoder(taps, inputs)
    else:
        features = _apply_skip_concat(taps, inputs, backbone, reduce_deep, extra_conv)
    logits = keras.layers.Conv2D(num_classes, 1, name="head_conv")(features)
    outputs = keras.layers.Activation("sigmoid", dtype="float32", name="head_sigmoid")(logits)
    default_name = "vgg16_unet" if connection == "unet" else f"{backbone}_fcn"
    model = keras.Model(inputs, outputs, name=name or default_name)
    if weights is not None:
        name_map = KAWAHARA2018_LEGACY_NAME_MAP if (backbone, connection) == ("vgg16", "skip") else None
        load_weights(model, weights, name_map=None if name_map is None else dict(name_map), head=("head_conv",))
    return model


def _validate(input_shape, num_classes, encoder_weights, weights, preprocess, reduce_deep, extra_conv, backbone,
              connection) -> None:
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {BACKBONES}. Received: backbone={backbone!r}")
    if connection not in CONNECTIONS:
        raise ValueError(f"connection must be one of {CONNECTIONS}. Received: connection={connection!r}")
    if connection == "unet" and backbone != "vgg16":
        raise ValueError(
            f"connection='unet' is defined for backbone='vgg16' only (Table V). Received: backbone={backbone!r}"
        )
    if connection == "unet" and extra_conv is not False:
        raise ValueError(f"extra_conv applies to connection='skip' only. Received: extra_conv={extra_conv!r}")
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    min_size = ENCODERS[backbone].min_size
    if (
        shape is None
        or len(shape) != 3
        or shape[2] != 3
        or not all(s is None or (isinstance(s, int) and not isinstance(s, bool) and s >= min_size) for s in shape[:2])
    ):
        raise ValueError(
            f"input_shape must be (H, W, 3) with H, W >= {min_size} or None for backbone={backbone!r}. "
            f"Received: input_shape={input_shape!r}"
        )
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer. Received: num_classes={num_classes!r}")
    if not isinstance(preprocess, bool):
        raise ValueError(f"preprocess must be True or False. Received: preprocess={preprocess!r}")
    if not isinstance(reduce_deep, bool):
        raise ValueError(f"reduce_deep must be True or False. Received: reduce_deep={reduce_deep!r}")
    if not (isinstance(extra_conv, bool) or (isinstance(extra_conv, int) and extra_conv > 0)):
        raise ValueError(
            f"extra_conv must be True, False or a positive number of filters. Received: extra_conv={extra_conv!r}"
        )
    if encoder_weights is not None and encoder_weights != "imagenet" and not isinstance(
        encoder_weights, (str, os.PathLike)
    ):
        raise ValueError(
            "encoder_weights must be None, 'imagenet' or a path to a Keras notop .h5 file. "
            f"Received: encoder_weights={encoder_weights!r}"
        )
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights must be None, a registry name or a path to an .h5 file. Received: weights={weights!r}"
        )


def _encoder_taps(encoder: keras.Model, backbone: str) -> dict:
    """Slot → encoder tensor for the six taps (Table in the module docstring)."""
    if backbone == "vgg16":
        return {slot: encoder.get_layer(layer).output for slot, layer in _VGG16_TAPS.items()}
    if backbone == "resnet50":
        taps = {slot: encoder.get_layer(layer).output for slot, layer in _RESNET50_TAPS.items()}
    else:
        # The stem activations of keras.applications' InceptionResNetV2 are auto-named (process-dependent
        # names): take them by position — the first five Activation layers are the stem's 32, 32, 64, 80, 192.
        stem = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Activation)][:5]
        channels = [layer.output.shape[-1] for layer in stem]
        if channels != [32, 32, 64, 80, 192]:
            raise RuntimeError(f"unexpected InceptionResNetV2 stem (activation channels {channels}).")
        taps = {"block1": stem[2].output, "block2": stem[4].output}
        taps.update({slot: encoder.get_layer(layer).output for slot, layer in _IRV2_TAPS.items()})
    taps["pool5"] = keras.layers.MaxPooling2D(2, padding="same", name="encoder_pool5")(taps["block5"])
    return taps


def _apply_skip_concat(taps: dict, inputs, backbone: str, reduce_deep: bool, extra_conv: bool | int):
    """Fig. 2: (reduce) → resize to the input size → concatenate, in TAP_SLOTS order."""
    resized = []
    for slot in TAP_SLOTS:
        x = taps[slot]
        if reduce_deep and slot in REDUCED_FILTERS:
            x = keras.layers.Conv2D(REDUCED_FILTERS[slot], 1, activation="relu", name=f"reduce_{slot}")(x)
        if not (backbone == "vgg16" and slot == "block1"):  # VGG16's block1 is already at full resolution
            x = BilinearResizeTF1(name=f"resize_{slot}")([x, inputs])
        resized.append(x)
    x = keras.layers.Concatenate(axis=-1, name="concat_taps")(resized)
    if extra_conv is not False:
        filters = DEFAULT_EXTRA_CONV_FILTERS if extra_conv is True else int(extra_conv)
        x = keras.layers.Conv2D(filters, 1, activation="relu", name="extra_conv")(x)
    return x


def _apply_unet_decoder(taps: dict, inputs):
    """Table V "UNet": from block5_pool up through the VGG16 taps, two 3×3 convs per stage."""
    x = taps["pool5"]
    for stage, (slot, filters) in enumerate(zip(("block5", "block4", "block3", "block2", "block1"),
                                                UNET_DECODER_FILTERS)):
        skip = taps[slot]
        x = BilinearResizeTF1(name=f"unet_stage{stage}_upsample")([x, skip])
        x = keras.layers.Concatenate(axis=-1, name=f"unet_stage{stage}_concat")([x, skip])
        for i in (1, 2):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"unet_stage{stage}_conv{i}")(x)
    return x


import dermkit._register  # noqa: E402, F401  (every dermkit serialisable registered with Keras)
