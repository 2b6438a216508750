"""ImageNetPreprocess and BilinearResizeTF1: against keras.applications and TF1's resize_bilinear."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dermkit.models.layers import BilinearResizeTF1, ImageNetPreprocess  # noqa: E402

RNG = np.random.default_rng(0)

# (mode, keras.applications module whose preprocess_input defines it)
PREPROCESS_CASES = [
    ("caffe", "vgg16"),
    ("caffe", "resnet50"),
    ("torch", "densenet"),
    ("tf", "inception_resnet_v2"),
]


@pytest.mark.parametrize(("mode", "application"), PREPROCESS_CASES)
def test_preprocess_matches_keras_applications(mode, application):
    x = RNG.random((2, 5, 7, 3), dtype=np.float32)  # RGB in [0, 1]
    expected = getattr(keras.applications, application).preprocess_input(x * 255.0)
    got = keras.ops.convert_to_numpy(ImageNetPreprocess(mode)(x))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_preprocess_caffe_is_bgr_minus_means():
    x = np.zeros((1, 1, 1, 3), np.float32)
    x[..., 0] = 1.0  # pure red
    got = keras.ops.convert_to_numpy(ImageNetPreprocess("caffe")(x))[0, 0, 0]
    np.testing.assert_allclose(got, [-103.939, -116.779, 255.0 - 123.68], rtol=1e-6)


def test_preprocess_rejects_unknown_mode():
    with pytest.raises(ValueError, match=r"mode must be one of \('caffe', 'torch', 'tf'\). Received: mode='bgr'"):
        ImageNetPreprocess("bgr")


def _tf1_resize(x, size):
    return tf.compat.v1.image.resize_bilinear(x, size, align_corners=False, half_pixel_centers=False).numpy()


@pytest.mark.parametrize(("in_hw", "out_hw"), [((3, 5), (12, 20)), ((4, 4), (7, 9)), ((10, 6), (4, 3))])
def test_resize_matches_tf1_semantics(in_hw, out_hw):
    x = RNG.standard_normal((2, *in_hw, 3)).astype(np.float32)
    reference = np.zeros((2, *out_hw, 1), np.float32)
    expected = _tf1_resize(x, out_hw)
    np.testing.assert_allclose(BilinearResizeTF1()([x, reference]).numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(BilinearResizeTF1(size=out_hw)(x).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_resize_differs_from_half_pixel_resizing():
    # The reason for the layer: TF2 / keras.layers.Resizing use half-pixel centres and give other numbers.
    x = RNG.standard_normal((1, 3, 3, 1)).astype(np.float32)
    ours = BilinearResizeTF1(size=(9, 9))(x).numpy()
    half_pixel = keras.layers.Resizing(9, 9, interpolation="bilinear")(x).numpy()
    assert not np.allclose(ours, half_pixel)
    # TF1 semantics: output pixel (i, j) samples the input at (i * 3/9, j * 3/9): the corner is copied.
    assert ours[0, 0, 0, 0] == pytest.approx(x[0, 0, 0, 0])


def test_resize_dynamic_spatial_size():
    inputs = keras.Input((None, None, 2))
    reference = keras.Input((None, None, 1))
    outputs = BilinearResizeTF1(name="resize")([inputs, reference])
    assert tuple(outputs.shape) == (None, None, None, 2)
    model = keras.Model([inputs, reference], outputs)
    for in_hw, out_hw in [((3, 4), (6, 8)), ((5, 2), (7, 7))]:
        x = RNG.standard_normal((1, *in_hw, 2)).astype(np.float32)
        y = model([x, np.zeros((1, *out_hw, 1), np.float32)])
        np.testing.assert_allclose(np.asarray(y), _tf1_resize(x, out_hw), rtol=1e-6, atol=1e-6)


def test_resize_keeps_dtype_and_static_shape():
    x = keras.Input((4, 6, 3), dtype="float16")
    y = BilinearResizeTF1(size=(8, 12), dtype="float16")(x)
    assert tuple(y.shape) == (None, 8, 12, 3)
    # Under a float16 (mixed-precision) layer dtype the output stays float16, though the TF op computes float32.
    assert BilinearResizeTF1(size=(8, 12), dtype="mixed_float16")(np.ones((1, 4, 6, 3), np.float32)).dtype == tf.float16


@pytest.mark.parametrize("size", [(0, 3), (3,), (2.5, 3)])
def test_resize_rejects_bad_size(size):
    with pytest.raises(ValueError, match=r"size must be None or two positive integers \(H, W\). Received: size="):
        BilinearResizeTF1(size=size)


def test_resize_without_size_needs_reference():
    with pytest.raises(ValueError, match=r"call on \[x, reference\]"):
        BilinearResizeTF1(name="r")(np.ones((1, 2, 2, 1), np.float32))


@pytest.mark.parametrize(
    "layer", [ImageNetPreprocess("torch", name="p"), BilinearResizeTF1(size=(3, 4), name="r")], ids=["pre", "resize"]
)
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_keras_round_trip_in_safe_mode(tmp_path):
    inputs = keras.Input((6, 5, 3), name="image")
    x = ImageNetPreprocess("caffe", name="preprocess")(inputs)
    small = keras.layers.Conv2D(2, 3, strides=2, padding="same", name="conv")(x)
    outputs = BilinearResizeTF1(name="resize")([small, inputs])
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    x = RNG.random((2, 6, 5, 3), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(reloaded(x)), np.asarray(model(x)))
