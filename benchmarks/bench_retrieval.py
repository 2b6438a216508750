"""codella2018 evidence search at archive scale: exact k-NN of 1,000 queries over 100,000 × 1,024 embeddings.

    python benchmarks/bench_retrieval.py                       # the issue's setting
    python benchmarks/bench_retrieval.py --archive 20000       # smaller / faster

Times in one process, on the same float32 data, interleaved (each round runs every method once; best of
``--repeats`` rounds, so load on a shared machine hits all methods alike): a raw faiss ``IndexFlatL2`` search
(the floor), ``EmbeddingIndex(backend="faiss")``, ``EmbeddingIndex(backend="sklearn")`` (brute-force
NearestNeighbors), a plain NumPy matmul + argpartition, and dermkit's default (``backend="auto"``, which centres
and re-ranks in float64). Prints queries/s, the neighbour sets shared with NumPy, the default's time relative
to the raw faiss search (target ≤ 1.3×), and, on the same data offset by 1000 (large norms, small spread),
the share of the top k that raw faiss and the default agree with a float64 brute force on.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def numpy_knn(x: np.ndarray, q: np.ndarray, k: int, chunk: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """Exact squared-L2 k-NN by ‖q‖² − 2 q·x + ‖x‖² and argpartition, in query chunks (float64 when x is)."""
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


def _share(got: np.ndarray, want: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(got, want)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archive", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--k", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3, help="best of N interleaved rounds (after a warm-up)")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the (slow) scikit-learn backend")
    args = parser.parse_args()

    from dermkit.retrieval import EmbeddingIndex, faiss_available

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.archive, args.dim), dtype=np.float32)
    q = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    _, want = numpy_knn(x, q, args.k)
    methods = {"numpy matmul + argpartition": lambda: numpy_knn(x, q, args.k)}
    raw = None
    if faiss_available():
        import faiss

        raw = faiss.IndexFlatL2(args.dim)
        raw.add(x)
        methods["raw faiss IndexFlatL2"] = lambda: raw.search(q, args.k)
        faiss_index = EmbeddingIndex(x, backend="faiss")
        methods["EmbeddingIndex faiss"] = lambda: faiss_index.search(q, args.k)
    if not args.no_sklearn:
        sk_index = EmbeddingIndex(x, backend="sklearn")
        methods["EmbeddingIndex sklearn"] = lambda: sk_index.search(q, args.k)
    default = EmbeddingIndex(x)
    default_name = f"dermkit default ({default.backend})"
    methods[default_name] = lambda: default.search(q, args.k)
    print(f"{args.queries} queries, archive {args.archive} × {args.dim}, k = {args.k}, best of {args.repeats}")
    times = {name: float("inf") for name in methods}
    results = {name: fn() for name, fn in methods.items()}  # warm-up
    for _ in range(args.repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - start)
    for name in methods:
        agree = _share(results[name][1], want, args.k)
        print(f"  {name:30s} {args.queries / times[name]:10.1f} queries/s  {times[name]:7.3f} s  "
              f"(neighbours shared with numpy: {agree:.4f})")
    if raw is not None:
        print(f"dermkit default / raw faiss IndexFlatL2: {times[default_name] / times['raw faiss IndexFlatL2']:.3f}× "
              "(target ≤ 1.3×)")
    fastest = min(t for n, t in times.items() if not n.startswith("dermkit"))
    print(f"dermkit default / fastest method: {times[default_name] / fastest:.3f}×")

    # exactness at large norms: a float64 brute force on (a slice of) the offset data is the truth
    n_check = min(args.queries, 200)
    xo, qo = x + np.float32(1000.0), q[:n_check] + np.float32(1000.0)  # float32 embeddings, as a network gives
    x64 = xo.astype(np.float64)
    truth = np.stack([np.argsort(((x64 - row) ** 2).sum(1), kind="stable")[:args.k] for row in qo.astype(np.float64)])
    shifted = EmbeddingIndex(xo)
    print(f"offset 1000, {n_check} queries: dermkit default shares "
          f"{_share(shifted.search(qo, args.k)[1], truth, args.k):.4f} of the float64 top {args.k}")
    if raw is not None:
        raw_offset = faiss.IndexFlatL2(args.dim)
        raw_offset.add(xo)
        got = raw_offset.search(qo, args.k)[1]
        print(f"offset 1000, {n_check} queries: raw faiss IndexFlatL2 shares {_share(got, truth, args.k):.4f}")


if __name__ == "__main__":
    main()
