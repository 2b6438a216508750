"""Exact nearest-neighbour evidence search over an embedding archive (codella2018's kNN search).

:class:`EmbeddingIndex` holds the archive's embeddings (the paper: the 2,000 ISIC 2017 training images; the
same code serves hundreds of thousands) and answers ``search(queries, k) → (squared distances, indices)``,
exact squared-Euclidean (the distance D of Eq. 1) in the float64 order. ``backend="auto"`` uses faiss
(``IndexFlatL2``; ``pip install "dermkit[faiss]"``) when it is installed, and scikit-learn's brute-force
``NearestNeighbors`` otherwise.

Exactness. faiss' flat index computes ``‖q‖² − 2 q·x + ‖x‖²`` in float32, which cancels catastrophically
when the embeddings have large norms relative to their spread (embeddings offset by 1000 in 1024-d: 0.1 %
of the top 40 agree with float64). So the index holds the archive **centred by its mean** (distances are
translation-invariant; the queries are centred by the same mean), the backend returns the
``k + max(k // 4, 8)`` best candidates, and those are **re-ranked in float64** from the embeddings as given
(``‖q − μ‖² + ‖x − μ‖² − 2 (q − μ)·(x − μ)``, every term in float64 and of the size of the spread, not of the
norms), ties broken by the lower archive row. Both backends therefore return the float64 order (up to exact
ties and true neighbours the centred float32 pass ranks beyond the candidates — its error is ~1e-7 of the
centred distances, far below the gaps between neighbours). The re-ranking costs ``Q · (k + max(k // 4, 8)) ·
d`` float64 operations, a few per cent of the ``Q · N · d`` search itself at archive scale
(``benchmarks/bench_retrieval.py``).
"""

from __future__ import annotations

import importlib.util

import numpy as np

__all__ = ["EmbeddingIndex", "BACKENDS", "faiss_available"]

BACKENDS = ("auto", "faiss", "sklearn")
#: Extra candidates re-ranked in float64 beyond k: ``max(k // 4, MIN_EXTRA_CANDIDATES)``.
MIN_EXTRA_CANDIDATES = 8
#: Queries re-ranked per block (the float64 gather, ``block · candidates · d`` values, stays in cache).
_RERANK_BLOCK = 8
#: Archive rows per block when the float64 norms are computed at construction.
_NORM_BLOCK = 8192


def faiss_available() -> bool:
    """Whether the optional faiss package is importable."""
    return importlib.util.find_spec("faiss") is not None


def _as_matrix(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-D array [n, dim]. Received shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers. Received dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


class EmbeddingIndex:
    """Exact squared-L2 search over ``embeddings`` (``[N, d]``), in the float64 order (module docstring).

    Args:
        embeddings: the archive, real ``[N, d]``. Kept as given (no copy for a NumPy array) for the float64
            re-ranking; the backend holds a float32 (faiss) or float64 (scikit-learn) copy centred by the mean.
        backend: ``"auto"`` (faiss if installed, else scikit-learn), ``"faiss"`` or ``"sklearn"``.

    Attributes:
        backend: the backend in use (``"faiss"`` or ``"sklearn"``). ``size``, ``dim``. ``mean``: the archive's
            float64 mean, subtracted from archive and queries.

    Raises:
        ValueError: bad embeddings or backend. ImportError: ``backend="faiss"`` without faiss installed.
    """

    def __init__(self, embeddings, *, backend: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}. Received: backend={backend!r}")
        self._x = _as_matrix(embeddings, "embeddings")
        self.size, self.dim = self._x.shape
        self.mean = self._x.mean(axis=0, dtype=np.float64)
        self._sq_norms = np.concatenate([  # ‖x − μ‖² in float64, for the re-ranking
            np.einsum("ij,ij->i", c, c) for c in
            (self._x[s:s + _NORM_BLOCK].astype(np.float64) - self.mean for s in range(0, self.size, _NORM_BLOCK))])
        if backend == "auto":
            backend = "faiss" if faiss_available() else "sklearn"
        if backend == "faiss":
            try:
                import faiss
            except ImportError as exc:
                raise ImportError('backend="faiss" needs faiss: pip install "dermkit[faiss]" (faiss-cpu)') from exc
            self._index = faiss.IndexFlatL2(self.dim)
            self._index.add(np.ascontiguousarray(self._x - self.mean, dtype=np.float32))
        else:
            from sklearn.neighbors import NearestNeighbors

            self._index = NearestNeighbors(algorithm="brute", metric="sqeuclidean").fit(self._x - self.mean)
        self.backend = backend

    def __len__(self) -> int:
        return self.size

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest archive items of each query, nearest first (float64 order; ties: lower row first).

        Args:
            queries: real ``[Q, d]`` (d = the archive's).
            k: 1 ≤ k ≤ the archive size.

        Returns:
            ``(distances float64 [Q, k], indices int64 [Q, k])``: squared Euclidean distances (computed in
            float64 from the embeddings as given) and archive rows.

        Raises:
            ValueError: bad queries (shape, dimension, NaN) or ``k``.
        """
        q = _as_matrix(queries, "queries")
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {q.shape[1]}; the index holds dimension {self.dim}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.size:
            raise ValueError(f"k must be an integer in [1, {self.size}] (the archive size). Received: k={k!r}")
        k = int(k)
        n_candidates = min(self.size, k + max(k // 4, MIN_EXTRA_CANDIDATES))
        centred = q.astype(np.float64) - self.mean
        if self.backend == "faiss":
            _, candidates = self._index.search(np.ascontiguousarray(centred, dtype=np.float32), n_candidates)
        else:
            candidates = self._index.kneighbors(centred, n_neighbors=n_candidates, return_distance=False)
        return self._rerank(centred, np.asarray(candidates, np.int64), k)

    def _rerank(self, centred: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best of each query's candidates by the float64 squared distance (module docstring), ties
        by the lower row. ``centred``: the queries minus the mean, float64 ``[Q, d]``."""
        q_norms = np.einsum("ij,ij->i", centred, centred)
        q_dot_mean = centred @ self.mean
        dists, idxs = [], []
        for start in range(0, len(centred), _RERANK_BLOCK):
            stop = start + _RERANK_BLOCK
            cand = candidates[start:stop]
            # (q − μ)·(x − μ) = (q − μ)·x − (q − μ)·μ, with x converted to float64 exactly
            dot = np.matmul(self._x[cand].astype(np.float64), centred[start:stop, :, None])[..., 0]
            d = q_norms[start:stop, None] + self._sq_norms[cand] - 2.0 * (dot - q_dot_mean[start:stop, None])
            d = np.maximum(d, 0.0)
            order = np.lexsort((cand, d), axis=-1)[:, :k]  # by distance, then by row
            dists.append(np.take_along_axis(d, order, 1))
            idxs.append(np.take_along_axis(cand, order, 1))
        return np.concatenate(dists), np.concatenate(idxs)
