"""CurriculumSchedule (barata2020 Eq. 9): m per epoch for E = 150 / 250, M = 20, and the fraction reaching a
compiled SampleWeightingLoss during fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from dermkit.losses import SampleWeightingLoss  # noqa: E402
from dermkit.training.curriculum import CurriculumSchedule, curriculum_fraction, curriculum_losses  # noqa: E402


def plain_eq9_count(epoch, total_epochs, batch_size):
    """Eq. 9 written out: m = M·exp(αe)/(1 + exp(αe)), α = ln(2M − 1)/(E/2); count min(M, ⌊m + ½⌋) before E/2,
    M from E/2 on."""
    if epoch >= total_epochs / 2:
        return batch_size
    alpha = math.log(2 * batch_size - 1) / (total_epochs / 2)
    m = batch_size * math.exp(alpha * epoch) / (1 + math.exp(alpha * epoch))
    return min(batch_size, math.floor(m + 0.5))


# The first epoch (0-based) at which each count is reached, M = 20 (from the plain formula above, checked by
# hand at a few points: E = 150, e = 3: α·e = ln 39 · 3/75 = 0.14654, 20·σ = 10.73 → 11).
FIRST_EPOCH_OF_COUNT = {
    150: {10: 0, 11: 3, 12: 7, 13: 11, 14: 15, 15: 20, 16: 26, 17: 32, 18: 40, 19: 52, 20: 75},
    250: {10: 0, 11: 4, 12: 11, 13: 18, 14: 25, 15: 34, 16: 43, 17: 53, 18: 67, 19: 86, 20: 125},
}


@pytest.mark.parametrize("total_epochs", [150, 250])
def test_count_per_epoch(total_epochs):
    schedule = CurriculumSchedule(total_epochs)  # M = 20, barata2020's batch
    counts = [schedule.keep_count(e) for e in range(total_epochs)]
    assert counts == [plain_eq9_count(e, total_epochs, 20) for e in range(total_epochs)]
    first = {}
    for epoch, count in enumerate(counts):
        first.setdefault(count, epoch)
    assert first == FIRST_EPOCH_OF_COUNT[total_epochs]
    assert counts[0] == 10 and counts[total_epochs // 2 - 1] == 19 and set(counts[total_epochs // 2 :]) == {20}
    assert all(a <= b for a, b in zip(counts, counts[1:]))
    # α makes M·σ(α·E/2) = M − ½ exactly: the rounded count first reaches M at E/2.
    assert 20 / (1 + math.exp(-schedule.alpha * total_epochs / 2)) == pytest.approx(19.5, abs=1e-12)


def test_fraction_applies_to_other_batch_sizes():
    schedule = CurriculumSchedule(150)
    for epoch in (0, 1, 10, 40, 74, 75, 149):
        fraction = curriculum_fraction(epoch, total_epochs=150, batch_size=20)
        assert schedule.fraction(epoch) == fraction
        for size in (1, 7, 13, 20):  # e.g. a last, smaller batch
            assert schedule.keep_count(epoch, size) == min(size, math.floor(fraction * size + 0.5))
    assert schedule.fraction(0) == 0.5 and schedule.fraction(75) == 1.0


def test_odd_epoch_count():
    # E = 5: E/2 = 2.5, so epochs 0, 1, 2 are below it and 3, 4 keep everything; α = ln 39 / 2.5.
    schedule = CurriculumSchedule(5)
    assert [schedule.keep_count(e) for e in range(5)] == [plain_eq9_count(e, 5, 20) for e in range(5)]
    assert [schedule.fraction(e) for e in (3, 4)] == [1.0, 1.0] and schedule.fraction(2) < 1.0


def _model():
    inputs = keras.Input((3,), name="features")
    outputs = keras.layers.Dense(4, activation="softmax", name="head")(inputs)
    return keras.Model(inputs, outputs, name="tiny")


X = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
Y = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1, 2, 3]]


class RecordFraction(keras.callbacks.Callback):
    def __init__(self, loss):
        super().__init__()
        self.loss = loss
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(float(self.loss.keep_fraction.numpy()))


def test_fit_sets_the_fraction_and_the_compiled_loss_uses_it():
    """With lr = 0 and one batch of M = 8 per epoch, epoch e's logged loss is Σ of the k(e) highest per-sample
    losses / 8 (OHEM), k(e) = min(8, ⌊8 σ(αe) + ½⌋) with α = ln 15 / 3 = 0.9027 for E = 6: 8σ = 4, 5.69,
    6.87 → 4, 6, 7, then 8 from E/2 = 3 on."""
    model = _model()
    loss = SampleWeightingLoss(keras.losses.CategoricalCrossentropy(), curriculum="ohem")
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss)
    schedule = CurriculumSchedule(6, batch_size=8)
    record = RecordFraction(loss)
    history = model.fit(X, Y, batch_size=8, epochs=6, shuffle=False, verbose=0, callbacks=[schedule, record])
    expected_fractions = [curriculum_fraction(e, total_epochs=6, batch_size=8) for e in range(6)]
    assert record.seen == pytest.approx(expected_fractions, abs=1e-15)
    assert history.history["keep_fraction"] == pytest.approx(expected_fractions, abs=1e-15)
    counts = [plain_eq9_count(e, 6, 8) for e in range(6)]
    assert counts == [4, 6, 7, 8, 8, 8]
    per_sample = -np.log(np.sum(model.predict(X, verbose=0) * Y, axis=1))
    ranked = np.sort(per_sample)[::-1]
    np.testing.assert_allclose(history.history["loss"], [ranked[:k].sum() / 8 for k in counts], rtol=1e-5)


def test_losses_are_found_in_a_dict():
    inputs = keras.Input((3,), name="features")
    first = keras.layers.Dense(4, activation="softmax", name="first")(inputs)
    second = keras.layers.Dense(4, activation="softmax", name="second")(inputs)
    model = keras.Model(inputs, {"first": first, "second": second})
    spl = SampleWeightingLoss(keras.losses.CategoricalCrossentropy(), curriculum="spl")
    plain = SampleWeightingLoss(keras.losses.CategoricalCrossentropy())
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss={"first": spl, "second": plain})
    assert curriculum_losses(model.loss) == [spl]
    model.fit(X, {"first": Y, "second": Y}, batch_size=8, epochs=3, verbose=0, callbacks=[CurriculumSchedule(2)])
    assert float(spl.keep_fraction.numpy()) == 1.0  # epoch 2 ≥ E/2
    assert float(plain.keep_fraction.numpy()) == 0.5  # no curriculum: left alone


def test_a_model_without_a_curriculum_loss_is_refused():
    model = _model()
    model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy())
    with pytest.raises(ValueError, match=r"no SampleWeightingLoss with curriculum='spl' or 'ohem' in model.loss"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[CurriculumSchedule(2)])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"total_epochs": 0}, r"total_epochs must be an integer >= 1; received total_epochs=0"),
        ({"total_epochs": 10.0}, r"total_epochs must be an integer >= 1; received total_epochs=10.0"),
        ({"total_epochs": 10, "batch_size": 0}, r"batch_size must be an integer >= 1; received batch_size=0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CurriculumSchedule(**kwargs)
    with pytest.raises(ValueError, match=r"epoch must be an integer >= 0; received epoch=-1"):
        curriculum_fraction(-1, total_epochs=10)
