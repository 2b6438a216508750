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
