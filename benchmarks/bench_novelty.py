"""bisla2019 novelty check speed: ``nearest_training_mse`` on N generated × M training images at 64×64
against a plain NumPy loop (one generated image at a time against every training image) and against the
matrix-multiply floor (the ``a @ bᵀ`` products alone, float64), in one process.

    python benchmarks/bench_novelty.py                  # 2,000 × 2,000 at 64² (the loop is timed on 100 images)
    python benchmarks/bench_novelty.py --n 500 --m 500
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="generated images")
    parser.add_argument("--m", type=int, default=2000, help="training images")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--loop-images", type=int, default=100, help="generated images timed in the loop")
    args = parser.parse_args()

    from dermkit.metrics.novelty import nearest_training_mse

    rng = np.random.default_rng(0)
    gen = rng.random((args.n, args.size, args.size, 3), dtype=np.float32)
    train = rng.random((args.m, args.size, args.size, 3), dtype=np.float32)

    start = time.perf_counter()
    mse, index = nearest_training_mse(gen, train)
    ours = time.perf_counter() - start

    flat_t = train.reshape(args.m, -1)
    k = min(args.loop_images, args.n)
    start = time.perf_counter()
    for i in range(k):
        d = np.mean((flat_t.astype(np.float64) - gen[i].reshape(1, -1).astype(np.float64)) ** 2, axis=1)
        assert int(np.argmin(d)) == index[i]
    loop = (time.perf_counter() - start) / k * args.n

    a = gen.reshape(args.n, -1).astype(np.float64)
    b = flat_t.astype(np.float64)
    start = time.perf_counter()
    _ = a @ b.T
    floor = time.perf_counter() - start
    print(f"nearest_training_mse {args.n} × {args.m} at {args.size}²: {ours:.2f} s; NumPy loop {loop:.1f} s "
          f"(timed on {k}, scaled): {loop / ours:.1f}× slower; matmul floor {floor:.2f} s: ours {ours / floor:.2f}× "
          "the floor")


if __name__ == "__main__":
    main()
