"""barata2020's models: CBAM, the dynamic attention layers, the ISIC 2018 tree, the hierarchical decoder and
its loss (Eq. 10), training through ``fit``, saving and reloading.

Expected values come from the paper (the tree, Eq. 10), Woo et al. (CBAM's equations, written in NumPy here)
and the reference notes (the dynamic attention, in NumPy here). VGG16 is built at 32×32 (block5_conv3 2×2,
block5_pool 1×1) and small decoders (units 16) keep the module fast; each model is built once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import dermkit  # noqa: E402
from dermkit.models import hierarchical_classifier, vgg16_cbam_classifier  # noqa: E402
from dermkit.models.attention import (  # noqa: E402
    CBAM,
    ISIC2018_HIERARCHY,
    ClassHierarchy,
    DynamicChannelAttention,
    DynamicSpatialAttention,
    HierarchicalAttentionDecoder,
    HierarchicalClassifier,
    HierarchicalLoss,
    cbam_attention_maps,
    leaf_indices,
)

RNG = np.random.default_rng(3)
SIZE = 32
SMALL = {"units": 16, "embedding_dim": 8}
PACKAGE_ROOT = Path(dermkit.__file__).parent.parent
# ISIC 2018 order, and the tree's node names by the paper (Section 4.2).
MEL, NV, BCC, AKIEC, BKL, DF, VASC = range(7)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def weights_of(layer) -> list[np.ndarray]:
    return [np.asarray(w) for w in layer.get_weights()]


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return hierarchical_classifier((SIZE, SIZE, 3), **SMALL)


@pytest.fixture(scope="module")
def flat():
    keras.utils.set_random_seed(0)
    return vgg16_cbam_classifier((SIZE, SIZE, 3))


@pytest.fixture(scope="module")
def images():
    return RNG.random((5, SIZE, SIZE, 3), dtype=np.float32)


# ------------------------------------------------------------------------------------------------- the tree


def test_isic2018_tree_paths_and_masks():
    h = ISIC2018_HIERARCHY
    assert h.leaves == ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")
    expected_paths = {
        "MEL": ("melanocytic", "MEL"),
        "NV": ("melanocytic", "NV"),
        "BCC": ("non_melanocytic", "malignant", "BCC"),
        "AKIEC": ("non_melanocytic", "malignant", "AKIEC"),
        "BKL": ("non_melanocytic", "benign", "BKL"),
        "DF": ("non_melanocytic", "benign", "DF"),
        "VASC": ("non_melanocytic", "benign", "VASC"),
    }
    assert {leaf: h.path_names(leaf) for leaf in h.leaves} == expected_paths
    # Eq. 10: L = 2 for melanocytic lesions, 3 for non-melanocytic ones.
    assert h.max_depth == 3
    assert h.depths.tolist() == [2, 2, 3, 3, 3, 3, 3]
    np.testing.assert_array_equal(h.path_mask, [[1, 1, 0], [1, 1, 0]] + [[1, 1, 1]] * 5)
    assert h.num_nodes == 11 and len(set(h.node_names)) == 11
    name = h.node_names
    assert {name[i] for i in h.children(h.root)} == {"melanocytic", "non_melanocytic"}
    assert {name[i] for i in h.children(name.index("non_melanocytic"))} == {"benign", "malignant"}
    assert {name[i] for i in h.children(name.index("benign"))} == {"BKL", "DF", "VASC"}
    assert {name[i] for i in h.children(name.index("malignant"))} == {"BCC", "AKIEC"}
    assert h.children(name.index("MEL")) == ()
    assert [name[i] for i in h.paths[MEL] if i >= 0] == ["melanocytic", "MEL"] and h.paths[MEL, 2] == -1
    # Every path step is a child of the previous one.
    for leaf in range(7):
        previous = h.root
        for node in h.paths[leaf][h.paths[leaf] >= 0]:
            assert h.children_mask[previous, node] == 1
            previous = node
        assert h.node_to_leaf[previous] == leaf


def test_hierarchy_config_round_trip_and_equality():
    config = ISIC2018_HIERARCHY.get_config()
    assert json.loads(json.dumps(config)) == config
    again = ClassHierarchy.from_config(config)
    assert again == ISIC2018_HIERARCHY and again.leaves == ISIC2018_HIERARCHY.leaves
    other = ClassHierarchy({"a": ["x", "y"], "b": ["z", "w"]})
    assert other != ISIC2018_HIERARCHY and other.leaves == ("x", "y", "z", "w") and other.max_depth == 2


@pytest.mark.parametrize(
    "tree, leaves, message",
    [
        ({"a": ["x", "y"]}, None, r"at least 2 children"),
        ({"a": ["x"], "b": ["y", "z"]}, None, r"tree → a: every internal node needs at least 2 children"),
        ({"a": ["x", "y"], "b": ["x", "z"]}, None, r"unique.*\['x'\]"),
        ({"a": ["x", "y"], "b": ["z", "w"]}, ["x", "y", "z"], r"permutation of the tree's leaves"),
        ({"a": "xy", "b": ["z", "w"]}, None, r"a mapping \{name: children\} or a list of leaf names"),
        (["x", "y"], None, r"tree must be a mapping"),
    ],
)
def test_bad_hierarchies(tree, leaves, message):
    with pytest.raises(ValueError, match=message):
        ClassHierarchy(tree, leaves=leaves)


def test_leaf_indices():
    one_hot = np.eye(7, dtype=np.float32)[[3, 0, 6]]
    assert np.asarray(leaf_indices(one_hot, 7)).tolist() == [3, 0, 6]
    assert np.asarray(leaf_indices(np.array([3, 0, 6]), 7)).tolist() == [3, 0, 6]
    assert np.asarray(leaf_indices(np.array([[3], [0]]), 7)).tolist() == [3, 0]
    with pytest.raises(ValueError, match=r"one-hot \[B, 7\] or class indices \[B\].*\(2, 5\)"):
        leaf_indices(np.zeros((2, 5)), 7)


# ---------------------------------------------------------------------------------------------------- CBAM


def numpy_conv2d_same(x, kernel, bias):
    """[B, H, W, Cin] * [k, k, Cin, Cout] with 'same' zero padding (odd k), written out."""
    k = kernel.shape[0]
    pad = k // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            out[:, i, j] = np.einsum("bhwc,hwco->bo", padded[:, i:i + k, j:j + k], kernel)
    return out + bias


def numpy_cbam(x, layer):
    """Woo et al. 2018 Eqs. 1–3 with the layer's own weights."""
    w1, b1 = weights_of(layer.mlp_hidden)
    w2, b2 = weights_of(layer.mlp_output)
    kernel, bias = weights_of(layer.spatial_conv)

    def mlp(v):
        return np.maximum(v @ w1 + b1, 0) @ w2 + b2

    channel = sigmoid(mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2))))
    x1 = x * channel[:, None, None, :]
    pooled = np.concatenate([x1.mean(axis=-1, keepdims=True), x1.max(axis=-1, keepdims=True)], axis=-1)
    spatial = sigmoid(numpy_conv2d_same(pooled, kernel, bias))[..., 0]
    return x1 * spatial[..., None], channel, spatial


@pytest.mark.parametrize("ratio, kernel_size, shape", [(16, 7, (2, 9, 9, 64)), (4, 3, (3, 5, 6, 8))])
def test_cbam_matches_numpy(ratio, kernel_size, shape):
    keras.utils.set_random_seed(1)
    layer = CBAM(ratio=ratio, kernel_size=kernel_size, name="cbam")
    x = RNG.normal(size=shape).astype(np.float32)
    layer(x)
    # Random biases so that a missing bias term would show.
    for sub in (layer.mlp_hidden, layer.mlp_output, layer.spatial_conv):
        sub.bias.assign(RNG.normal(size=sub.bias.shape).astype(np.float32) * 0.3)
    assert layer.mlp_hidden.units == max(shape[-1] // ratio, 1)
    out, channel, spatial = layer(x, return_attention=True)
    expected, expected_channel, expected_spatial = numpy_cbam(x.astype(np.float64), layer)
    np.testing.assert_allclose(channel, expected_channel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(spatial, expected_spatial, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer(x), out, rtol=1e-6)  # the plain call returns the same features
    assert channel.shape == shape[:1] + shape[-1:] and spatial.shape == shape[:3]


def test_cbam_config_and_validation():
    layer = CBAM(ratio=8, kernel_size=5, name="c")
    assert CBAM.from_config(layer.get_config()).get_config() == layer.get_config()
    assert layer.get_config()["ratio"] == 8 and layer.get_config()["kernel_size"] == 5
    with pytest.raises(ValueError, match=r"ratio must be a positive integer. Received: ratio=0"):
        CBAM(ratio=0)
    with pytest.raises(ValueError, match=r"kernel_size must be a positive integer. Received: kernel_size=2.5"):
        CBAM(kernel_size=2.5)
    with pytest.raises(TypeError):
        CBAM(16)  # options are keyword-only


# -------------------------------------------------------------------------------------- dynamic attention


def test_dynamic_attention_matches_numpy():
    keras.utils.set_random_seed(2)
    b, p, c, s = 3, 6, 8, 10
    features = RNG.normal(size=(b, p, c)).astype(np.float32)
    state = RNG.normal(size=(b, s)).astype(np.float32)
    channel_layer = DynamicChannelAttention(ratio=2, name="ch")
    spatial_layer = DynamicSpatialAttention(dropout=0.2, name="sp")
    scaled, beta = channel_layer([features, state])
    context, alpha = spatial_layer([scaled, state], training=False)

    w_mlp, b_mlp = weights_of(channel_layer.shared_mlp)
    w_s, b_s = weights_of(channel_layer.state_projection)
    w_b, b_b = weights_of(channel_layer.channel_weights)
    f = features.astype(np.float64)

    def mlp(v):
        return np.maximum(v @ w_mlp + b_mlp, 0)

    expected_beta = sigmoid(np.tanh(mlp(f.mean(axis=1)) + mlp(f.max(axis=1)) + state @ w_s + b_s) @ w_b + b_b)
    expected_scaled = f * expected_beta[:, None, :]
    w_ss, b_ss = weights_of(spatial_layer.state_projection)
    w_a, b_a = weights_of(spatial_layer.score)
    scores = np.tanh(expected_scaled + (state @ w_ss + b_ss)[:, None, :]) @ w_a + b_a
    expected_alpha = softmax(scores[..., 0], axis=1)
    expected_context = (expected_alpha[..., None] * expected_scaled).sum(axis=1)
    assert w_mlp.shape == (c, c // 2) and w_b.shape == (c // 2, c)
    np.testing.assert_allclose(beta, expected_beta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaled, expected_scaled, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(alpha, expected_alpha, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context, expected_context, rtol=1e-4, atol=1e-6)
    for layer in (channel_layer, spatial_layer):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


# --------------------------------------------------------------------------------------------- the decoder


def test_predict_outputs(model, images):
    out = model.predict(images, verbose=0)
    assert set(out) == {"diagnosis", "path", "probabilities"}
    assert out["diagnosis"].shape == (5,) and out["diagnosis"].dtype == np.int32
    assert out["path"].shape == (5, 3) and out["probabilities"].shape == (5, 7)
    assert out["probabilities"].dtype == np.float32
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    assert model.encoder.output.shape[1:] == (2, 2, 512)  # block5_conv3 at 32² (18×18 at 299²)


def test_leaf_probabilities_are_the_product_along_each_path(model, images):
    """Each leaf's probability = Π over its levels of softmax(logits over the parent's children)[node], the
    logits coming from a teacher-forced run on that leaf's path (computed here in NumPy)."""
    h = ISIC2018_HIERARCHY
    features = model.encoder(images, training=False)
    got = np.asarray(model.decoder.leaf_probabilities(features, training=False))
    expected = np.zeros_like(got, dtype=np.float64)
    for leaf in range(7):
        logits = np.asarray(model.decoder.teacher_forced(features, np.full(5, leaf), training=False)["logits"])
        probability = np.ones(5)
        parent = h.root
        for level, node in enumerate(h.paths[leaf][: h.depths[leaf]]):
            kids = list(h.children(parent))
            probability *= softmax(logits[:, level, kids].astype(np.float64))[:, kids.index(node)]
            parent = node
        expected[:, leaf] = probability
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)


@pytest.fixture()
def biased_decoder(model):
    """The model with a zero output kernel: every step's logits equal the output bias (set by the test)."""
    layer = model.decoder.node_logits
    saved = layer.get_weights()
    layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
    yield layer
    layer.set_weights(saved)


def _bias(**values) -> np.ndarray:
    bias = np.zeros(11, np.float32)
    for name, value in values.items():
        bias[ISIC2018_HIERARCHY.node_names.index(name)] = value
    return bias


@pytest.mark.parametrize(
    "bias, expected_path, expected_diagnosis",
    [
        # BKL is the largest logit overall but never a child of the previous decision here: root → melanocytic
        # (2 > 1) → NV (8 > 0) → end (NV is a leaf).
        (_bias(BKL=10, malignant=9, NV=8, melanocytic=2, non_melanocytic=1), ["melanocytic", "NV"], NV),
        # root → non_melanocytic (3 > 2) → malignant (9 > 0, benign) → AKIEC (4 > 0, BCC), not BKL (10).
        (_bias(BKL=10, malignant=9, NV=8, AKIEC=4, non_melanocytic=3, melanocytic=2),
         ["non_melanocytic", "malignant", "AKIEC"], AKIEC),
    ],
)
def test_greedy_decoding_picks_children_of_the_previous_decision(
    model, biased_decoder, images, bias, expected_path, expected_diagnosis
):
    biased_decoder.bias.assign(bias)
    out = model.predict(images, verbose=0)
    names = ISIC2018_HIERARCHY.node_names
    expected = [names.index(n) for n in expected_path] + [-1] * (3 - len(expected_path))
    assert out["path"].tolist() == [expected] * 5
    assert out["diagnosis"].tolist() == [expected_diagnosis] * 5
    # Leaf probabilities: the product of the per-level softmaxes of the bias over each parent's children.
    h = ISIC2018_HIERARCHY
    for leaf in range(7):
        probability, parent = 1.0, h.root
        for node in h.paths[leaf][: h.depths[leaf]]:
            kids = list(h.children(parent))
            probability *= softmax(bias[kids].astype(np.float64))[kids.index(node)]
            parent = node
        np.testing.assert_allclose(out["probabilities"][:, leaf], probability, rtol=1e-5)


def test_decoder_config_round_trip(model):
    config = model.decoder.get_config()
    assert config["hierarchy"] == ISIC2018_HIERARCHY.get_config()
    assert {k: config[k] for k in ("units", "dropout", "ratio", "embedding_dim", "attention_dropout")} == {
        "units": 16, "dropout": 0.5, "ratio": 2, "embedding_dim": 8, "attention_dropout": 0.2}
    again = HierarchicalAttentionDecoder.from_config(config)
    assert again.get_config() == config


def test_attention_maps(model, images):
    maps = model.attention_maps(images, batch_size=2)
    assert maps["spatial"].shape == (5, 3, 2, 2) and maps["channel"].shape == (5, 3, 512)
    np.testing.assert_allclose(maps["spatial"].sum(axis=(2, 3)), 1.0, rtol=1e-5)  # α is a softmax over positions
    assert np.all((maps["channel"] > 0) & (maps["channel"] < 1))  # β is a sigmoid
    forced = model.attention_maps(images, labels=[MEL, NV, BCC, DF, VASC])
    assert forced["depth"].tolist() == [2, 2, 3, 3, 3]
    np.testing.assert_array_equal(forced["last_spatial"][0], forced["spatial"][0, 1])  # MEL: the 2nd decision
    np.testing.assert_array_equal(forced["last_spatial"][2], forced["spatial"][2, 2])
    assert forced["best_channel"].tolist() == forced["last_channel"].argmax(axis=1).tolist()
    features = np.asarray(model.encoder(images, training=False))
    np.testing.assert_allclose(forced["best_channel_map"][3], features[3, :, :, forced["best_channel"][3]])


# ------------------------------------------------------------------------------------------------ the loss


def test_hierarchical_loss_eq10_by_hand():
    # Two samples (MEL, BCC), per-step probabilities over the 11 nodes set by hand; Eq. 10 sums −log p of the
    # true node at each level of the sample's path (2 levels for MEL, 3 for BCC).
    names = ISIC2018_HIERARCHY.node_names
    y_pred = np.full((2, 3, 11), 0.02, np.float32)
    true = {0: ["melanocytic", "MEL"], 1: ["non_melanocytic", "malignant", "BCC"]}
    values = {0: [0.6, 0.5], 1: [0.7, 0.4, 0.3]}
    for sample, path in true.items():
        for level, node in enumerate(path):
            y_pred[sample, level, names.index(node)] = values[sample][level]
    y_pred[0, 2] = 0.05  # MEL has no third level: whatever is here must not count
    y_pred /= y_pred.sum(axis=-1, keepdims=True)
    p = {s: [y_pred[s, lv, names.index(n)] for lv, n in enumerate(path)] for s, path in true.items()}
    expected = np.array([-np.log(p[0]).sum(), -np.log(p[1]).sum()])
    y_true = np.eye(7, dtype=np.float32)[[MEL, BCC]]
    loss = HierarchicalLoss()
    np.testing.assert_allclose(loss.call(y_true, y_pred), expected, rtol=1e-5)
    np.testing.assert_allclose(loss(y_true, y_pred), expected.mean(), rtol=1e-5)
    np.testing.assert_allclose(loss(np.array([MEL, BCC]), y_pred), expected.mean(), rtol=1e-5)  # int labels
    per_level = np.asarray(loss.level_losses(y_true, y_pred))
    assert per_level[0, 2] == 0.0 and per_level.shape == (2, 3)
    # Per-sample weights are applied by Keras to the per-sample values (Eq. 3, divided by the batch size).
    np.testing.assert_allclose(loss(y_true, y_pred, sample_weight=np.array([2.0, 0.5])),
                               (2.0 * expected[0] + 0.5 * expected[1]) / 2, rtol=1e-5)
    # Focal per level (Eq. 6 with alpha = 1, gamma = 2): −(1 − p)² log p at each level.
    focal = HierarchicalLoss(level_loss=keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=2.0))
    expected_focal = [sum(-(1 - q) ** 2 * np.log(q) for q in p[s]) for s in (0, 1)]
    np.testing.assert_allclose(focal.call(y_true, y_pred), expected_focal, rtol=1e-5)


def test_hierarchical_loss_config_and_errors():
    focal = HierarchicalLoss(level_loss=keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=1.0))
    again = HierarchicalLoss.from_config(json.loads(json.dumps(focal.get_config())))
    assert isinstance(again.level_loss, keras.losses.CategoricalFocalCrossentropy)
    assert again.level_loss.get_config()["gamma"] == 1.0 and again.level_loss.get_config()["alpha"] == 1.0
    assert again.hierarchy == ISIC2018_HIERARCHY
    with pytest.raises(ValueError, match=r"y_pred must be the per-step node probabilities \[B, 3, 11\].*\(2, 7\)"):
        HierarchicalLoss()(np.eye(7)[:2], np.full((2, 7), 1 / 7))
    with pytest.raises(ValueError, match=r"from_logits=False"):
        HierarchicalLoss(level_loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match=r"level_loss must be a keras.losses.Loss instance"):
        HierarchicalLoss(level_loss="categorical_crossentropy")


# ------------------------------------------------------------------------------------------------ training


def toy_data():
    """Four random images, one per class MEL, NV, BCC, BKL (paths of 2 and 3 levels, both level-2 branches)."""
    x = np.random.default_rng(0).random((4, SIZE, SIZE, 3), dtype=np.float32)
    labels = np.array([MEL, NV, BCC, BKL])
    return x, np.eye(7, dtype=np.float32)[labels], labels


def test_teacher_forced_training_is_decodable_by_plain_argmax():
    # The decoder learns four images (frozen random VGG16 features: what is tested is the decoder's teacher
    # forcing) through fit; afterwards a plain argmax over all 11 nodes at each teacher-forced step gives the
    # true node, and greedy decoding gives the labels.
    keras.utils.set_random_seed(4)
    model = hierarchical_classifier((SIZE, SIZE, 3), dropout=0.0, **SMALL)
    model.encoder.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["categorical_accuracy"])
    x, y, labels = toy_data()
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()
    initial = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    model.fit(data, steps_per_epoch=40, epochs=1, verbose=0, shuffle=False)
    features = model.encoder(x, training=False)
    forced = np.asarray(model.decoder.teacher_forced(features, labels, training=False)["probabilities"])
    h = ISIC2018_HIERARCHY
    for sample, leaf in enumerate(labels):
        depth = h.depths[leaf]
        # plain argmax over all 11 nodes at each level of the path gives the true node
        assert forced[sample, :depth].argmax(axis=-1).tolist() == h.paths[leaf, :depth].tolist()
    out = model.predict(x, verbose=0)
    assert out["diagnosis"].tolist() == labels.tolist()
    assert out["probabilities"].argmax(axis=1).tolist() == labels.tolist()
    evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
    assert evaluated["categorical_accuracy"] == 1.0 and evaluated["loss"] < 0.2 * initial, (initial, evaluated)


def test_sample_weights_reach_the_loss(model):
    x, y, _ = toy_data()
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # lr 0: weights do not move
    weights = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    per_sample = []
    for i in range(4):
        one = np.zeros(4, np.float32)
        one[i] = 1.0
        per_sample.append(model.evaluate(x, y, sample_weight=one, batch_size=4, verbose=0) * 4)
    weighted = model.evaluate(x, y, sample_weight=weights, batch_size=4, verbose=0)
    assert weighted == pytest.approx(per_sample[0] / 4, rel=1e-5)
    plain = model.evaluate(x, y, batch_size=4, verbose=0)
    assert plain == pytest.approx(np.mean(per_sample), rel=1e-5)


def test_compile_rejects_a_loss_for_another_tree(model):
    other = ClassHierarchy({"a": ["x", "y"], "b": ["z", "w"]})
    with pytest.raises(ValueError, match=r"another hierarchy"):
        model.compile(optimizer="adam", loss=HierarchicalLoss(other))


@pytest.mark.slow
def test_mixed_precision_outputs_and_loss_stay_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(5)
        model = hierarchical_classifier((SIZE, SIZE, 3), **SMALL)
        flat = vgg16_cbam_classifier((SIZE, SIZE, 3))
        x, y, _ = toy_data()
        model.compile(optimizer=keras.optimizers.Adam(1e-4))
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        loss = model.fit(x, y, batch_size=4, epochs=1, verbose=0).history["loss"][0]
        out = model(x, training=False)
        forced = model.decoder.teacher_forced(model.encoder(x), np.arange(4), training=False)
        assert model.decoder.lstm.compute_dtype == "float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(loss)
    assert out["probabilities"].dtype == "float32" and forced["probabilities"].dtype == "float32"
    np.testing.assert_allclose(np.asarray(out["probabilities"]).sum(axis=1), 1.0, rtol=1e-3)
    assert flat(x).dtype == "float32"


# ----------------------------------------------------------------------------------------------- the flat model


def test_flat_model_layers_and_parameters(flat, images):
    names = [layer.name for layer in flat.layers]
    assert names[:2] == ["image", "preprocess"] and names[-4:] == ["cbam", "avg_pool", "dropout", "predictions"]
    assert names[names.index("cbam") - 1] == "block5_pool"
    # VGG16 conv part 14,714,688; CBAM at C = 512, r = 16: 512·32 + 32 + 32·512 + 512 + 7·7·2 + 1 = 33,411;
    # predictions 512·7 + 7 = 3,591.
    assert flat.count_params() == 14_714_688 + 33_411 + 3_591
    out = flat.predict(images, verbose=0)
    assert out.shape == (5, 7) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    maps = cbam_attention_maps(flat, images, batch_size=2)
    assert maps["channel"].shape == (5, 512) and maps["spatial"].shape == (5, 1, 1)
    assert maps["best_channel"].tolist() == maps["channel"].argmax(axis=1).tolist()


def test_hierarchical_parameter_count():
    # At the paper's size (299², units 512, r = 2, embedding 50, 11 nodes), counted by hand:
    vgg = 14_714_688  # block1_conv1 … block5_conv3
    init = 2 * (512 * 512 + 512)  # init_memory, init_hidden
    channel = (512 * 256 + 256) + (1024 * 256 + 256) + (256 * 512 + 512)  # shared MLP, state, channel weights
    spatial = (1024 * 512 + 512) + (512 + 1)  # state projection, score
    embedding = 11 * 50
    lstm = 4 * 512 * (512 + 50 + 512) + 4 * 512  # input = [context 512, embedding 50]
    logits = 1024 * 11 + 11
    model = hierarchical_classifier()
    assert model.encoder.output.shape[1:] == (18, 18, 512)
    assert model.count_params() == vgg + init + channel + spatial + embedding + lstm + logits


@pytest.mark.parametrize(
    "builder, kwargs, message",
    [
        (vgg16_cbam_classifier, {"input_shape": (16, 16, 3)}, r"H, W >= 32.*Received: input_shape=\(16, 16, 3\)"),
        (vgg16_cbam_classifier, {"num_classes": 1}, r"num_classes must be an integer >= 2"),
        (vgg16_cbam_classifier, {"dropout": 1.0}, r"dropout must be a number in \[0, 1\). Received: dropout=1.0"),
        (vgg16_cbam_classifier, {"preprocess": "yes"}, r"preprocess must be True or False"),
        (vgg16_cbam_classifier, {"encoder_weights": 3}, r"encoder_weights must be None, 'imagenet'"),
        (hierarchical_classifier, {"units": 0}, r"units must be a positive integer. Received: units=0"),
        (hierarchical_classifier, {"hierarchy": {"a": ["x"]}}, r"hierarchy must be a ClassHierarchy"),
        (hierarchical_classifier, {"input_shape": (64, 64, 1)}, r"input_shape must be \(H, W, 3\)"),
        (hierarchical_classifier, {"weights": 5}, r"weights must be None, a registry name"),
    ],
)
def test_bad_builder_arguments(builder, kwargs, message):
    kwargs = {"input_shape": (SIZE, SIZE, 3), **kwargs}
    with pytest.raises(ValueError, match=message):
        builder(kwargs.pop("input_shape"), **kwargs)


# ------------------------------------------------------------------------------------- saving and reloading


def test_weights_file_loads_into_a_new_model(model, images, tmp_path):
    path = tmp_path / "h.weights.h5"
    model.save_weights(path)
    again = hierarchical_classifier((SIZE, SIZE, 3), weights=path, **SMALL)
    np.testing.assert_array_equal(again(images, training=False)["probabilities"],
                                  model(images, training=False)["probabilities"])


RELOAD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import dermkit
    folder = sys.argv[1]
    x = np.load(f"{folder}/x.npy")
    y = np.load(f"{folder}/y.npy")
    hierarchical = dermkit.load_model(f"{folder}/hierarchical.keras")
    out = hierarchical.predict(x, verbose=0)
    np.savez(f"{folder}/hierarchical_reloaded.npz", **out)
    values = hierarchical.evaluate(x, y, verbose=0, return_dict=True)
    flat = dermkit.load_model(f"{folder}/flat.keras")
    np.save(f"{folder}/flat_reloaded.npy", flat.predict(x, verbose=0))
    json.dump({"evaluate": values, "class": type(hierarchical).__name__, "loss": type(hierarchical.loss).__name__},
              open(f"{folder}/reloaded.json", "w"))
    """
)


def test_models_reload_with_dermkit_load_model_in_a_fresh_interpreter(tmp_path):
    keras.utils.set_random_seed(6)
    model = hierarchical_classifier((SIZE, SIZE, 3), **SMALL)
    flat = vgg16_cbam_classifier((SIZE, SIZE, 3))
    x, y, _ = toy_data()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=HierarchicalLoss(level_loss=keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=1.0)),
        metrics=["categorical_accuracy"],
    )
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "hierarchical.keras")
    flat.save(tmp_path / "flat.keras")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    result = subprocess.run([sys.executable, "-c", RELOAD, str(tmp_path)], capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    reloaded = json.loads((tmp_path / "reloaded.json").read_text())
    assert reloaded["class"] == "HierarchicalClassifier" and reloaded["loss"] == "HierarchicalLoss"
    out = model.predict(x, verbose=0)
    with np.load(tmp_path / "hierarchical_reloaded.npz") as again:
        assert set(again.files) == set(out)
        for key in out:
            np.testing.assert_array_equal(again[key], out[key], err_msg=key)
    evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
    for key, value in evaluated.items():
        assert reloaded["evaluate"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    np.testing.assert_array_equal(np.load(tmp_path / "flat_reloaded.npy"), flat.predict(x, verbose=0))


def test_hierarchical_model_config_round_trip(model):
    config = model.get_config()
    again = HierarchicalClassifier.from_config(json.loads(json.dumps(config)))  # JSON-able (as in .keras files)
    assert {k: config[k] for k in ("hierarchy", "units", "dropout", "ratio", "embedding_dim")} == {
        "hierarchy": ISIC2018_HIERARCHY.get_config(), "units": 16, "dropout": 0.5, "ratio": 2, "embedding_dim": 8}
    assert again.count_params() == model.count_params()
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]


# --------------------------------------------------------------------------------------------- distribution

DISTRIBUTED = textwrap.dedent(
    """
    import json, os
    os.environ["KERAS_BACKEND"] = "tensorflow"; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import keras, numpy as np
    from dermkit.models import hierarchical_classifier

    rng = np.random.default_rng(0)
    x = rng.random((4, 32, 32, 3), dtype=np.float32)
    y = np.eye(7, dtype=np.float32)[[0, 0, 2, 4]]  # replica 0 gets 2 melanocytic (L = 2), replica 1 L = 3 paths

    def build():
        keras.utils.set_random_seed(1)
        model = hierarchical_classifier((32, 32, 3), units=8, embedding_dim=4, dropout=0.0)
        model.decoder.spatial_attention.score_dropout.rate = 0.0  # no random masks: one device = two replicas
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        return model

    single = build()
    single_loss = single.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = build()
    mirrored_loss = mirrored.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), mirrored.get_weights()))
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), build().get_weights()))
    print(json.dumps({"loss_gap": abs(single_loss - mirrored_loss), "weight_gap": gap, "moved": moved,
                      "loss": single_loss}))
    """
)


@pytest.mark.slow
def test_two_replicas_train_as_one_device():
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    result = subprocess.run([sys.executable, "-c", DISTRIBUTED], capture_output=True, text=True, timeout=600,
                            env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    gaps = json.loads(result.stdout.strip().splitlines()[-1])
    assert gaps["moved"] > 1e-4, gaps  # the step changed the weights, so equal weights mean equal steps
    assert gaps["loss_gap"] < 1e-5 * max(1.0, gaps["loss"]) and gaps["weight_gap"] < 1e-5, gaps
