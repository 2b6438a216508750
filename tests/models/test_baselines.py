"""kawahara2018 Table II baselines: Empty and Lesion, per superpixel."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.data.superpixels import superpixel_sizes
from dermkit.metrics.isic import isic2017_part2_scores
from dermkit.metrics.jaccard import fuzzy_jaccard_superpixels, threshold_below
from dermkit.models.baselines import empty_baseline, lesion_baseline

INDEX = np.array([[0, 0, 1], [2, 2, 1]])  # 3 superpixels of 2 pixels each


@pytest.mark.parametrize("arg", [INDEX, 3, np.int64(3)])
def test_empty_baseline_shape_and_zeros(arg):
    out = empty_baseline(arg)
    assert out.shape == (3, 4) and out.dtype == np.float32 and not out.any()


@pytest.mark.parametrize(
    "arg, message",
    [
        (-1, "the number of superpixels must be >= 0. Received: -1"),
        (np.zeros((2, 2, 3), int), r"Received: array of shape \(2, 2, 3\)"),
        (np.zeros((2, 2)), "dtype float64"),
    ],
)
def test_empty_baseline_errors(arg, message):
    with pytest.raises(ValueError, match=message):
        empty_baseline(arg)


# (lesion mask [2, 3], expected per-superpixel fraction [3])
LESION_CASES = [
    (np.array([[1, 1, 0], [1, 0, 0]], bool), [1.0, 0.0, 0.5]),
    (np.array([[255, 0, 255], [0, 0, 255]], np.uint8), [0.5, 1.0, 0.0]),
    (np.array([[0.9, 0.6, 0.2], [0.5, 0.7, 0.0]]), [1.0, 0.0, 0.5]),  # floats at > 0.5
]


@pytest.mark.parametrize("mask, expected", LESION_CASES)
def test_lesion_baseline_cases(mask, expected):
    out = lesion_baseline(mask, INDEX)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, np.repeat(np.array(expected)[:, None], 4, axis=1))


def test_lesion_baseline_errors():
    with pytest.raises(ValueError, match="lesion_mask: integer mask with maximum 1 is ambiguous"):
        lesion_baseline(np.array([[1, 0, 0], [0, 0, 0]]), INDEX)
    np.testing.assert_allclose(lesion_baseline(np.array([[1, 0, 0], [0, 0, 0]]), INDEX, threshold=0)[:, 0], [0.5, 0, 0])
    with pytest.raises(ValueError, match="resize the prediction"):
        lesion_baseline(np.zeros((3, 3), bool), INDEX)


def test_baselines_score_like_table_ii():
    # Empty: AUROC 0.5, sensitivity 0, J̄1 high, J̄nan 0 — the pattern of kawahara2018 Table II.
    rng = np.random.default_rng(0)
    truth, index_maps = [], []
    for _ in range(6):
        index = rng.permutation(np.arange(64) % 16).reshape(8, 8)
        labels = (rng.random((16, 4)) < 0.15).astype(np.float32)
        labels[:, 3] *= rng.random() < 0.5  # some images without streaks
        truth.append(labels)
        index_maps.append(index)
    truth[0][0] = 1.0  # every feature present somewhere
    sizes = [superpixel_sizes(i, 16) for i in index_maps]
    empty = [empty_baseline(i) for i in index_maps]
    table = isic2017_part2_scores(truth, empty)
    assert (table["auc"] == 0.5).all() and (table["sensitivity"] == 0).all()
    assert (fuzzy_jaccard_superpixels(truth, empty, sizes, empty="ignore") == 0).all()
    assert (fuzzy_jaccard_superpixels(truth, empty, sizes, empty="one") > 0).any()
    lesion = [lesion_baseline(np.ones((8, 8), bool), i) for i in index_maps]  # lesion everywhere
    table = isic2017_part2_scores(truth, lesion)
    assert (table["sensitivity"] == 1).all() and (table["specificity"] == 0).all()
    thresholded = [threshold_below(p) for p in lesion]
    assert (fuzzy_jaccard_superpixels(truth, thresholded, sizes) > 0).all()


def test_baselines_compute_with_numpy_only():
    """The baselines use no TensorFlow op (importing them through ``dermkit.models`` loads TensorFlow, which
    registers dermkit's serialisables — issue 18; their module itself imports only NumPy / SciPy)."""
    import ast
    from pathlib import Path

    import dermkit

    source = (Path(dermkit.__file__).parent / "models" / "baselines.py").read_text(encoding="utf-8")
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source))
                if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in getattr(node, "names", [])}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"tensorflow", "keras"}, imported
