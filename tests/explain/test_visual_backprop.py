"""VisualBackProp on a tiny CNN against a NumPy computation of Bojarski et al.'s steps."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dermkit.explain.visual_backprop import default_layers, ones_deconvolution, visual_backprop


def _tiny_cnn(padding="same"):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding=padding, activation="relu", name="c1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(5, 3, padding=padding, activation="relu", name="c2")(x)
    x = keras.layers.Conv2D(3, 3, strides=2, padding=padding, activation="relu", name="c3")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def _numpy_deconv_ones(x, stride, k, size):
    """Scatter each value into its k×k window at stride s; then crop/pad to ``size`` (bottom/right)."""
    h, w = x.shape
    out = np.zeros(((h - 1) * stride + k, (w - 1) * stride + k))
    for i in range(h):
        for j in range(w):
            for a in range(k):
                for b in range(k):
                    out[i * stride + a, j * stride + b] += x[i, j]
    full = np.zeros(size)
    hh, ww = min(size[0], out.shape[0]), min(size[1], out.shape[1])
    full[:hh, :ww] = out[:hh, :ww]
    return full


def _numpy_vbp(feature_maps, input_size, kernel=None):
    averaged = [f.mean(axis=-1) for f in feature_maps]
    mask = averaged[-1]
    for m in reversed(averaged[:-1]):
        if mask.shape != m.shape:
            s = round(m.shape[0] / mask.shape[0])
            mask = _numpy_deconv_ones(mask, s, kernel or s, m.shape)
        mask = mask * m
    s = round(input_size[0] / mask.shape[0])
    if s > 1 or mask.shape != input_size:
        mask = _numpy_deconv_ones(mask, s, kernel or s, input_size)
    return (mask - mask.min()) / (mask.max() - mask.min())


@pytest.mark.parametrize("padding, kernel", [("same", None), ("same", 3), ("valid", 3)])
def test_matches_numpy(padding, kernel):
    model = _tiny_cnn(padding)
    images = np.random.default_rng(1).random((2, 16, 16, 3)).astype("float32")
    names = ["c1", "c2", "c3"]
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    feats = [np.asarray(f, np.float64) for f in probe.predict(images, verbose=0)]
    out = visual_backprop(model, images, layers=["c3", "c1", "c2"], kernel_size=kernel)  # any order
    assert out.shape == (2, 16, 16) and out.dtype == np.float32
    for n in range(2):
        expected = _numpy_vbp([f[n] for f in feats], (16, 16), kernel)
        np.testing.assert_allclose(out[n], expected, atol=1e-5)
    assert out.min() == 0.0 and out.max() == pytest.approx(1.0)


def test_default_layers_are_the_relu_outputs():
    assert default_layers(_tiny_cnn()) == ["c1", "c2", "c3"]


def test_ones_deconvolution_by_hand():
    x = np.array([[[1.0, 2.0]]])  # [1, 1, 2]
    # stride 2, kernel 3: windows [0..2] and [2..4] overlap at column 2
    np.testing.assert_array_equal(ones_deconvolution(x, (2, 2), (3, 3))[0, 0], [1, 1, 3, 2, 2])
    np.testing.assert_array_equal(ones_deconvolution(x, (2, 2), (2, 2))[0], [[1, 1, 2, 2], [1, 1, 2, 2]])


def test_constant_mask_gives_zeros_and_bad_layers_are_named():
    model = _tiny_cnn()
    zeros = np.zeros((1, 16, 16, 3), "float32")
    for layer in model.layers:  # zero every weight: all maps are 0
        for w in layer.weights:
            w.assign(np.zeros(w.shape))
    assert np.all(visual_backprop(model, zeros) == 0)
    with pytest.raises(ValueError, match="not in model"):
        visual_backprop(model, zeros, layers=["nope"])
    with pytest.raises(ValueError, match=r"\[B, h, w, C\]"):
        visual_backprop(model, zeros, layers=[model.layers[-1].name])
