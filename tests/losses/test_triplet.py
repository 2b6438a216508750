"""codella2018 Eq. 1 against NumPy on hand-made embeddings (both sides of the hinge)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dermkit.losses import ChaiTripletLoss, chai_triplet_loss  # noqa: E402


def eq1(a, b, c, margin=1.0):
    d = lambda x, y: np.sum((x - y) ** 2, axis=-1)  # noqa: E731
    return np.maximum(0.0, margin + d(a, b) - 0.5 * (d(a, c) + d(b, c)))


def test_hand_cases():
    a = np.array([[0.0, 0.0], [0.0, 0.0]], np.float32)
    b = np.array([[1.0, 0.0], [0.1, 0.0]], np.float32)
    c = np.array([[0.0, 1.0], [3.0, 0.0]], np.float32)
    # triplet 1: D(a,b)=1, D(a,c)=1, D(b,c)=2 → 1 + 1 − 1.5 = 0.5; triplet 2: 0.01 − ½(9 + 8.41) < 0 → 0.
    per = np.asarray(chai_triplet_loss(a, b, c))
    np.testing.assert_allclose(per, [0.5, 0.0], atol=1e-6)
    loss = ChaiTripletLoss()(np.zeros(2), np.stack([a, b, c], axis=1))
    np.testing.assert_allclose(float(loss), 0.25, atol=1e-6)


def test_random_against_numpy_and_margin():
    rng = np.random.default_rng(0)
    a, b, c = (rng.normal(0, 0.7, (64, 8)).astype(np.float32) for _ in range(3))
    for margin in (0.0, 1.0, 3.0):
        want = eq1(a, b, c, margin).mean()
        got = float(ChaiTripletLoss(margin=margin)(np.zeros(64), np.stack([a, b, c], 1)))
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert 0 < (eq1(a, b, c) == 0).mean() < 1  # both sides of the hinge were exercised


def test_shape_error_and_config():
    with pytest.raises(ValueError, match=r"\[batch, 3, dim\]"):
        ChaiTripletLoss()(np.zeros(2), np.zeros((2, 2, 4), np.float32))
    with pytest.raises(ValueError, match="margin"):
        ChaiTripletLoss(margin=-1)
    loss = keras.losses.deserialize(keras.losses.serialize(ChaiTripletLoss(margin=2.5)))
    assert isinstance(loss, ChaiTripletLoss) and loss.margin == 2.5
