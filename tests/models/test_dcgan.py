"""bisla2019 DCGANs: Table 2 and Table 5 walked row by row (values typed from the paper), PyTorch padding
semantics against NumPy transposed/plain convolutions, initialisation, per-class routing, saving."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dermkit.models.dcgan import ClassPartition, coupled_dcgan, dcgan_discriminator, dcgan_generator  # noqa: E402

# Table 2 as printed: (layer, channels, height = width, kernel, stride, padding). The discriminator's
# 512×4×4 row is printed with stride 1; 8×8 → 4×4 with kernel 4, padding 1 needs stride 2 (see the docstring).
TABLE2_GENERATOR = [("TransConv", 256, 4, 4, 1, 0), ("TransConv", 128, 8, 4, 2, 1), ("TransConv", 64, 16, 4, 2, 1),
                    ("TransConv", 32, 32, 4, 2, 1), ("TransConv", 16, 64, 4, 2, 1), ("TransConv", 8, 128, 4, 2, 1),
                    ("TransConv", 3, 256, 4, 2, 1)]
TABLE2_DISCRIMINATOR = [("Conv", 16, 128, 4, 2, 1), ("Conv", 32, 64, 4, 2, 1), ("Conv", 64, 32, 4, 2, 1),
                        ("Conv", 128, 16, 4, 2, 1), ("Conv", 256, 8, 4, 2, 1), ("Conv", 512, 4, 4, 2, 1),
                        ("Conv", 1, 1, 4, 1, 0)]
PADDING = {0: "valid", 1: "same"}  # PyTorch padding with kernel 4 → Keras


def conv_layers(model):
    return [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]


def following(model, layer):
    """The layers applied right after ``layer`` up to the next convolution (BN, activation)."""
    layers = model.layers
    i = layers.index(layer) + 1
    out = []
    while i < len(layers) and not isinstance(layers[i], (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
        out.append(layers[i])
        i += 1
    return out


def walk(model, table, transposed: bool, hidden_act, last_act):
    layers = conv_layers(model)
    assert len(layers) == len(table)
    for i, (layer, (_, channels, size, kernel, stride, padding)) in enumerate(zip(layers, table)):
        cls = keras.layers.Conv2DTranspose if transposed else keras.layers.Conv2D
        assert isinstance(layer, cls), layer.name
        assert tuple(layer.output.shape[1:]) == (size, size, channels), layer.name
        assert layer.kernel_size == (kernel, kernel) and layer.strides == (stride, stride), layer.name
        assert layer.padding == PADDING[padding] and not layer.use_bias, layer.name
        after = following(model, layer)
        kinds = [type(x).__name__ for x in after]
        if i < len(table) - 1:
            assert kinds[:2] == ["BatchNormalization", hidden_act], (layer.name, kinds)
        else:
            assert "BatchNormalization" not in kinds and after[0].get_config()["activation"] == last_act
    return layers


def test_generator_walks_table2():
    g = dcgan_generator()
    walk(g, TABLE2_GENERATOR, True, "ReLU", "tanh")
    assert tuple(g.input.shape[1:]) == (10,) and tuple(g.output.shape[1:]) == (256, 256, 3)


def test_discriminator_walks_table2():
    d = dcgan_discriminator()
    layers = walk(d, TABLE2_DISCRIMINATOR, False, "LeakyReLU", "sigmoid")
    leaky = [x for x in d.layers if isinstance(x, keras.layers.LeakyReLU)]
    assert len(leaky) == 6 and all(x.negative_slope == pytest.approx(0.2) for x in leaky)
    # BN also after the first layer (the paper's caption; the authors' code omits it there)
    assert isinstance(following(d, layers[0])[0], keras.layers.BatchNormalization)
    assert tuple(d.output.shape[1:]) == (1,)


@pytest.mark.parametrize("size, gen, disc", [
    (64, [(256, 4), (128, 8), (64, 16), (32, 32), (3, 64)], [(64, 32), (128, 16), (256, 8), (512, 4), (1, 1)]),
    (128, [(256, 4), (128, 8), (64, 16), (32, 32), (16, 64), (3, 128)],
     [(32, 64), (64, 32), (128, 16), (256, 8), (512, 4), (1, 1)]),
    (16, [(256, 4), (128, 8), (3, 16)], [(256, 8), (512, 4), (1, 1)]),
])
def test_smaller_sizes_keep_table2_layers_at_the_remaining_resolutions(size, gen, disc):
    g = dcgan_generator(latent_dim=10, image_size=size)
    d = dcgan_discriminator(image_size=size)
    assert [(x.output.shape[-1], x.output.shape[1]) for x in conv_layers(g)] == gen
    assert [(x.output.shape[-1], x.output.shape[1]) for x in conv_layers(d)] == disc


@pytest.mark.parametrize("bad", [0, 12, 512, True, "64"])
def test_bad_image_size_is_refused(bad):
    with pytest.raises(ValueError, match="image_size"):
        dcgan_generator(image_size=bad)
    with pytest.raises(ValueError, match="image_size"):
        dcgan_discriminator(image_size=bad)


def torch_conv_transpose(x, w, stride, padding):
    """PyTorch ConvTranspose2d (one image, HWC, kernel [k, k, out, in] as Keras stores it) by scatter-add."""
    h, wd, cin = x.shape
    k, _, cout, _ = w.shape
    full = np.zeros(((h - 1) * stride + k, (wd - 1) * stride + k, cout))
    for i in range(h):
        for j in range(wd):
            full[i * stride:i * stride + k, j * stride:j * stride + k] += np.einsum("abok,k->abo", w, x[i, j])
    return full[padding:full.shape[0] - padding, padding:full.shape[1] - padding]


def torch_conv(x, w, stride, padding):
    """PyTorch Conv2d (one image, HWC, kernel [k, k, in, out]) with zero padding on every side."""
    x = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    k = w.shape[0]
    oh = (x.shape[0] - k) // stride + 1
    ow = (x.shape[1] - k) // stride + 1
    out = np.zeros((oh, ow, w.shape[-1]))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = np.einsum("abk,abko->o", x[i * stride:i * stride + k, j * stride:j * stride + k], w)
    return out


def test_keras_paddings_are_pytorchs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 4, 4, 2)).astype(np.float32)
    for padding, keras_padding, stride in ((1, "same", 2), (0, "valid", 1)):
        layer = keras.layers.Conv2DTranspose(3, 4, strides=stride, padding=keras_padding, use_bias=False)
        y = layer(x).numpy()[0]
        np.testing.assert_allclose(y, torch_conv_transpose(x[0], layer.kernel.numpy(), stride, padding), atol=1e-5)
        conv = keras.layers.Conv2D(3, 4, strides=stride, padding=keras_padding, use_bias=False)
        y = conv(x).numpy()[0]
        np.testing.assert_allclose(y, torch_conv(x[0], conv.kernel.numpy(), stride, padding), atol=1e-5)


def test_initialisation_and_no_biases():
    keras.utils.set_random_seed(1)
    d = dcgan_discriminator(image_size=256)
    kernels = np.concatenate([x.kernel.numpy().ravel() for x in conv_layers(d)])
    assert abs(kernels.mean()) < 1e-3 and kernels.std() == pytest.approx(0.02, rel=0.05)
    gammas = np.concatenate([x.gamma.numpy() for x in d.layers if isinstance(x, keras.layers.BatchNormalization)])
    betas = np.concatenate([x.beta.numpy() for x in d.layers if isinstance(x, keras.layers.BatchNormalization)])
    assert gammas.mean() == pytest.approx(1.0, abs=3e-3) and gammas.std() == pytest.approx(0.02, rel=0.15)
    assert not betas.any()
    assert not any(getattr(x, "use_bias", False) for x in d.layers)


def test_synchronized_bn_flag():
    g = dcgan_generator(image_size=16, synchronized_bn=True)
    bns = [x for x in g.layers if isinstance(x, keras.layers.BatchNormalization)]
    assert bns and all(x.synchronized for x in bns)
    assert not any(x.synchronized for x in dcgan_generator(image_size=16).layers
                   if isinstance(x, keras.layers.BatchNormalization))


def names_and_sizes(model, prefix):
    return [(x.name, x.output.shape[-1], x.output.shape[1]) for x in conv_layers(model) if x.name.startswith(prefix)]


def test_coupled_walks_table5_at_256():
    g, d = coupled_dcgan(num_classes=7, latent_dim=100, image_size=256)
    # Table 5: generator weight-sharing block 256×4, 128×8, 64×16, 32×32; class-specific 16×64, 8×128, 3×256.
    assert [(c, s) for _, c, s in names_and_sizes(g, "g")] == [(256, 4), (128, 8), (64, 16), (32, 32)]
    for c in range(7):
        assert [(ch, s) for _, ch, s in names_and_sizes(g, f"c{c}_g")] == [(16, 64), (8, 128), (3, 256)]
    # discriminator class-specific 16×128, 32×64, 64×32; weight-sharing 128×16, 256×8, 512×4, 1×1×1.
    for c in range(7):
        assert [(ch, s) for _, ch, s in names_and_sizes(d, f"c{c}_d")] == [(16, 128), (32, 64), (64, 32)]
    assert [(ch, s) for _, ch, s in names_and_sizes(d, "d")] == [(128, 16), (256, 8), (512, 4), (1, 1)]
    assert len(conv_layers(g)) == 4 + 7 * 3 and len(conv_layers(d)) == 7 * 3 + 4
    assert g.input[0].shape[-1] == 100


def test_coupled_split_by_resolution_at_64():
    g, d = coupled_dcgan(num_classes=3, latent_dim=8, image_size=64)
    assert [(c, s) for _, c, s in names_and_sizes(g, "g")] == [(256, 4), (128, 8), (64, 16), (32, 32)]
    assert [(c, s) for _, c, s in names_and_sizes(g, "c1_g")] == [(3, 64)]
    assert [(c, s) for _, c, s in names_and_sizes(d, "c2_d")] == [(64, 32)]
    assert [(c, s) for _, c, s in names_and_sizes(d, "d")] == [(128, 16), (256, 8), (512, 4), (1, 1)]
    with pytest.raises(ValueError, match="image_size > 32"):
        coupled_dcgan(image_size=32)


def test_each_class_head_sees_only_its_samples():
    keras.utils.set_random_seed(2)
    g, d = coupled_dcgan(num_classes=3, latent_dim=8, image_size=64)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 8)).astype(np.float32)
    labels = np.array([0, 1, 2, 2, 1, 0], np.int32)
    mixed = g([z, labels], training=False).numpy()
    alone = g([z[[2, 3]], labels[[2, 3]]], training=False).numpy()  # only class 2 in the batch
    np.testing.assert_allclose(mixed[[2, 3]], alone, atol=1e-6)
    # Changing class 1's head changes only class 1's images (generator) / probabilities (discriminator).
    images = mixed
    p_before = d([images, labels], training=False).numpy()
    head = g.get_layer("c1_g4_tconv64")
    head.kernel.assign(head.kernel * 3.0)
    after = g([z, labels], training=False).numpy()
    assert np.abs(after[labels == 1] - mixed[labels == 1]).max() > 1e-3
    np.testing.assert_array_equal(after[labels != 1], mixed[labels != 1])
    dhead = d.get_layer("c0_d0_conv32")
    dhead.kernel.assign(dhead.kernel * -1.0)
    p_after = d([images, labels], training=False).numpy()
    np.testing.assert_array_equal(p_after[labels != 0], p_before[labels != 0])
    assert np.abs(p_after[labels == 0] - p_before[labels == 0]).max() > 0


def test_class_partition_keeps_batch_order():
    layer = ClassPartition(3)
    x = np.arange(5, dtype=np.float32)[:, None]
    parts = layer([x, np.array([2, 0, 2, 1, 0])])
    assert [p.numpy().ravel().tolist() for p in parts] == [[1.0, 4.0], [3.0], [0.0, 2.0]]


def test_saved_models_reload_with_dermkit(tmp_path):
    import dermkit

    g, d = coupled_dcgan(num_classes=2, latent_dim=4, image_size=64)
    z = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    labels = np.array([0, 1, 1, 0], np.int32)
    g.save(tmp_path / "g.keras")
    d.save(tmp_path / "d.keras")
    g2, d2 = dermkit.load_model(tmp_path / "g.keras"), dermkit.load_model(tmp_path / "d.keras")
    images = g([z, labels]).numpy()
    np.testing.assert_array_equal(g2([z, labels]).numpy(), images)
    np.testing.assert_array_equal(d2([images, labels]).numpy(), d([images, labels]).numpy())
