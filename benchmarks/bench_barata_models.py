"""barata2020 training speed: the train step of the flat (VGG16 + CBAM) and the hierarchical (VGG16 + LSTM with
dynamic attention) models, and the hierarchical step against the flat one.

    python benchmarks/bench_barata_models.py              # CPU-sized default: 128×128, batch 20
    python benchmarks/bench_barata_models.py --size 299   # the paper's setting (minutes per model on 2 cores)

Prints, in one process, for each model the train step time and images/s (``train_on_batch`` on in-memory
tensors, random weights: ``encoder_weights=None``; flat: categorical cross-entropy; hierarchical: its default
Eq. 10 loss with teacher forcing), then ``hierarchical / flat`` step time. The default size is 128² because
one 299² step of VGG16 at batch 20 takes ~15 s on a 2-core CPU (more than 2 minutes per model with tracing
and warm-up); pass ``--size 299`` on a GPU or for the paper's numbers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _timed_steps(step, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128, help="input height = width (the paper: 299)")
    parser.add_argument("--batch", type=int, default=20, help="batch size (the paper: 20)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (tracing)")
    parser.add_argument("--jit", action="store_true", help="compile the steps with XLA")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from dermkit.models import hierarchical_classifier, vgg16_cbam_classifier

    size, batch = args.size, args.batch
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((batch, size, size, 3), dtype=np.float32))
    y = tf.constant(np.eye(7, dtype=np.float32)[rng.integers(0, 7, batch)])
    print(f"barata2020 models {size}×{size}, batch {batch}, TF {tf.__version__}, keras {keras.__version__}, "
          f"devices {[d.device_type for d in tf.config.list_logical_devices()]}, jit={args.jit}")

    seconds = {}
    for label, build, loss in (
        ("flat (VGG16+CBAM)", vgg16_cbam_classifier, "categorical_crossentropy"),
        ("hierarchical (VGG16+LSTM)", hierarchical_classifier, None),
    ):
        keras.utils.set_random_seed(0)
        model = build((size, size, 3))
        model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=loss, jit_compile=args.jit)
        seconds[label] = _timed_steps(lambda m=model: m.train_on_batch(x, y), args.steps, args.warmup)
        print(f"{label:26s}: {seconds[label]:7.3f} s/step  {batch / seconds[label]:8.2f} images/s")
    flat, hierarchical = seconds.values()
    print(f"hierarchical / flat step time: {hierarchical / flat:.3f}×")


if __name__ == "__main__":
    main()
