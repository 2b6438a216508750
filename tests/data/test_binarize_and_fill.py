"""binarize_and_fill: bisla2019's threshold 0.4 + hole filling, on hand-made masks."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.data.masks import binarize_and_fill


def test_threshold_is_inclusive_and_holes_fill():
    prob = np.zeros((7, 7))
    prob[1:6, 1:6] = 0.4  # exactly at the threshold: lesion
    prob[3, 3] = 0.39  # a one-pixel hole inside: filled
    prob[0, 6] = 0.9  # an isolated pixel on the border stays
    out = binarize_and_fill(prob)
    expected = np.zeros((7, 7), bool)
    expected[1:6, 1:6] = True
    expected[0, 6] = True
    np.testing.assert_array_equal(out, expected)


def test_background_touching_the_border_is_not_a_hole():
    prob = np.ones((5, 5))
    prob[2, :3] = 0.0  # a channel open to the left border: not filled
    out = binarize_and_fill(prob)
    assert not out[2, :3].any() and out.sum() == 22


def test_batches_and_channel_axis():
    prob = np.zeros((2, 6, 6, 1))
    prob[0, 1:5, 1:5] = 0.8
    prob[0, 2:4, 2:4] = 0.1
    out = binarize_and_fill(prob, threshold=0.5)
    assert out.shape == (2, 6, 6)
    assert out[0].sum() == 16 and out[1].sum() == 0
    assert binarize_and_fill(prob, threshold=0.85).sum() == 0


@pytest.mark.parametrize("prob, kwargs, match", [
    (np.zeros((3,)), {}, "prob must be"),
    (np.full((3, 3), 1.5), {}, r"in \[0, 1\]"),
    (np.zeros((3, 3)), {"threshold": 1.0}, "threshold must be"),
])
def test_bad_input(prob, kwargs, match):
    with pytest.raises(ValueError, match=match):
        binarize_and_fill(prob, **kwargs)
