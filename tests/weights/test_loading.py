"""dermkit.weights: registry look-up, fetching, encoder weights, format detection, legacy and Keras 3 loading."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import types

import h5py
import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dermkit.errors import DermkitDataError, DermkitFileNotFoundError  # noqa: E402
from dermkit.weights import (  # noqa: E402
    REGISTRY,
    assign_layer_weights,
    build_encoder,
    detect_weights_format,
    fetch_weights,
    keras_cache_dir,
    load_weights,
    read_legacy_h5,
    weights_info,
    write_legacy_h5,
)

RNG = np.random.default_rng(3)
RELEASED = "isic2017-part2_vgg_f1-batch_aug"


def small_model(units=(4, 3)):
    inputs = keras.Input((5,), name="x")
    h = keras.layers.Dense(units[0], activation="relu", name="dense_a")(inputs)
    out = keras.layers.Dense(units[1], name="dense_b")(h)
    return keras.Model(inputs, out, name="small")


def random_weights(model):
    return {layer.name: [RNG.standard_normal(w.shape).astype(np.float32) for w in layer.weights]
            for layer in model.layers}


def offline(*args, **kwargs):
    raise Exception("URL fetch failure on https://example.invalid: None -- [Errno -3] Temporary failure")


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, and no network (keras.utils.get_file raises as it does offline)."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("dermkit.weights.loading._cache_candidates", lambda name: [keras_cache_dir() / name])
    return tmp_path / "keras_home"


# -------------------------------------------------------------------------------------------- registry


def test_registry_entry_for_the_released_model():
    entry = weights_info(RELEASED)
    assert entry.url == ("https://github.com/jeremykawahara/skinisic/releases/download/v0.0.1/"
                         "isic2017-part2_vgg_f1-batch_aug.h5")
    assert entry.file_name == "isic2017-part2_vgg_f1-batch_aug.h5"
    assert entry.file_format == "legacy" and entry.builder == "vgg16_fcn"
    assert entry.class_names == ("pigment_network", "negative_network", "milia_like_cyst", "streaks")
    assert set(REGISTRY) == {RELEASED}


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"unknown weights name 'isic2017_part2_vgg'.*Did you mean "
                                         r"'isic2017-part2_vgg_f1-batch_aug'\?.*Registered: \["):
        weights_info("isic2017_part2_vgg")
    with pytest.raises(ValueError, match=r"unknown weights name 'zzz'\. Registered:"):
        weights_info("zzz")


def test_fetch_offline_names_url_and_place(keras_home):
    with pytest.raises(OSError) as info:
        fetch_weights(RELEASED)
    message = str(info.value)
    assert weights_info(RELEASED).url in message
    assert str(keras_home / "models" / "isic2017-part2_vgg_f1-batch_aug.h5") in message
    assert "URL fetch failure" in message


def test_fetch_uses_the_cache_and_prints_an_unverified_hash(keras_home, capsys):
    cached = keras_home / "models" / "isic2017-part2_vgg_f1-batch_aug.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not really weights")
    assert fetch_weights(RELEASED) == cached
    assert hashlib.sha256(b"not really weights").hexdigest() in capsys.readouterr().out


def test_fetch_refuses_a_hash_mismatch(keras_home, monkeypatch):
    cached = keras_home / "models" / "isic2017-part2_vgg_f1-batch_aug.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"tampered")
    entry = dataclasses.replace(weights_info(RELEASED), sha256="0" * 64)
    monkeypatch.setattr("dermkit.weights.loading.REGISTRY", {RELEASED: entry})
    with pytest.raises(DermkitDataError, match=r"does not match the registered 0{64}"):
        fetch_weights(RELEASED)
    assert fetch_weights(RELEASED, verify=False) == cached


# -------------------------------------------------------------------------------------------- encoders


def test_build_encoder_offline_names_the_notop_file(keras_home):
    with pytest.raises(OSError) as info:
        build_encoder("vgg16", encoder_weights="imagenet", input_shape=(32, 32, 3))
    message = str(info.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5") in message
    assert "~/.keras/models/" in message and str(keras_home / "models") in message


def test_build_encoder_takes_imagenet_weights_from_the_cache(keras_home):
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    notop = {layer.name: [RNG.standard_normal(w.shape).astype(np.float32) for w in layer.weights]
             for layer in reference.layers}
    write_legacy_h5(keras_home / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", notop)
    encoder = build_encoder("vgg16", encoder_weights="imagenet", input_shape=(32, 32, 3))  # no network needed
    np.testing.assert_array_equal(encoder.get_layer("block5_conv3").get_weights()[0], notop["block5_conv3"][0])
    from_path = build_encoder("vgg16", encoder_weights=keras_home / "models" /
                              "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", input_shape=(32, 32, 3))
    np.testing.assert_array_equal(from_path.get_layer("block1_conv1").get_weights()[1], notop["block1_conv1"][1])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"application": "vgg19"}, ValueError,
         r"application must be one of \['densenet121', 'inception_resnet_v2', 'resnet50', 'vgg16'\]"),
        ({"application": "vgg16", "encoder_weights": "imagenet21k"}, DermkitFileNotFoundError,
         r"imagenet21k: encoder weights file not found \(expected the Keras notop file vgg16_weights"),
        ({"application": "vgg16", "encoder_weights": 1}, ValueError,
         r"encoder_weights must be None, 'imagenet' or a path .* Received: encoder_weights=1"),
        ({"application": "vgg16", "encoder_weights": None, "include_top": True}, ValueError,
         r"always uses include_top=False"),
    ],
)
def test_build_encoder_bad_values(kwargs, error, message):
    application = kwargs.pop("application")
    with pytest.raises(error, match=message):
        build_encoder(application, **kwargs)


def test_build_encoder_without_weights():
    encoder = build_encoder("resnet50", encoder_weights=None, input_shape=(None, None, 3))
    assert encoder.get_layer("conv5_block3_out").output.shape[-1] == 2048


# ------------------------------------------------------------------------------------------- formats


def test_detect_formats(tmp_path):
    model = small_model()
    model.save_weights(tmp_path / "k3.weights.h5")
    legacy = write_legacy_h5(tmp_path / "legacy.h5", random_weights(model))
    sm = write_legacy_h5(tmp_path / "sm.h5", {"conv1/conv": [np.ones((1, 1, 3, 2), np.float32)],
                                              "decoder_stage0_upsampling": []})
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = np.arange(3)
    assert detect_weights_format(tmp_path / "k3.weights.h5") == "keras3"
    assert detect_weights_format(legacy) == "legacy"
    assert detect_weights_format(sm) == "segmentation_models"
    with pytest.raises(DermkitDataError, match=r"plain.h5: not a Keras weights file .* top-level keys: \['x'\]"):
        detect_weights_format(tmp_path / "plain.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(DermkitDataError, match=r"text.h5: not a readable HDF5"):
        detect_weights_format(tmp_path / "text.h5")
    with pytest.raises(DermkitFileNotFoundError, match=r"missing.h5: weights file not found"):
        detect_weights_format(tmp_path / "missing.h5")


def test_read_legacy_follows_layer_names_and_weight_names(tmp_path):
    kernel, bias = np.ones((2, 3), np.float32), np.arange(3, dtype=np.float32)
    path = write_legacy_h5(tmp_path / "w.h5", {"z_input": [], "dense_b": [kernel, bias], "a_dense": [bias]})
    weights = read_legacy_h5(path)
    assert list(weights) == ["z_input", "dense_b", "a_dense"]  # file order, not alphabetical
    np.testing.assert_array_equal(weights["dense_b"][0], kernel)  # kernel first, as weight_names lists it
    np.testing.assert_array_equal(weights["dense_b"][1], bias)
    with h5py.File(path, "r") as f:
        version, backend = (v.decode() if isinstance(v, bytes) else v for v in (f.attrs["keras_version"],
                                                                               f.attrs["backend"]))
        assert (version, backend) == ("2.2.4", "tensorflow")
        assert list(f["dense_b"].attrs["weight_names"]) == [b"dense_b/kernel:0", b"dense_b/bias:0"]


def test_read_legacy_full_model_file(tmp_path):
    # model.save("x.h5") in Keras 2: the weights sit under a model_weights group.
    path = tmp_path / "full.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["model_config"] = b"{}"
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([b"dense_a"])
        layer = group.create_group("dense_a")
        layer.attrs["weight_names"] = np.array([b"dense_a/kernel:0"])
        layer["dense_a/kernel:0"] = np.full((5, 4), 2.0, np.float32)
    assert detect_weights_format(path) == "legacy"
    np.testing.assert_array_equal(read_legacy_h5(path)["dense_a"][0], np.full((5, 4), 2.0))


def test_read_legacy_refuses_other_files(tmp_path):
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(DermkitDataError, match=r"not a legacy Keras 2 HDF5 weights file"):
        read_legacy_h5(tmp_path / "plain.h5")
    with pytest.raises(DermkitFileNotFoundError, match=r"nothing.h5: weights file not found"):
        read_legacy_h5(tmp_path / "nothing.h5")


# ------------------------------------------------------------------------------------------- loading


def test_assign_is_all_or_nothing_and_lists_every_difference():
    model = small_model()
    before = [w.copy() for w in model.get_weights()]
    weights = {
        "dense_a": [np.zeros((5, 4), np.float32)],  # bias missing
        "dense_c": [np.zeros((3,), np.float32)],  # no such layer
        "dense_b": [np.zeros((4, 2), np.float32), np.zeros(2, np.float32)],  # wrong shape
    }
    with pytest.raises(DermkitDataError) as info:
        assign_layer_weights(model, weights, source="file.h5")
    message = str(info.value)
    assert message.startswith("file.h5: the weights do not fit the model (3 difference(s)); nothing was loaded")
    assert "layer dense_a: the file has 1 weights [(5, 4)], the model layer has 2 [(5, 4), (4,)]" in message
    assert "file layer dense_c has no layer of that name in the model" in message
    assert "layer dense_b: shapes differ, file [(4, 2), (2,)] vs model [(4, 3), (3,)]" in message
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_assign_reports_model_layers_left_without_weights():
    model = small_model()
    weights = random_weights(model)
    del weights["dense_b"]
    with pytest.raises(DermkitDataError, match=r"model layer dense_b has weights but nothing in the file maps"):
        assign_layer_weights(model, weights)


def test_assign_with_name_map_dict_and_callable():
    model = small_model()
    weights = random_weights(model)
    renamed = {f"old_{name}": arrays for name, arrays in weights.items()}
    assign_layer_weights(model, renamed, name_map={"old_dense_a": "dense_a", "old_dense_b": "dense_b"})
    np.testing.assert_array_equal(model.get_layer("dense_b").get_weights()[0], weights["dense_b"][0])
    other = small_model()
    assign_layer_weights(other, renamed, name_map=lambda name: name.removeprefix("old_"))
    np.testing.assert_array_equal(other.get_layer("dense_a").get_weights()[1], weights["dense_a"][1])
    with pytest.raises(DermkitDataError, match=r"file layers old_dense_a and old_dense_b both map onto"):
        assign_layer_weights(other, renamed, name_map=lambda name: "dense_a")
    with pytest.raises(TypeError, match=r"name_map must be None, a mapping or a callable"):
        assign_layer_weights(other, renamed, name_map=3)


def test_load_weights_none_is_a_no_op():
    model = small_model()
    before = model.get_weights()
    assert load_weights(model, None) is model
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_weights_legacy_file(tmp_path):
    model = small_model()
    weights = random_weights(model)
    path = write_legacy_h5(tmp_path / "legacy.h5", {"input_1": [], **weights})
    load_weights(model, path)
    np.testing.assert_array_equal(model.get_layer("dense_a").get_weights()[0], weights["dense_a"][0])


def test_load_weights_keras3_round_trip_any_suffix(tmp_path):
    model = small_model()
    model.save_weights(tmp_path / "m.weights.h5")
    (tmp_path / "m.h5").write_bytes((tmp_path / "m.weights.h5").read_bytes())  # Keras would read it as legacy
    for path in (tmp_path / "m.weights.h5", tmp_path / "m.h5"):
        clone = load_weights(small_model(), path)
        for a, b in zip(model.get_weights(), clone.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_load_weights_keras3_mismatch_is_a_data_error(tmp_path):
    small_model().save_weights(tmp_path / "m.weights.h5")
    with pytest.raises(DermkitDataError, match=r"m.weights.h5: the Keras 3 weights do not fit the model: the file "
                                               r"holds 4 arrays, the model 4; shapes only in the file: \[\(3,\), "
                                               r"\(4, 3\)\]; only in the model: \[\(2,\), \(4, 2\)\]"):
        load_weights(small_model(units=(4, 2)), tmp_path / "m.weights.h5")
    # Keras 3 itself would ignore the file's extra layer silently.
    inputs = keras.Input((5,), name="x")
    one_layer = keras.Model(inputs, keras.layers.Dense(4, name="dense_a")(inputs))
    with pytest.raises(DermkitDataError, match=r"the file holds 4 arrays, the model 2"):
        load_weights(one_layer, tmp_path / "m.weights.h5")


def fitted_and_saved(path, model=None, optimizer="adam"):
    """A model compiled and fitted one epoch, then ``save_weights``: the file holds optimizer variables too."""
    model = model or small_model()
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(RNG.random((8, 5), dtype=np.float32), RNG.random((8, 3), dtype=np.float32), epochs=1, verbose=0)
    model.save_weights(path)
    return model


def test_load_weights_keras3_file_saved_after_compile_and_fit(tmp_path):
    # dermkit's own best.weights.h5 (a ModelCheckpoint of a compiled model) holds the optimizer's variables
    # under optimizer/vars: the model's 4 arrays plus Adam's iteration, learning rate and 2 × 4 moments.
    path = tmp_path / "best.weights.h5"
    model = fitted_and_saved(path)
    with h5py.File(path, "r") as f:
        assert len(f["optimizer/vars"]) == 2 + 2 * 4
    x = RNG.random((3, 5), dtype=np.float32)
    for suffix in (".weights.h5", ".h5"):
        copy = tmp_path / f"copy{suffix}"
        copy.write_bytes(path.read_bytes())
        clone = load_weights(small_model(), copy)  # an uncompiled model: optimizer state ignored
        for a, b in zip(model.get_weights(), clone.get_weights()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(clone(x), model(x))


def test_load_weights_keras3_optimizer_state_restored_into_a_built_optimizer(tmp_path):
    path = tmp_path / "m.weights.h5"
    model = fitted_and_saved(path)
    clone = small_model()
    clone.compile(optimizer="adam", loss="mse")
    clone.optimizer.build(clone.trainable_variables)
    load_weights(clone, path)
    for a, b in zip(model.optimizer.variables, clone.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(clone.optimizer.iterations) == 1


def test_load_weights_keras3_fitted_file_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "m.weights.h5"
    fitted_and_saved(path)
    # Only the model's arrays are compared (not the optimizer's), with today's message.
    with pytest.raises(DermkitDataError, match=r"m.weights.h5: the Keras 3 weights do not fit the model: the file "
                                               r"holds 4 arrays, the model 4; shapes only in the file: \[\(3,\), "
                                               r"\(4, 3\)\]; only in the model: \[\(2,\), \(4, 2\)\]"):
        load_weights(small_model(units=(4, 2)), path)
    inputs = keras.Input((5,), name="x")
    one_layer = keras.Model(inputs, keras.layers.Dense(4, name="dense_a")(inputs))
    with pytest.raises(DermkitDataError, match=r"the file holds 4 arrays, the model 2"):
        load_weights(one_layer, path)


def test_load_weights_missing_path_and_bad_type(tmp_path):
    with pytest.raises(DermkitFileNotFoundError, match=r"nope.h5: weights file not found"):
        load_weights(small_model(), tmp_path / "nope.h5")
    with pytest.raises(ValueError, match=r"Did you mean 'isic2017-part2_vgg_f1-batch_aug'"):
        load_weights(small_model(), "isic2017-part2-vgg-f1-batch-aug")
    with pytest.raises(ValueError, match=r"weights must be None, a registry name .* Received: weights=3"):
        load_weights(small_model(), 3)


def test_segmentation_models_files_are_delegated(tmp_path, monkeypatch):
    path = write_legacy_h5(tmp_path / "sm.h5", {"conv1/conv": [np.ones((1, 1, 3, 2), np.float32)]})
    calls = []
    fake = types.ModuleType("dermkit.weights.segmentation_models")
    fake.import_segmentation_models = lambda model, h5_path: calls.append((model, h5_path))
    monkeypatch.setitem(sys.modules, "dermkit.weights.segmentation_models", fake)
    model = small_model()
    assert load_weights(model, path) is model
    assert calls == [(model, path)]
    monkeypatch.setitem(sys.modules, "dermkit.weights.segmentation_models", None)  # not importable
    with pytest.raises(NotImplementedError, match=r"sm.h5 is a segmentation-models file; loading it needs "
                                                  r"dermkit.weights.segmentation_models.import_segmentation_models"):
        load_weights(model, path)


# ----------------------------------------------------------------------------- declared classifier head
# A face-recognition AlexNet (CASIA-WebFace) has a 10,575-way fc8; a converted file may have no fc8 at all.
CASIA_CLASSES = 10_575


def _alexnet(num_classes=3):
    from dermkit.models import alexnet

    return alexnet((67, 67, 3), num_classes=num_classes)


def _legacy_alexnet_file(path, source, drop=()):
    """The Keras 2 ``save_weights`` layout written with h5py by hand (as converters write it)."""
    names = [layer.name for layer in source.layers if layer.name not in drop]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        for name in names:
            g = f.create_group(name)
            ws = source.get_layer(name).get_weights()
            wn = [f"{name}/kernel:0", f"{name}/bias:0"][:len(ws)]
            g.attrs["weight_names"] = np.array([n.encode() for n in wn])
            for n, w in zip(wn, ws):
                g.create_dataset(n, data=w)
    return path


def _assert_loaded_but_head(model, source, before_head, caplog, path):
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"):
        for a, b in zip(model.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)  # bit-equal
    kernel, bias = model.get_layer("fc8").get_weights()
    assert kernel.shape == (4096, 3)
    # fc8's own initializers again (a Keras initializer fixes its seed when created: the values it had when
    # built, before the test scrambled them), Glorot-uniform within ±√(6 / (fan_in + fan_out)), zero bias
    np.testing.assert_array_equal(kernel, before_head[0])
    limit = np.sqrt(6.0 / (4096 + 3))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    np.testing.assert_array_equal(bias, np.zeros(3, np.float32))
    lines = [r.getMessage() for r in caplog.records if "classifier head" in r.getMessage()]
    assert len(lines) == 1 and "fc8" in lines[0] and str(path) in lines[0]
    assert "\n" not in lines[0]
    return lines[0]


@pytest.mark.parametrize("layout", ["keras3", "legacy"])
def test_head_of_another_shape_is_reinitialised(tmp_path, caplog, layout):
    keras.utils.set_random_seed(1)
    casia = _alexnet(CASIA_CLASSES)
    if layout == "keras3":
        path = tmp_path / "casia.weights.h5"
        casia.save_weights(path)
        with h5py.File(path, "r") as f:  # the file really holds the 10,575-way fc8
            assert f["layers/dense_2/vars/0"].shape == (4096, CASIA_CLASSES)
    else:
        path = _legacy_alexnet_file(tmp_path / "casia.h5", casia)
    model = _alexnet(3)
    before = model.get_layer("fc8").get_weights()
    model.get_layer("fc8").set_weights([before[0] + 5.0, before[1] + 5.0])  # scrambled: must be re-initialised
    caplog.set_level("WARNING", logger="dermkit.weights.loading")
    load_weights(model, path, head=("fc8",))
    line = _assert_loaded_but_head(model, casia, before, caplog, path)
    assert f"(4096, {CASIA_CLASSES})" in line and "(4096, 3)" in line


@pytest.mark.parametrize("layout", ["keras3", "legacy"])
def test_head_absent_from_the_file_is_reinitialised(tmp_path, caplog, layout):
    keras.utils.set_random_seed(2)
    source = _alexnet(3)
    if layout == "keras3":  # a converted model without fc8, saved by Keras 3
        headless = keras.Model(source.input, source.get_layer("drop7").output)
        path = tmp_path / "nofc8.weights.h5"
        headless.save_weights(path)
    else:
        path = _legacy_alexnet_file(tmp_path / "nofc8.h5", source, drop=("fc8",))
        assert "fc8" not in [n.decode() for n in h5py.File(path, "r").attrs["layer_names"]]
    model = _alexnet(3)
    before = model.get_layer("fc8").get_weights()
    model.get_layer("fc8").set_weights([before[0] * 3.0, before[1] - 1.0])  # scrambled: must be re-initialised
    caplog.set_level("WARNING", logger="dermkit.weights.loading")
    load_weights(model, path, head=("fc8",))
    line = _assert_loaded_but_head(model, source, before, caplog, path)
    assert "file: absent" in line


@pytest.mark.parametrize("layout", ["keras3", "legacy"])
def test_mismatch_outside_the_head_stays_an_error_listing_shapes(tmp_path, layout):
    source = _alexnet(3)
    wide = keras.Model(source.input, keras.layers.Dense(8, name="fc8")(
        keras.layers.Dense(2048, name="fc7")(source.get_layer("fc6").output)))  # fc7 of another width
    if layout == "keras3":
        path = tmp_path / "other.weights.h5"
        wide.save_weights(path)
    else:
        path = _legacy_alexnet_file(tmp_path / "other.h5", wide)
    model = _alexnet(3)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(DermkitDataError, match=r"fc7.*\(4096, 2048\).*\(4096, 4096\)") as info:
        load_weights(model, path, head=("fc8",))
    assert "nothing was loaded" in str(info.value).lower()
    for a, b in zip(before, model.get_weights()):  # all or nothing
        np.testing.assert_array_equal(a, b)
    with pytest.raises(DermkitDataError, match="fc8"):  # without the declaration the head is an error too
        load_weights(_alexnet(3), _legacy_alexnet_file(tmp_path / "casia.h5", _alexnet(5)))


def test_every_builder_declares_its_head(tmp_path, caplog):
    """The builders pass their head to load_weights: a file with another class count loads, head redrawn."""
    from dermkit.models import resnet50_classifier

    small = resnet50_classifier((32, 32, 3), num_classes=5)
    path = tmp_path / "r50.weights.h5"
    small.save_weights(path)
    caplog.set_level("WARNING", logger="dermkit.weights.loading")
    model = resnet50_classifier((32, 32, 3), num_classes=3, weights=path)
    np.testing.assert_array_equal(model.get_layer("conv1_conv").get_weights()[0],
                                  small.get_layer("conv1_conv").get_weights()[0])
    assert model.get_layer("predictions").get_weights()[0].shape == (2048, 3)
    assert sum("classifier head predictions" in r.getMessage() for r in caplog.records) == 1
