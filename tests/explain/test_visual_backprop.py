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


@pytest.mark.parametrize("padding, kernel", [("same", "stride"), ("same", 3), ("valid", 3)])
def test_stride_rule_matches_numpy(padding, kernel):
    model = _tiny_cnn(padding)
    images = np.random.default_rng(1).random((2, 16, 16, 3)).astype("float32")
    names = ["c1", "c2", "c3"]
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    feats = [np.asarray(f, np.float64) for f in probe.predict(images, verbose=0)]
    out = visual_backprop(model, images, layers=["c3", "c1", "c2"], kernel_size=kernel)  # any order
    assert out.shape == (2, 16, 16) and out.dtype == np.float32
    for n in range(2):
        expected = _numpy_vbp([f[n] for f in feats], (16, 16), None if kernel == "stride" else kernel)
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


def _bojarski_cnn():
    """Kernel ≠ stride: c1 3×3 s1 same (16), pool 3×3 s2 same (16 → 8), c2 3×3 s1 valid (8 → 6), c3 3×3 s2
    valid (6 → 2)."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
    x = keras.layers.Conv2D(5, 3, padding="valid", activation="relu", name="c2")(x)
    x = keras.layers.Conv2D(3, 3, strides=2, padding="valid", activation="relu", name="c3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


def _ones_transpose(x, k, s):
    """Keras' own conv_transpose with an all-ones k×k kernel at stride s, 'valid': [h, w] → [(h−1)s + k, ...]."""
    y = keras.ops.conv_transpose(x[None, ..., None].astype("float32"), np.ones((k, k, 1, 1), "float32"),
                                 strides=s, padding="valid")
    return np.asarray(y, np.float64)[0, ..., 0]


def test_default_deconvolutions_take_each_undone_layers_kernel_and_stride():
    """Bojarski et al.: c3 (2×2) → c2 (6×6) by a 3×3 stride-2 deconvolution (c3's) — (2−1)·2 + 3 = 5, zero-padded
    to 6 (valid); c2 (6×6) → c1 (16×16): undo c2 (3×3 s1 valid: 6 → 8) then the pool (3×3 s2 'same': 8 → 17,
    Keras puts (17 − 16) // 2 = 0 rows at the top: crop 0..15); c1 is 'same' stride 1: no scaling to the input.
    Reference: keras.ops.conv_transpose with ones, by hand per step."""
    model = _bojarski_cnn()
    images = np.random.default_rng(4).random((2, 16, 16, 3)).astype("float32")
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in ("c1", "c2", "c3")])
    f1, f2, f3 = (np.asarray(f, np.float64).mean(axis=-1) for f in probe.predict(images, verbose=0))
    assert f3.shape[1:] == (2, 2) and f2.shape[1:] == (6, 6)
    out = visual_backprop(model, images, layers=["c1", "c2", "c3"])
    for n in range(2):
        up = np.zeros((6, 6))
        up[:5, :5] = _ones_transpose(f3[n], 3, 2)
        m = up * f2[n]
        m = _ones_transpose(m, 3, 1)  # undo c2: 6 → 8
        m = _ones_transpose(m, 3, 2)[:16, :16]  # undo the pool: 8 → 17, top offset 0
        m = m * f1[n]
        want = (m - m.min()) / (m.max() - m.min())
        np.testing.assert_allclose(out[n], want, atol=1e-5)
    old = visual_backprop(model, images, layers=["c1", "c2", "c3"], kernel_size="stride")
    assert not np.allclose(old, out, atol=1e-3)  # the kernel = stride rule gives another map here


def test_scaling_layers_and_resnet_style_padding():
    """ZeroPadding2D + 7×7 stride-2 valid convolution (ResNet's conv1 at 32 px: 32 → 38 → 16): undone by a 7×7
    stride-2 deconvolution (16 → 37, zero-padded to 38) and the padding cropped off (offset 3)."""
    from dermkit.explain.visual_backprop import scaling_layers

    keras.utils.set_random_seed(5)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.ZeroPadding2D(3, name="pad")(inputs)
    x = keras.layers.Conv2D(4, 7, strides=2, name="conv")(x)
    x = keras.layers.ReLU(name="relu")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    assert [n for n, _ in scaling_layers(model, None, "relu")] == ["conv", "pad"]
    images = np.random.default_rng(6).random((1, 32, 32, 3)).astype("float32")
    feat = np.asarray(keras.Model(model.inputs, model.get_layer("relu").output).predict(images, verbose=0))
    f = feat[0].astype(np.float64).mean(axis=-1)
    up = np.zeros((38, 38))
    up[:37, :37] = _ones_transpose(f, 7, 2)
    m = up[3:35, 3:35]
    want = (m - m.min()) / (m.max() - m.min())
    np.testing.assert_allclose(visual_backprop(model, images, layers=["relu"])[0], want, atol=1e-5)
    with pytest.raises(ValueError, match="kernel_size must be"):
        visual_backprop(model, images, layers=["relu"], kernel_size="big")
