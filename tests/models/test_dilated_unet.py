"""bisla2019's dilated U-Net: Table 1 walked row by row, the size rule, a forward pass, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dermkit.models.dilated_unet import dilated_unet, valid_input_sizes

# Table 1 of the paper, typed from the paper: (layer, channels, output side, kernel, padding, dilation).
# "Trans-Conv" rows are transposed convolutions; "Up-Conv" is ×2 up-sampling then a padded 3×3 conv.
PAPER_TABLE1 = [
    ("down1_conv1", 64, 378, 3, "valid", 1),
    ("down1_conv2", 64, 376, 3, "valid", 1),
    ("down1_pool", 64, 188, 2, None, None),
    ("down2_conv1", 128, 186, 3, "valid", 1),
    ("down2_conv2", 128, 184, 3, "valid", 1),
    ("down2_pool", 128, 92, 2, None, None),
    ("down3_conv1", 256, 90, 3, "valid", 1),
    ("down3_conv2", 256, 88, 3, "valid", 1),
    ("down3_pool", 256, 44, 2, None, None),
    ("bottleneck_conv1", 512, 40, 3, "valid", 2),
    ("bottleneck_conv2", 512, 36, 3, "valid", 2),
    ("bottleneck_conv3", 1024, 28, 3, "valid", 4),
    ("bottleneck_conv4", 1024, 20, 3, "valid", 4),
    ("mirror_tconv1", 1024, 28, 3, "valid", 4),
    ("mirror_tconv2", 512, 36, 3, "valid", 4),
    ("mirror_tconv3", 512, 40, 3, "valid", 2),
    ("mirror_tconv4", 512, 44, 3, "valid", 2),
    ("up3_upconv", 256, 88, 3, "same", 1),
    ("up3_tconv1", 256, 90, 3, "valid", 1),
    ("up3_tconv2", 256, 92, 3, "valid", 1),
    ("up2_upconv", 128, 184, 3, "same", 1),
    ("up2_tconv1", 128, 186, 3, "valid", 1),
    ("up2_tconv2", 128, 188, 3, "valid", 1),
    ("up1_upconv", 64, 376, 3, "same", 1),
    ("up1_tconv1", 64, 378, 3, "valid", 1),
    ("up1_tconv2", 64, 380, 3, "valid", 1),
    ("head", 1, 380, 1, "valid", 1),
]


@pytest.fixture(scope="module")
def paper_model():
    return dilated_unet((380, 380, 7))


@pytest.mark.parametrize("row", PAPER_TABLE1, ids=[r[0] for r in PAPER_TABLE1])
def test_table1_row(paper_model, row):
    name, channels, side, kernel, padding, dilation = row
    layer = paper_model.get_layer(name)
    assert tuple(layer.output.shape) == (None, side, side, channels)
    config = layer.get_config()
    if padding is None:  # max-pool 2×2 stride 2
        assert isinstance(layer, keras.layers.MaxPooling2D)
        assert tuple(config["pool_size"]) == (2, 2) and tuple(config["strides"]) == (2, 2)
        return
    assert tuple(config["kernel_size"]) == (kernel, kernel)
    assert tuple(config["strides"]) == (1, 1)
    assert config["padding"] == padding
    assert tuple(config["dilation_rate"]) == (dilation, dilation)
    assert isinstance(layer, keras.layers.Conv2DTranspose) == ("tconv" in name)
    # ReLU after every convolution except the last, which is followed by a sigmoid
    assert config["activation"] == ("linear" if name == "head" else "relu")


def test_rows_are_the_whole_model_in_order(paper_model):
    kinds = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.MaxPooling2D)
    names = [layer.name for layer in paper_model.layers if isinstance(layer, kinds)]
    assert names == [r[0] for r in PAPER_TABLE1]


@pytest.mark.parametrize("level, side, skip", [(3, 88, "down3_conv2"), (2, 184, "down2_conv2"),
                                                (1, 376, "down1_conv2")])
def test_skips_concatenate_at_matching_sizes(paper_model, level, side, skip):
    concat = paper_model.get_layer(f"up{level}_concat")
    inputs = [t.shape for t in concat.input]
    assert [tuple(s[1:3]) for s in inputs] == [(side, side), (side, side)]
    assert concat.input[1] is paper_model.get_layer(skip).output


def test_input_output_and_sigmoid(paper_model):
    assert paper_model.input_shape == (None, 380, 380, 7)
    assert paper_model.output_shape == (None, 380, 380, 1)
    assert paper_model.layers[-1].get_config()["activation"] == "sigmoid"


def test_smallest_size_reduced_width_forward():
    model = dilated_unet((228, 236, 7), width=1 / 16)
    assert model.get_layer("bottleneck_conv4").output.shape[1:3] == (1, 2)  # 228 → k − 27 = 1, 236 → 2
    assert model.get_layer("down1_conv1").output.shape[-1] == 4  # round(64 / 16)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 228, 236, 7)).astype("float32")
    y = model.predict(x, verbose=0)
    assert y.shape == (2, 228, 236, 1) and y.dtype == np.float32
    assert (y > 0).all() and (y < 1).all()


@pytest.mark.slow
def test_reload(tmp_path):
    model = dilated_unet((228, 228, 7), width=1 / 16)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 228, 228, 7)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_dilated_transposed_conv_matches_numpy():
    # the Keras op behind the mirror rows: out[i + d·a] += x[i] · w[a] (stride 1, valid)
    rng = np.random.default_rng(1)
    layer = keras.layers.Conv2DTranspose(2, 3, dilation_rate=2, padding="valid", use_bias=False)
    x = rng.normal(size=(1, 5, 4, 3)).astype("float32")
    y = np.asarray(layer(x))
    w = np.asarray(layer.kernel)  # [kh, kw, out, in]
    expected = np.zeros((1, 9, 8, 2))
    for i in range(5):
        for j in range(4):
            for a in range(3):
                for b in range(3):
                    expected[0, i + 2 * a, j + 2 * b] += w[a, b] @ x[0, i, j]
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_valid_sizes():
    sizes = valid_input_sizes(200, 400)
    assert sizes[:3] == [228, 236, 244] and sizes[-1] == 396 and 380 in sizes
    assert all((s - 4) % 8 == 0 for s in sizes)


@pytest.mark.parametrize("shape, match", [
    ((384, 384, 7), r"nearest valid: \[380, 388\]"),
    ((220, 228, 7), r"input height 220 .* nearest valid: \[228\]"),
    ((380, 381, 7), "input width 381"),
    ((380, 380), r"\(H, W, C\)"),
])
def test_bad_sizes_name_the_nearest_valid(shape, match):
    with pytest.raises(ValueError, match=match):
        dilated_unet(shape)


def test_bad_width():
    with pytest.raises(ValueError, match="width must be"):
        dilated_unet((228, 228, 7), width=0)


def test_seven_channel_layer_matches_the_numpy_function():
    from dermkit.models.dilated_unet import SevenChannelInput
    from dermkit.preprocessing.channels import seven_channel_input

    rgb = np.random.default_rng(3).random((2, 9, 7, 3)).astype("float32")
    got = np.asarray(SevenChannelInput()(rgb))
    want = seven_channel_input(rgb)
    np.testing.assert_allclose(got[..., :6], want[..., :6], atol=1e-5)
    np.testing.assert_allclose(got[..., 6], want[..., 6], atol=6e-3)  # exact L* vs OpenCV's float Lab


def test_rgb_input_option():
    model = dilated_unet((228, 228, 3), width=1 / 16, preprocess=True)
    assert model.input_shape == (None, 228, 228, 3)
    assert model.get_layer("seven_channels").output.shape[-1] == 7
    with pytest.raises(ValueError, match="preprocess=True takes RGB"):
        dilated_unet((228, 228, 7), preprocess=True)


def test_segmentation_optimizer_decays_every_30_epochs():
    from dermkit.models.dilated_unet import segmentation_optimizer

    optimizer = segmentation_optimizer(steps_per_epoch=10, epochs=90)
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 299, 300, 599, 600, 899)]
    np.testing.assert_allclose(rates, [1e-4, 1e-4, 1e-5, 1e-5, 1e-6, 1e-6], rtol=1e-5)
    assert optimizer.beta_1 == 0.9 and optimizer.beta_2 == 0.999
