"""set_batchnorm_momentum: every BatchNormalization layer (nested too) gets the momentum, and uses it."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dermkit.models.utils import batchnorm_layers, set_batchnorm_momentum  # noqa: E402


def _model():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(name="inner_bn")], name="inner")
    inputs = keras.Input((4,))
    x = keras.layers.BatchNormalization(name="outer_bn")(inputs)
    return keras.Model(inputs, inner(x))


def test_sets_every_batchnorm_including_nested():
    model = _model()
    assert sorted(layer.name for layer in batchnorm_layers(model)) == ["inner_bn", "outer_bn"]
    assert set_batchnorm_momentum(model, 0.9) is model
    assert [layer.momentum for layer in batchnorm_layers(model)] == [0.9, 0.9]
    set_batchnorm_momentum(model, None)  # None: unchanged
    assert [layer.momentum for layer in batchnorm_layers(model)] == [0.9, 0.9]


def test_the_moving_mean_follows_the_momentum():
    """One training batch of constant 10: moving_mean = m·0 + (1 − m)·10 (Keras' update rule)."""
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(inputs))
    set_batchnorm_momentum(model, 0.5)
    model(np.full((4, 2), 10.0, np.float32), training=True)
    np.testing.assert_allclose(model.get_layer("bn").moving_mean.numpy(), [5.0, 5.0], rtol=1e-6)


@pytest.mark.parametrize("bad", [1.0, -0.1, "0.9", True])
def test_refuses_bad_momentum(bad):
    with pytest.raises(ValueError, match="momentum"):
        set_batchnorm_momentum(_model(), bad)


def test_save_model_for_inference_drops_the_optimizer_state(tmp_path):
    """Keras 3's model.save ignores include_optimizer=False; the artifact is an uncompiled copy (Adam's two
    moments would triple the file), and it predicts as the trained model."""
    import zipfile

    import h5py
    import keras

    from dermkit import load_model
    from dermkit.models.utils import save_model_for_inference

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 3, padding="same")])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x = np.random.default_rng(0).random((4, 4, 4, 3), dtype=np.float32)
    model.fit(x, np.zeros((4, 4, 4, 2), np.float32), epochs=1, verbose=0)
    path = save_model_for_inference(model, tmp_path / "m.keras")
    with zipfile.ZipFile(path) as archive, h5py.File(archive.open("model.weights.h5")) as weights:
        assert "optimizer" not in weights
    np.testing.assert_allclose(load_model(path, compile=False).predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(FileExistsError):
        save_model_for_inference(model, path)
    with pytest.raises(ValueError, match="writes a '.keras' file"):
        save_model_for_inference(model, tmp_path / "m.h5")


# --- lsuv_init (Mishkin & Matas 2016) ----------------------------------------------------------------------
def _plain_convnet():
    """Convs with separate ReLUs, so each conv's own output is its pre-activation (read independently)."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = keras.layers.ReLU(name="r1")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="c2")(x)
    x = keras.layers.ReLU(name="r2")(x)
    x = keras.layers.Conv2D(4, 3, padding="valid", use_bias=False, name="c3")(x)
    return keras.Model(inputs, x)


def test_lsuv_gives_every_conv_unit_preactivation_std_and_orthogonal_kernels():
    from dermkit.models.utils import lsuv_init

    model = _plain_convnet()
    images = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")  # caffe-like scale
    lsuv_init(model, images, seed=3)
    probe = keras.Model(model.input, [model.get_layer(n).output for n in ("c1", "c2", "c3")])
    for name, out in zip(("c1", "c2", "c3"), probe(images)):
        assert np.std(np.asarray(out, dtype=np.float64)) == pytest.approx(1.0, rel=1e-4), name
        layer = model.get_layer(name)
        k = np.asarray(layer.kernel).reshape(-1, layer.filters)
        gram = k.T @ k  # orthonormal columns up to the one LSUV scale: c² I
        np.testing.assert_allclose(gram, np.eye(layer.filters) * gram[0, 0], atol=1e-5 * gram[0, 0])
        if layer.use_bias:
            assert not np.any(np.asarray(layer.bias))


def test_lsuv_is_seeded_and_refuses_constant_images_and_foreign_layers():
    from dermkit.models.utils import lsuv_init

    images = np.random.default_rng(1).normal(size=(4, 16, 16, 3)).astype("float32")
    a, b = _plain_convnet(), _plain_convnet()
    lsuv_init(a, images, seed=5)
    lsuv_init(b, images, seed=5)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    with pytest.raises(ValueError, match="constant output"):
        lsuv_init(_plain_convnet(), np.zeros((2, 16, 16, 3), "float32"))
    other = _plain_convnet()
    with pytest.raises(ValueError, match="Conv2D layers of the model"):
        lsuv_init(a, images, layers=[other.get_layer("c1")])
