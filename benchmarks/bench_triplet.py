"""codella2018 triplet train step: triplets/s of :class:`dermkit.training.triplet.TripletTrainer` on the CHAI
embedding (AlexNet to conv5 + 1,024-map GAP conv), the paper's two learning rates.

    python benchmarks/bench_triplet.py                 # 227×227, batch 16 (CPU-sized; seconds per step)
    python benchmarks/bench_triplet.py --batch 128     # the paper's batch (a GPU)
    python benchmarks/bench_triplet.py --size 67 --batch 32   # the quick run's setting

Each step embeds the 3·B images in one batch; timed with ``train_on_batch`` on in-memory tensors after
warm-up (tracing); random weights.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=227)
    parser.add_argument("--batch", type=int, default=16, help="triplets per step (the paper: 128)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()

    from dermkit.models import alexnet_gap_embedding
    from dermkit.training.triplet import TripletTrainer, chai_param_groups

    emb = alexnet_gap_embedding((args.size, args.size, 3))
    trainer = TripletTrainer(emb)
    trainer.compile(chai_param_groups(emb, total_steps=1000))
    rng = np.random.default_rng(0)
    x = {k: rng.random((args.batch, args.size, args.size, 3), dtype=np.float32)
         for k in ("anchor", "similar", "dissimilar")}
    y = np.zeros(args.batch, np.float32)
    for _ in range(args.warmup):
        trainer.train_on_batch(x, y)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        trainer.train_on_batch(x, y)
    wall, cpu = (time.perf_counter() - start) / args.steps, (time.process_time() - cpu) / args.steps
    print(f"triplet step at {args.size}², batch {args.batch}: {wall:.3f} s/step wall ({cpu:.3f} s CPU), "
          f"{args.batch / wall:.1f} triplets/s")


if __name__ == "__main__":
    main()
