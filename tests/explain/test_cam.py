"""Grad-CAM (dermkit.explain.cam): equals the closed-form CAM of a conv → GAP → dense network."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

import keras  # noqa: E402

from dermkit.explain.cam import grad_cam  # noqa: E402


def _model(activation="linear"):
    inputs = keras.Input((8, 8, 3), name="input")
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="feat")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    outputs = keras.layers.Dense(2, activation=activation, name="predictions")(pooled)
    return keras.Model(inputs, outputs, name="tiny")


def test_grad_cam_equals_cam_for_gap_dense():
    keras.utils.set_random_seed(0)
    model = _model()
    image = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    features = keras.Model(model.inputs[0], model.get_layer("feat").output)(image[None]).numpy()[0]
    weights = model.get_layer("predictions").get_weights()[0]  # [4, 2]
    for k in (0, 1):
        # CAM (Zhou et al. 2016): Σ_c w_ck A_c; Grad-CAM's α_c = w_ck / (h·w): the same map up to scale.
        cam = np.maximum(features @ weights[:, k], 0)
        expected = cam / cam.max() if cam.max() > 0 else cam
        np.testing.assert_allclose(grad_cam(model, image, layer_name="feat", class_index=k), expected, atol=1e-5)


def test_grad_cam_defaults_to_predicted_class_and_scales_uint8():
    keras.utils.set_random_seed(1)
    model = _model("softmax")
    image = (np.random.default_rng(1).random((8, 8, 3)) * 255).astype(np.uint8)
    predicted = int(np.argmax(model(image[None].astype(np.float32) / 255.0)))
    heat = grad_cam(model, image, layer_name="feat")
    np.testing.assert_allclose(heat, grad_cam(model, image.astype(np.float32) / 255.0, layer_name="feat",
                                              class_index=predicted), atol=1e-6)
    assert heat.shape == (8, 8) and heat.min() >= 0 and heat.max() <= 1


def test_grad_cam_errors():
    model = _model()
    image = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="no layer"):
        grad_cam(model, image, layer_name="nope")
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        grad_cam(model, image[..., 0], layer_name="feat")
    with pytest.raises(ValueError, match="output must be"):
        grad_cam(model, image, layer_name="avg_pool")
    with pytest.raises(ValueError, match="class_index"):
        grad_cam(model, image, layer_name="feat", class_index=5)


def _closed_form_cam(model, image, k):
    """CAM of class k (Zhou et al. 2016): ReLU(Σ_c w_ck A_c), scaled to [0, 1]; plain NumPy."""
    features = keras.Model(model.inputs[0], model.get_layer("feat").output)(image[None]).numpy()[0]
    kernel = model.get_layer("predictions").get_weights()[0]  # [C, K]
    cam = np.maximum(features @ kernel[:, k], 0)
    return cam / cam.max() if cam.max() > 0 else cam


@pytest.mark.parametrize("head", ["dense_softmax", "activation_layer"])
def test_grad_cam_of_softmax_model_is_cam_of_the_class_weights(head):
    # Grad-CAM differentiates the pre-softmax score y^c (Selvaraju et al. 2017): for GAP + dense the map is
    # CAM(w_c). Differentiating the softmax probability would give CAM(w_c - w_other) for two classes.
    keras.utils.set_random_seed(3)
    if head == "dense_softmax":
        model = _model("softmax")
    else:
        inputs = keras.Input((8, 8, 3), name="input")
        features = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="feat")(inputs)
        pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
        logits = keras.layers.Dense(2, name="predictions")(pooled)
        outputs = keras.layers.Activation("softmax", name="probabilities")(logits)
        model = keras.Model(inputs, outputs, name="tiny_act")
    image = np.random.default_rng(3).random((8, 8, 3)).astype(np.float32)
    before = model(image[None]).numpy()
    kernel = model.get_layer("predictions").get_weights()[0]
    for k in (0, 1):
        expected = _closed_form_cam(model, image, k)
        difference = np.maximum(
            keras.Model(model.inputs[0], model.get_layer("feat").output)(image[None]).numpy()[0]
            @ (kernel[:, k] - kernel[:, 1 - k]), 0)
        assert not np.allclose(expected, difference / max(difference.max(), 1e-12), atol=1e-2)  # test can tell
        np.testing.assert_allclose(grad_cam(model, image, layer_name="feat", class_index=k), expected, atol=1e-5)
    # The user's model is not changed (activation still softmax, same outputs).
    np.testing.assert_allclose(model(image[None]).numpy(), before, atol=1e-7)
    assert np.allclose(before.sum(), 1.0, atol=1e-5)


def test_grad_cam_takes_the_input_of_a_softmax_layer():
    inputs = keras.Input((8, 8, 3), name="input")
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="feat")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    outputs = keras.layers.Softmax(name="softmax")(keras.layers.Dense(2, name="predictions")(pooled))
    model = keras.Model(inputs, outputs)
    # keras.layers.Softmax is a recognised activation head too: its input is the score.
    np.testing.assert_allclose(grad_cam(model, np.ones((8, 8, 3), np.float32), layer_name="feat", class_index=0),
                               _closed_form_cam(model, np.ones((8, 8, 3), np.float32), 0), atol=1e-5)


def test_grad_cam_refuses_a_head_without_a_known_class_score():
    inputs = keras.Input((8, 8, 3), name="input")
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="feat")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    outputs = keras.layers.ReLU(name="clip")(keras.layers.Dense(2, name="predictions")(pooled))
    with pytest.raises(ValueError, match="pre-activation class score.*'clip'"):
        grad_cam(keras.Model(inputs, outputs), np.ones((8, 8, 3), np.float32), layer_name="feat")
