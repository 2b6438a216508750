"""goel2021 U-Nets: the plain U-Net (+BN, 'same') and segmentation-models' Unet('densenet121' / 'vgg16').

Big models are built once per module (DenseNet121's graph takes seconds); inputs are 64×64 (32×32 where a
forward pass is needed on the plain U-Net).
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dermkit import DermkitDataError  # noqa: E402
from dermkit.models.unet import unet  # noqa: E402


def conv_params(kernel, c_in, c_out, bias):
    return kernel * kernel * c_in * c_out + (c_out if bias else 0)


def bn_params(channels):
    return 4 * channels  # gamma, beta, moving mean, moving variance


def plain_unet_params(c_in=3, num_classes=1):
    """The plain U-Net counted by hand: 3×3 convs without bias + BN, 2×2 transposed convs with bias."""
    widths = (64, 128, 256, 512, 1024)
    total = 0
    for width in widths:  # encoder levels 0-3 and the bottleneck: two Conv3×3 → BN → ReLU each
        total += conv_params(3, c_in, width, False) + bn_params(width)
        total += conv_params(3, width, width, False) + bn_params(width)
        c_in = width
    for width in reversed(widths[:-1]):  # decoder: up-conv to half the channels, concat skip, two convs
        total += conv_params(2, c_in, width, True)
        total += conv_params(3, 2 * width, width, False) + bn_params(width)
        total += conv_params(3, width, width, False) + bn_params(width)
        c_in = width
    return total + conv_params(1, c_in, num_classes, True)  # 1×1 head


@pytest.fixture(scope="module")
def plain():
    return unet((64, 64, 3))


@pytest.fixture(scope="module")
def densenet():
    return unet((64, 64, 3), backbone="densenet121")


@pytest.fixture(scope="module")
def vgg():
    return unet((64, 64, 3), backbone="vgg16")


def producer(tensor):
    return tensor._keras_history.operation.name


# ----------------------------------------------------------------------------------------------- plain


def test_plain_unet_parameter_count_matches_the_hand_count_and_docstring(plain):
    assert plain_unet_params() == 31_049_409
    assert plain.count_params() == plain_unet_params()
    assert "31,049,409" in unet.__doc__
    assert plain.name == "unet"
    assert plain.output.shape == (None, 64, 64, 1)


def test_plain_unet_layers(plain):
    convs = [layer for layer in plain.layers if type(layer) is keras.layers.Conv2D]
    assert len(convs) == 2 * 9 + 1
    for conv in convs[:-1]:  # every 3×3 conv: 'same', no bias, followed by its BN
        assert conv.kernel_size == (3, 3) and conv.padding == "same" and not conv.use_bias
        bn = plain.get_layer(conv.name.replace("_conv", "_bn"))
        assert producer(bn.input) == conv.name
    head = plain.get_layer("final_conv")
    assert head.kernel_size == (1, 1) and head.use_bias
    ups = [layer for layer in plain.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [(u.name, u.filters, u.kernel_size, u.strides, u.use_bias) for u in ups] == [
        (f"decoder_stage{i}_upconv", f, (2, 2), (2, 2), True) for i, f in enumerate((512, 256, 128, 64))
    ]
    pools = [layer.name for layer in plain.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert pools == [f"encoder_block{i}_pool" for i in range(4)]
    concat = plain.get_layer("decoder_stage0_concat")  # deepest skip: encoder level 3 before pooling
    assert [producer(t) for t in concat.input] == ["decoder_stage0_upconv", "encoder_block3_relu2"]


def test_plain_unet_report_size_and_errors():
    model = unet((448, 592, 3))  # the report's size: divisible by 16
    assert model.output.shape == (None, 448, 592, 1)
    with pytest.raises(DermkitDataError, match=r"divisible by 16; height 450 \(nearest: 448 or 464\), width 600 "
                       r"\(nearest: 592 or 608\) is not\. Received: input_shape=\(450, 600, 3\)"):
        unet((450, 600, 3))
    assert issubclass(DermkitDataError, ValueError)
    with pytest.raises(ValueError, match="no pretrained encoder; encoder_weights must be None"):
        unet((64, 64, 3), encoder_weights="imagenet")
    with pytest.raises(ValueError, match=r"mirrors its encoder \(512, 256, 128, 64\)"):
        unet((64, 64, 3), decoder_filters=(8, 8, 8, 8, 8))


def test_plain_unet_dynamic_size_softmax_and_no_preprocessing():
    model = unet((None, None, 3), num_classes=3, activation="softmax", preprocess=True)
    assert not any(layer.name == "imagenet_preprocess" for layer in model.layers)
    x = np.random.default_rng(0).uniform(0, 1, (1, 32, 48, 3)).astype("float32")
    y = model.predict(x, verbose=0)
    assert y.shape == (1, 32, 48, 3)
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)


def test_head_is_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = unet((32, 32, 3))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("final_conv").compute_dtype == "float16"
    assert model.output.dtype == "float32"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (64, 64)},
         r"input_shape must be \(height, width, channels\).*Received: input_shape=\(64, 64\)"),
        ({"input_shape": (64, 64, 0)}, "Received: input_shape=\\(64, 64, 0\\)"),
        ({"input_shape": (64, 64, 3), "num_classes": 0},
         "num_classes must be a positive integer. Received: num_classes=0"),
        ({"input_shape": (64, 64, 3), "backbone": "resnet34"}, "backbone must be None or one of \\['densenet121', "
         "'vgg16'\\]. Received: backbone='resnet34'"),
        ({"input_shape": (64, 64, 3), "backbone": "vgg16", "decoder_filters": (256, 128)},
         "decoder_filters must be 5 positive integers.*Received: decoder_filters=\\(256, 128\\)"),
        ({"input_shape": (64, 64, 3), "activation": None}, "Received: activation=None"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        unet(**kwargs)


# ------------------------------------------------------------------------------------------- backbones


def test_backbone_size_must_divide_by_32():
    # The plain U-Net's 448×592 does not fit the backbone U-Net; the report used 448×576 there.
    with pytest.raises(DermkitDataError, match=r"unet\(backbone='densenet121'\) needs height and width divisible "
                       r"by 32; width 592 \(nearest: 576 or 608\) is not"):
        unet((448, 592, 3), backbone="densenet121")


def test_densenet_unet_matches_segmentation_models(densenet):
    assert densenet.count_params() == 12_144_977  # sm.Unet('densenet121', classes=1), 3 input channels
    assert densenet.name == "unet_densenet121"
    assert densenet.output.shape == (None, 64, 64, 1)
    assert densenet.layers[1].name == "imagenet_preprocess" and densenet.layers[1].mode == "torch"
    assert not any(layer.name.startswith("center_block") for layer in densenet.layers)
    skips = ("pool4_conv", "pool3_conv", "pool2_conv", "conv1_relu")
    for stage, skip in enumerate(skips):
        concat = densenet.get_layer(f"decoder_stage{stage}_concat")
        assert [producer(t) for t in concat.input] == [f"decoder_stage{stage}_upsampling", skip]
    assert producer(densenet.get_layer("decoder_stage0_upsampling").input) == "relu"  # encoder output
    names = {layer.name for layer in densenet.layers}
    assert "decoder_stage4_concat" not in names and "decoder_stage4_upsampling" in names


def test_vgg_unet_matches_segmentation_models(vgg):
    assert vgg.count_params() == 23_752_273  # sm.Unet('vgg16', classes=1), 3 input channels
    assert vgg.layers[1].mode == "caffe"
    assert producer(vgg.get_layer("center_block1_conv").input) == "block5_pool"
    assert producer(vgg.get_layer("decoder_stage0_upsampling").input) == "center_block2_relu"
    for stage, skip in enumerate(("block5_conv3", "block4_conv3", "block3_conv3", "block2_conv2")):
        concat = vgg.get_layer(f"decoder_stage{stage}_concat")
        assert [producer(t) for t in concat.input] == [f"decoder_stage{stage}_upsampling", skip]


def test_decoder_layers_follow_segmentation_models(vgg):
    decoder = [layer for layer in vgg.layers if layer.name.startswith(("decoder_stage", "center_block"))]
    convs = [layer for layer in decoder if isinstance(layer, keras.layers.Conv2D)]
    assert [c.name for c in convs] == ["center_block1_conv", "center_block2_conv"] + [
        f"decoder_stage{s}{ab}_conv" for s in range(5) for ab in "ab"
    ]
    assert [c.filters for c in convs] == [512, 512] + [f for f in (256, 128, 64, 32, 16) for _ in "ab"]
    for conv in convs:
        assert conv.kernel_size == (3, 3) and conv.padding == "same" and not conv.use_bias
        assert isinstance(conv.kernel_initializer, keras.initializers.HeUniform)
    for bn in (layer for layer in decoder if isinstance(layer, keras.layers.BatchNormalization)):
        assert (bn.axis, bn.momentum, bn.epsilon) in ((-1, 0.99, 1e-3), (3, 0.99, 1e-3))
    for up in (layer for layer in decoder if isinstance(layer, keras.layers.UpSampling2D)):
        assert up.size == (2, 2) and up.interpolation == "nearest"
    head = vgg.get_layer("final_conv")
    assert (head.filters, head.kernel_size, head.use_bias) == (1, (3, 3), True)
    assert isinstance(head.kernel_initializer, keras.initializers.GlorotUniform)
    assert vgg.get_layer("final_activation").activation is keras.activations.sigmoid


def test_custom_decoder_filters_and_classes():
    model = unet((64, 64, 3), backbone="vgg16", num_classes=2, decoder_filters=(64, 32, 16, 8, 4), preprocess=False)
    assert model.output.shape == (None, 64, 64, 2)
    assert model.get_layer("decoder_stage4b_conv").filters == 4
    assert not any(layer.name == "imagenet_preprocess" for layer in model.layers)


def test_preprocess_layer_equals_keras_applications_preprocessing(vgg):
    bare = unet((64, 64, 3), backbone="vgg16", preprocess=False)
    for layer in bare.layers:
        if layer.weights:
            layer.set_weights(vgg.get_layer(layer.name).get_weights())
    x = np.random.default_rng(1).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    expected = bare.predict(keras.applications.vgg16.preprocess_input(x * 255.0), verbose=0)
    np.testing.assert_allclose(vgg.predict(x, verbose=0), expected, atol=1e-5)


def test_encoder_weights_reach_build_encoder(tmp_path):
    from dermkit import DermkitFileNotFoundError

    with pytest.raises(DermkitFileNotFoundError, match="missing.h5: encoder weights file not found"):
        unet((64, 64, 3), backbone="vgg16", encoder_weights=tmp_path / "missing.h5")


def test_keras_round_trip_and_weights_argument(vgg, tmp_path):
    # VGG16 rather than DenseNet121: the same ImageNetPreprocess layer, a tenth of the layers to rebuild.
    x = np.random.default_rng(2).uniform(0, 1, (1, 64, 64, 3)).astype("float32")
    expected = vgg.predict(x, verbose=0)
    path = tmp_path / "unet_vgg16.keras"
    vgg.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert reloaded.count_params() == vgg.count_params()
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), expected, atol=1e-5)

    weights_path = tmp_path / "unet_vgg16.weights.h5"
    vgg.save_weights(weights_path)
    rebuilt = unet((64, 64, 3), backbone="vgg16", weights=weights_path)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), expected, atol=1e-5)
