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
