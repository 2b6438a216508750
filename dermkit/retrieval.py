"""Exact nearest-neighbour evidence search over an embedding archive (codella2018's kNN search).

:class:`EmbeddingIndex` holds the archive's embeddings (the paper: the 2,000 ISIC 2017 training images; the
same code serves hundreds of thousands) and answers ``search(queries, k) → (distances, ids)``, exact in the
float64 order, as faiss and tensorflow-similarity users expect::

    index = EmbeddingIndex(backend="auto", metric="l2")       # or EmbeddingIndex(archive, ids=image_ids)
    index.add(archive_embeddings, ids=image_ids)               # more batches: index.add(...) again
    distances, ids = index.search(query_embeddings, k=10)      # [Q, 10] each; ids = image_ids' values
    index.save("runs/archive.index")                            # a folder: faiss' index file, embeddings, ids
    index = EmbeddingIndex.load("runs/archive.index")

``metric="l2"`` is the squared Euclidean distance D of codella2018's Eq. 1; ``metric="cosine"`` searches the
unit-normalised embeddings and returns the cosine distance ``1 − cos`` (tensorflow-similarity's convention).
``backend="auto"`` uses faiss (``IndexFlatL2``; ``pip install "dermkit[faiss]"``) when it is installed, and
scikit-learn's brute-force ``NearestNeighbors`` otherwise. A model's dict output
(``alexnet_gap_embedding(...).predict(x)``) is accepted when it holds an ``"embedding"`` entry.

Exactness. faiss' flat index computes ``‖q‖² − 2 q·x + ‖x‖²`` in float32, which cancels catastrophically
when the embeddings have large norms relative to their spread (embeddings offset by 1000 in 1024-d: 0.1 %
of the top 40 agree with float64). So the index holds the archive **centred by a mean μ** (the mean of the
first batch added; distances are translation-invariant, so any fixed μ is exact; the queries are centred by
the same μ), the backend returns the ``k + max(k // 4, 8)`` best candidates, and those are **re-ranked in
float64** from the embeddings as given (``‖q − μ‖² + ‖x − μ‖² − 2 (q − μ)·(x − μ)``, every term in float64
and of the size of the spread, not of the norms), ties broken by the lower archive row. Both backends
therefore return the float64 order (up to exact ties and true neighbours the centred float32 pass ranks
beyond the candidates — its error is ~1e-7 of the centred distances, far below the gaps between
neighbours). The re-ranking costs ``Q · (k + max(k // 4, 8)) · d`` float64 operations, a few per cent of
the ``Q · N · d`` search itself at archive scale (``benchmarks/bench_retrieval.py``). Queries are searched
in blocks of :data:`QUERY_BLOCK`, so memory stays bounded for any number of queries.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["EmbeddingIndex", "BACKENDS", "METRICS", "faiss_available"]

BACKENDS = ("auto", "faiss", "sklearn")
METRICS = ("l2", "cosine")
#: Extra candidates re-ranked in float64 beyond k: ``max(k // 4, MIN_EXTRA_CANDIDATES)``.
MIN_EXTRA_CANDIDATES = 8
#: Queries searched per block (bounds the candidate and distance buffers).
QUERY_BLOCK = 4096
#: Queries re-ranked per block (the float64 gather, ``block · candidates · d`` values, stays in cache).
_RERANK_BLOCK = 8
#: Archive rows per block when the float64 norms are computed.
_NORM_BLOCK = 8192
#: The saved index's format version (``metadata.json``).
FORMAT_VERSION = 1
_FILES = {"metadata": "metadata.json", "embeddings": "embeddings.npy", "ids": "ids.npy", "mean": "mean.npy",
          "faiss": "index.faiss"}


def faiss_available() -> bool:
    """Whether the optional faiss package is importable."""
    return importlib.util.find_spec("faiss") is not None


def _as_matrix(x, name: str) -> np.ndarray:
    if isinstance(x, dict):  # a dermkit model's dict output
        if "embedding" not in x:
            raise ValueError(f"{name} is a dict without an 'embedding' entry (keys {sorted(x)}); pass the "
                             f"embedding array, e.g. {name}=outputs[KEY]")
        x = x["embedding"]
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must be a non-empty 2-D array [n, dim]. Received shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers. Received dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def _centred_sq_norms(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``‖x − μ‖²`` per row in float64 (the re-ranking's archive term), in blocks of :data:`_NORM_BLOCK` rows."""
    return np.concatenate([np.einsum("ij,ij->i", c, c) for c in
                           (x[s:s + _NORM_BLOCK].astype(np.float64) - mean for s in range(0, len(x), _NORM_BLOCK))])


def _unit_rows(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` with every row scaled to unit length in float64 (``metric="cosine"``); zero rows refused."""
    x = x.astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    if (norms == 0).any():
        raise ValueError(f"{name} row {int(np.argmax(norms == 0))} is all zeros: it has no cosine distance")
    return x / norms[:, None]


def _as_ids(ids, n: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.dtype == object and ids.size and all(isinstance(v, str) for v in ids):
        ids = ids.astype(str)  # a pandas column of strings
    if ids.ndim != 1 or len(ids) != n:
        raise ValueError(f"ids must be 1-D with one entry per embedding ({n}). Received shape {ids.shape}")
    if ids.dtype.kind not in "iuU":
        raise ValueError(f"ids must be integers or strings. Received dtype {ids.dtype}")
    return ids


class EmbeddingIndex:
    """Exact nearest-neighbour search over archive embeddings ``[N, d]``, in the float64 order (module docstring).

    Args:
        embeddings: optional first batch, real ``[N, d]`` (or a dict with ``"embedding"``); more with :meth:`add`.
            Kept as given for the float64 re-ranking; the backend holds a float32 (faiss) or float64
            (scikit-learn) copy centred by the mean.
        ids: optional ``[N]`` integer or string ids of ``embeddings`` (unique); :meth:`search` then returns ids
            instead of archive rows. An index has ids for every item or for none.
        backend: ``"auto"`` (faiss if installed, else scikit-learn), ``"faiss"`` or ``"sklearn"``.
        metric: ``"l2"`` (squared Euclidean, codella2018's Eq. 1) or ``"cosine"`` (``1 − cos``).

    Attributes:
        backend: the backend in use (``"faiss"`` or ``"sklearn"``). ``metric``. ``size`` (also ``len(index)``),
        ``dim`` (None while empty). ``mean``: the float64 μ subtracted from archive and queries. ``ids``: the
        ids or None.

    Raises:
        ValueError: bad embeddings, ids, metric or backend. ImportError: ``backend="faiss"`` without faiss.
    """

    def __init__(self, embeddings=None, *, ids=None, backend: str = "auto", metric: str = "l2"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}. Received: backend={backend!r}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}. Received: metric={metric!r}")
        if backend == "auto":
            backend = "faiss" if faiss_available() else "sklearn"
        if backend == "faiss" and not faiss_available():
            raise ImportError('backend="faiss" needs faiss: pip install "dermkit[faiss]" (faiss-cpu)')
        self.backend, self.metric = backend, metric
        self.size, self.dim = 0, None
        self.mean: np.ndarray | None = None
        self.ids: np.ndarray | None = None
        self._parts: list[np.ndarray] = []  # the embeddings as given (unit rows for cosine), per add()
        self._x: np.ndarray | None = None  # their concatenation, built on demand
        self._sq_norms = np.zeros(0)
        self._index = None
        self._fitted = 0  # rows the scikit-learn backend was fitted on
        if ids is not None and embeddings is None:
            raise ValueError("ids were given without embeddings")
        if embeddings is not None:
            self.add(embeddings, ids=ids)

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return (f"EmbeddingIndex(size={self.size}, dim={self.dim}, metric={self.metric!r}, "
                f"backend={self.backend!r}, ids={self.ids is not None})")

    # ----------------------------------------------------------------------------------------------------
    def add(self, embeddings, ids=None) -> EmbeddingIndex:
        """Append ``embeddings`` ``[n, d]`` (and their ``ids``, required exactly when the index has ids) to the
        archive. Returns the index. μ is the first batch's mean and stays fixed (module docstring)."""
        x = _as_matrix(embeddings, "embeddings")
        if self.dim is not None and x.shape[1] != self.dim:
            raise ValueError(f"embeddings have dimension {x.shape[1]}; the index holds dimension {self.dim}")
        if self.size and (ids is None) != (self.ids is None):
            raise ValueError("this index " + ("has ids: pass ids= for the new embeddings" if self.ids is not None
                                              else "has no ids: add embeddings without ids"))
        new_ids = None
        if ids is not None:
            new_ids = _as_ids(ids, len(x))
            merged = new_ids if self.ids is None else np.concatenate([self.ids, new_ids])
            if self.ids is not None and merged.dtype.kind != new_ids.dtype.kind:
                raise ValueError(f"ids must all be integers or all strings; the index has {self.ids.dtype}, "
                                 f"received {new_ids.dtype}")
            values, counts = np.unique(merged, return_counts=True)
            if (counts > 1).any():
                raise ValueError(f"ids must be unique; {values[counts > 1][:5].tolist()} appear more than once")
        if self.metric == "cosine":
            x = _unit_rows(x, "embeddings")
        if self.mean is None:
            self.mean = x.mean(axis=0, dtype=np.float64)
            self.dim = x.shape[1]
        self._sq_norms = np.concatenate([self._sq_norms, _centred_sq_norms(x, self.mean)])
        if self.backend == "faiss":
            import faiss

            if self._index is None:
                self._index = faiss.IndexFlatL2(self.dim)
            self._index.add(np.ascontiguousarray(x - self.mean, dtype=np.float32))
        self._parts.append(x)
        self._x = None
        self.size += len(x)
        if new_ids is not None:
            self.ids = merged
        return self

    @property
    def embeddings(self) -> np.ndarray:
        """The archive ``[N, d]`` as added (unit rows for ``metric="cosine"``)."""
        if self._x is None:
            if not self._parts:
                raise ValueError("the index is empty: add embeddings first")
            self._x = self._parts[0] if len(self._parts) == 1 else np.concatenate(self._parts)
            self._parts = [self._x]
        return self._x

    # ----------------------------------------------------------------------------------------------------
    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest archive items of each query, nearest first (float64 order; ties: lower row first).

        Args:
            queries: real ``[Q, d]`` (d = the archive's; or a dict with ``"embedding"``), or one query ``[d]``.
            k: 1 ≤ k ≤ the archive size.

        Returns:
            ``(distances float64 [Q, k], ids [Q, k])`` (``[k]`` each for one ``[d]`` query): squared Euclidean
            distances (``metric="l2"``, computed in float64 from the embeddings as given) or cosine distances
            ``1 − cos``; the ids given to :meth:`add`, else the archive rows (int64).

        Raises:
            ValueError: bad queries (shape, dimension, NaN), ``k``, or an empty index.
        """
        single = not isinstance(queries, dict) and np.ndim(queries) == 1
        dist, rows = self.search_rows(np.asarray(queries)[None] if single else queries, k)
        out = rows if self.ids is None else self.ids[rows]
        return (dist[0], out[0]) if single else (dist, out)

    def search_rows(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` returning archive rows (positions in the order added) whatever the ids, for code
        that indexes per-item arrays (labels, groups): ``(distances [Q, k], rows int64 [Q, k])``."""
        if not self.size:
            raise ValueError("the index is empty: add embeddings first")
        q = _as_matrix(queries, "queries")
        if q.shape[1] != self.dim:
            raise ValueError(f"queries have dimension {q.shape[1]}; the index holds dimension {self.dim}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.size:
            raise ValueError(f"k must be an integer in [1, {self.size}] (the archive size). Received: k={k!r}")
        k = int(k)
        if self.metric == "cosine":
            q = _unit_rows(q, "queries")
        n_candidates = min(self.size, k + max(k // 4, MIN_EXTRA_CANDIDATES))
        x = self.embeddings
        if self.backend == "sklearn" and self._fitted != self.size:
            from sklearn.neighbors import NearestNeighbors

            self._index = NearestNeighbors(algorithm="brute", metric="sqeuclidean").fit(x - self.mean)
            self._fitted = self.size
        dists, rows = [], []
        for start in range(0, len(q), QUERY_BLOCK):
            centred = q[start:start + QUERY_BLOCK].astype(np.float64) - self.mean
            if self.backend == "faiss":
                _, cand = self._index.search(np.ascontiguousarray(centred, dtype=np.float32), n_candidates)
            else:
                cand = self._index.kneighbors(centred, n_neighbors=n_candidates, return_distance=False)
            d, r = self._rerank(x, centred, np.asarray(cand, np.int64), k)
            dists.append(d)
            rows.append(r)
        d, r = np.concatenate(dists), np.concatenate(rows)
        if self.metric == "cosine":
            d = d / 2.0  # ‖a − b‖² = 2 − 2 cos for unit rows
        return d, r

    def _rerank(self, x: np.ndarray, centred: np.ndarray, candidates: np.ndarray,
                k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best of each query's candidates by the float64 squared distance (module docstring), ties
        by the lower row. ``centred``: the queries minus the mean, float64 ``[Q, d]``."""
        q_norms = np.einsum("ij,ij->i", centred, centred)
        q_dot_mean = centred @ self.mean
        dists, idxs = [], []
        for start in range(0, len(centred), _RERANK_BLOCK):
            stop = start + _RERANK_BLOCK
            cand = candidates[start:stop]
            # (q − μ)·(x − μ) = (q − μ)·x − (q − μ)·μ, with x converted to float64 exactly
            dot = np.matmul(x[cand].astype(np.float64), centred[start:stop, :, None])[..., 0]
            d = q_norms[start:stop, None] + self._sq_norms[cand] - 2.0 * (dot - q_dot_mean[start:stop, None])
            d = np.maximum(d, 0.0)
            order = np.lexsort((cand, d), axis=-1)[:, :k]  # by distance, then by row
            dists.append(np.take_along_axis(d, order, 1))
            idxs.append(np.take_along_axis(cand, order, 1))
        return np.concatenate(dists), np.concatenate(idxs)

    # ----------------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the index to the folder ``path``: ``metadata.json`` (format, metric, backend, size, dim),
        ``embeddings.npy`` (as added), ``mean.npy``, ``ids.npy`` (when the index has ids) and, for the faiss
        backend, faiss' own ``index.faiss`` (``faiss.write_index``). Written to a temporary sibling folder and
        renamed, so a kill never leaves a partial index; an existing ``path`` is refused unless
        ``overwrite=True``. Returns the path."""
        from dermkit._io import check_overwrite, temporary_prefix

        path = check_overwrite(path, overwrite)
        if not self.size:
            raise ValueError("the index is empty: nothing to save")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(path.name), dir=path.parent))
        try:
            np.save(tmp / _FILES["embeddings"], self.embeddings, allow_pickle=False)
            np.save(tmp / _FILES["mean"], self.mean, allow_pickle=False)
            if self.ids is not None:
                np.save(tmp / _FILES["ids"], self.ids, allow_pickle=False)
            if self.backend == "faiss":
                import faiss

                faiss.write_index(self._index, str(tmp / _FILES["faiss"]))
            meta = {"format": "dermkit.EmbeddingIndex", "version": FORMAT_VERSION, "metric": self.metric,
                    "backend": self.backend, "size": self.size, "dim": self.dim, "ids": self.ids is not None}
            (tmp / _FILES["metadata"]).write_text(json.dumps(meta, indent=2), encoding="utf-8")
            os.chmod(tmp, 0o777 & ~_umask())
            old = None
            if path.exists():  # overwrite=True: set the old index aside, put the new one in place, drop the old
                old = Path(tempfile.mkdtemp(prefix=temporary_prefix(path.name), dir=path.parent))
                os.replace(path, old / "old")
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, backend: str = "auto") -> EmbeddingIndex:
        """Read an index written by :meth:`save`. ``backend="auto"`` keeps the saved backend when it is
        available (faiss' file is read as saved; without faiss the scikit-learn backend is rebuilt from the
        embeddings). Raises ``FileNotFoundError`` / ``ValueError`` naming the file that is missing or wrong."""
        path = Path(path)
        meta_file = path / _FILES["metadata"]
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path} is not a saved EmbeddingIndex: {meta_file.name} is missing")
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{meta_file}: not valid JSON ({exc})") from exc
        if meta.get("format") != "dermkit.EmbeddingIndex" or meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"{meta_file}: not a version-{FORMAT_VERSION} dermkit EmbeddingIndex ({meta})")

        def read(name: str) -> np.ndarray:
            file = path / _FILES[name]
            try:
                return np.load(file, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise ValueError(f"{file}: cannot be read ({exc})") from exc

        x, mean = read("embeddings"), read("mean")
        ids = read("ids") if meta["ids"] else None
        if x.shape != (meta["size"], meta["dim"]) or mean.shape != (meta["dim"],) or (
                ids is not None and ids.shape != (meta["size"],)):
            raise ValueError(f"{path}: the files disagree with {meta_file.name} (embeddings {x.shape}, mean "
                             f"{mean.shape}, ids {None if ids is None else ids.shape}; metadata size "
                             f"{meta['size']}, dim {meta['dim']})")
        if backend == "auto":
            backend = meta["backend"] if meta["backend"] != "faiss" or faiss_available() else "sklearn"
        index = cls(backend=backend, metric=meta["metric"])
        index.size, index.dim, index.mean, index.ids = int(meta["size"]), int(meta["dim"]), mean, ids
        index._parts, index._x = [x], x
        index._sq_norms = _centred_sq_norms(x, mean)
        if index.backend == "faiss":
            import faiss

            file = path / _FILES["faiss"]
            if file.is_file():
                try:
                    index._index = faiss.read_index(str(file))
                except RuntimeError as exc:
                    raise ValueError(f"{file}: faiss cannot read it ({exc})") from exc
                if index._index.ntotal != index.size or index._index.d != index.dim:
                    raise ValueError(f"{file}: holds {index._index.ntotal} × {index._index.d}; "
                                     f"{meta_file.name} says {index.size} × {index.dim}")
            else:  # saved by the scikit-learn backend: build the faiss index from the embeddings
                index._index = faiss.IndexFlatL2(index.dim)
                index._index.add(np.ascontiguousarray(x - mean, dtype=np.float32))
        return index


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
