"""Novelty check (bisla2019 Section 3.3.2, the authors' mse_check.py): nearest_training_mse (min–max stretch
of each generated image, per-class comparison) against a plain NumPy loop over pairs; channel statistics
against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.metrics.novelty import channel_stats, channel_stats_distance, minmax_stretch, nearest_training_mse


def authors_stretch(image):
    """mse_check.py's norm_ip(img, img.min(), img.max()): clamp to [min, max], subtract min, divide by the span."""
    image = image.astype(np.float64)
    lo, hi = image.min(), image.max()
    return (np.clip(image, lo, hi) - lo) / (hi - lo)


def brute_force(gen, train, gen_labels=None, train_labels=None, stretch=False):
    mse = np.empty(len(gen))
    index = np.empty(len(gen), np.int64)
    for i, a in enumerate(gen):
        a = authors_stretch(a) if stretch else a.astype(np.float64)
        best, arg = np.inf, -1
        for j, b in enumerate(train):
            if gen_labels is not None and train_labels[j] != gen_labels[i]:
                continue
            value = np.mean((a - b.astype(np.float64)) ** 2)
            if value < best:
                best, arg = value, j
        mse[i], index[i] = best, arg
    return mse, index


@pytest.mark.parametrize("batch_size", [1, 7, 64, 256])
def test_matches_a_loop_over_pairs(batch_size):
    rng = np.random.default_rng(0)
    train = rng.random((150, 6, 5, 3), dtype=np.float32)
    gen = np.clip(train[rng.integers(0, 150, 120)] + rng.normal(0, 0.1, (120, 6, 5, 3)), 0, 1).astype(np.float32)
    mse, index = nearest_training_mse(gen, train, batch_size=batch_size, stretch=False)
    want_mse, want_index = brute_force(gen, train)
    np.testing.assert_allclose(mse, want_mse, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(index, want_index)
    assert mse.dtype == np.float64 and index.dtype == np.int64


def test_hand_computed_case_and_ties():
    train = np.zeros((3, 1, 2, 1), np.float32)
    train[1] = 1.0
    train[2] = 1.0  # a duplicate of image 1: ties go to the lower index
    gen = np.array([[[[0.5], [1.0]]], [[[0.9], [0.9]]]], np.float32)
    mse, index = nearest_training_mse(gen, train, batch_size=1, stretch=False)
    np.testing.assert_allclose(mse, [0.125, 0.01], rtol=1e-6)  # (0.25 + 0) / 2 vs (0.25 + 1) / 2; 0.01
    np.testing.assert_array_equal(index, [1, 1])
    same, where = nearest_training_mse(train[1:2], train, stretch=False)
    assert same[0] == 0.0 and where[0] == 1  # an exact copy is found, MSE 0


@pytest.mark.parametrize("batch_size", [1, 5, 1024])
def test_stretched_per_class_check_matches_the_authors_loop(batch_size):
    """Each generated image min–max stretched (mse_check.py's norm_ip), compared with the training images of
    its own class only; the index points into the whole training array."""
    rng = np.random.default_rng(1)
    train = rng.random((40, 5, 4, 3), dtype=np.float32)
    train_labels = np.arange(40) % 3
    picks = rng.integers(0, 40, 25)
    # generated = a contrast-reduced copy of a training image (so the stretch matters) of the same class
    gen = (0.3 + 0.4 * train[picks] + rng.normal(0, 0.02, (25, 5, 4, 3))).clip(0, 1).astype(np.float32)
    gen_labels = train_labels[picks]
    mse, index = nearest_training_mse(gen, train, generated_labels=gen_labels, training_labels=train_labels,
                                      batch_size=batch_size)
    want_mse, want_index = brute_force(gen, train, gen_labels, train_labels, stretch=True)
    np.testing.assert_allclose(mse, want_mse, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(index, want_index)
    assert np.all(train_labels[index] == gen_labels)
    # without labels every training image competes, without the stretch the values differ
    all_mse, _ = nearest_training_mse(gen, train, batch_size=batch_size)
    np.testing.assert_allclose(all_mse, brute_force(gen, train, stretch=True)[0], rtol=1e-9, atol=1e-12)
    plain, _ = nearest_training_mse(gen, train, generated_labels=gen_labels, training_labels=train_labels,
                                    stretch=False, batch_size=batch_size)
    np.testing.assert_allclose(plain, brute_force(gen, train, gen_labels, train_labels)[0], rtol=1e-9)
    assert not np.allclose(plain, mse)


def test_minmax_stretch():
    image = np.array([[[[0.2, 0.4, 0.6]], [[0.3, 0.5, 0.7]]]], np.float32)  # [1, 2, 1, 3]: min 0.2, max 0.7
    want = (image.astype(np.float64) - 0.2) / 0.5
    np.testing.assert_allclose(minmax_stretch(image), want, atol=1e-7)
    # raw tanh output in [-1, 1] stretches to the same image as its (x + 1) / 2 in [0, 1]
    raw = np.random.default_rng(0).uniform(-0.9, 0.8, (3, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(minmax_stretch(raw), minmax_stretch((raw + 1) / 2), atol=1e-6)
    np.testing.assert_allclose(minmax_stretch(raw)[0], authors_stretch(raw[0]), atol=1e-12)
    assert minmax_stretch(raw).reshape(3, -1).min(axis=1).tolist() == [0, 0, 0]
    assert minmax_stretch(raw).reshape(3, -1).max(axis=1).tolist() == [1, 1, 1]
    np.testing.assert_array_equal(minmax_stretch(np.full((1, 2, 2, 3), 0.4, np.float32)), 0.0)  # constant → 0
    mse, _ = nearest_training_mse(raw, (raw + 1) / 2)  # raw output is accepted where stretching
    assert mse.shape == (3,) and np.all(np.isfinite(mse))


def test_bad_inputs_are_refused():
    good = np.zeros((2, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nearest_training_mse(good - 1, good, stretch=False)
    with pytest.raises(ValueError, match=r"training must hold finite values in \[0, 1\]"):
        nearest_training_mse(good, good - 1)
    with pytest.raises(ValueError, match="finite"):
        nearest_training_mse(good * np.nan, good)
    labels = np.zeros(2, np.int64)
    with pytest.raises(ValueError, match="both generated_labels and training_labels"):
        nearest_training_mse(good, good, generated_labels=labels)
    with pytest.raises(ValueError, match=r"generated_labels must hold one label per image: shape \(2,\)"):
        nearest_training_mse(good, good, generated_labels=labels[:1], training_labels=labels)
    with pytest.raises(ValueError, match="integer class labels"):
        nearest_training_mse(good, good, generated_labels=labels + 0.5, training_labels=labels)
    with pytest.raises(ValueError, match="class 1 have no training image"):
        nearest_training_mse(good, good, generated_labels=labels + 1, training_labels=labels)
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
