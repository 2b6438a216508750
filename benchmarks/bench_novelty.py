"""bisla2019 novelty check speed: ``nearest_training_mse`` (the authors' check: each generated image min–max
stretched, compared with every training image) on N generated × M training images, against the float64
matrix-multiply floor (the ``a @ bᵀ`` product alone, inputs already float64) and a plain NumPy loop (one
generated image at a time against every training image), in one process, rounds interleaved.

    python benchmarks/bench_novelty.py                            # 2,000 × 2,000 at 64²; 350 × 800 at 256²
    python benchmarks/bench_novelty.py --sizes 64 --n 500 --m 500 --blocks 256 1024

Prints, per size and block size, the median time and its ratio to the floor (target: the default block
within 2× of the floor) and the block's bound on memory; the loop is timed on ``--loop-images`` images and
scaled.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

#: (N generated, M training) per image size: 2,000 × 2,000 at 64²; at 256² the paper's 350 generated
#: melanoma images against ISIC 2017's ~800 melanoma training images (Section 3.1).
DEFAULT_COUNTS = {64: (2000, 2000), 256: (350, 800)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--n", type=int, default=None, help="generated images (default per size)")
    parser.add_argument("--m", type=int, default=None, help="training images (default per size)")
    parser.add_argument("--blocks", type=int, nargs="+", default=None,
                        help="block sizes to time (default: the default block and 256)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop-images", type=int, default=10, help="generated images timed in the loop")
    args = parser.parse_args()

    from dermkit.metrics.novelty import NOVELTY_BLOCK_BYTES, NOVELTY_BLOCK_SIZE, minmax_stretch, nearest_training_mse

    blocks = args.blocks or [NOVELTY_BLOCK_SIZE, 256]
    for size in args.sizes:
        n, m = DEFAULT_COUNTS.get(size, (2000, 2000))
        n, m = args.n or n, args.m or m
        rng = np.random.default_rng(0)
        gen = rng.random((n, size, size, 3), dtype=np.float32)
        train = rng.random((m, size, size, 3), dtype=np.float32)
        d = size * size * 3
        times: dict[str, list[float]] = {f"block {b}": [] for b in blocks}
        times["floor"] = []
        index = None
        for _ in range(args.rounds):
            for b in blocks:
                start = time.perf_counter()
                _, index = nearest_training_mse(gen, train, batch_size=b)
                times[f"block {b}"].append(time.perf_counter() - start)
            a, bt = gen.reshape(n, -1).astype(np.float64), train.reshape(m, -1).astype(np.float64)
            start = time.perf_counter()
            _ = a @ bt.T
            times["floor"].append(time.perf_counter() - start)
            del a, bt, _
        floor = float(np.median(times["floor"]))
        flat_t = train.reshape(m, -1).astype(np.float64)
        k = min(args.loop_images, n)
        start = time.perf_counter()
        for i in range(k):
            dist = np.mean((flat_t - minmax_stretch(gen[i:i + 1]).reshape(1, -1)) ** 2, axis=1)
            assert int(np.argmin(dist)) == index[i]
        loop = (time.perf_counter() - start) / k * n
        print(f"{n} × {m} images at {size}², {args.rounds} rounds: matmul floor {floor:.2f} s; "
              f"NumPy loop {loop:.1f} s (timed on {k}, scaled)")
        for b in blocks:
            t = float(np.median(times[f"block {b}"]))
            rows = max(1, min(b, NOVELTY_BLOCK_BYTES // (8 * d)))
            memory = (2 * rows * d + 3 * rows * rows) * 8 / 2 ** 20
            print(f"  block {b} ({rows} images per block, ≤ {memory:.0f} MiB): {t:.2f} s = {t / floor:.2f}× the "
                  f"floor, {loop / t:.0f}× faster than the loop")


if __name__ == "__main__":
    main()
