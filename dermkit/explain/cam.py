"""Class activation maps for classifiers (goel2021 Figure 2: "final layer activations" of the DenseNet121
classifier trained on original images vs on segmented crops).

:func:`grad_cam` is Grad-CAM (Selvaraju et al., ICCV 2017, Eq. 1–2): the feature maps ``A^k`` of a
convolutional layer are weighted by the spatial mean of the gradient of the class score ``y^c`` with respect to
them, ``α_k^c = (1/Z) Σ_ij ∂y^c/∂A^k_ij`` (Eq. 1), and ``L^c = ReLU(Σ_k α_k^c A^k)`` (Eq. 2). For a network that
ends in global average pooling followed by one dense layer (goel2021's classifier), Grad-CAM on the last
feature maps equals the original CAM (Zhou et al., CVPR 2016) up to a positive scale: ``α_k^c`` is the
dense weight ``w_k^c`` times a constant. The map is resized to the input size (bilinear) and scaled to [0, 1].

``y^c`` is the class score *before* the softmax (Selvaraju et al., Section 3: "the gradient of the score for
class c, y^c (before the softmax)"). Differentiating the softmax probability instead would weight the maps
by ``p_c (w^c − Σ_j p_j w^j)``: for two classes the CAM of ``w^c − w^other``, a different map. dermkit's
classifiers end in ``Dense(K, activation="softmax")``, so :func:`grad_cam` recomputes that layer's
pre-activation ``x·W + b`` from its input (the model itself is not changed and no layer is added).
"""

from __future__ import annotations

import numpy as np

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.explain.cam")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["grad_cam", "DEFAULT_LAYER"]

#: The last feature layer of :func:`dermkit.models.classifiers.densenet_classifier` (DenseNet121's final ReLU,
#: ``[B, H/32, W/32, 1024]``).
DEFAULT_LAYER = "relu"


def grad_cam(model: keras.Model, image: np.ndarray, *, layer_name: str = DEFAULT_LAYER,
             class_index: int | None = None) -> np.ndarray:
    """Grad-CAM heat map of one image (Selvaraju et al. 2017, Eq. 1–2), at the image's size, in [0, 1].

    The class score differentiated is the pre-softmax one (see the module docstring), found from the layer
    that produces the model's output: a ``Dense`` layer (its ``x·W + b``, whatever its activation), an
    ``Activation`` or ``Softmax`` layer (its input).

    Args:
        model: a Keras classifier returning ``[B, K]`` probabilities or logits, whose output comes from a
            ``Dense``, ``Activation`` or ``Softmax`` layer.
        image: ``[H, W, 3]`` array as the model takes it (float32 in [0, 1] for dermkit classifiers; uint8 is
            scaled by 1/255).
        layer_name: the convolutional layer whose output ``[1, h, w, C]`` is explained. Default ``"relu"``.
        class_index: the class explained; default the predicted (argmax) class.

    Returns:
        ``float32 [H, W]`` in [0, 1] (all zeros when no location has a positive contribution).

    Raises:
        ValueError: ``image`` is not ``[H, W, 3]``, the layer is missing, its output is not 4-D, the output
            layer is none of the three kinds above, or ``class_index`` is out of range.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be [H, W, 3]. Received: shape {image.shape}")
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    names = [layer.name for layer in model.layers]
    if layer_name not in names:
        raise ValueError(f"model {model.name!r} has no layer {layer_name!r}. Received: layer_name={layer_name!r}")
    layer_output = model.get_layer(layer_name).output
    if len(layer_output.shape) != 4:
        raise ValueError(f"layer {layer_name!r} output must be [B, h, w, C]. Received: shape {layer_output.shape}")
    head_input, score_fn = _class_score_head(model)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer_output, head_input], name=f"{model.name}_gradcam")
    x = tf.convert_to_tensor(image[None].astype(np.float32))
    with tf.GradientTape() as tape:
        features, head_values = probe(x, training=False)
        scores = score_fn(head_values)
        k = int(tf.argmax(scores[0])) if class_index is None else int(class_index)
        if not 0 <= k < int(scores.shape[-1]):
            raise ValueError(f"class_index must be in [0, {int(scores.shape[-1])}). Received: class_index={k}")
        score = scores[:, k]
    grads = tape.gradient(score, features)
    alpha = tf.reduce_mean(grads, axis=(1, 2))  # Eq. 1: [1, C]
    cam = tf.nn.relu(tf.reduce_sum(features * alpha[:, None, None, :], axis=-1))[0]  # Eq. 2: [h, w]
    cam = tf.image.resize(cam[..., None], image.shape[:2], method="bilinear")[..., 0].numpy()
    peak = float(cam.max())
    return (cam / peak if peak > 0 else np.zeros_like(cam)).astype(np.float32)


def _class_score_head(model: keras.Model):
    """``(tensor to probe, function: probed value → [B, K] pre-activation class scores)``."""
    head = model.outputs[0]._keras_history.operation
    if isinstance(head, keras.layers.Dense):
        if head.activation is keras.activations.linear:
            return model.outputs[0], lambda scores: scores

        def logits(x, dense=head):  # the Dense layer's pre-activation, computed in float32
            z = tf.matmul(tf.cast(x, tf.float32), tf.cast(dense.kernel, tf.float32))
            return z if dense.bias is None else z + tf.cast(dense.bias, tf.float32)

        return head.input, logits
    if isinstance(head, (keras.layers.Activation, keras.layers.Softmax)):
        return head.input, lambda scores: scores
    raise ValueError(
        f"grad_cam needs the pre-activation class score; model {model.name!r} ends in layer {head.name!r} "
        f"({type(head).__name__}), not a Dense, Activation or Softmax layer."
    )
