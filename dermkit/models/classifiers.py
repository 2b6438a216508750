"""DenseNet121 lesion classifier of goel2021 (report Section 3.2, Tables 1–2).

DenseNet121 (ImageNet) with its 1000-way top replaced by a 2-unit classification layer; trained with
binary cross-entropy and Adam for 15 epochs on 224×224 inputs. The ablation (Table 1) varies which weights
train (``train_mode``), an extra 1024-unit fully connected layer, the learning rate, L2 and class weights.

With a 2-unit softmax head and one-hot labels, Keras' ``binary_crossentropy`` (the mean over the two units
of the per-unit BCE) equals the categorical cross-entropy: ``-[y₀ log p₀ + (1 − y₀) log(1 − p₀)] = -[y₀ log p₀
+ y₁ log p₁]`` for each unit, since ``p₁ = 1 − p₀`` and ``y₁ = 1 − y₀``. The report's weighted form is
:class:`dermkit.losses.class_weighted.WeightedCategoricalCrossentropy`.
"""

from __future__ import annotations

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.models.classifiers")

import keras  # noqa: E402

from dermkit.models.layers import ImageNetPreprocess  # noqa: E402
from dermkit.weights import build_encoder, load_weights  # noqa: E402

__all__ = ["densenet_classifier", "set_train_mode", "TRAIN_MODES", "LAST_BLOCK_START", "HEAD_LAYERS"]

#: Which weights train, per goel2021 Table 1 "weights" column:
#: ``"frozen"`` (base frozen: only the head), ``"last_block"`` ("dense-bl.": the last dense block onwards plus
#: the head), ``"finetune"`` (every weight), ``"fc"`` ("fc layers": every weight, plus an extra
#: Dense(1024, relu) before the head).
TRAIN_MODES = ("frozen", "last_block", "finetune", "fc")

#: First layer of DenseNet121's last dense block (conv5); ``"last_block"`` trains it and every layer after.
LAST_BLOCK_START = "conv5_block1_0_bn"

#: Names of the layers dermkit adds on top of the encoder (always trainable).
HEAD_LAYERS = ("avg_pool", "fc1", "predictions")
_PREPROCESS_LAYER = "preprocess"
_FC_UNITS = 1024


def _validate(input_shape, num_classes, train_mode, l2, preprocess):
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) != 3
        or input_shape[-1] != 3
        or not all(d is None or (isinstance(d, int) and d > 0) for d in input_shape)
    ):
        raise ValueError(f"input_shape must be (H, W, 3) with positive H, W (or None). Received: {input_shape!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2 (softmax head). Received: num_classes={num_classes!r}")
    if train_mode not in TRAIN_MODES:
        raise ValueError(f"train_mode must be one of {TRAIN_MODES}. Received: train_mode={train_mode!r}")
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 >= 0:
        raise ValueError(f"l2 must be a number >= 0. Received: l2={l2!r}")
    if not isinstance(preprocess, bool):
        raise ValueError(f"preprocess must be True or False. Received: preprocess={preprocess!r}")


def densenet_classifier(
    input_shape=(224, 224, 3),
    *,
    num_classes: int = 2,
    encoder_weights=None,
    weights=None,
    preprocess: bool = True,
    train_mode: str = "finetune",
    l2: float = 0.0,
    name: str = "densenet121_classifier",
) -> keras.Model:
    """goel2021's DenseNet121 classifier: encoder → GlobalAveragePooling → (Dense 1024 relu) → Dense softmax.

    Layers: ``input`` → ``preprocess`` (:class:`~dermkit.models.layers.ImageNetPreprocess`, torch mode, when
    ``preprocess=True``) → the Keras DenseNet121 layers (``conv1_conv`` … ``relu``, flattened into this model
    so they keep their Keras names) → ``avg_pool`` → ``fc1`` (Dense 1024, relu; only in ``"fc"`` mode) →
    ``predictions`` (Dense ``num_classes``, softmax, float32 output also under mixed precision). The report
    uses 2 units with binary cross-entropy (equivalent to categorical cross-entropy here; module docstring).

    Trainable weights by ``train_mode`` (see :func:`set_train_mode`): ``"frozen"`` only the head;
    ``"last_block"`` the layers from ``conv5_block1_0_bn`` to the end of the encoder (``bn``, ``relu``) plus the
    head; ``"finetune"`` and ``"fc"`` everything. Frozen layers include their batch-norm layers, which then run
    in inference mode (moving statistics used and not updated) — Keras 3's behaviour for a BatchNormalization
    layer with ``trainable=False``.

    Every argument after ``input_shape`` is keyword-only.

    Args:
        input_shape: ``(H, W, 3)``; the report uses 224×224. Default ``(224, 224, 3)``.
        num_classes: units of the softmax head (≥ 2). Default 2.
        encoder_weights: ``None`` (random), ``"imagenet"`` or a path to the Keras DenseNet121 notop file
            (:func:`dermkit.weights.build_encoder`; offline, it says which file to place where). Default None.
        weights: ``None``, a registry name or a path to full-model weights, loaded after building
            (:func:`dermkit.weights.load_weights`). Default None.
        preprocess: when True the model takes RGB float32 in [0, 1] and applies DenseNet's (torch-mode)
            ImageNet normalisation inside; False takes already-normalised inputs. Default True.
        train_mode: one of ``"frozen"``, ``"last_block"``, ``"finetune"``, ``"fc"``. Default ``"finetune"``.
        l2: L2 factor (Keras ``L2(l2)``: adds ``l2 · Σ w²`` to the loss) on the kernel of every Conv2D and
            Dense layer — encoder convolutions, ``fc1`` and ``predictions``; not on biases or batch-norm
            parameters. Only trainable weights contribute (Keras skips frozen ones). PyTorch-style weight
            decay ``wd`` corresponds to ``l2 = wd / 2``. Table 1 row 10 uses 1e-3. Default 0 (none).
        name: model name. Default ``"densenet121_classifier"``.

    Returns:
        An uncompiled ``keras.Model`` mapping ``[B, H, W, 3]`` to float32 ``[B, num_classes]`` probabilities.

    Raises:
        ValueError: a bad argument (the message names it and the value received).
        DermkitFileNotFoundError, OSError: from :func:`dermkit.weights.build_encoder` / ``load_weights``.
    """
    _validate(input_shape, num_classes, train_mode, l2, preprocess)
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = ImageNetPreprocess(mode="torch", name=_PREPROCESS_LAYER)(inputs) if preprocess else inputs
    encoder = build_encoder("densenet121", encoder_weights=encoder_weights, input_tensor=x)
    regularizer = keras.regularizers.L2(float(l2)) if l2 > 0 else None

    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(encoder.output)
    if train_mode == "fc":
        x = keras.layers.Dense(
            _FC_UNITS, activation="relu", kernel_regularizer=regularizer, name="fc1"
        )(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", kernel_regularizer=regularizer, dtype="float32", name="predictions"
    )(x)
    model = keras.Model(inputs, outputs, name=name)
    if regularizer is not None:
        _add_kernel_l2(model, regularizer)
    set_train_mode(model, train_mode)
    load_weights(model, weights, head=("predictions",))  # the declared head: re-initialised if the file's differs
    return model


def _add_kernel_l2(model: keras.Model, regularizer) -> None:
    """Attach ``regularizer`` to the kernels of the encoder's Conv2D/Dense layers (built by keras.applications
    without one). Both the layer attribute (so ``get_config`` and a ``.keras`` reload carry it) and the
    variable's (what Keras sums into ``model.losses``) are set."""
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and layer.kernel_regularizer is None:
            layer.kernel_regularizer = regularizer
            layer.kernel.regularizer = regularizer


def _encoder_layers(model: keras.Model) -> list:
    """The model's layers that belong to DenseNet121 (everything but input, preprocessing and head)."""
    return [
        layer
        for layer in model.layers
        if layer.name not in HEAD_LAYERS
        and layer.name != _PREPROCESS_LAYER
        and not isinstance(layer, keras.layers.InputLayer)
    ]


def set_train_mode(model: keras.Model, train_mode: str) -> keras.Model:
    """Set which weights of a :func:`densenet_classifier` model train, in place; returns the model.

    ``"frozen"``: every encoder layer ``trainable=False``; ``"last_block"``: encoder layers from
    :data:`LAST_BLOCK_START` (``conv5_block1_0_bn``) onwards trainable, earlier ones frozen; ``"finetune"``
    and ``"fc"``: every layer trainable. Head layers (:data:`HEAD_LAYERS`) always train. Frozen batch-norm
    layers run in inference mode (Keras 3 semantics of ``trainable=False``).

    The head's architecture is fixed when the model is built: ``"fc"`` needs a model built with
    ``train_mode="fc"`` (it has the ``fc1`` layer); switching such a model to another mode changes only the
    encoder's trainability (``fc1`` stays and trains).

    The caller must **compile the model again** after changing modes: Keras fixes the set of trainable
    variables (and the optimizer's slots) when ``fit`` first traces the train step of a compiled model.

    Raises:
        ValueError: unknown mode, ``"fc"`` on a model without ``fc1``, or a model without ``conv5_block1_0_bn``.
    """
    if train_mode not in TRAIN_MODES:
        raise ValueError(f"train_mode must be one of {TRAIN_MODES}. Received: train_mode={train_mode!r}")
    names = [layer.name for layer in model.layers]
    if train_mode == "fc" and "fc1" not in names:
        raise ValueError(
            "train_mode='fc' needs the extra fc1 layer, which this model was built without; build it with "
            f"densenet_classifier(train_mode='fc'). Received: train_mode={train_mode!r}"
        )
    encoder = _encoder_layers(model)
    encoder_names = [layer.name for layer in encoder]
    if LAST_BLOCK_START not in encoder_names:
        raise ValueError(f"model {model.name!r} has no layer {LAST_BLOCK_START!r}: not a densenet_classifier")
    start = encoder_names.index(LAST_BLOCK_START)
    model.trainable = True
    for index, layer in enumerate(encoder):
        if train_mode == "frozen":
            layer.trainable = False
        elif train_mode == "last_block":
            layer.trainable = index >= start
        else:
            layer.trainable = True
    for layer in model.layers:
        if layer.name in HEAD_LAYERS:
            layer.trainable = True
    return model


# --- bisla2019: the ResNet-50 lesion classifier (Section 4.1) ---------------------------------------------

__all__ += ["resnet50_classifier"]


def resnet50_classifier(
    input_shape=(224, 224, 3),
    *,
    num_classes: int = 3,
    encoder_weights=None,
    weights=None,
    preprocess: bool = True,
    name: str = "resnet50_classifier",
) -> keras.Model:
    """bisla2019's classifier: "a ResNet-50 architecture pre-trained on ImageNet data set with final
    fully-connected layer modified to output probabilities of lesion being in each of the classes" (§4.1).

    Layers: ``input`` → ``preprocess`` (:class:`~dermkit.models.layers.ImageNetPreprocess`, caffe mode — Keras'
    ResNet-50 preprocessing — when ``preprocess=True``) → Keras ResNet-50 without its top (``conv1_conv`` …
    ``conv5_block3_out``, flattened into this model so they keep their Keras names) → ``avg_pool`` (global
    average pooling, as ResNet-50's own head) → ``predictions`` (Dense ``num_classes``, softmax, float32).

    Training in the paper and reference notes (run by the paper module): SGD lr 1e-3, momentum 0.9, batch 50,
    cross-entropy; train transforms: scale to 400, vertical flip, random 224 crop; evaluation: centre 224 crop.
    3 classes for ISIC 2017 (melanoma, nevus, seborrhoeic keratosis), 7 for ISIC 2018.

    Args:
        input_shape: ``(H, W, 3)``. Default ``(224, 224, 3)``.
        num_classes: softmax units (≥ 2). Default 3.
        encoder_weights: ``None``, ``"imagenet"`` or a path to Keras' ResNet-50 notop file
            (:func:`dermkit.weights.build_encoder`). Default None.
        weights: ``None``, a registry name or a path to full-model weights (:func:`dermkit.weights.load_weights`).
        preprocess: the model takes RGB float32 in [0, 1] when True; False takes caffe-preprocessed inputs.
        name: model name.

    Returns:
        An uncompiled ``keras.Model`` ``[B, H, W, 3]`` → float32 ``[B, num_classes]`` probabilities.

    Raises:
        ValueError: a bad argument. DermkitFileNotFoundError, OSError: from the weights loaders.
    """
    _validate(input_shape, num_classes, "finetune", 0.0, preprocess)
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = ImageNetPreprocess(mode="caffe", name=_PREPROCESS_LAYER)(inputs) if preprocess else inputs
    encoder = build_encoder("resnet50", encoder_weights=encoder_weights, input_tensor=x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(encoder.output)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=name)
    load_weights(model, weights, head=("predictions",))  # the declared head: re-initialised if the file's differs
    return model


import dermkit._register  # noqa: E402, F401  (every dermkit serialisable registered with Keras)
