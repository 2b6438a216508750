"""AlexNet (Krizhevsky et al. 2012, the Caffe ``bvlc_alexnet`` definition) and codella2018's CHAI embedding.

**AlexNet** (:func:`alexnet`), layer names as in the Caffe model so weights a user converts from it load by
name::

    image → preprocess → conv1 96 11×11/4 → norm1 (LRN) → pool1 3/2 → conv2 256 5×5 (groups 2) → norm2 → pool2
          → conv3 384 3×3 → conv4 384 3×3 (groups 2) → conv5 256 3×3 (groups 2) → pool5 3/2
          → fc6 4096 → drop6 → fc7 4096 → drop7 → fc8 (softmax)

Every convolution and fc6 / fc7 is followed by a ReLU (in place in Caffe, so Caffe's ``fc6`` blob — the
Baseline embedding of codella2018 — is the rectified one, as here). Pooling is 'valid' with floor rounding;
Caffe rounds pooled sizes up, which differs only where ``(size − 3)`` is odd (not at 227² or 67²).
Inputs of at least 67×67 reach ``pool5`` with 1×1 (227² gives 6×6).

**LRN** (:class:`LocalResponseNormalization`): Caffe's across-channel definition
``b_c = a_c / (k + (α/n) Σ_{c' ∈ window(c)} a_c'²)^β`` over the ``n`` channels centred on ``c`` (α 1e-4,
β 0.75, k 1, n 5 in the Caffe AlexNet). ``tf.nn.local_response_normalization`` computes
``a / (bias + alpha Σ a²)^beta`` over ``2·depth_radius + 1`` channels, so the layer calls it with
``depth_radius = (n − 1)/2`` and ``alpha = α/n``.

**CHAI embedding** (:func:`alexnet_gap_embedding`, codella2018 Section 2.1 and Fig. 1a): AlexNet up to conv5,
a new 3×3 stride-1 'same' convolution to d = 1024 maps ``g_z`` (``gap_conv``, ReLU; the GAP architecture of
Zhou et al. 2016, the paper's ref. [8]) and global average pooling, Eq. 3, ``f_z(x) = (1/n²) Σ_ij g_z(x, i, j)``.
The model returns ``{"embedding": f(x) [B, d], "maps": g(x) [B, h, w, d]}`` (the maps feed Eq. 2).

Weights: the paper starts from an AlexNet trained on CASIA-WebFace (its ref. [15]), which is not public.
``weights=None`` gives Glorot-uniform random weights (what dermkit's Baseline rows use unless the user passes
a file); a path loads the user's file through :func:`dermkit.weights.load_weights` with the builder's declared
head (:data:`ALEXNET_HEAD` = ``fc8``; the embedding's :data:`EMBEDDING_HEAD` = ``gap_conv``): every layer whose
shapes match is loaded, and a head the file lacks or holds with another shape — a CASIA-WebFace AlexNet's fc8
has 10,575 outputs, a converted file may have none — is re-initialised, with one log line.
"""

from __future__ import annotations

import os
from pathlib import Path

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.models.alexnet")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from dermkit.models.layers import ImageNetPreprocess  # noqa: E402

__all__ = [
    "LocalResponseNormalization",
    "alexnet",
    "alexnet_gap_embedding",
    "load_alexnet_weights",
    "load_alexnet_encoder",
    "transfer_weights",
    "CONV_LAYERS",
    "FC_LAYERS",
    "ALEXNET_HEAD",
    "EMBEDDING_HEAD",
    "MIN_INPUT_SIZE",
]

#: The transferred convolutional layers (Caffe names).
CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
#: The fully connected layers of the classifier.
FC_LAYERS = ("fc6", "fc7", "fc8")
#: The classifier head :func:`alexnet` declares to the weights loader (re-initialised when a file does not fit it).
ALEXNET_HEAD = ("fc8",)
#: The CHAI embedding's new layer (the paper's "randomly initialized GAP layer"), its declared head.
EMBEDDING_HEAD = ("gap_conv",)
#: The smallest input side that reaches pool5 with a 1×1 map.
MIN_INPUT_SIZE = 67
#: Caffe AlexNet's LRN parameters (``local_size``, ``alpha``, ``beta``, ``k``).
CAFFE_LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}


@keras.saving.register_keras_serializable(package="dermkit")
class LocalResponseNormalization(keras.layers.Layer):
    """Caffe's across-channel local response normalisation (AlexNet's ``norm1`` / ``norm2``).

    ``b_c = a_c / (k + (alpha / size) · Σ_{c'=c−(size−1)/2}^{c+(size−1)/2} a_c'²)^beta`` over the last (channel)
    axis, channels outside ``[0, C)`` counting as zero. Shape preserving, ``[B, H, W, C]``.

    Args:
        size: the window ``n`` (odd, ≥ 1). alpha, beta, k: as in the formula (Caffe's defaults for AlexNet:
            5, 1e-4, 0.75, 1).
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ValueError(f"size must be an odd integer ≥ 1. Received: size={size!r}")
        for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number ≥ 0. Received: {name}={value!r}")
        self.size = int(size)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)

    def call(self, inputs):
        x = tf.convert_to_tensor(inputs)
        dtype = x.dtype
        out = tf.nn.local_response_normalization(
            tf.cast(x, tf.float32), depth_radius=(self.size - 1) // 2, bias=self.k,
            alpha=self.alpha / self.size, beta=self.beta)
        return tf.cast(out, dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k})
        return config


def _check_shape(input_shape) -> tuple[int, int, int]:
    try:
        h, w, c = (int(v) for v in input_shape)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"input_shape must be (height, width, 3). Received: input_shape={input_shape!r}") from exc
    if c != 3:
        raise ValueError(f"input_shape must have 3 (RGB) channels. Received: input_shape={input_shape!r}")
    if h < MIN_INPUT_SIZE or w < MIN_INPUT_SIZE:
        raise ValueError(f"AlexNet needs inputs of at least {MIN_INPUT_SIZE}×{MIN_INPUT_SIZE} (pool5 would be "
                         f"empty). Received: input_shape={input_shape!r}")
    return h, w, c


def _features(inputs, preprocess: bool):
    """AlexNet's input → conv5 (ReLU), with Caffe names."""
    layers = keras.layers
    x = ImageNetPreprocess("caffe", name="preprocess")(inputs) if preprocess else inputs
    x = layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1")(x)
    x = LocalResponseNormalization(**CAFFE_LRN, name="norm1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(256, 5, padding="same", groups=2, activation="relu", name="conv2")(x)
    x = LocalResponseNormalization(**CAFFE_LRN, name="norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(384, 3, padding="same", groups=2, activation="relu", name="conv4")(x)
    return layers.Conv2D(256, 3, padding="same", groups=2, activation="relu", name="conv5")(x)


def alexnet(
    input_shape: tuple[int, int, int] = (227, 227, 3),
    *,
    include_top: bool = True,
    num_classes: int = 3,
    encoder_weights: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    preprocess: bool = True,
    dropout: float = 0.5,
    name: str = "alexnet",
) -> keras.Model:
    """The original AlexNet (Caffe ``bvlc_alexnet``; module docstring), a functional ``keras.Model``.

    Args:
        input_shape: ``(H, W, 3)``, H and W ≥ 67 (the paper: 227×227).
        include_top: keep fc6–fc8 (``fc8`` a softmax over ``num_classes``); False ends at ``pool5``.
        num_classes: fc8's units (3 for ISIC 2017: melanoma, seborrhoeic keratosis, nevus).
        encoder_weights: None (random) or a file holding the encoder conv1–conv5 — the paper's face-recognition
            AlexNet (CASIA-WebFace, its ref. [15]), any AlexNet or CHAI file (:func:`load_alexnet_encoder`;
            only conv1–conv5 are read). ``"imagenet"`` is refused: Keras ships no AlexNet.
        weights: None (random) or a weights file (:func:`load_alexnet_weights`; Keras 3 ``.weights.h5`` or
            Keras 2 ``.h5``). ``fc8`` is the declared head: absent from the file or of another width, it is
            re-initialised (one log line); any other mismatch is an error listing the shapes.
        preprocess: take RGB float32 in [0, 1] and apply Caffe's preprocessing inside (×255, RGB → BGR,
            ImageNet mean subtracted); False takes already preprocessed inputs.
        dropout: rate of ``drop6`` / ``drop7`` (Caffe 0.5).
        name: the model's name.

    ``weights`` is loaded after ``encoder_weights`` (the whole model's file wins).

    Returns:
        ``keras.Model`` named ``name`` (default ``"alexnet"``): ``[B, H, W, 3] → [B, num_classes]`` (or ``pool5``).
    """
    shape = _check_shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be an integer ≥ 1. Received: num_classes={num_classes!r}")
    inputs = keras.Input(shape, name="image")
    x = _features(inputs, preprocess)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(4096, activation="relu", name="fc6")(x)
        x = keras.layers.Dropout(dropout, name="drop6")(x)
        x = keras.layers.Dense(4096, activation="relu", name="fc7")(x)
        x = keras.layers.Dropout(dropout, name="drop7")(x)
        x = keras.layers.Dense(num_classes, activation="softmax", name="fc8")(x)
    model = keras.Model(inputs, x, name=name)
    load_alexnet_encoder(model, encoder_weights)
    if weights is not None:
        load_alexnet_weights(model, weights)
    return model


def alexnet_gap_embedding(
    input_shape: tuple[int, int, int] = (227, 227, 3),
    *,
    embedding_dim: int = 1024,
    encoder_weights: str | os.PathLike | None = None,
    weights: str | os.PathLike | None = None,
    preprocess: bool = True,
    name: str = "chai_embedding",
) -> keras.Model:
    """codella2018's CHAI embedding: AlexNet to conv5 → ``gap_conv`` (d maps ``g_z``) → GAP (Eq. 3).

    Args:
        input_shape: ``(H, W, 3)``, H and W ≥ 67.
        embedding_dim: d (the paper: 1024, after Zhou et al.).
        encoder_weights: None or a file with conv1–conv5 (the face AlexNet; :func:`load_alexnet_encoder`),
            as for :func:`alexnet`; ``gap_conv`` stays random (the paper's "randomly initialized GAP layer").
        weights: None or a weights file (:func:`load_alexnet_weights`; an AlexNet file gives conv1–conv5, its
            fc6–fc8 are skipped, and ``gap_conv``, the declared head, is re-initialised when the file lacks it
            or holds another width).
        preprocess: as for :func:`alexnet`. name: the model's name.

    Returns:
        ``keras.Model`` named ``name`` (default ``"chai_embedding"``):
        ``[B, H, W, 3] → {"embedding": [B, d], "maps": [B, h, w, d]}`` (``h = w = 13`` at 227², 3 at 67²).
    """
    shape = _check_shape(input_shape)
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1:
        raise ValueError(f"embedding_dim must be an integer ≥ 1. Received: embedding_dim={embedding_dim!r}")
    inputs = keras.Input(shape, name="image")
    x = _features(inputs, preprocess)
    maps = keras.layers.Conv2D(embedding_dim, 3, padding="same", activation="relu", name="gap_conv")(x)
    embedding = keras.layers.GlobalAveragePooling2D(name="gap")(maps)
    model = keras.Model(inputs, {"embedding": embedding, "maps": maps}, name=name)
    load_alexnet_encoder(model, encoder_weights)
    if weights is not None:
        load_alexnet_weights(model, weights)
    return model


def load_alexnet_encoder(model: keras.Model, encoder_weights: str | os.PathLike | None) -> None:
    """Load conv1–conv5 of ``model`` from ``encoder_weights`` (None: nothing), leaving every other layer as it is.

    The file is any weights file :func:`load_alexnet_weights` reads (Keras 3 or Keras 2 ``.h5``) of an AlexNet,
    a CHAI embedding or an encoder alone; it is loaded into an encoder-only AlexNet of the same input size
    (its fc6–fc8 / ``gap_conv`` skipped) whose conv1–conv5 are then copied (:func:`transfer_weights`).

    Raises:
        ValueError: ``encoder_weights="imagenet"`` (Keras ships no AlexNet) or not a path.
        DermkitFileNotFoundError / DermkitDataError: as :func:`dermkit.weights.load_weights`, naming the file.
    """
    if encoder_weights is None:
        return
    if isinstance(encoder_weights, str) and encoder_weights == "imagenet":
        raise ValueError("encoder_weights='imagenet': Keras ships no ImageNet AlexNet. Pass the path of a file "
                         "holding conv1-conv5 (codella2018 starts from a face-recognition AlexNet trained on "
                         "CASIA-WebFace, its ref. [15]), or None for random weights.")
    if not isinstance(encoder_weights, (str, os.PathLike)):
        raise ValueError(f"encoder_weights must be None or a path. Received: encoder_weights={encoder_weights!r}")
    from dermkit.errors import DermkitFileNotFoundError
    from dermkit.weights import load_weights

    path = Path(encoder_weights)
    if not path.is_file():
        raise DermkitFileNotFoundError(f"{path}: AlexNet encoder weights file not found")
    inputs = keras.Input(model.input_shape[1:], name="image")
    encoder = keras.Model(inputs, _features(inputs, any(layer.name == "preprocess" for layer in model.layers)),
                          name="alexnet_encoder")
    load_weights(encoder, path, skip=FC_LAYERS + EMBEDDING_HEAD)
    transfer_weights(encoder, model, CONV_LAYERS)


def transfer_weights(source: keras.Model, target: keras.Model, layers=CONV_LAYERS) -> list[str]:
    """Copy the weights of ``layers`` (by name) from ``source`` to ``target`` (e.g. a trained AlexNet's
    conv1–conv5 into a CHAI embedding: "fine-tuned from the baseline"). Returns the names copied.

    Raises:
        ValueError: a layer is missing from either model or its weight shapes differ.
    """
    copied = []
    for name in layers:
        try:
            src, dst = source.get_layer(name), target.get_layer(name)
        except ValueError as exc:
            raise ValueError(f"transfer_weights: layer {name!r} is missing from {source.name} or "
                             f"{target.name}") from exc
        a, b = src.get_weights(), dst.get_weights()
        if [w.shape for w in a] != [w.shape for w in b]:
            raise ValueError(f"transfer_weights: layer {name!r} shapes differ: {[w.shape for w in a]} vs "
                             f"{[w.shape for w in b]}")
        dst.set_weights(a)
        copied.append(name)
    return copied


def load_alexnet_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """Load a weights file into an :func:`alexnet` or :func:`alexnet_gap_embedding` model.

    :func:`dermkit.weights.load_weights` with the model's declared head (:data:`ALEXNET_HEAD` when it has
    ``fc8``, else :data:`EMBEDDING_HEAD`) and, for the embedding, the file's fc6–fc8 skipped:

    * ``*.weights.h5`` (Keras 3, ``model.save_weights`` of an AlexNet or CHAI embedding), matched by Keras'
      object paths;
    * any other ``.h5`` in the Keras 2 layout (``layer_names`` attribute; e.g. Caffe's AlexNet converted with
      MMdnn or caffe-tensorflow), matched by layer name. Caffe's weight layout (out, in, h, w) must be
      converted to Keras' (h, w, in, out) first.

    Every layer whose shapes match is loaded; the head, when the file lacks it or holds another shape (a
    CASIA-WebFace fc8 of 10,575 outputs), is re-initialised and one log line says so.

    Raises:
        DermkitFileNotFoundError / DermkitDataError: the file is missing, unreadable or does not fit outside
            the head (the message names the file, the layers and their shapes; nothing is loaded).
    """
    from dermkit.errors import DermkitFileNotFoundError
    from dermkit.weights import load_weights

    path = Path(path)
    if not path.is_file():
        raise DermkitFileNotFoundError(f"{path}: AlexNet weights file not found")
    names = {layer.name for layer in model.layers}
    if "fc8" in names:
        load_weights(model, path, head=ALEXNET_HEAD)
    else:
        load_weights(model, path, head=tuple(n for n in EMBEDDING_HEAD if n in names),
                     skip=tuple(n for n in FC_LAYERS if n not in names))
