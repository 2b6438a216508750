"""DiceF1Loss / dice_f1_coefficient (kawahara2018 Eq. 3–7): NumPy reference, hand-worked cases, Keras' Dice,
serialisation, mixed precision and exactness under tf.distribute (2 logical CPU replicas, in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dermkit.losses import PARTITIONS, DiceF1Loss, dice_f1_coefficient  # noqa: E402

DISTRIBUTED_CHECK = Path(__file__).with_name("_distributed_dice_check.py")


def reference_dice(y_true, y_pred, partition, alpha, beta):
    """kawahara2018 Eq. 3 written literally with fuzzy TP, FP, FN, in float64 NumPy."""
    y, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    axes = {
        "volume": tuple(range(y.ndim)),
        "channel_image": tuple(range(1, y.ndim - 1)),
        "channel_batch": tuple(range(y.ndim - 1)),
    }[partition]
    tp = np.sum(p * y, axis=axes)
    fp = np.sum(p * (1 - y), axis=axes)
    fn = np.sum((1 - p) * y, axis=axes)
    denominator = 2 * tp + fp + fn + beta
    scores = np.divide(2 * tp + alpha, denominator, out=np.zeros_like(tp), where=denominator != 0)
    return float(np.mean(scores))


def random_batch(shape, seed, positive_rate=0.3):
    rng = np.random.default_rng(seed)
    y_true = (rng.random(shape) < positive_rate).astype(np.float32)
    y_true[0, ..., -1] = 0.0  # one empty sample-channel
    y_pred = rng.random(shape).astype(np.float32)
    return y_true, y_pred


@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("alpha, beta", [(0.0, 1.0), (1.0, 1.0), (0.0, 1e-3), (0.5, 2.0), (0.0, 0.0)])
@pytest.mark.parametrize("shape", [(3, 7, 5, 4), (2, 9, 3), (6, 2)])
def test_matches_numpy_reference(partition, alpha, beta, shape):
    y_true, y_pred = random_batch(shape, seed=len(shape))
    expected = reference_dice(y_true, y_pred, partition, alpha, beta)
    loss = DiceF1Loss(partition=partition, alpha=alpha, beta=beta)(y_true, y_pred)
    score = dice_f1_coefficient(y_true, y_pred, partition=partition, alpha=alpha, beta=beta)
    assert loss.shape == () and loss.dtype == "float32"
    np.testing.assert_allclose(float(loss), 1.0 - expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(score), 1.0 - float(loss), atol=1e-7)


def _mask(*values):
    """A [B=1, H=1, W=len(values), K=1] mask."""
    return np.asarray(values, np.float32).reshape(1, 1, -1, 1)


# A [B=2, H=1, W=2, K=2] batch on which the three partitions differ. y[b, 0, w, k], p[b, 0, w, k]:
#   sample 0: channel 0 y=(1,0) p=(1,0)   channel 1 y=(0,0) p=(0.5,0)
#   sample 1: channel 0 y=(1,1) p=(1,0)   channel 1 y=(1,0) p=(1,0)
PARTITION_Y = np.asarray([[[[1, 0], [0, 0]]], [[[1, 1], [1, 0]]]], np.float32)
PARTITION_P = np.asarray([[[[1, 0.5], [0, 0]]], [[[1, 1], [0, 0]]]], np.float32)

# (kwargs, y_true, y_pred, expected loss); D = (2·TP + alpha) / (2·TP + FP + FN + beta).
CASES = [
    # Empty truth, empty prediction [1, 1, 4, 1]: TP = FP = FN = 0, so D = alpha / beta.
    ({"alpha": 0.0, "beta": 1.0}, _mask(0, 0, 0, 0), _mask(0, 0, 0, 0), 1.0),  # D = 0/1 = 0
    ({"alpha": 1.0, "beta": 1.0}, _mask(0, 0, 0, 0), _mask(0, 0, 0, 0), 0.0),  # D = 1/1 = 1
    ({"alpha": 0.0, "beta": 0.0}, _mask(0, 0, 0, 0), _mask(0, 0, 0, 0), 1.0),  # D = 0/0 := 0
    # Empty truth, p = 0.5 everywhere [1, 1, 4, 1]: TP = 0, FP = 4·0.5 = 2, FN = 0.
    ({"alpha": 0.0, "beta": 1.0}, _mask(0, 0, 0, 0), _mask(0.5, 0.5, 0.5, 0.5), 1.0),  # D = 0/3
    ({"alpha": 1.0, "beta": 1.0}, _mask(0, 0, 0, 0), _mask(0.5, 0.5, 0.5, 0.5), 2 / 3),  # D = 1/3
    # Empty prediction, two positive pixels [1, 1, 4, 1]: TP = FP = 0, FN = 2.
    ({"alpha": 0.0, "beta": 1.0}, _mask(1, 1, 0, 0), _mask(0, 0, 0, 0), 1.0),  # D = 0/3
    ({"alpha": 1.0, "beta": 1.0}, _mask(1, 1, 0, 0), _mask(0, 0, 0, 0), 2 / 3),  # D = 1/3
    ({"alpha": 0.0, "beta": 0.0}, _mask(1, 1, 0, 0), _mask(0, 0, 0, 0), 1.0),  # D = 0/2
    # Perfect binary prediction of one pixel [1, 1, 4, 1]: TP = 1, FP = FN = 0.
    ({"alpha": 0.0, "beta": 1.0}, _mask(1, 0, 0, 0), _mask(1, 0, 0, 0), 1 / 3),  # D = 2/3
    ({"alpha": 0.0, "beta": 0.0}, _mask(1, 0, 0, 0), _mask(1, 0, 0, 0), 0.0),  # D = 2/2
    # Fuzzy [1, 1, 2, 1]: y = (1, 0), p = (0.8, 0.4): TP = 0.8, FP = 0.4, FN = 0.2, 2·TP + FP + FN = 2.2.
    ({"alpha": 0.0, "beta": 1.0}, _mask(1, 0), _mask(0.8, 0.4), 1 - 1.6 / 3.2),  # D = 1.6 / 3.2
    # The partition batch above, alpha = 0, beta = 1. Per (sample, channel) D:
    #   (0,0): TP=1, Σp+Σy=2 → 2/3;  (0,1): TP=0, Σp+Σy=0.5 → 0;  (1,0): TP=1, 1+2=3 → 2/4;  (1,1): 2/3.
    ({"partition": "channel_image"}, PARTITION_Y, PARTITION_P, 1 - (2 / 3 + 0 + 1 / 2 + 2 / 3) / 4),  # 13/24
    # Channel 0 over both samples: TP=2, Σp+Σy=2+3 → 4/6; channel 1: TP=1, 1.5+1 → 2/3.5.
    ({"partition": "channel_batch"}, PARTITION_Y, PARTITION_P, 1 - (4 / 6 + 2 / 3.5) / 2),  # 8/21
    # Everything: TP=3, Σp+Σy=3.5+4 → 6/8.5.
    ({"partition": "volume"}, PARTITION_Y, PARTITION_P, 1 - 6 / 8.5),  # 5/17
]


@pytest.mark.parametrize("kwargs, y_true, y_pred, expected", CASES)
def test_hand_worked_cases(kwargs, y_true, y_pred, expected):
    np.testing.assert_allclose(float(DiceF1Loss(**kwargs)(y_true, y_pred)), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("partition, axis", [("volume", None), ("channel_image", (1, 2)), ("channel_batch", (0, 1, 2))])
def test_matches_keras_dice(partition, axis):
    """keras.losses.Dice is 1 − 2·Σ y·p / (Σ y + Σ p + ε) over `axis`, ε = keras.backend.epsilon(), then the
    mean over what remains: kawahara2018's D with alpha = 0 and beta = ε on the matching partition."""
    y_true, y_pred = random_batch((3, 6, 5, 4), seed=3)
    y_true[1, ..., 0] = 0.0
    ours = DiceF1Loss(partition=partition, alpha=0.0, beta=keras.backend.epsilon())(y_true, y_pred)
    theirs = keras.losses.Dice(axis=axis)(y_true, y_pred)
    np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-6)


def test_integer_and_bool_truth_are_cast():
    y_true, y_pred = random_batch((2, 4, 4, 3), seed=4)
    expected = float(DiceF1Loss()(y_true, y_pred))
    for dtype in ("uint8", "int32", "bool"):
        np.testing.assert_allclose(float(DiceF1Loss()(y_true.astype(dtype), y_pred)), expected, rtol=1e-7)


def test_mixed_precision_reduces_in_float32():
    # Σ p·y alone exceeds float16's largest value (65504): a float16 reduction would overflow to inf.
    shape = (2, 192, 192, 1)
    y_true = np.ones(shape, np.float32)
    y_pred = np.full(shape, 0.875, np.float16)  # exactly representable in float16
    loss = DiceF1Loss(partition="volume")(y_true, tf.constant(y_pred))
    assert loss.dtype == "float32"
    np.testing.assert_allclose(float(loss), 1 - reference_dice(y_true, y_pred, "volume", 0.0, 1.0), rtol=1e-6)

    y_true, y_pred = random_batch((3, 8, 8, 4), seed=5)
    half = tf.constant(y_pred.astype(np.float16))
    for partition in PARTITIONS:
        from_half = DiceF1Loss(partition=partition)(y_true, half)
        from_float = DiceF1Loss(partition=partition)(y_true, tf.cast(half, "float32"))
        assert from_half.dtype == "float32"
        np.testing.assert_allclose(float(from_half), float(from_float), rtol=1e-7)


def test_mixed_precision_model_trains_with_float32_loss():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((8, 8, 3))
        logits = keras.layers.Conv2D(2, 1, name="head")(inputs)
        outputs = keras.layers.Activation("sigmoid", dtype="float32", name="sigmoid")(logits)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss=DiceF1Loss())
        x = np.random.default_rng(0).random((4, 8, 8, 3), dtype=np.float32)
        y = (x[..., :2] > 0.5).astype(np.float32)
        history = model.fit(x, y, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_gradient_is_finite_on_empty_inputs():
    y_true = tf.zeros((2, 4, 4, 2))
    y_pred = tf.Variable(tf.zeros((2, 4, 4, 2)))
    for partition in PARTITIONS:
        with tf.GradientTape() as tape:
            loss = DiceF1Loss(partition=partition, alpha=0.0, beta=0.0)(y_true, y_pred)
        assert float(loss) == 1.0
        assert np.all(np.isfinite(tape.gradient(loss, y_pred).numpy()))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"partition": "batch"},
            ValueError,
            r"partition must be one of \('volume', 'channel_image', "
            r"'channel_batch'\); received partition='batch'",
        ),
        ({"alpha": -1.0}, ValueError, r"alpha must be finite and >= 0; received alpha=-1.0"),
        ({"beta": float("nan")}, ValueError, r"beta must be finite and >= 0; received beta=nan"),
        ({"beta": float("inf")}, ValueError, r"beta must be finite and >= 0; received beta=inf"),
        ({"alpha": 2.0, "beta": 1.0}, ValueError, r"alpha must not exceed beta.*alpha=2.0, beta=1.0"),
        ({"alpha": 1.0, "beta": 0.0}, ValueError, r"alpha must not exceed beta.*alpha=1.0, beta=0.0"),
        ({"alpha": "1"}, TypeError, r"alpha must be a real number; received alpha='1'"),
        ({"beta": True}, TypeError, r"beta must be a real number; received beta=True"),
    ],
)
def test_bad_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        DiceF1Loss(**kwargs)
    with pytest.raises(error, match=message):
        dice_f1_coefficient(np.zeros((1, 2)), np.zeros((1, 2)), **kwargs)


@pytest.mark.parametrize(
    "y_true_shape, y_pred_shape, message",
    [
        ((4,), (4,), r"rank >= 2 .*received y_pred.shape=\(4,\)"),
        ((2, 4, 4, 3), (2, 4, 4, 2), r"same shape .*y_true.shape=\(2, 4, 4, 3\), y_pred.shape=\(2, 4, 4, 2\)"),
        ((2, 4, 3), (2, 4, 4, 3), r"same shape"),
    ],
)
def test_bad_shapes(y_true_shape, y_pred_shape, message):
    with pytest.raises(ValueError, match=message):
        DiceF1Loss()(np.zeros(y_true_shape, np.float32), np.zeros(y_pred_shape, np.float32))


def test_sample_weight_is_rejected():
    y_true, y_pred = random_batch((2, 4, 4, 2), seed=6)
    with pytest.raises(ValueError, match=r"does not take sample_weight .*partition='channel_batch'"):
        DiceF1Loss()(y_true, y_pred, sample_weight=np.ones(2, np.float32))


def test_serialisation_round_trip():
    loss = DiceF1Loss(partition="channel_image", alpha=0.5, beta=2.0, name="dice")
    config = loss.get_config()
    assert config == {"partition": "channel_image", "alpha": 0.5, "beta": 2.0, "reduction": "sum_over_batch_size",
                      "name": "dice"}
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, DiceF1Loss) and restored.get_config() == config
    assert keras.saving.serialize_keras_object(loss)["registered_name"] == "dermkit>DiceF1Loss"
    y_true, y_pred = random_batch((2, 4, 4, 2), seed=7)
    assert float(restored(y_true, y_pred)) == float(loss(y_true, y_pred))


def test_compiled_model_reloads_in_safe_mode(tmp_path):
    inputs = keras.Input((8, 8, 3), name="image")
    outputs = keras.layers.Conv2D(2, 1, activation="sigmoid", name="head")(inputs)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer="adam", loss=DiceF1Loss(partition="volume", alpha=0.0, beta=0.5))
    x = np.random.default_rng(1).random((4, 8, 8, 3), dtype=np.float32)
    y = (x[..., :2] > 0.5).astype(np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "tiny.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(reloaded.loss, DiceF1Loss)
    assert reloaded.loss.get_config() == model.loss.get_config()
    np.testing.assert_allclose(reloaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)


def test_distributed_matches_single_device():
    """One step on 2 replicas (strategy.run, Model.fit, Model.evaluate) equals one device on the global batch.

    The check runs in a subprocess: the 2 logical CPU devices must exist before TensorFlow initialises.
    """
    result = subprocess.run(
        [sys.executable, str(DISTRIBUTED_CHECK)], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert {row["partition"] for row in rows} == set(PARTITIONS)
    for row in rows:
        for key in (
            "run_loss",
            "run_grads",
            "fit_loss",
            "fit_weights",
            "fit_weights_vs_manual",
            "eval_loss",
            "uneven_loss",
            "uneven_grads",
        ):
            assert row[key] < 1e-5, (key, row)
        if row["partition"] != "channel_image":
            # The data makes a per-replica (local) ratio visibly wrong: the check has teeth.
            assert row["naive_gap"] > 1e-3, row


def test_options_are_keyword_only_and_reduction_is_accepted():
    """Issue 18: DiceF1Loss's options are keyword-only and Keras' reduction is accepted (one value per batch)."""
    with pytest.raises(TypeError):
        DiceF1Loss("volume")
    y_true, y_pred = random_batch((2, 4, 4, 2), seed=8)
    values = {r: float(DiceF1Loss(reduction=r)(y_true, y_pred)) for r in ("sum_over_batch_size", "sum", "none")}
    assert len(set(values.values())) == 1
    with pytest.raises(ValueError, match="reduction"):
        DiceF1Loss(reduction="median")
