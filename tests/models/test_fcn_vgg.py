"""vgg16_fcn (kawahara2018 Fig. 2): architecture, parameter counts, variants, released-weights loading."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dermkit.errors import DermkitDataError  # noqa: E402
from dermkit.models import vgg16_fcn  # noqa: E402
from dermkit.weights import read_legacy_h5, write_legacy_h5  # noqa: E402
from dermkit.weights.registry import KAWAHARA2018_LEGACY_NAME_MAP, REGISTRY  # noqa: E402

RNG = np.random.default_rng(2018)
VGG16_BLOCKS = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}  # convolutions per block
VGG16_WIDTHS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


def conv_params(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out + c_out


def vgg16_notop_params() -> int:
    total, c_in = 0, 3
    for block, n in VGG16_BLOCKS.items():
        for _ in range(n):
            total += conv_params(3, c_in, VGG16_WIDTHS[block])
            c_in = VGG16_WIDTHS[block]
    return total


# ----------------------------------------------------------------------------------------- architecture


def test_parameter_count_matches_the_paper():
    model = vgg16_fcn()  # 336 × 336 × 3, K = 4
    assert model.count_params() == 14_782_660
    # Independently: VGG16 convs + 3 reductions + head.
    added = conv_params(1, 512, 64) + 2 * conv_params(1, 512, 32) + conv_params(1, 576, 4)
    assert vgg16_notop_params() + added == 14_782_660
    assert vgg16_notop_params() == keras.applications.VGG16(include_top=False, weights=None).count_params()
    assert model.output.shape == (None, 336, 336, 4)


def test_taps_are_concatenated_in_fig2_order():
    model = vgg16_fcn((64, 64, 3))
    concat = model.get_layer("concat_taps")
    sources = [t._keras_history.operation.name for t in concat.input]
    assert sources == ["block1_conv2", "resize_block2", "resize_block3", "resize_block4", "resize_block5",
                       "resize_pool5"]
    assert [t.shape[-1] for t in concat.input] == [64, 128, 256, 64, 32, 32]
    assert concat.output.shape == (None, 64, 64, 576)
    for slot, source in [("block4", "block4_conv3"), ("block5", "block5_conv3"), ("pool5", "block5_pool")]:
        reduce = model.get_layer(f"reduce_{slot}")
        assert reduce.input._keras_history.operation.name == source
        assert reduce.kernel.shape[:2] == (1, 1)
        assert reduce.activation is keras.activations.relu
    assert model.get_layer("head_sigmoid").dtype_policy.compute_dtype == "float32"
    assert model.get_layer("preprocess").mode == "caffe"


def test_every_added_layer_is_named():
    model = vgg16_fcn((32, 32, 3))
    vgg = {layer.name for layer in keras.applications.VGG16(include_top=False, weights=None).layers}
    added = {layer.name for layer in model.layers} - vgg
    assert added == {"image", "preprocess", "reduce_block4", "reduce_block5", "reduce_pool5", "resize_block2",
                     "resize_block3", "resize_block4", "resize_block5", "resize_pool5", "concat_taps", "head_conv",
                     "head_sigmoid"}


def test_size_agnostic_model_predicts_at_two_sizes():
    model = vgg16_fcn((None, None, 3), num_classes=3)
    for hw in [(32, 48), (40, 33)]:
        y = model.predict(RNG.random((1, *hw, 3), dtype=np.float32), verbose=0)
        assert y.shape == (1, *hw, 3)
        assert np.all((y >= 0) & (y <= 1))


def test_output_is_float32_under_mixed_precision():
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = vgg16_fcn((32, 32, 3))
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    assert model.get_layer("head_conv").compute_dtype == "float16"
    assert model.output.dtype == "float32"
    assert model(np.zeros((1, 32, 32, 3), np.float32)).dtype == tf.float32


def test_preprocess_false_takes_caffe_input():
    with_pre = vgg16_fcn((32, 32, 3))
    without = vgg16_fcn((32, 32, 3), preprocess=False)
    without.set_weights(with_pre.get_weights())  # same layers with weights, same order
    x = RNG.random((2, 32, 32, 3), dtype=np.float32)
    caffe = keras.applications.vgg16.preprocess_input(x * 255.0)
    np.testing.assert_allclose(np.asarray(without(caffe)), np.asarray(with_pre(x)), rtol=1e-5, atol=1e-6)


def test_lesion_variant_section_3c():
    model = vgg16_fcn((32, 32, 3), num_classes=1, reduce_deep=False, extra_conv=True)
    assert model.get_layer("concat_taps").output.shape[-1] == 64 + 128 + 256 + 3 * 512
    added = conv_params(1, 1984, 64) + conv_params(1, 64, 1)
    assert model.count_params() == vgg16_notop_params() + added
    assert model.get_layer("extra_conv").filters == 64
    wider = vgg16_fcn((32, 32, 3), num_classes=1, reduce_deep=False, extra_conv=128)
    assert wider.get_layer("extra_conv").filters == 128


def test_unet_connection_variant():
    model = vgg16_fcn((48, 40, 3), connection="unet")
    assert model.output.shape == (None, 48, 40, 4)
    skips = [512, 512, 256, 128, 64]  # block5_conv3, block4_conv3, block3_conv3, block2_conv2, block1_conv2
    decoder, c_in = 0, 512  # from block5_pool
    for skip, filters in zip(skips, (256, 128, 64, 32, 16)):
        decoder += conv_params(3, c_in + skip, filters) + conv_params(3, filters, filters)
        c_in = filters
    assert model.count_params() == vgg16_notop_params() + decoder + conv_params(1, 16, 4)
    assert model.name == "vgg16_unet"


def test_resnet50_backbone_variant():
    model = vgg16_fcn((64, 64, 3), backbone="resnet50")
    encoder = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3)).count_params()
    added = conv_params(1, 1024, 64) + 2 * conv_params(1, 2048, 32) + conv_params(1, 64 + 256 + 512 + 128, 4)
    assert model.count_params() == encoder + added
    assert model.output.shape == (None, 64, 64, 4)
    assert model.get_layer("concat_taps").output.shape == (None, 64, 64, 960)
    assert model.get_layer("reduce_block4").input._keras_history.operation.name == "conv4_block6_out"


def test_inception_resnet_v2_backbone_variant():
    model = vgg16_fcn((75, 75, 3), backbone="inception_resnet_v2")  # 75: keras.applications' minimum
    ours = ("image", "preprocess", "reduce_", "resize_", "encoder_pool5", "concat_taps", "head_")
    encoder = sum(layer.count_params() for layer in model.layers if not layer.name.startswith(ours))
    assert encoder == 54_336_736  # InceptionResNetV2 include_top=False (Keras applications table)
    added = conv_params(1, 1088, 64) + 2 * conv_params(1, 1536, 32) + conv_params(1, 64 + 192 + 320 + 128, 4)
    assert model.count_params() == encoder + added
    assert model.output.shape == (None, 75, 75, 4)
    assert model.get_layer("concat_taps").output.shape == (None, 75, 75, 704)
    assert model.get_layer("reduce_block4").input._keras_history.operation.name == "block17_20_ac"
    assert model.get_layer("preprocess").mode == "tf"


BAD_ARGUMENTS = [
    ({"backbone": "vgg19"}, r"backbone must be one of \('vgg16', 'resnet50', 'inception_resnet_v2'\)"),
    ({"connection": "dense"}, r"connection must be one of \('skip', 'unet'\). Received: connection='dense'"),
    ({"connection": "unet", "backbone": "resnet50"}, r"connection='unet' is defined for backbone='vgg16' only"),
    ({"input_shape": (31, 64, 3)}, r"H, W >= 32 .* Received: input_shape=\(31, 64, 3\)"),
    ({"input_shape": (64, 64, 1)}, r"input_shape must be \(H, W, 3\)"),
    ({"input_shape": (74, 80, 3), "backbone": "inception_resnet_v2"}, r"H, W >= 75"),
    ({"num_classes": 0}, r"num_classes must be a positive integer. Received: num_classes=0"),
    ({"extra_conv": -2}, r"extra_conv must be True, False or a positive number of filters"),
    ({"encoder_weights": 3}, r"encoder_weights must be None, 'imagenet' or a path"),
    ({"weights": 1.5}, r"weights must be None, a registry name or a path"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vgg16_fcn(**kwargs)


def test_unknown_registry_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"Did you mean 'isic2017-part2_vgg_f1-batch_aug'"):
        vgg16_fcn((32, 32, 3), weights="isic2017-part2_vgg_f1_batch_aug")


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_keras_file_reloads_in_safe_mode(tmp_path):
    model = vgg16_fcn((32, 32, 3))
    model.compile(optimizer=keras.optimizers.Adam(5e-5), loss="binary_crossentropy")
    path = tmp_path / "fcn.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    x = RNG.random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------------ released weights (legacy file)

CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68], np.float32)


def random_released_file(path, num_classes: int = 4):
    """A Keras 2.2.4 ``save_weights`` file laid out like isic2017-part2_vgg_f1-batch_aug.h5, random weights.

    Topological layer order of the authors' Keras 2 model, weightless layers included; the added convs carry
    Keras 2's auto-names conv2d_1..conv2d_4. He-scaled kernels and non-zero biases keep activations finite.
    """
    layers: dict[str, list[np.ndarray]] = {"input_1": []}
    c_in = 3
    for block, n in VGG16_BLOCKS.items():
        for i in range(1, n + 1):
            c_out = VGG16_WIDTHS[block]
            layers[f"block{block}_conv{i}"] = [
                RNG.normal(0, np.sqrt(2 / (9 * c_in)), (3, 3, c_in, c_out)).astype(np.float32),
                RNG.normal(0, 0.1, c_out).astype(np.float32),
            ]
            c_in = c_out
        layers[f"block{block}_pool"] = []
    for name, c_in, c_out in [("conv2d_1", 512, 64), ("conv2d_2", 512, 32), ("conv2d_3", 512, 32)]:
        layers[name] = [RNG.normal(0, np.sqrt(2 / c_in), (1, 1, c_in, c_out)).astype(np.float32),
                        RNG.normal(0, 0.1, c_out).astype(np.float32)]
    for name in ["leaky_re_lu_1", "leaky_re_lu_2", "leaky_re_lu_3", "lambda_1", "lambda_2", "lambda_3",
                 "lambda_4", "lambda_5", "concatenate_1"]:
        layers[name] = []
    layers["conv2d_4"] = [RNG.normal(0, 0.3 / np.sqrt(576), (1, 1, 576, num_classes)).astype(np.float32),
                          RNG.normal(0, 0.1, num_classes).astype(np.float32)]
    return write_legacy_h5(path, layers)


def reference_forward(weights: dict[str, list[np.ndarray]], image_rgb01: np.ndarray, mapping: dict) -> np.ndarray:
    """kawahara2018 Fig. 2 written out with tf.nn ops from the file's arrays (independent of dermkit's model).

    ``mapping`` says which file layer reduces which tap: {"block4": "conv2d_1", ...}.
    """
    x = image_rgb01[..., ::-1] * 255.0 - CAFFE_BGR_MEAN  # keras.applications caffe preprocessing

    def conv(t, layer, relu=True):
        kernel, bias = weights[layer]
        y = tf.nn.conv2d(t, kernel, strides=1, padding="SAME") + bias
        return tf.nn.relu(y) if relu else y

    outs = {}
    t = tf.constant(x, tf.float32)
    for block, n in VGG16_BLOCKS.items():
        for i in range(1, n + 1):
            t = conv(t, f"block{block}_conv{i}")
            outs[f"block{block}_conv{i}"] = t
        t = tf.nn.max_pool2d(t, 2, 2, "VALID")
        outs[f"block{block}_pool"] = t
    size = image_rgb01.shape[1:3]

    def resize(t):
        return tf.compat.v1.image.resize_bilinear(t, size, align_corners=False, half_pixel_centers=False)

    taps = [
        outs["block1_conv2"],
        resize(outs["block2_conv2"]),
        resize(outs["block3_conv3"]),
        resize(conv(outs["block4_conv3"], mapping["block4"])),
        resize(conv(outs["block5_conv3"], mapping["block5"])),
        resize(conv(outs["block5_pool"], mapping["pool5"])),
    ]
    return tf.sigmoid(conv(tf.concat(taps, axis=-1), mapping["head"], relu=False)).numpy()


RIGHT_MAPPING = {"block4": "conv2d_1", "block5": "conv2d_2", "pool5": "conv2d_3", "head": "conv2d_4"}
SWAPPED_MAPPING = {**RIGHT_MAPPING, "block5": "conv2d_3", "pool5": "conv2d_2"}


@pytest.fixture(scope="module")
def released_file(tmp_path_factory):
    return random_released_file(tmp_path_factory.mktemp("released") / "isic2017-part2_vgg_f1-batch_aug.h5")


def test_legacy_name_map_is_the_registry_one():
    entry = REGISTRY["isic2017-part2_vgg_f1-batch_aug"]
    assert dict(entry.legacy_name_map) == dict(KAWAHARA2018_LEGACY_NAME_MAP) == {
        "conv2d_1": "reduce_block4", "conv2d_2": "reduce_block5", "conv2d_3": "reduce_pool5", "conv2d_4": "head_conv"}
    assert entry.builder == "vgg16_fcn" and entry.builder_kwargs["num_classes"] == 4
    assert entry.input_size == (336, 336) and entry.preprocess == "caffe"
    # Unverified (None) until a maintainer checks the release; then a SHA-256 hex digest.
    assert entry.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry.sha256


def _registry_with_hash(monkeypatch, sha256):
    entry = dataclasses.replace(REGISTRY["isic2017-part2_vgg_f1-batch_aug"], sha256=sha256)
    monkeypatch.setattr("dermkit.weights.loading.REGISTRY", {entry.name: entry})


def test_registry_hash_is_verified_against_the_cached_file(released_file, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "keras_home" / "models"
    cache.mkdir(parents=True)
    cached = cache / "isic2017-part2_vgg_f1-batch_aug.h5"
    cached.write_bytes(released_file.read_bytes())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    digest = hashlib.sha256(released_file.read_bytes()).hexdigest()  # computed here, independently
    _registry_with_hash(monkeypatch, digest)
    model = vgg16_fcn((32, 32, 3), weights="isic2017-part2_vgg_f1-batch_aug")
    np.testing.assert_array_equal(model.get_layer("head_conv").get_weights()[0],
                                  read_legacy_h5(released_file)["conv2d_4"][0])
    assert "has sha256" not in capsys.readouterr().out  # verified: nothing to report
    _registry_with_hash(monkeypatch, hashlib.sha256(b"another file").hexdigest())
    with pytest.raises(DermkitDataError, match=rf"{re.escape(str(cached))}: sha256 {digest} does not match"):
        vgg16_fcn((32, 32, 3), weights="isic2017-part2_vgg_f1-batch_aug")


def test_released_file_loads_and_reproduces_fig2(released_file):
    weights = read_legacy_h5(released_file)
    model = vgg16_fcn((64, 64, 3), weights=released_file)
    for file_layer, model_layer in [("block3_conv2", "block3_conv2"), *KAWAHARA2018_LEGACY_NAME_MAP.items()]:
        for got, expected in zip(model.get_layer(model_layer).get_weights(), weights[file_layer]):
            np.testing.assert_array_equal(got, expected)
    image = RNG.random((2, 64, 64, 3), dtype=np.float32)
    got = model.predict(image, verbose=0)
    expected = reference_forward(weights, image, RIGHT_MAPPING)
    assert 0.05 < expected.std()  # not saturated: the comparison below can tell layers apart
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # conv2d_2 / conv2d_3 have identical shapes: the swapped assignment must give other outputs.
    swapped = reference_forward(weights, image, SWAPPED_MAPPING)
    assert np.abs(swapped - got).max() > 1e-3


def test_registry_name_loads_from_the_keras_cache(released_file, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "keras_home" / "models"
    cache.mkdir(parents=True)
    (cache / "isic2017-part2_vgg_f1-batch_aug.h5").write_bytes(released_file.read_bytes())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    _registry_with_hash(monkeypatch, None)  # an entry whose hash is not verified yet
    model = vgg16_fcn((32, 32, 3), weights="isic2017-part2_vgg_f1-batch_aug")
    np.testing.assert_array_equal(model.get_layer("reduce_pool5").get_weights()[0],
                                  read_legacy_h5(released_file)["conv2d_3"][0])
    assert "has sha256" in capsys.readouterr().out  # unverified entry: the hash is printed for a maintainer


def test_mismatched_legacy_file_is_refused_with_every_difference(released_file, tmp_path):
    """A missing body layer is refused; the declared head of another shape is not listed among the differences."""
    weights = read_legacy_h5(released_file)
    del weights["block2_conv1"]
    weights["conv2d_4"] = [np.zeros((1, 1, 576, 3), np.float32), np.zeros(3, np.float32)]  # K = 3, model K = 4
    bad = write_legacy_h5(tmp_path / "bad.h5", weights)
    model = vgg16_fcn((32, 32, 3))
    before = model.get_layer("block1_conv1").get_weights()[0].copy()
    with pytest.raises(DermkitDataError) as info:
        vgg16_fcn((32, 32, 3), weights=bad)
    message = str(info.value)
    assert str(bad) in message
    assert "model layer block2_conv1 has weights but nothing in the file maps onto it" in message
    # head_conv is the declared head (issue 16): a head of another K is re-initialised, not a difference
    assert "(1 difference" in message and "head_conv" not in message
    np.testing.assert_array_equal(model.get_layer("block1_conv1").get_weights()[0], before)


def test_keras3_weights_round_trip(tmp_path):
    model = vgg16_fcn((32, 32, 3))
    path = tmp_path / "fcn.weights.h5"
    model.save_weights(path)
    clone = vgg16_fcn((32, 32, 3), weights=path)
    for a, b in zip(model.get_weights(), clone.get_weights()):
        np.testing.assert_array_equal(a, b)
