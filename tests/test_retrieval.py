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


# ---------------------------------------------------------------------------------------------------------
# The faiss / tensorflow-similarity style API: add, ids, cosine, save / load (issue 18)
# ---------------------------------------------------------------------------------------------------------
BACKEND_LIST = ["sklearn"] + (["faiss"] if faiss_available() else [])


@pytest.mark.parametrize("backend", BACKEND_LIST)
def test_add_in_batches_equals_one_index_and_ids_come_back(backend):
    rng = np.random.default_rng(3)
    x, q = rng.normal(size=(300, 8)), rng.normal(size=(25, 8))
    ids = np.array([f"ISIC_{i:07d}" for i in range(300)])
    index = EmbeddingIndex(backend=backend)
    assert len(index) == 0
    index.add(x[:100], ids=ids[:100]).add(x[100:], ids=ids[100:])
    assert len(index) == 300 and index.dim == 8
    want_d, want_i = numpy_knn(x, q, 7)
    dist, got = index.search(q, 7)
    np.testing.assert_array_equal(got, ids[want_i])
    np.testing.assert_allclose(dist, want_d, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(index.search_rows(q, 7)[1], want_i)
    one_d, one_id = index.search(q[0], 3)  # a single [d] query gives [k] results
    np.testing.assert_array_equal(one_id, ids[want_i[0, :3]])
    assert one_d.shape == (3,)


def test_ids_rules():
    x = np.eye(4)
    with pytest.raises(ValueError, match="unique"):
        EmbeddingIndex(x, ids=[1, 2, 2, 3])
    index = EmbeddingIndex(x, ids=[10, 11, 12, 13])
    with pytest.raises(ValueError, match="has ids"):
        index.add(np.ones((1, 4)))
    with pytest.raises(ValueError, match="unique"):
        index.add(np.ones((1, 4)), ids=[12])
    with pytest.raises(ValueError, match="one entry per embedding"):
        EmbeddingIndex(x, ids=[1, 2])
    assert EmbeddingIndex(x, ids=np.array(list("abcd"), dtype=object)).search(x[:1], 1)[1][0, 0] == "a"
    with pytest.raises(ValueError, match="integers or strings"):
        EmbeddingIndex(x, ids=[1.5, 2.5, 3.5, 4.5])
    with pytest.raises(ValueError, match="no ids"):
        EmbeddingIndex(x).add(np.ones((1, 4)), ids=[5])
    with pytest.raises(ValueError, match="empty"):
        EmbeddingIndex().search(np.ones((1, 4)), 1)
    with pytest.raises(ValueError, match="metric"):
        EmbeddingIndex(x, metric="dot")


@pytest.mark.parametrize("backend", BACKEND_LIST)
def test_cosine_distance_against_numpy(backend):
    rng = np.random.default_rng(5)
    x, q = rng.normal(size=(200, 6)) * rng.uniform(0.1, 10, size=(200, 1)), rng.normal(size=(10, 6))
    cos = (q @ x.T) / np.linalg.norm(q, axis=1)[:, None] / np.linalg.norm(x, axis=1)[None]
    want_i = np.argsort(1.0 - cos, axis=1, kind="stable")[:, :5]
    dist, idx = EmbeddingIndex(x, backend=backend, metric="cosine").search(q, 5)
    np.testing.assert_array_equal(idx, want_i)
    np.testing.assert_allclose(dist, np.take_along_axis(1.0 - cos, want_i, 1), atol=1e-12)
    with pytest.raises(ValueError, match="all zeros"):
        EmbeddingIndex(np.zeros((2, 3)), metric="cosine")


@pytest.mark.parametrize("backend", BACKEND_LIST)
def test_save_load_round_trip_refuses_overwrite(backend, tmp_path):
    rng = np.random.default_rng(9)
    x, q = rng.normal(size=(120, 5)).astype(np.float32), rng.normal(size=(9, 5))
    index = EmbeddingIndex(x, ids=np.arange(1000, 1120), backend=backend, metric="cosine")
    path = index.save(tmp_path / "archive.index")
    files = sorted(p.name for p in path.iterdir())
    assert files == sorted(["metadata.json", "embeddings.npy", "mean.npy", "ids.npy"]
                           + (["index.faiss"] if backend == "faiss" else []))
    back = EmbeddingIndex.load(path)
    assert (back.backend, back.metric, len(back)) == (backend, "cosine", 120)
    for a, b in zip(index.search(q, 6), back.search(q, 6)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileExistsError, match="overwrite"):
        index.save(path)
    EmbeddingIndex(x[:10], backend=backend).save(path, overwrite=True)
    assert len(EmbeddingIndex.load(path)) == 10 and EmbeddingIndex.load(path).ids is None
    assert [p.name for p in tmp_path.iterdir()] == ["archive.index"]  # no temporaries left behind


def test_load_names_the_missing_or_wrong_file(tmp_path):
    path = EmbeddingIndex(np.eye(3), backend="sklearn").save(tmp_path / "ix")
    (path / "mean.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="mean.npy"):
        EmbeddingIndex.load(path)
    with pytest.raises(FileNotFoundError, match="metadata.json"):
        EmbeddingIndex.load(tmp_path / "nothing")


def test_a_models_dict_output_is_accepted():
    x = np.eye(3)
    dist, idx = EmbeddingIndex({"embedding": x}).search({"embedding": x[:1]}, 1)
    np.testing.assert_array_equal(idx, [[0]])
    with pytest.raises(ValueError, match="'embedding' entry"):
        EmbeddingIndex({"logits": x})
