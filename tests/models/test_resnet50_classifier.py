"""bisla2019's ResNet-50 classifier: layers, head, parameter count, preprocessing, weights rule."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.models.classifiers import resnet50_classifier

# Keras' ResNet-50: 25,636,712 parameters with its 1000-way top (2048·1000 + 1000 = 2,049,000 of them)
RESNET50_NOTOP_PARAMS = 25_636_712 - 2_049_000


@pytest.fixture(scope="module")
def model():
    return resnet50_classifier((64, 64, 3))


def test_layers_head_and_parameters(model):
    assert model.output_shape == (None, 3)
    assert model.get_layer("preprocess").get_config()["mode"] == "caffe"
    assert tuple(model.get_layer("conv5_block3_out").output.shape) == (None, 2, 2, 2048)
    head = model.get_layer("predictions")
    assert head.units == 3 and head.get_config()["activation"] == "softmax"
    assert model.count_params() == RESNET50_NOTOP_PARAMS + 2048 * 3 + 3


def test_probabilities_and_float32(model):
    y = model.predict(np.random.default_rng(0).random((2, 64, 64, 3)).astype("float32"), verbose=0)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        resnet50_classifier(num_classes=1)
    with pytest.raises(ValueError, match="input_shape"):
        resnet50_classifier((64, 64, 7))


@pytest.mark.slow
def test_options_and_weights_round_trip(tmp_path, model):
    plain = resnet50_classifier((64, 64, 3), num_classes=7, preprocess=False)
    assert plain.output_shape == (None, 7) and "preprocess" not in [layer.name for layer in plain.layers]
    path = tmp_path / "r.weights.h5"
    model.save_weights(path)
    again = resnet50_classifier((64, 64, 3), weights=str(path))
    x = np.random.default_rng(1).random((1, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
