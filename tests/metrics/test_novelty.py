"""Novelty check (bisla2019 Section 3.3.2): nearest_training_mse against a brute-force loop over pairs;
channel statistics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.metrics.novelty import channel_stats, channel_stats_distance, nearest_training_mse


def brute_force(gen, train):
    mse = np.empty(len(gen))
    index = np.empty(len(gen), np.int64)
    for i, a in enumerate(gen):
        best, arg = np.inf, -1
        for j, b in enumerate(train):
            value = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
            if value < best:
                best, arg = value, j
        mse[i], index[i] = best, arg
    return mse, index


@pytest.mark.parametrize("batch_size", [1, 7, 64, 256])
def test_matches_a_loop_over_pairs(batch_size):
    rng = np.random.default_rng(0)
    train = rng.random((150, 6, 5, 3), dtype=np.float32)
    gen = np.clip(train[rng.integers(0, 150, 120)] + rng.normal(0, 0.1, (120, 6, 5, 3)), 0, 1).astype(np.float32)
    mse, index = nearest_training_mse(gen, train, batch_size=batch_size)
    want_mse, want_index = brute_force(gen, train)
    np.testing.assert_allclose(mse, want_mse, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(index, want_index)
    assert mse.dtype == np.float64 and index.dtype == np.int64


def test_hand_computed_case_and_ties():
    train = np.zeros((3, 1, 2, 1), np.float32)
    train[1] = 1.0
    train[2] = 1.0  # a duplicate of image 1: ties go to the lower index
    gen = np.array([[[[0.5], [1.0]]], [[[0.9], [0.9]]]], np.float32)
    mse, index = nearest_training_mse(gen, train, batch_size=1)
    np.testing.assert_allclose(mse, [0.125, 0.01], rtol=1e-6)  # (0.25 + 0) / 2 vs (0.25 + 1) / 2; 0.01
    np.testing.assert_array_equal(index, [1, 1])
    same, where = nearest_training_mse(train[1:2], train)
    assert same[0] == 0.0 and where[0] == 1  # an exact copy is found, MSE 0


def test_bad_inputs_are_refused():
    good = np.zeros((2, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nearest_training_mse(good - 1, good)
    with pytest.raises(ValueError, match="differ in shape"):
        nearest_training_mse(good, np.zeros((2, 4, 5, 3), np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        nearest_training_mse(good[:0], good)
    with pytest.raises(ValueError, match="float"):
        nearest_training_mse(good.astype(np.uint8), good)
    with pytest.raises(ValueError, match="batch_size"):
        nearest_training_mse(good, good, batch_size=0)


def test_channel_stats_and_distance():
    images = np.zeros((2, 1, 2, 3), np.float32)
    images[0, 0, :, 0] = [0.0, 1.0]  # red: values 0, 1, 0, 0 → mean 0.25, std sqrt(0.1875)
    images[1, 0, :, 1] = 0.5  # green: 0, 0, 0.5, 0.5 → mean 0.25, std 0.25
    mean, std = channel_stats(images)
    np.testing.assert_allclose(mean, [0.25, 0.25, 0.0])
    np.testing.assert_allclose(std, [np.sqrt(0.1875), 0.25, 0.0])
    grey = np.full((1, 2, 2, 3), 0.5, np.float32)  # mean 0.5, std 0
    want = np.sqrt(0.25 ** 2 + 0.25 ** 2 + 0.5 ** 2 + 0.1875 + 0.25 ** 2)  # Δμ (.25, .25, .5); Δσ (√.1875, .25, 0)
    assert channel_stats_distance(images, grey) == pytest.approx(want)
    assert channel_stats_distance(images, channel_stats(grey)) == pytest.approx(want)
    assert channel_stats_distance(images, images) == 0.0
