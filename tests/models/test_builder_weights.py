"""Issue 18's weights rule on the builders that lacked it: alexnet* encoder_weights (conv1-conv5 only),
dilated_unet / partialconv_unet weights=, unet name=."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dermkit.models import alexnet, alexnet_gap_embedding, dilated_unet, partialconv_unet, unet  # noqa: E402

CONV = ("conv1", "conv2", "conv3", "conv4", "conv5")


def test_alexnet_encoder_weights_load_conv1_to_conv5_only(tmp_path):
    keras.utils.set_random_seed(0)
    face = alexnet((67, 67, 3), num_classes=11)  # a "face" AlexNet with another head
    path = tmp_path / "face.weights.h5"
    face.save_weights(path)
    keras.utils.set_random_seed(1)
    model = alexnet((67, 67, 3), num_classes=3, encoder_weights=path, name="baseline")
    keras.utils.set_random_seed(1)
    fresh = alexnet((67, 67, 3), num_classes=3)
    assert model.name == "baseline"
    for layer in CONV:
        for a, b in zip(model.get_layer(layer).get_weights(), face.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(a, b)
    for layer in ("fc6", "fc7", "fc8"):  # untouched by the encoder file: as a fresh build with the same seed
        for a, b in zip(model.get_layer(layer).get_weights(), fresh.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(a, b)
    embedding = alexnet_gap_embedding((67, 67, 3), embedding_dim=8, encoder_weights=path)
    np.testing.assert_array_equal(embedding.get_layer("conv5").get_weights()[0],
                                  face.get_layer("conv5").get_weights()[0])
    with pytest.raises(ValueError, match="ships no ImageNet AlexNet"):
        alexnet((67, 67, 3), encoder_weights="imagenet")
    with pytest.raises(FileNotFoundError, match="nothing.h5"):
        alexnet((67, 67, 3), encoder_weights=tmp_path / "nothing.h5")


@pytest.mark.parametrize("build", [
    lambda w: dilated_unet((228, 228, 7), width=0.0625, weights=w),
    lambda w: partialconv_unet((64, 64, 3), depth=6, width=0.125, weights=w),
])
def test_weights_round_trip_for_the_bisla_networks(build, tmp_path):
    keras.utils.set_random_seed(2)
    model = build(None)
    path = tmp_path / "net.weights.h5"
    model.save_weights(path)
    keras.utils.set_random_seed(3)
    clone = build(path)
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_unet_name():
    assert unet((32, 32, 3)).name == "unet"
    assert unet((32, 32, 3), name="lesions").name == "lesions"
