"""EmbeddingIndex: exact squared-L2 neighbours, faiss and scikit-learn agreeing with a NumPy brute force."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.retrieval import EmbeddingIndex, faiss_available


def numpy_knn(x, q, k):
    d = ((q[:, None, :].astype(np.float64) - x[None].astype(np.float64)) ** 2).sum(-1)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, 1), idx


def test_hand_case_sklearn():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]])
    dist, idx = EmbeddingIndex(x, backend="sklearn").search(np.array([[0.9, 0.1]]), 3)
    np.testing.assert_array_equal(idx, [[1, 0, 2]])
    np.testing.assert_allclose(dist, [[0.02, 0.82, 0.81 + 8.41]], rtol=1e-5)


@pytest.mark.parametrize("backend", ["sklearn", "faiss"])
def test_backends_match_numpy(backend):
    if backend == "faiss" and not faiss_available():
        pytest.skip("faiss not installed")
    rng = np.random.default_rng(0)
    x, q = rng.normal(size=(500, 16)), rng.normal(size=(40, 16))
    index = EmbeddingIndex(x, backend=backend)
    assert index.backend == backend and len(index) == 500
    dist, idx = index.search(q, 10)
    want_d, want_i = numpy_knn(x, q, 10)
    np.testing.assert_array_equal(idx, want_i)  # continuous random data: no ties
    np.testing.assert_allclose(dist, want_d, rtol=1e-10, atol=1e-10)  # re-ranked in float64


@pytest.mark.parametrize("backend", ["sklearn", "faiss"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_offset_keeps_the_float64_order(backend, dtype):
    """Embeddings offset by 1000 in 1024-d (large norms, small spread): float32 ‖q‖² − 2q·x + ‖x‖² loses the
    order; centring + float64 re-ranking returns the float64 brute force's top 40 exactly."""
    if backend == "faiss" and not faiss_available():
        pytest.skip("faiss not installed")
    rng = np.random.default_rng(7)
    x = (rng.normal(size=(2000, 1024)) + 1000.0).astype(dtype)
    q = (rng.normal(size=(200, 1024)) + 1000.0).astype(dtype)  # enough queries for faiss' float32 BLAS path
    d = np.stack([((x.astype(np.float64) - row.astype(np.float64)) ** 2).sum(1) for row in q])  # float64 reference
    want_i = np.argsort(d, axis=1, kind="stable")[:, :40]
    want_d = np.take_along_axis(d, want_i, 1)
    dist, idx = EmbeddingIndex(x, backend=backend).search(q, 40)
    np.testing.assert_array_equal(idx, want_i)
    np.testing.assert_allclose(dist, want_d, rtol=1e-12)


def test_ties_come_lower_row_first():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [5.0, 5.0]])  # three rows at distance 1 from the origin
    for backend in ["sklearn"] + (["faiss"] if faiss_available() else []):
        dist, idx = EmbeddingIndex(x, backend=backend).search(np.zeros((1, 2)), 3)
        np.testing.assert_array_equal(idx, [[0, 1, 2]])
        np.testing.assert_array_equal(dist, [[1.0, 1.0, 1.0]])


def test_auto_and_errors():
    x = np.eye(3)
    index = EmbeddingIndex(x)
    assert index.backend == ("faiss" if faiss_available() else "sklearn")
    with pytest.raises(ValueError, match="k must be"):
        index.search(x, 4)
    with pytest.raises(ValueError, match="dimension"):
        index.search(np.ones((1, 2)), 1)
    with pytest.raises(ValueError, match="NaN"):
        EmbeddingIndex(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="backend"):
        EmbeddingIndex(x, backend="annoy")
