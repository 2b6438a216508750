"""codella2018 evidence search at archive scale: exact k-NN of 1,000 queries over 100,000 × 1,024 embeddings.

    python benchmarks/bench_retrieval.py                       # the issue's setting
    python benchmarks/bench_retrieval.py --archive 20000       # smaller / faster

Times in one process, on the same float32 data: ``EmbeddingIndex(backend="faiss")`` (IndexFlatL2),
``EmbeddingIndex(backend="sklearn")`` (brute-force NearestNeighbors), a plain NumPy matmul + argpartition,
and dermkit's default (``backend="auto"``); prints queries/s for each, checks the neighbour sets agree with
NumPy's, and the default's time relative to the fastest exact method (target ≤ 1.2×).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def numpy_knn(x: np.ndarray, q: np.ndarray, k: int, chunk: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """Exact squared-L2 k-NN by ‖q‖² − 2 q·x + ‖x‖² and argpartition, in query chunks."""
    xx = np.einsum("ij,ij->i", x, x)
    dists, idxs = [], []
    for s in range(0, len(q), chunk):
        qs = q[s:s + chunk]
        d = np.einsum("ij,ij->i", qs, qs)[:, None] - 2.0 * (qs @ x.T) + xx[None]
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
        dp = np.take_along_axis(d, part, 1)
        order = np.argsort(dp, axis=1)
        idxs.append(np.take_along_axis(part, order, 1))
        dists.append(np.take_along_axis(dp, order, 1))
    return np.concatenate(dists), np.concatenate(idxs)


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archive", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--k", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3, help="best of N timed runs (after a warm-up)")
    args = parser.parse_args()

    from dermkit.retrieval import EmbeddingIndex, faiss_available

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.archive, args.dim), dtype=np.float32)
    q = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    _, want = numpy_knn(x, q, args.k)
    methods = {"numpy matmul + argpartition": lambda: numpy_knn(x, q, args.k)}
    if faiss_available():
        faiss_index = EmbeddingIndex(x, backend="faiss")
        methods["faiss IndexFlatL2"] = lambda: faiss_index.search(q, args.k)
    sk_index = EmbeddingIndex(x, backend="sklearn")
    methods["sklearn brute force"] = lambda: sk_index.search(q, args.k)
    default = EmbeddingIndex(x)
    methods[f"dermkit default ({default.backend})"] = lambda: default.search(q, args.k)
    print(f"{args.queries} queries, archive {args.archive} × {args.dim}, k = {args.k}")
    times = {}
    for name, fn in methods.items():
        times[name] = _time(fn, args.repeats)
        _, got = fn()
        agree = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(got, want)])
        print(f"  {name:34s} {args.queries / times[name]:10.1f} queries/s  (neighbours shared with numpy: {agree:.4f})")
    fastest = min(t for n, t in times.items() if not n.startswith("dermkit"))
    ratio = times[f"dermkit default ({default.backend})"] / fastest
    print(f"dermkit default / fastest exact method: {ratio:.2f}× (target ≤ 1.2×)")


if __name__ == "__main__":
    main()
