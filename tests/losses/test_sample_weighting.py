"""barata2020 sample weighting: class_weights (Eq. 7/8 on Table 1), SampleWeightingLoss (Eq. 3 with CB/ES and
SPL/OHEM) against Keras' own per-sample losses and a batch of known losses, serialisation, mixed precision,
XLA and exactness under tf.distribute (2 logical CPU replicas, in a subprocess)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dermkit.losses import SampleWeightingLoss, class_weights, weighted_selection  # noqa: E402
from dermkit.losses.sample_weighting import curriculum_keep_count, per_sample_weights  # noqa: E402

DISTRIBUTED_CHECK = Path(__file__).with_name("_distributed_sample_weighting_check.py")

# barata2020 Table 1 (ISIC 2018 training set), in the table's order.
TABLE1 = {"NV": 6741, "MEL": 1119, "DF": 116, "AKIEC": 331, "BKL": 1101, "BCC": 517, "VASC": 143}
TABLE1_COUNTS = list(TABLE1.values())  # N = 10,068
# An 80 % split of Table 1: round(0.8 · N_c) = 5392.8, 895.2, 92.8, 264.8, 880.8, 413.6, 114.4 → N = 8,055.
SPLIT80_COUNTS = [5393, 895, 93, 265, 881, 414, 114]

# Values worked out by hand (50-digit decimal arithmetic, outside dermkit), rounded to 12 digits.
# CB (Eq. 7): N / N_c.   ES (Eq. 8): (1 − β) / (1 − β^{N_c}), β = (N − 1)/N.   Normalised: w · C / Σ w.
EXPECTED = {
    ("table1", "cb", None): [1.49354695149, 8.99731903485, 86.7931034483, 30.416918429, 9.14441416894,
                             19.4738878143, 70.4055944056],
    ("table1", "es", None): [0.000203502045876, 0.000944192766347, 0.00867001919104, 0.00307093242154,
                             0.000958787415246, 0.00198422724864, 0.00704243956268],
    ("table1", "cb", "num_classes"): [0.0461124208141, 0.277787157022, 2.67968817852, 0.939105222682,
                                      0.282328636429, 0.60124531665, 2.17373306789],
    ("table1", "es", "num_classes"): [0.0622762985458, 0.288944665636, 2.65322494039, 0.93977583112,
                                      0.293410963299, 0.607219096924, 2.15514820408],
    ("split80", "cb", None): [1.49360281847, 9.0, 86.6129032258, 30.3962264151, 9.14301929625, 19.4565217391,
                              70.6578947368],
    ("split80", "es", None): [0.000254363073934, 0.00118047166459, 0.0108142134033, 0.00383576427967,
                              0.00119820793521, 0.00247791398088, 0.00883360498351],
    ("split80", "cb", "num_classes"): [0.0461069499587, 0.277826571092, 2.67370732395, 0.938319928782,
                                       0.282241522278, 0.600615413351, 2.18118229059],
    ("split80", "es", "num_classes"): [0.0622685855346, 0.288981807308, 2.64734091265, 0.939002711538,
                                       0.29332368157, 0.606598262395, 2.16248403901],
}
COUNTS = {"table1": TABLE1_COUNTS, "split80": SPLIT80_COUNTS}


@pytest.mark.parametrize("counts, method, normalize", list(EXPECTED))
def test_class_weights_on_table1(counts, method, normalize):
    weights = class_weights(COUNTS[counts], method=method, normalize=normalize)
    assert weights.dtype == np.float64 and weights.shape == (7,)
    np.testing.assert_allclose(weights, EXPECTED[counts, method, normalize], rtol=1e-10)
    if normalize == "num_classes":
        np.testing.assert_allclose(weights.sum(), 7.0, rtol=1e-12)


def test_class_weights_default_is_the_papers_cb():
    np.testing.assert_array_equal(class_weights(TABLE1_COUNTS), class_weights(TABLE1_COUNTS, method="cb"))
    np.testing.assert_allclose(class_weights([1, 3]), [4.0, 4 / 3], rtol=1e-15)  # N = 4: 4/1, 4/3


def test_raw_es_weights_are_about_one_over_class_count():
    """With β = (N−1)/N, 1 − β^n ≈ 1 − e^{−n/N}: raw ES ≈ 1/N_c (2.5e-4 … 1.1e-2 on the 80 % split), within 1 %
    for classes under 2 % of the set and 37 % above it for nevi (67 % of the set)."""
    for counts in (TABLE1_COUNTS, SPLIT80_COUNTS):
        n_c = np.asarray(counts, np.float64)
        ratio = class_weights(counts, method="es") * n_c
        assert np.all(ratio > 1.0) and np.all(ratio < 1.38)
        rare = n_c / n_c.sum() < 0.02
        assert rare.sum() == 2 and np.all(ratio[rare] < 1.01)  # DF, VASC
    es = class_weights(SPLIT80_COUNTS, method="es")
    assert 2.5e-4 < es.min() < 2.6e-4 and 1.08e-2 < es.max() < 1.09e-2


def test_es_with_two_classes_by_hand():
    # counts (1, 3): N = 4, β = 3/4. Class 0: (1/4)/(1 − 3/4) = 1. Class 1: (1/4)/(1 − 27/64) = 16/37.
    np.testing.assert_allclose(class_weights([1, 3], method="es"), [1.0, 16 / 37], rtol=1e-14)
    # Normalised to sum to 2: [1, 16/37] · 2 / (53/37) = [74/53, 32/53].
    np.testing.assert_allclose(class_weights([1, 3], method="es", normalize="num_classes"), [74 / 53, 32 / 53],
                               rtol=1e-14)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"counts": [10, 20], "method": "ens"}, r"method must be one of \('cb', 'es'\); received method='ens'"),
        ({"counts": [10, 20], "normalize": "sum"}, r"normalize must be one of \(None, 'num_classes'\)"),
        ({"counts": [10]}, r"at least 2 class counts; received shape \(1,\)"),
        ({"counts": [[1, 2], [3, 4]]}, r"1-D array .*received shape \(2, 2\)"),
        ({"counts": [10, 0, 5]}, r"at least one training sample .*classes \[1\] have none"),
        ({"counts": [10.5, 3]}, r"integer sample counts; received counts=\[10.5, 3.0\]"),
        ({"counts": ["a", "b"]}, r"integer sample counts"),
    ],
)
def test_class_weights_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        class_weights(**kwargs)


# ---- a batch with known losses ---------------------------------------------------------------------------
# 6 samples, 3 classes; the true class gets probability P_TRUE[j], the other two (1 − P_TRUE[j]) / 2 each.
# CE losses −ln p: 0.105, 2.303, 0.693, 1.204, 0.357, 1.609 — highest to lowest: samples 1, 5, 3, 2, 4, 0.
KNOWN_CLASSES = [0, 1, 2, 0, 1, 2]
P_TRUE = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2]
KNOWN_Y = np.eye(3, dtype=np.float32)[KNOWN_CLASSES]
KNOWN_P = np.where(KNOWN_Y == 1, np.asarray(P_TRUE, np.float32)[:, None],
                   (1 - np.asarray(P_TRUE, np.float32)[:, None]) / 2).astype(np.float32)
KNOWN_CE = [-math.log(p) for p in P_TRUE]
WEIGHTS3 = [0.5, 1.0, 3.0]

# (curriculum, keep_fraction, indices kept); kept count k = min(6, ⌊6 f + ½⌋).
SELECTION_CASES = [
    ("ohem", 0.5, [1, 5, 3]),  # k = ⌊3.5⌋ = 3, the highest losses
    ("spl", 0.5, [0, 4, 2]),  # the lowest losses
    ("ohem", 0.75, [1, 5, 3, 2, 4]),  # k = ⌊4.5 + .5⌋ = 5
    ("spl", 0.7, [0, 4, 2, 3]),  # k = ⌊4.2 + .5⌋ = 4
    ("ohem", 0.25, [1, 5]),  # k = ⌊1.5 + .5⌋ = 2: halves round up
    ("ohem", 0.09, [1]),  # k = ⌊0.54 + .5⌋ = 1
    ("spl", 0.08, []),  # k = ⌊0.48 + .5⌋ = 0
    ("spl", 1.0, [0, 1, 2, 3, 4, 5]),
    ("ohem", 0.0, []),
]


@pytest.mark.parametrize("curriculum, fraction, kept", SELECTION_CASES)
def test_exactly_the_expected_samples_are_kept(curriculum, fraction, kept):
    mask = np.zeros(6, np.float32)
    mask[kept] = 1.0
    np.testing.assert_array_equal(per_sample_weights(KNOWN_CE, curriculum=curriculum, keep_fraction=fraction), mask)
    loss = SampleWeightingLoss(keras.losses.CategoricalCrossentropy(), curriculum=curriculum, keep_fraction=fraction)
    # Eq. 3: the kept samples' losses summed and divided by the batch size M = 6, not by the count kept.
    expected = sum(KNOWN_CE[j] for j in kept) / 6
    np.testing.assert_allclose(float(loss(KNOWN_Y, KNOWN_P)), expected, rtol=1e-6, atol=1e-7)


def test_class_weights_multiply_the_true_class_loss():
    loss = SampleWeightingLoss(keras.losses.CategoricalCrossentropy(), class_weights=WEIGHTS3)
    expected = sum(WEIGHTS3[c] * ce for c, ce in zip(KNOWN_CLASSES, KNOWN_CE)) / 6  # Σ w_j ℓ_j / M
    np.testing.assert_allclose(float(loss(KNOWN_Y, KNOWN_P)), expected, rtol=1e-6)


def test_selection_ranks_the_unweighted_losses():
    """OHEM keeps the samples of highest ℓ_j (samples 1, 5, 3), not of highest c·ℓ_j (5, 1, 2)."""
    loss = SampleWeightingLoss(keras.losses.CategoricalCrossentropy(), class_weights=WEIGHTS3, curriculum="ohem",
                               keep_fraction=0.5)
    expected = (1.0 * KNOWN_CE[1] + 3.0 * KNOWN_CE[5] + 0.5 * KNOWN_CE[3]) / 6
    np.testing.assert_allclose(float(loss(KNOWN_Y, KNOWN_P)), expected, rtol=1e-6)


@pytest.mark.parametrize("curriculum", ["spl", "ohem"])
def test_equal_losses_keep_the_earlier_samples(curriculum):
    weights = per_sample_weights([1.0, 2.0, 1.0, 1.0, 2.0], curriculum=curriculum, keep_fraction=0.4)  # k = 2
    expected = [1, 0, 1, 0, 0] if curriculum == "spl" else [0, 1, 0, 0, 1]
    np.testing.assert_array_equal(weights, expected)
    np.testing.assert_array_equal(per_sample_weights([3.0] * 4, curriculum=curriculum, keep_fraction=0.5), [1, 1, 0, 0])


@pytest.mark.parametrize("fraction, size", [(0.5, 20), (0.51, 20), (0.975, 20), (0.97499, 20), (0.3, 7), (1.0, 1),
                                            (0.5, 1), (0.55, 9), (0.0, 5)])
def test_keep_count_is_the_rounded_fraction(fraction, size):
    assert int(curriculum_keep_count(fraction, size)) == min(size, math.floor(fraction * size + 0.5))


# ---- parity with Keras' built-ins on random batches -----------------------------------------------------

def random_batch(batch=16, classes=7, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, batch)
    logits = rng.normal(size=(batch, classes)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, np.eye(classes, dtype=np.float32)[labels], probs.astype(np.float32)


BASES = {
    "ce": (lambda: keras.losses.CategoricalCrossentropy(),
           lambda: keras.losses.CategoricalCrossentropy(reduction=None)),
    "focal": (lambda: keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=1.0),
              lambda: keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=1.0, reduction=None)),
    "focal2": (lambda: keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=2.0),
               lambda: keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=2.0, reduction=None)),
}


@pytest.mark.parametrize("base", list(BASES))
@pytest.mark.parametrize("curriculum, fraction", [(None, 0.5), ("ohem", 0.5), ("spl", 0.6), ("ohem", 0.93)])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_keras_per_sample_losses(base, curriculum, fraction, weighted):
    labels, y_true, y_pred = random_batch(seed=len(base))
    make, make_unreduced = BASES[base]
    per_sample = make_unreduced()(y_true, y_pred).numpy().astype(np.float64)  # Keras' own ℓ_j
    c = class_weights(np.bincount(labels, minlength=7) + 1, method="es", normalize="num_classes")
    w = c[labels] if weighted else np.ones(16)
    if curriculum is not None:
        k = min(16, math.floor(fraction * 16 + 0.5))
        order = np.argsort(per_sample if curriculum == "spl" else -per_sample, kind="stable")
        w = w * np.isin(np.arange(16), order[:k])
    expected = float(np.sum(w * per_sample) / 16)
    loss = SampleWeightingLoss(make(), class_weights=c if weighted else None, curriculum=curriculum,
                               keep_fraction=fraction)
    value = loss(y_true, y_pred)
    assert value.shape == () and value.dtype == "float32"
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)
    if curriculum is None and not weighted:
        np.testing.assert_allclose(float(value), float(make()(y_true, y_pred)), rtol=1e-6)


def test_focal_base_is_eq6():
    """Eq. 6, −(1 − p)^γ log p, in NumPy on the known batch (γ = 1)."""
    expected = np.mean([-(1 - p) * math.log(p) for p in P_TRUE])
    loss = SampleWeightingLoss(keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=1.0))
    np.testing.assert_allclose(float(loss(KNOWN_Y, KNOWN_P)), expected, rtol=1e-5)


def test_sparse_base_and_sample_weight():
    labels, y_true, y_pred = random_batch(batch=10, classes=3, seed=3)
    per_sample = keras.losses.SparseCategoricalCrossentropy(reduction=None)(labels, y_pred).numpy()
    sparse = SampleWeightingLoss(keras.losses.SparseCategoricalCrossentropy(), class_weights={0: 0.5, 1: 1.0, 2: 3.0})
    np.testing.assert_allclose(float(sparse(labels, y_pred)), np.sum(np.take(WEIGHTS3, labels) * per_sample) / 10,
                               rtol=1e-6)
    s = np.linspace(0.0, 2.0, 10).astype(np.float32)
    dense = SampleWeightingLoss(keras.losses.CategoricalCrossentropy())
    np.testing.assert_allclose(float(dense(y_true, y_pred, sample_weight=s)), np.sum(s * per_sample) / 10, rtol=1e-6)


def test_gradient_flows_only_through_kept_samples():
    _, y_true, _ = random_batch(batch=8, classes=4, seed=4)
    logits = tf.Variable(np.random.default_rng(4).normal(size=(8, 4)).astype(np.float32))
    loss = SampleWeightingLoss(keras.losses.CategoricalCrossentropy(from_logits=True), curriculum="ohem",
                               keep_fraction=0.5)
    with tf.GradientTape() as tape:
        value = loss(y_true, logits)
    grad = tape.gradient(value, logits).numpy()
    probs = tf.nn.softmax(logits).numpy()
    per_sample = -np.log(np.sum(probs * y_true, axis=1))
    kept = np.argsort(-per_sample, kind="stable")[:4]
    expected = np.zeros_like(grad)
    expected[kept] = (probs[kept] - y_true[kept]) / 8  # ∂(ℓ_j / M)/∂logits for a kept sample
    np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_weighted_selection_on_a_sequence_loss():
    """The documented sequence use: Eq. 10 per sample (per-level CE, levels past a path's end masked), then
    weighted_selection with the diagnosis as the class."""
    # 3 samples, up to 3 levels, 4 outputs. Sample 0 has a 2-level path (level 3 all-zero), the others 3.
    y = np.zeros((3, 3, 4), np.float32)
    y[0, 0, 0] = y[0, 1, 1] = 1
    y[1, 0, 2] = y[1, 1, 3] = y[1, 2, 0] = 1
    y[2, 0, 2] = y[2, 1, 3] = y[2, 2, 1] = 1
    p = np.full((3, 3, 4), 0.25, np.float32)
    per_level = keras.losses.categorical_crossentropy(y, p)  # [3, 3]
    per_sample = tf.reduce_sum(per_level * tf.cast(tf.reduce_sum(y, -1) > 0, tf.float32), -1)
    np.testing.assert_allclose(per_sample, [2 * math.log(4), 3 * math.log(4), 3 * math.log(4)], rtol=1e-6)
    diagnosis = [1, 0, 1]
    value = weighted_selection(per_sample, diagnosis, class_weights=[2.0, 1.0], curriculum="spl", keep_fraction=0.5)
    # k = ⌊1.5 + .5⌋ = 2: samples 0 (2 ln 4) and 1 (3 ln 4, the earlier of the tie), weights 1.0 and 2.0.
    np.testing.assert_allclose(float(value), (1.0 * 2 * math.log(4) + 2.0 * 3 * math.log(4)) / 3, rtol=1e-6)


# ---- dtypes, compilation, serialisation ------------------------------------------------------------------

def test_mixed_precision_reduces_in_float32():
    _, y_true, y_pred = random_batch(seed=5)
    loss = SampleWeightingLoss(keras.losses.CategoricalCrossentropy(), class_weights=[1.0] * 7, curriculum="ohem")
    half = tf.constant(y_pred.astype(np.float16))
    from_half = loss(y_true, half)
    assert from_half.dtype == "float32"
    np.testing.assert_allclose(float(from_half), float(loss(y_true, tf.cast(half, "float32"))), rtol=1e-7)


def _classifier(classes=3):
    inputs = keras.Input((4,), name="features")
    logits = keras.layers.Dense(classes, name="logits")(inputs)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="softmax")(logits)
    return keras.Model(inputs, outputs, name="tiny")


def test_mixed_precision_model_trains():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _classifier()
        model.compile(optimizer="adam", loss=SampleWeightingLoss(keras.losses.CategoricalCrossentropy(),
                                                                 curriculum="ohem"))
        x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
        history = model.fit(x, np.eye(3, dtype=np.float32)[np.arange(8) % 3], epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_xla_matches_graph_mode():
    x = np.random.default_rng(1).normal(size=(10, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(10) % 3]
    values = []
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = _classifier()
        model.compile(optimizer="sgd", jit_compile=jit,
                      loss=SampleWeightingLoss(keras.losses.CategoricalCrossentropy(), class_weights=WEIGHTS3,
                                               curriculum="spl", keep_fraction=0.7))
        values.append(model.evaluate(x, y, verbose=0))
    np.testing.assert_allclose(values[1], values[0], rtol=1e-6)


def test_serialisation_round_trip():
    loss = SampleWeightingLoss(keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=2.0), class_weights=WEIGHTS3,
                               curriculum="spl", keep_fraction=0.625, name="weighted")
    config = loss.get_config()
    assert set(config) == {"base", "class_weights", "curriculum", "keep_fraction", "reduction", "name"}
    assert config["class_weights"] == WEIGHTS3 and config["curriculum"] == "spl"
    assert config["keep_fraction"] == 0.625 and config["name"] == "weighted"
    serialised = keras.saving.serialize_keras_object(loss)
    assert serialised["registered_name"] == "dermkit>SampleWeightingLoss"
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialised)))
    assert isinstance(restored, SampleWeightingLoss)
    assert isinstance(restored.base, keras.losses.CategoricalFocalCrossentropy)
    assert restored.base.get_config()["alpha"] == 1.0 and restored.base.get_config()["gamma"] == 2.0
    assert restored.get_config() == config
    assert float(restored(KNOWN_Y, KNOWN_P)) == float(loss(KNOWN_Y, KNOWN_P))
    loss.keep_fraction.assign(0.25)  # the schedule's current value is what get_config saves
    assert loss.get_config()["keep_fraction"] == 0.25


def test_compiled_model_reloads_in_safe_mode(tmp_path):
    model = _classifier()
    model.compile(optimizer="adam", loss=SampleWeightingLoss(keras.losses.CategoricalCrossentropy(),
                                                             class_weights=WEIGHTS3, curriculum="ohem"))
    x = np.random.default_rng(2).normal(size=(6, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "tiny.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(reloaded.loss, SampleWeightingLoss)
    assert reloaded.loss.get_config() == model.loss.get_config()
    np.testing.assert_allclose(reloaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"base": "categorical_crossentropy"}, TypeError, r"base must be a keras.losses.Loss instance"),
        ({"curriculum": "hard"}, ValueError, r"curriculum must be None or one of \('spl', 'ohem'\); received "
                                             r"curriculum='hard'"),
        ({"class_weights": [1.0]}, ValueError, r"one weight per class \(at least 2\)"),
        ({"class_weights": [1.0, -2.0]}, ValueError, r"finite and > 0.*\[1.0, -2.0\]"),
        ({"class_weights": [1.0, float("nan")]}, ValueError, r"finite and > 0"),
        ({"class_weights": "ab"}, TypeError, r"class_weights must be a sequence"),
        ({"class_weights": [1.0, "2"]}, TypeError, r"real numbers"),
        ({"class_weights": {0: 1.0, 2: 1.0}}, ValueError, r"every class index 0..K-1"),
        ({"keep_fraction": 1.5}, ValueError, r"keep_fraction must be a number in \[0, 1\]; received keep_fraction=1.5"),
    ],
)
def test_bad_options(kwargs, error, message):
    kwargs = {"base": keras.losses.CategoricalCrossentropy(), **kwargs}
    with pytest.raises(error, match=message):
        SampleWeightingLoss(kwargs.pop("base"), **kwargs)


def test_bad_shapes():
    loss = SampleWeightingLoss(keras.losses.CategoricalCrossentropy())
    with pytest.raises(ValueError, match=r"one loss per sample \[B\]; its call gave shape \(2, 3\) for "
                                         r"y_pred.shape=\(2, 3, 4\).*weighted_selection"):
        loss(np.zeros((2, 3, 4), np.float32), np.full((2, 3, 4), 0.25, np.float32))
    weighted = SampleWeightingLoss(keras.losses.CategoricalCrossentropy(), class_weights=WEIGHTS3)
    with pytest.raises(ValueError, match=r"class_weights has 3 entries but the labels have 7 classes"):
        weighted(*random_batch()[1:])
    with pytest.raises(ValueError, match=r"per_sample_loss must be 1-D \[B\].*Eq. 10.*received shape \(2, 3\)"):
        weighted_selection(np.ones((2, 3)), curriculum="ohem")
    with pytest.raises(ValueError, match=r"class_weights needs y_true_class"):
        weighted_selection(np.ones(3), class_weights=[1.0, 2.0])


def test_distributed_matches_single_device():
    """One step on 2 replicas (strategy.run, Model.fit, Model.evaluate) equals one device on the global batch:
    the m samples are chosen over the global batch and the loss is divided by the global M.

    The check runs in a subprocess: the 2 logical CPU devices must exist before TensorFlow initialises.
    """
    result = subprocess.run(
        [sys.executable, str(DISTRIBUTED_CHECK)], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 3
    for row in rows:
        for key in ("run_loss", "run_grads", "fit_loss", "fit_weights", "fit_weights_vs_manual", "eval_loss",
                    "uneven_loss", "uneven_grads"):
            assert row[key] < 1e-5, (key, row)
        # The batch makes a per-replica selection visibly wrong: the check has teeth.
        assert row["naive_gap"] > 1e-2, row


def test_wraps_the_hierarchical_loss_of_eq_10():
    """barata2020 Eq. 3 over Eq. 10: the per-sample sums of the per-level CE are weighted and selected."""
    from dermkit.models.attention import ISIC2018_HIERARCHY, HierarchicalLoss

    rng = np.random.default_rng(0)
    h = ISIC2018_HIERARCHY
    logits = rng.normal(size=(6, h.max_depth, h.num_nodes)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = np.eye(7, dtype=np.float32)[[0, 1, 2, 3, 4, 6]]
    per_sample = np.asarray(HierarchicalLoss().call(labels, probs))
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    loss = SampleWeightingLoss(HierarchicalLoss(), class_weights=weights, curriculum="ohem", keep_fraction=0.5)
    kept = np.argsort(-per_sample)[:3]  # OHEM: the 3 highest unweighted losses of 6
    expected = (weights[labels.argmax(1)][kept] * per_sample[kept]).sum() / 6
    assert float(loss(labels, probs)) == pytest.approx(expected, rel=1e-5)


def test_sparse_label_without_a_class_weight_is_refused():
    """issue 17: a sparse label ≥ the number of class weights names the label and the count, eagerly
    and (as a tf.debugging assertion) in a graph — instead of a silent weight of 0 on a GPU."""
    loss = SampleWeightingLoss(keras.losses.SparseCategoricalCrossentropy(), class_weights=[1.0, 2.0, 3.0])
    y_pred = np.full((3, 4), 0.25, np.float32)
    with pytest.raises(ValueError, match=r"label 3 has no class weight: class_weights has 3 entries"):
        loss(np.array([0, 3, 1]), y_pred)

    @tf.function
    def graph(labels):
        return loss(labels, tf.constant(y_pred))

    with pytest.raises(tf.errors.InvalidArgumentError, match=r"class_weights has 3 entries"):
        graph(tf.constant([0, 3, 1]))
    expected = np.sum(np.array([1.0, 3.0, 2.0]) * -np.log(0.25)) / 3  # every label in range: Eq. 3 as usual
    np.testing.assert_allclose(float(graph(tf.constant([0, 2, 1]))), expected, rtol=1e-6)


def test_fit_class_weight_on_a_class_weighted_loss_warns_once():
    """Issue 18: fit(class_weight=...) reaches the loss as sample_weight; with the loss's own class weights
    that weights twice, so the first such call warns (once)."""
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="head")(inputs))
    model.compile("sgd", loss=SampleWeightingLoss(keras.losses.CategoricalCrossentropy(), class_weights=[1.0, 3.0]))
    x = np.random.default_rng(0).random((8, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1] * 4]
    with pytest.warns(UserWarning, match="apply twice") as record:
        model.fit(x, y, batch_size=4, epochs=2, class_weight={0: 1.0, 1: 3.0}, verbose=0)
    assert sum("apply twice" in str(w.message) for w in record) == 1
    plain = SampleWeightingLoss(keras.losses.CategoricalCrossentropy())  # no class weights: no warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain(y, np.full((8, 2), 0.5, np.float32), sample_weight=np.ones(8, np.float32))
