"""AlexNet / CHAI embedding (codella2018 Section 2.1): LRN against Caffe's formula in NumPy, layer names and
shapes of the Caffe model, grouped convolutions, Eq. 3 (GAP of the maps), weights by name, saving."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from dermkit.errors import DermkitDataError  # noqa: E402
from dermkit.models import alexnet, alexnet_gap_embedding  # noqa: E402
from dermkit.models.alexnet import LocalResponseNormalization, load_alexnet_weights, transfer_weights  # noqa: E402

RNG = np.random.default_rng(4)


def caffe_lrn(a: np.ndarray, n=5, alpha=1e-4, beta=0.75, k=1.0) -> np.ndarray:
    """Caffe's LRN ACROSS_CHANNELS, written from its documentation: scale_c = k + alpha/n · Σ a², window of n
    channels centred on c (zero padded)."""
    c = a.shape[-1]
    half = (n - 1) // 2
    out = np.empty_like(a, dtype=np.float64)
    for ch in range(c):
        lo, hi = max(0, ch - half), min(c, ch + half + 1)
        scale = k + alpha / n * np.sum(a[..., lo:hi].astype(np.float64) ** 2, axis=-1)
        out[..., ch] = a[..., ch] / scale ** beta
    return out


@pytest.mark.parametrize("n, alpha, beta, k", [(5, 1e-4, 0.75, 1.0), (3, 0.5, 0.5, 2.0), (1, 1.0, 1.0, 1.0)])
def test_lrn_matches_caffe_formula(n, alpha, beta, k):
    a = RNG.normal(0, 10, (2, 3, 4, 7)).astype(np.float32)  # large values so alpha matters
    got = np.asarray(LocalResponseNormalization(n, alpha, beta, k)(a))
    np.testing.assert_allclose(got, caffe_lrn(a, n, alpha, beta, k), rtol=1e-5, atol=1e-6)


def test_lrn_hand_case():
    # one pixel, 3 channels, n = 3, alpha = 3 (alpha/n = 1), beta = 1, k = 1: channel 0 window {0, 1}.
    a = np.array([[[[1.0, 2.0, 3.0]]]], np.float32)
    got = np.asarray(LocalResponseNormalization(3, 3.0, 1.0, 1.0)(a))[0, 0, 0]
    np.testing.assert_allclose(got, [1 / (1 + 1 + 4), 2 / (1 + 1 + 4 + 9), 3 / (1 + 4 + 9)], rtol=1e-6)


def test_lrn_rejects_even_size_and_round_trips_config():
    with pytest.raises(ValueError, match="odd"):
        LocalResponseNormalization(4)
    layer = LocalResponseNormalization(3, 0.1, 0.5, 2.0)
    again = LocalResponseNormalization.from_config(layer.get_config())
    assert (again.size, again.alpha, again.beta, again.k) == (3, 0.1, 0.5, 2.0)


def test_alexnet_caffe_shapes_at_227():
    model = alexnet((227, 227, 3), num_classes=3)
    shapes = {name: model.get_layer(name).output.shape[1:] for name in
              ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8")}
    assert shapes["conv1"] == (55, 55, 96) and shapes["pool1"] == (27, 27, 96)
    assert shapes["conv2"] == (27, 27, 256) and shapes["pool2"] == (13, 13, 256)
    assert shapes["conv3"] == (13, 13, 384) and shapes["conv5"] == (13, 13, 256) and shapes["pool5"] == (6, 6, 256)
    assert shapes["fc6"] == (4096,) and shapes["fc7"] == (4096,) and shapes["fc8"] == (3,)
    # Caffe's grouped kernels: conv2 5×5×48 (96/2 inputs per group), conv4 3×3×192, conv5 3×3×192.
    assert model.get_layer("conv2").kernel.shape == (5, 5, 48, 256)
    assert model.get_layer("conv4").kernel.shape == (3, 3, 192, 384)
    assert model.get_layer("conv5").kernel.shape == (3, 3, 192, 256)
    # bvlc_alexnet parameter count with a 1000-way fc8 is 60,965,224; with 3 classes fc8 is 4096·3 + 3.
    assert model.count_params() == 60_965_224 - (4096 * 1000 + 1000) + (4096 * 3 + 3)


def test_alexnet_min_size_and_errors():
    model = alexnet((67, 67, 3))
    assert model.get_layer("pool5").output.shape[1:] == (1, 1, 256)
    with pytest.raises(ValueError, match="at least 67"):
        alexnet((66, 66, 3))
    with pytest.raises(ValueError, match="channels"):
        alexnet((99, 99, 1))


def test_gap_embedding_is_mean_of_maps():
    model = alexnet_gap_embedding((67, 67, 3), embedding_dim=16)
    x = RNG.random((2, 67, 67, 3)).astype(np.float32)
    out = model(x)
    maps, emb = np.asarray(out["maps"]), np.asarray(out["embedding"])
    assert maps.shape == (2, 3, 3, 16) and emb.shape == (2, 16)
    np.testing.assert_allclose(emb, maps.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)  # Eq. 3
    assert model.get_layer("gap_conv").kernel.shape == (3, 3, 256, 16)


def test_transfer_and_legacy_by_name(tmp_path):
    src = alexnet((67, 67, 3))
    dst = alexnet_gap_embedding((67, 67, 3), embedding_dim=8)
    transfer_weights(src, dst)
    for name in ("conv1", "conv5"):
        np.testing.assert_array_equal(src.get_layer(name).get_weights()[0], dst.get_layer(name).get_weights()[0])
    # A Keras 2 layout file (as converters write) with conv1–conv5 and fc6–fc8 loads by name into both models.
    path = tmp_path / "alexnet_converted.h5"
    with h5py.File(path, "w") as f:
        names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name in names:
            g = f.create_group(name)
            ws = src.get_layer(name).get_weights()
            g.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
            g.create_dataset(f"{name}/kernel:0", data=ws[0] + 1)
            g.create_dataset(f"{name}/bias:0", data=ws[1] + 1)
    emb = alexnet_gap_embedding((67, 67, 3), embedding_dim=8, weights=path)
    np.testing.assert_allclose(emb.get_layer("conv3").get_weights()[1], src.get_layer("conv3").get_weights()[1] + 1)
    full = alexnet((67, 67, 3), weights=path)
    np.testing.assert_allclose(full.get_layer("fc8").get_weights()[1], src.get_layer("fc8").get_weights()[1] + 1)
    # fc8 is AlexNet's declared head: a 5-way model takes every other layer and keeps a fresh fc8
    five = alexnet((67, 67, 3), num_classes=5)
    load_alexnet_weights(five, path)
    np.testing.assert_allclose(five.get_layer("fc7").get_weights()[0], src.get_layer("fc7").get_weights()[0] + 1)
    assert five.get_layer("fc8").get_weights()[0].shape == (4096, 5)
    np.testing.assert_array_equal(five.get_layer("fc8").get_weights()[1], np.zeros(5, np.float32))
    # any other mismatch stays an error naming the layer and the shapes
    wide = alexnet_gap_embedding((67, 67, 3), embedding_dim=8)
    with h5py.File(path, "a") as f:
        del f["conv3"]["conv3/bias:0"]
        f["conv3"].create_dataset("conv3/bias:0", data=np.zeros(7, np.float32))
    with pytest.raises(DermkitDataError, match=r"conv3: shapes differ, file \[\(3, 3, 256, 384\), \(7,\)\]"):
        load_alexnet_weights(wide, path)


def test_embedding_from_a_keras3_alexnet_file(tmp_path):
    """A Keras 3 AlexNet file into the CHAI embedding: conv1–conv5 loaded, fc6–fc8 skipped, gap_conv fresh."""
    src = alexnet((67, 67, 3))
    path = tmp_path / "alexnet.weights.h5"
    src.save_weights(path)
    emb = alexnet_gap_embedding((67, 67, 3), embedding_dim=8, weights=path)
    for name in ("conv1", "conv5"):
        np.testing.assert_array_equal(emb.get_layer(name).get_weights()[0], src.get_layer(name).get_weights()[0])
    np.testing.assert_array_equal(emb.get_layer("gap_conv").get_weights()[1], np.zeros(8, np.float32))


def test_keras_weights_file_and_saving(tmp_path):
    model = alexnet_gap_embedding((67, 67, 3), embedding_dim=8)
    path = tmp_path / "emb.weights.h5"
    model.save_weights(path)
    again = alexnet_gap_embedding((67, 67, 3), embedding_dim=8, weights=path)
    x = RNG.random((1, 67, 67, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(again(x)["embedding"]), np.asarray(model(x)["embedding"]), rtol=1e-5)
    model.save(tmp_path / "emb.keras")
    loaded = keras.saving.load_model(tmp_path / "emb.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)["maps"]), np.asarray(model(x)["maps"]), rtol=1e-5)
