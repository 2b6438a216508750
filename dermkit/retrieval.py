"""Exact nearest-neighbour evidence search over an embedding archive (codella2018's kNN search).

:class:`EmbeddingIndex` holds the archive's embeddings (the paper: the 2,000 ISIC 2017 training images; the
same code serves hundreds of thousands) and answers ``search(queries, k) → (squared distances, indices)``,
exact squared-Euclidean (the distance D of Eq. 1). ``backend="auto"`` uses faiss (``IndexFlatL2``;
``pip install "dermkit[faiss]"``) when it is installed, and scikit-learn's brute-force ``NearestNeighbors``
otherwise. Both return the same neighbours up to ties (equal distances may come in either order) and
rounding of the distances in float32.
"""

from __future__ import annotations

import importlib.util

import numpy as np

__all__ = ["EmbeddingIndex", "BACKENDS", "faiss_available"]

BACKENDS = ("auto", "faiss", "sklearn")


def faiss_available() -> bool:
    """Whether the optional faiss package is importable."""
    return importlib.util.find_spec("faiss") is not None


def _as_matrix(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-D array [n, dim]. Received shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{name} must be numeric. Received dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


class EmbeddingIndex:
    """Exact squared-L2 search over ``embeddings`` (``[N, d]``).

    Args:
        embeddings: the archive, ``float [N, d]`` (stored as float32).
        backend: ``"auto"`` (faiss if installed, else scikit-learn), ``"faiss"`` or ``"sklearn"``.

    Attributes:
        backend: the backend in use (``"faiss"`` or ``"sklearn"``). ``size``, ``dim``.

    Raises:
        ValueError: bad embeddings or backend. ImportError: ``backend="faiss"`` without faiss installed.
    """

    def __init__(self, embeddings, *, backend: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}. Received: backend={backend!r}")
        self._x = _as_matrix(embeddings, "embeddings")
        self.size, self.dim = self._x.shape
        if backend == "auto":
            backend = "faiss" if faiss_available() else "sklearn"
        if backend == "faiss":
            try:
                import faiss
            except ImportError as exc:
                raise ImportError('backend="faiss" needs faiss: pip install "dermkit[faiss]" (faiss-cpu)') from exc
            self._index = faiss.IndexFlatL2(self.dim)
            self._index.add(self._x)
        else:
            from sklearn.neighbors import NearestNeighbors

            self._index = NearestNeighbors(algorithm="brute", metric="sqeuclidean").fit(self._x)
        self.backend = backend

    def __len__(self) -> int:
        return self.size

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest archive items of each query, nearest first.

        Args:
            queries: ``float [Q, d]`` (d = the archive's).
            k: 1 ≤ k ≤ the archive size.

        Returns:
            ``(distances float32 [Q, k], indices int64 [Q, k])``: squared Euclidean distances and archive rows.
        """
        q = _as_matrix(queries, "queries")
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {q.shape[1]}; the index holds dimension {self.dim}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.size:
            raise ValueError(f"k must be an integer in [1, {self.size}] (the archive size). Received: k={k!r}")
        if self.backend == "faiss":
            dist, idx = self._index.search(q, int(k))
        else:
            dist, idx = self._index.kneighbors(q, n_neighbors=int(k))
        return np.maximum(np.asarray(dist, np.float32), 0.0), np.asarray(idx, np.int64)
