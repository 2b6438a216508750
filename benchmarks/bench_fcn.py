"""kawahara2018 VGG16 FCN training speed: step time with and without XLA, and what the data pipeline + Dice
loss add on top of the bare model step.

    python benchmarks/bench_fcn.py                      # the issue's setting: 336×336, batch 12 (slow on CPU)
    python benchmarks/bench_fcn.py --size 64 --steps 5  # a CPU-sized check

Prints, in one process:
  1. train step time and images/s of ``vgg16_fcn`` on in-memory tensors (MSE loss: the "bare" step), plain
     graph mode vs ``jit_compile=True``;
  2. ``fit`` throughput with the real pipeline (synthetic ISIC 2017 files at the input size → feature masks by
     Eq. 1, cached, over-sampled) and the Dice-F1 loss, against the bare step. Target: pipeline + loss add < 10 %.
Numbers are labelled SYNTHETIC: the files are the embedded synthetic data.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

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
    parser.add_argument("--size", type=int, default=336)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing)")
    parser.add_argument("--no-jit", action="store_true", help="skip the XLA measurement")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from dermkit.data.isic import load_isic2017
    from dermkit.data.pipelines import Augment, feature_dataset
    from dermkit.data.sampling import MultiLabelBatchSampler, labels_present_from_features
    from dermkit.data.synthetic import make_isic2017
    from dermkit.losses import DiceF1Loss
    from dermkit.models import vgg16_fcn

    size, batch = args.size, args.batch
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((batch, size, size, 3), dtype=np.float32))
    y = tf.constant((rng.random((batch, size, size, 4)) > 0.9).astype(np.float32))
    print(f"vgg16_fcn {size}×{size}, batch {batch}, TF {tf.__version__}, devices "
          f"{[d.device_type for d in tf.config.list_logical_devices()]}")

    results = {}
    modes = [("graph", False)] + ([] if args.no_jit else [("xla", True)])
    for label, jit in modes:
        keras.utils.set_random_seed(0)
        model = vgg16_fcn(input_shape=(size, size, 3))
        model.compile(optimizer=keras.optimizers.Adam(5e-5), loss="mse", jit_compile=jit)
        try:
            seconds = _timed_steps(lambda m=model: m.train_on_batch(x, y), args.steps, args.warmup)
        except tf.errors.ResourceExhaustedError as exc:  # XLA on CPU can ask for far more memory (30 GiB at 336²)
            print(f"bare step ({label:5s}): out of memory on this device ({str(exc).splitlines()[0][:100]})")
            continue
        results[label] = seconds
        print(f"bare step ({label:5s}): {seconds:7.3f} s/step  {batch / seconds:8.2f} images/s")
    if "xla" in results:
        print(f"XLA speed-up over graph mode: {results['graph'] / results['xla']:.2f}×")

    # fit with the real pipeline and the Dice loss.
    with tempfile.TemporaryDirectory() as tmp:
        n_images = max(2 * batch, 24)
        root = make_isic2017(Path(tmp) / "isic2017", n_train=n_images, n_val=0, n_test=0, image_size=(size, size))
        df = load_isic2017(root, "training")
        present = labels_present_from_features(df)
        sampler = MultiLabelBatchSampler(present[:, present.any(axis=0)], batch_size=batch, seed=0,
                                         num_batches=args.steps)
        dataset = feature_dataset(df, image_size=size, batch_size=None, sampler=sampler, augment=Augment(),
                                  cache="memory", seed=0)
        keras.utils.set_random_seed(0)
        model = vgg16_fcn(input_shape=(size, size, 3))
        model.compile(optimizer=keras.optimizers.Adam(5e-5), loss=DiceF1Loss())
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)  # warm-up epoch: tracing, decoding into the cache
        start = time.perf_counter()
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)
        seconds = (time.perf_counter() - start) / args.steps
    overhead = seconds / results["graph"] - 1.0
    print(f"SYNTHETIC fit, pipeline + Dice-F1: {seconds:7.3f} s/step  {batch / seconds:8.2f} images/s")
    print(f"pipeline + loss overhead vs bare step: {100 * overhead:+.1f} % (target < 10 %)")


if __name__ == "__main__":
    main()
