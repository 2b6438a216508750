"""PartialConv2D against a NumPy implementation of Liu et al. 2018 Eq. 1–2; the purification U-Net."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dermkit.models.partialconv import PartialConv2D, partialconv_unet, purify


def _same_pads(side: int, k: int, s: int) -> tuple[int, int]:
    out = -(-side // s)
    total = max((out - 1) * s + k - side, 0)
    return total // 2, total - total // 2  # TensorFlow: the extra pixel at the end


def numpy_partial_conv(x, mask, kernel, bias, stride, padding):
    """Liu et al. Eq. 1–2, written out: x, mask [H, W, C] (mask broadcast if 1 channel), kernel [k, k, C, F]."""
    h, w, c = x.shape
    k = kernel.shape[0]
    mask = np.broadcast_to(mask, x.shape).astype(np.float64)
    if padding == "same":
        (t, b), (l, r) = _same_pads(h, k, stride), _same_pads(w, k, stride)
    elif padding == "symmetric":  # Liu et al. / NVIDIA PartialConv2d(padding=k // 2): k // 2 zeros on every side
        t = b = l = r = k // 2
    else:
        t = b = l = r = 0
    xp = np.pad(x, ((t, b), (l, r), (0, 0)))
    mp = np.pad(mask, ((t, b), (l, r), (0, 0)))  # padding is hole
    out_h = (xp.shape[0] - k) // stride + 1
    out_w = (xp.shape[1] - k) // stride + 1
    out = np.zeros((out_h, out_w, kernel.shape[-1]))
    new_mask = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            xs = xp[i * stride:i * stride + k, j * stride:j * stride + k]
            ms = mp[i * stride:i * stride + k, j * stride:j * stride + k]
            total = ms.sum()
            if total > 0:
                out[i, j] = np.einsum("abc,abcf->f", xs * ms, kernel) * (k * k * c) / total + bias
                new_mask[i, j] = 1.0
    return out, new_mask


CASES = [
    # (H, W, C, filters, kernel, stride, padding, mask channels)
    (8, 8, 2, 3, 7, 2, "symmetric", 1),  # the default: stride 2 on even sides, windows centred (Liu et al.)
    (8, 6, 2, 2, 5, 2, "symmetric", 2),
    (6, 6, 2, 2, 3, 2, "symmetric", 1),
    (7, 5, 3, 2, 3, 1, "symmetric", 1),
    (6, 6, 2, 3, 3, 1, "same", 1),
    (7, 5, 3, 2, 3, 2, "same", 1),  # stride 2, odd sides: TensorFlow 'same' placement
    (8, 8, 2, 2, 5, 2, "same", 2),  # multi-channel mask
    (6, 7, 2, 2, 3, 1, "valid", 2),
]


@pytest.mark.parametrize("h, w, c, filters, k, stride, padding, mask_c", CASES)
def test_matches_numpy_reference(h, w, c, filters, k, stride, padding, mask_c):
    rng = np.random.default_rng(h * w + k)
    x = rng.normal(size=(1, h, w, c)).astype("float32")
    mask = (rng.random((1, h, w, mask_c)) < 0.5).astype("float32")
    mask[0, : h // 2, : w // 2] = 0.0  # a hole block large enough to leave all-hole windows
    layer = PartialConv2D(filters, k, strides=stride, padding=padding, bias_initializer="random_normal")
    y, new_mask = (np.asarray(t) for t in layer([x, mask]))
    ref, ref_mask = numpy_partial_conv(x[0], mask[0], np.asarray(layer.kernel), np.asarray(layer.bias), stride,
                                       padding)
    np.testing.assert_allclose(y[0], ref, rtol=1e-4, atol=1e-4)
    assert new_mask.shape == y.shape
    for f in range(filters):
        np.testing.assert_array_equal(new_mask[0, ..., f], ref_mask)
    assert (ref_mask == 0).any() and (ref_mask == 1).any()  # the case holds all-hole windows and valid ones
    assert np.all(y[0][ref_mask == 0] == 0)  # all-hole windows give 0, bias included


def test_full_mask_is_a_plain_convolution_inside_and_rescaled_at_the_border():
    x = np.random.default_rng(0).normal(size=(1, 5, 5, 1)).astype("float32")
    layer = PartialConv2D(1, 3, use_bias=False)  # default padding: symmetric (k // 2 = 1 on every side)
    y, m = layer([x, np.ones((1, 5, 5, 1), "float32")])
    conv = keras.layers.Conv2D(1, 3, padding="same", use_bias=False)
    conv.build((1, 5, 5, 1))
    conv.kernel.assign(layer.kernel)
    plain = np.asarray(conv(x))
    np.testing.assert_allclose(np.asarray(y)[0, 1:-1, 1:-1], plain[0, 1:-1, 1:-1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(y)[0, 0, 0], plain[0, 0, 0] * 9 / 4, rtol=1e-5)  # corner: 4 of 9 valid
    assert np.all(np.asarray(m) == 1)


def test_stride_2_even_input_centres_windows_unlike_keras_same():
    """8×8 input, k = 3, stride 2: Liu et al. pad one zero on every side, so output (0, 0) covers input rows /
    columns −1..1 and output (i, j) is centred on input (2i, 2j); Keras 'same' pads only the far side and centres
    on (2i + 1, 2j + 1). With a one-hot input at (2, 2) and an all-ones kernel the symmetric layer's output is
    non-zero at outputs (0..1, 0..1) around (1, 1); 'same' at (0..1, 0..1) as well but with other coverages —
    checked against the NumPy reference of each padding, and the two differ."""
    x = np.zeros((1, 8, 8, 1), "float32")
    x[0, 2, 2] = 1.0
    mask = np.ones((1, 8, 8, 1), "float32")
    outs = {}
    for padding in ("symmetric", "same"):
        layer = PartialConv2D(1, 3, strides=2, padding=padding, use_bias=False, kernel_initializer="ones")
        y, _ = layer([x, mask])
        ref, _ = numpy_partial_conv(x[0], mask[0], np.ones((3, 3, 1, 1)), np.zeros(1), 2, padding)
        np.testing.assert_allclose(np.asarray(y)[0], ref, atol=1e-6)
        outs[padding] = np.asarray(y)[0, ..., 0]
    # symmetric: output (1, 1) is centred on input (2, 2); its top-left output (0, 0) sees 4 of 9 valid pixels
    assert outs["symmetric"][1, 1] == pytest.approx(1.0) and outs["symmetric"][0, 0] == 0.0
    # Keras 'same': output (0, 0) covers rows / columns 0..2 (no top padding), output (1, 1) rows 2..4
    assert outs["same"][0, 0] == pytest.approx(1.0) and outs["same"][1, 1] == pytest.approx(1.0)
    assert not np.allclose(outs["symmetric"], outs["same"])
    # NVIDIA's output side for even inputs: (8 + 2 - 3) // 2 + 1 = 4
    assert outs["symmetric"].shape == (4, 4)


def test_mask_of_another_size_is_refused():
    with pytest.raises(ValueError, match="the mask must have the image's H×W"):
        PartialConv2D(1, 3)([np.zeros((1, 8, 8, 3), "float32"), np.ones((1, 8, 6, 1), "float32")])
    layer = PartialConv2D(1, 3)
    layer([np.zeros((1, 8, 8, 3), "float32"), np.ones((1, 8, 8, 1), "float32")])
    with pytest.raises(ValueError, match="another height"):
        layer([np.zeros((1, 8, 8, 3), "float32"), np.ones((1, 4, 8, 1), "float32")])


def test_mask_update_grows_valid_region_and_holes_shrink():
    mask = np.ones((1, 9, 9, 1), "float32")
    mask[0, 2:7, 2:7] = 0  # a 5×5 hole
    x = np.ones((1, 9, 9, 1), "float32")
    _, m1 = PartialConv2D(1, 3)([x, mask])
    m1 = np.asarray(m1)[0, ..., 0]
    expected = np.ones((9, 9))
    expected[3:6, 3:6] = 0  # a 3×3 window reaches one pixel into the hole
    np.testing.assert_array_equal(m1, expected)


def test_bad_arguments_and_mask_channels():
    with pytest.raises(ValueError, match="filters must be"):
        PartialConv2D(0, 3)
    with pytest.raises(ValueError, match="padding must be"):
        PartialConv2D(1, 3, padding="causal")
    with pytest.raises(ValueError, match="kernel_size must be"):
        PartialConv2D(1, (3, 3, 3))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        PartialConv2D(1, 3)([np.zeros((1, 4, 4, 3), "float32"), np.zeros((1, 4, 4, 2), "float32")])


def test_config_round_trip():
    layer = PartialConv2D(4, (3, 5), strides=2, padding="valid", use_bias=False, activation="relu", name="p")
    again = PartialConv2D.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()


# the network's layer table (reference notes / Liu et al.): encoder widths, kernels, and decoder widths
PAPER_ENCODER = [(64, 7), (128, 5), (256, 5), (512, 3), (512, 3), (512, 3), (512, 3)]
PAPER_DECODER = [512, 512, 512, 256, 128, 64, 3]  # dec7 … dec1


def test_unet_layers_at_256():
    model = partialconv_unet((256, 256, 3))
    for i, (filters, kernel) in enumerate(PAPER_ENCODER, start=1):
        layer = model.get_layer(f"enc{i}_pconv")
        assert layer.filters == filters and layer.kernel_size == (kernel, kernel) and layer.strides == (2, 2)
        assert layer.output[0].shape[1] == 256 // 2**i
    names = {layer.name for layer in model.layers}
    assert "enc1_bn" not in names and all(f"enc{i}_bn" in names for i in range(2, 8))
    for i, filters in zip(range(7, 0, -1), PAPER_DECODER):
        layer = model.get_layer(f"dec{i}_pconv")
        assert layer.filters == filters and layer.kernel_size == (3, 3) and layer.strides == (1, 1)
    assert "dec1_bn" not in names and "dec1_leaky" not in names
    assert model.get_layer("dec7_leaky").get_config()["negative_slope"] == pytest.approx(0.2)
    # skip concatenation of features and masks; at the top the image and its mask
    assert model.get_layer("dec1_concat").output.shape[-1] == 64 + 3
    assert model.get_layer("dec1_mask_concat").output.shape[-1] == 64 + 3
    assert model.output_shape == (None, 256, 256, 3)


def test_quick_depth_forward_composite_and_reload(tmp_path):
    model = partialconv_unet((64, 64, 3), depth=6, width=0.125)
    rng = np.random.default_rng(0)
    images = rng.random((2, 64, 64, 3)).astype("float32")
    valid = np.ones((2, 64, 64), bool)
    valid[:, 20:30, 10:50] = False
    out = model.predict({"image": images, "mask": valid[..., None].astype("float32")}, verbose=0)
    assert out.shape == (2, 64, 64, 3) and out.min() >= 0 and out.max() <= 1
    comp = purify(model, images, valid)
    np.testing.assert_array_equal(comp[valid], images[valid])
    np.testing.assert_allclose(comp[~valid], out[~valid], atol=1e-6)
    path = tmp_path / "p.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(purify(again, images, valid), comp, atol=1e-5)


def test_purify_accepts_the_documented_mask_forms_only_and_stays_in_0_1():
    """bool, 0/1 float and 0/255 uint8 masks give one composite (in [0, 1]); 0/100 integers, floats above 1 and
    masks or images of another size are refused with the argument named."""
    from dermkit.errors import DermkitDataError

    model = partialconv_unet((32, 32, 3), depth=3, width=0.125)
    rng = np.random.default_rng(2)
    images = rng.random((2, 32, 32, 3)).astype("float32")
    valid = np.ones((2, 32, 32), bool)
    valid[:, 8:16, 4:28] = False
    ref = purify(model, images, valid)
    assert ref.min() >= 0.0 and ref.max() <= 1.0
    for form in (valid.astype("float32"), (valid * 255).astype(np.uint8), valid[..., None]):
        out = purify(model, images, form)
        np.testing.assert_allclose(out, ref, atol=1e-6)
        assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(purify(model, np.round(images * 255).astype(np.uint8), valid),
                               purify(model, np.round(images * 255) / 255, valid), atol=1e-5)
    with pytest.raises(DermkitDataError, match=r"valid_masks\[0\]"):
        purify(model, images, (valid * 100).astype(np.uint8))
    with pytest.raises(DermkitDataError, match=r"valid_masks\[0\]"):
        purify(model, images, valid * 255.0)
    with pytest.raises(ValueError, match="valid_masks must be"):
        purify(model, images, valid[:, :16])
    with pytest.raises(ValueError, match="like the purification network"):
        purify(model, rng.random((1, 64, 64, 3)).astype("float32"), np.ones((1, 64, 64), bool))
    with pytest.raises(ValueError, match=r"images must hold finite values in \[0, 1\]"):
        purify(model, images * 255, valid)


def test_the_hole_content_does_not_reach_the_output():
    # partial convolutions ignore masked pixels: changing them leaves the output unchanged
    model = partialconv_unet((32, 32, 3), depth=3, width=0.125)
    rng = np.random.default_rng(1)
    images = rng.random((1, 32, 32, 3)).astype("float32")
    mask = np.ones((1, 32, 32, 1), "float32")
    mask[0, 8:20, 8:20] = 0
    other = images.copy()
    other[0, 8:20, 8:20] = rng.random((12, 12, 3))
    a = model.predict({"image": images, "mask": mask}, verbose=0)
    b = model.predict({"image": other, "mask": mask}, verbose=0)
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"input_shape": (100, 128, 3)}, "multiples of 2\\*\\*depth = 128"),
    ({"input_shape": (64, 64, 3)}, "multiples"),
    ({"input_shape": (128, 128, 3), "depth": 8}, "depth must be"),
    ({"input_shape": (128, 128, 1)}, r"\(H, W, 3\)"),
])
def test_bad_unet_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        partialconv_unet(**kwargs)


def test_purification_optimizers():
    from dermkit.models.partialconv import purification_optimizer

    adam = purification_optimizer("adam")
    assert float(adam.learning_rate) == pytest.approx(2e-4) and (adam.beta_1, adam.beta_2) == (0.5, 0.99)
    sgd = purification_optimizer("sgd")
    assert float(sgd.learning_rate) == pytest.approx(1e-4) and sgd.momentum == 0.9
    with pytest.raises(ValueError, match="stage must be"):
        purification_optimizer("rmsprop")
