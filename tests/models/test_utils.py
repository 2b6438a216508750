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
