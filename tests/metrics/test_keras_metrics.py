"""ChannelDice: exact epoch accumulation, serialisation, options."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dermkit.metrics import ChannelDice, channel_dice_metrics  # noqa: E402


def numpy_dice(y_true, y_pred, channel=None, weight=None):
    """Reference: 2 Σ w·y·p / Σ w·(y + p) over every pixel given, 1 when both sums are 0."""
    y_true = np.asarray(y_true, np.float64)
    y_pred = np.asarray(y_pred, np.float64)
    if channel is not None:
        y_true, y_pred = y_true[..., channel], y_pred[..., channel]
    w = 1.0 if weight is None else np.asarray(weight, np.float64).reshape((-1,) + (1,) * (y_true.ndim - 1))
    total = np.sum(w * (y_true + y_pred))
    return 1.0 if total == 0 else 2 * np.sum(w * y_true * y_pred) / total


@pytest.fixture
def two_batches():
    rng = np.random.default_rng(0)
    # batch 1 [2, 6, 5, 4] and batch 2 [3, 6, 5, 4]; channel 3 rare so batch ratios differ a lot
    batches = []
    for b, rate in [(2, 0.02), (3, 0.4)]:
        y = (rng.random((b, 6, 5, 4)) < [0.5, 0.3, 0.1, rate]).astype(np.float32)
        p = rng.random((b, 6, 5, 4)).astype(np.float32)
        batches.append((y, p))
    return batches


@pytest.mark.parametrize("channel", [0, 3, None])
def test_accumulates_exact_epoch_value(two_batches, channel):
    metric = ChannelDice(channel=channel)
    for y, p in two_batches:
        metric.update_state(y, p)
    y_all = np.concatenate([b[0] for b in two_batches])
    p_all = np.concatenate([b[1] for b in two_batches])
    expected = numpy_dice(y_all, p_all, channel)
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)
    if channel == 3:  # a mean of batch ratios would be a different number
        batch_mean = np.mean([numpy_dice(y, p, channel) for y, p in two_batches])
        assert abs(batch_mean - expected) > 1e-3
    metric.reset_state()
    assert float(metric.result()) == 1.0  # nothing seen: both sums 0


def test_sample_weight_broadcasts_from_batch_axis(two_batches):
    y, p = two_batches[1]
    weight = np.array([1.0, 0.0, 2.0], np.float32)
    metric = ChannelDice(channel=1)
    metric.update_state(y, p, sample_weight=weight)
    assert float(metric.result()) == pytest.approx(numpy_dice(y, p, 1, weight), rel=1e-5)


def test_empty_is_one_and_miss_is_zero():
    metric = ChannelDice(channel=0)
    metric.update_state(np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 2, 1)))
    assert float(metric.result()) == 1.0
    metric.update_state(np.ones((1, 2, 2, 1)), np.zeros((1, 2, 2, 1)))
    assert float(metric.result()) == 0.0


def test_serialisation_round_trip(two_batches):
    metric = ChannelDice(channel=2, name="dice_milia_like_cyst")
    assert metric.get_config() == {"name": "dice_milia_like_cyst", "dtype": "float32", "channel": 2}
    config = keras.saving.serialize_keras_object(metric)
    assert config["registered_name"] == "dermkit>ChannelDice"
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, ChannelDice) and restored.get_config() == metric.get_config()
    for y, p in two_batches:
        metric.update_state(y, p)
        restored.update_state(y, p)
    assert float(restored.result()) == pytest.approx(float(metric.result()))


def test_compiled_model_reloads_with_metrics(tmp_path, two_batches):
    inputs = keras.Input((6, 5, 4))
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(inputs))
    metrics = [keras.metrics.BinaryAccuracy(name="pixel_accuracy"), *channel_dice_metrics(["a", "b", "c", "d"])]
    model.compile(loss="binary_crossentropy", metrics=metrics)
    y = np.concatenate([b[0] for b in two_batches])
    x = np.concatenate([b[1] for b in two_batches])
    logs = model.evaluate(x, y, batch_size=2, return_dict=True, verbose=0)  # 3 batches: 2, 2, 1
    probs = 1 / (1 + np.exp(-x.astype(np.float64)))
    for k, name in enumerate("abcd"):
        assert logs[f"dice_{name}"] == pytest.approx(numpy_dice(y, probs, k), rel=1e-5)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    logs2 = reloaded.evaluate(x, y, batch_size=5, return_dict=True, verbose=0)
    for key in ("pixel_accuracy", "dice_a", "dice_d"):
        assert logs2[key] == pytest.approx(logs[key], rel=1e-5)


@pytest.mark.parametrize("channel", [-1, 1.5, True, "0"])
def test_bad_channel(channel):
    with pytest.raises(ValueError, match=rf"channel must be None or a non-negative int. Received: channel={channel!r}"):
        ChannelDice(channel=channel)


def test_default_names():
    assert ChannelDice().name == "dice"
    assert ChannelDice(channel=3).name == "dice_3"
    assert [m.name for m in channel_dice_metrics(["pn", "st"])] == ["dice_pn", "dice_st"]
