"""WeightedCategoricalCrossentropy (goel2021 §3.2) against a float64 NumPy reference."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dermkit.losses.class_weighted import (  # noqa: E402
    WeightedCategoricalCrossentropy,
    weighted_categorical_crossentropy,
)


def reference(y_true, y_pred, class_weights, sample_weight=None):
    """goel2021 §3.2 written literally: Σ w[class_i]·(−log p_i[class_i]) / Σ w[class_i], float64."""
    y, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    p = np.clip(p / p.sum(axis=-1, keepdims=True), 1e-7, 1 - 1e-7)  # Keras' epsilon clipping
    ce = -np.sum(y * np.log(p), axis=-1)
    w = y @ np.asarray(class_weights, np.float64)
    if sample_weight is not None:
        w = w * np.asarray(sample_weight, np.float64)
    return float(np.sum(w * ce) / np.sum(w)) if np.sum(w) > 0 else 0.0


P = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], dtype=np.float32)
Y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]

# (class_weights, y_true, y_pred, expected) — [4, 2] batches unless noted
CASES = [
    # equal weights: the plain mean CE
    ((1.0, 1.0), Y, P, -np.mean(np.log([0.9, 0.8, 0.4, 0.3]))),
    # 2:1 (Table 1 row 11): (−log .9 − 2 log .8 − 2 log .4 − log .3) / 6, not / 4
    ((1.0, 2.0), Y, P, -(np.log(0.9) + 2 * np.log(0.8) + 2 * np.log(0.4) + np.log(0.3)) / 6.0),
    # only benign samples: the weights cancel
    ((1.0, 2.0), np.eye(2, dtype=np.float32)[[0, 0]], P[:2], -np.mean(np.log([0.9, 0.2]))),
    # 3 classes [2, 3], dict form of the weights
    (
        {0: 0.5, 1: 1.0, 2: 4.0},
        np.eye(3, dtype=np.float32)[[2, 0]],
        np.array([[0.2, 0.3, 0.5], [0.7, 0.2, 0.1]], np.float32),
        -(4 * np.log(0.5) + 0.5 * np.log(0.7)) / 4.5,
    ),
]


@pytest.mark.parametrize("class_weights, y_true, y_pred, expected", CASES)
def test_hand_computed(class_weights, y_true, y_pred, expected):
    loss = WeightedCategoricalCrossentropy(class_weights)
    value = float(loss(y_true, y_pred))
    assert value == pytest.approx(expected, rel=1e-5)
    weights = list(class_weights.values()) if isinstance(class_weights, dict) else class_weights
    assert value == pytest.approx(reference(y_true, y_pred, weights), rel=1e-5)


def test_random_against_reference_and_keras_class_weight_differs():
    rng = np.random.default_rng(0)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, size=32)]
    logits = rng.normal(size=(32, 2)).astype(np.float32)
    p = tf.nn.softmax(logits).numpy()
    expected = reference(y, p, (1.0, 2.0))
    assert float(WeightedCategoricalCrossentropy((1.0, 2.0))(y, p)) == pytest.approx(expected, rel=1e-5)
    from_logits = WeightedCategoricalCrossentropy((1.0, 2.0), from_logits=True)(y, logits)
    assert float(from_logits) == pytest.approx(expected, rel=1e-4)
    # Keras' class_weight route (sample weights, divided by the batch size) is a different number.
    keras_value = float(keras.losses.CategoricalCrossentropy()(y, p, sample_weight=y @ np.array([1.0, 2.0])))
    assert keras_value != pytest.approx(expected, rel=1e-3)
    assert keras_value == pytest.approx(expected * float(np.sum(y @ np.array([1.0, 2.0]))) / 32, rel=1e-5)


def test_sample_weight_multiplies_class_weight():
    sample_weight = np.array([1.0, 0.0, 2.0, 1.0], np.float32)
    value = float(WeightedCategoricalCrossentropy((1.0, 2.0))(Y, P, sample_weight=sample_weight))
    assert value == pytest.approx(reference(Y, P, (1.0, 2.0), sample_weight), rel=1e-5)
    zero = WeightedCategoricalCrossentropy((1.0, 2.0))(Y, P, sample_weight=np.zeros(4, np.float32))
    assert float(zero) == 0.0


def test_float32_under_float16_inputs():
    value = WeightedCategoricalCrossentropy((1.0, 2.0))(Y.astype(np.float16), P.astype(np.float16))
    assert value.dtype == tf.float32
    assert float(value) == pytest.approx(reference(Y, P, (1.0, 2.0)), rel=1e-3)


def test_gradient_matches_reference_direction():
    p = tf.Variable(P)
    with tf.GradientTape() as tape:
        loss = weighted_categorical_crossentropy(Y, p, (1.0, 2.0))
    grad = tape.gradient(loss, p).numpy()
    # d/dp_ic of Σ w_i (−log(p_ic/Σp_i)) / W, on the true class c: −w_i/W·(1/p_ic − 1/Σ_j p_ij)
    weights = Y @ np.array([1.0, 2.0])
    cls = Y.argmax(axis=1)
    for i in range(4):
        expected = -weights[i] / weights.sum() * (1.0 / P[i, cls[i]] - 1.0)
        assert grad[i, cls[i]] == pytest.approx(expected, rel=1e-4)


def test_in_model_fit_and_round_trip(tmp_path):
    inputs = keras.Input((3,), name="x")
    outputs = keras.layers.Dense(2, activation="softmax", name="out")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss=WeightedCategoricalCrossentropy((1.0, 2.0)))
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1] * 4]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.loss.get_config() == {
        "class_weights": [1.0, 2.0],
        "from_logits": False,
        "reduction": "sum_over_batch_size",
        "name": "weighted_categorical_crossentropy",
    }


# (kwargs, exception, message)
BAD = [
    ({"class_weights": (1.0,)}, ValueError, "at least 2"),
    ({"class_weights": (1.0, 0.0)}, ValueError, "finite and > 0"),
    ({"class_weights": (1.0, float("nan"))}, ValueError, "finite and > 0"),
    ({"class_weights": {1: 1.0, 2: 2.0}}, ValueError, "every class index 0..K-1"),
    ({"class_weights": "2:1"}, TypeError, "must be a sequence"),
    ({"class_weights": (1.0, "2")}, TypeError, "real numbers"),
]


@pytest.mark.parametrize("kwargs, exception, message", BAD)
def test_bad_options(kwargs, exception, message):
    with pytest.raises(exception, match=message):
        WeightedCategoricalCrossentropy(**kwargs)


def test_class_count_mismatch():
    with pytest.raises(ValueError, match="3 entries but y_pred has 2 classes"):
        WeightedCategoricalCrossentropy((1.0, 2.0, 3.0))(Y, P)


DISTRIBUTED = textwrap.dedent(
    """
    import json, os
    os.environ["KERAS_BACKEND"] = "tensorflow"; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import keras, numpy as np
    from dermkit.losses.class_weighted import WeightedCategoricalCrossentropy

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[[1, 1, 0, 0]]  # replica 0 gets only malignant: local means differ

    def build():
        keras.utils.set_random_seed(1)
        inputs = keras.Input((3,))
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))

    loss_fn = WeightedCategoricalCrossentropy((1.0, 2.0))
    single = build()
    with tf.GradientTape() as tape:
        ref_loss = loss_fn(y, single(x))
    ref_grads = tape.gradient(ref_loss, single.trainable_variables)

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build()
    data = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(4))
    xb, yb = next(iter(data))

    def step(xs, ys):
        with tf.GradientTape() as tape:
            loss = loss_fn(ys, model(xs))
        return loss, tape.gradient(loss, model.trainable_variables)

    losses, grads = strategy.run(step, args=(xb, yb))
    total = float(strategy.reduce("SUM", losses, axis=None))
    grad_gap = max(
        float(np.max(np.abs(strategy.reduce("SUM", g, axis=None).numpy() - r.numpy())))
        for g, r in zip(grads, ref_grads))

    with strategy.scope():
        fitted = build()
        fitted.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss_fn)
    fit_loss = fitted.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    single.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss_fn)
    single_fit = single.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    weight_gap = max(float(np.max(np.abs(a - b))) for a, b in zip(fitted.get_weights(), single.get_weights()))
    print(json.dumps({"loss_gap": abs(total - float(ref_loss)), "grad_gap": grad_gap,
                      "fit_loss_gap": abs(fit_loss - single_fit), "fit_weight_gap": weight_gap}))
    """
)


def test_two_replicas_equal_one_device():
    result = subprocess.run(
        [sys.executable, "-c", DISTRIBUTED], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    gaps = json.loads(result.stdout.strip().splitlines()[-1])
    assert all(value < 1e-5 for value in gaps.values()), gaps


def test_reductions_and_keyword_only_options():
    """Issue 18: options keyword-only; Keras' reduction: 'none' gives w_i * CE_i, 'sum' their sum, the default
    the paper's normalised form (NumPy reference)."""
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(2), size=6).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[[0, 1, 1, 0, 1, 0]]
    w = np.array([1.0, 2.0])[y.argmax(1)]
    ce = -np.log(np.clip((y * p).sum(1), 1e-7, 1.0))
    none = WeightedCategoricalCrossentropy((1.0, 2.0), reduction="none")(y, p)
    np.testing.assert_allclose(np.asarray(none), w * ce, rtol=1e-5)
    total = WeightedCategoricalCrossentropy((1.0, 2.0), reduction="sum")(y, p)
    assert float(total) == pytest.approx((w * ce).sum(), rel=1e-5)
    for reduction in ("sum_over_batch_size", "mean"):
        value = WeightedCategoricalCrossentropy((1.0, 2.0), reduction=reduction)(y, p)
        assert float(value) == pytest.approx((w * ce).sum() / w.sum(), rel=1e-5)
    with pytest.raises(TypeError):
        WeightedCategoricalCrossentropy((1.0, 2.0), True)  # from_logits is keyword-only
    with pytest.raises(ValueError, match="reduction"):
        WeightedCategoricalCrossentropy((1.0, 2.0), reduction="median")


def test_sample_weight_on_unequal_class_weights_warns_once_equal_weights_do_not():
    import warnings

    y = np.eye(2, dtype=np.float32)[[0, 1]]
    p = np.full((2, 2), 0.5, np.float32)
    loss = WeightedCategoricalCrossentropy((1.0, 2.0))
    with pytest.warns(UserWarning, match="apply twice"):
        loss(y, p, sample_weight=np.ones(2, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(y, p, sample_weight=np.ones(2, np.float32))  # once only
        WeightedCategoricalCrossentropy((1.0, 1.0))(y, p, sample_weight=np.ones(2, np.float32))
