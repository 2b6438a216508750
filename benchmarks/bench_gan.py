"""bisla2019 GAN training speed: ``GANTrainer.fit`` against a bare ``tf.function`` step doing the same two
updates (one discriminator, one generator update on the joint real + generated batch), in one process.

    python benchmarks/bench_gan.py                 # 64×64 and 256×256, batch 50 (the paper's batch)
    python benchmarks/bench_gan.py --sizes 64 --steps 10

Prints steps/s of each and the trainer's overhead (target: < 5 %). Both run the DCGAN of Table 2
(:func:`dermkit.models.dcgan_generator` / :func:`~dermkit.models.dcgan_discriminator`) on in-memory batches.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def measure(size: int, batch: int, steps: int) -> tuple[float, float]:
    """Seconds per step of ``GANTrainer.fit`` and of the bare ``tf.function`` step at ``size``²."""
    import keras
    import tensorflow as tf

    from dermkit.models import dcgan_discriminator, dcgan_generator
    from dermkit.training.gan import GANTrainer

    rng = np.random.default_rng(0)
    real = rng.random((batch, size, size, 3), dtype=np.float32)
    ds = tf.data.Dataset.from_tensors(real).repeat().take(steps + 1).cache()

    keras.utils.set_random_seed(0)
    trainer = GANTrainer(dcgan_generator(latent_dim=10, image_size=size), dcgan_discriminator(image_size=size),
                         latent_dim=10, seed=0)
    trainer.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    trainer.fit(ds.take(1), epochs=1, verbose=0, shuffle=False)  # trace
    start = time.perf_counter()
    trainer.fit(ds.take(steps), epochs=1, verbose=0, shuffle=False)
    fit_step = (time.perf_counter() - start) / steps

    keras.utils.set_random_seed(0)
    g, d = dcgan_generator(latent_dim=10, image_size=size), dcgan_discriminator(image_size=size)
    d_opt, g_opt = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)
    d_opt.build(d.trainable_variables)
    g_opt.build(g.trainable_variables)
    bce = keras.losses.BinaryCrossentropy()
    ones, zeros = tf.ones((batch, 1)), tf.zeros((batch, 1))

    @tf.function
    def bare_step(x):
        x = x * 2.0 - 1.0
        z = tf.random.normal((batch, 10))
        fake = g(z, training=True)
        with tf.GradientTape() as tape:
            p = d(tf.concat([x, fake], 0), training=True)
            loss = bce(tf.concat([ones, zeros], 0), p) * 2.0
        d_opt.apply(tape.gradient(loss, d.trainable_variables), d.trainable_variables)
        with tf.GradientTape() as tape:
            p = d(tf.concat([x, g(z, training=True)], 0), training=True)[batch:]
            loss = bce(ones, p)
        g_opt.apply(tape.gradient(loss, g.trainable_variables), g.trainable_variables)
        return loss

    x = tf.constant(real)
    bare_step(x)
    start = time.perf_counter()
    for _ in range(steps):
        bare_step(x).numpy()
    return fit_step, (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    print(f"bisla2019 GAN step, batch {args.batch}, TF {tf.__version__}, keras {keras.__version__}, "
          f"devices {[d.device_type for d in tf.config.list_logical_devices()]}")
    for size in args.sizes:
        fit_step, bare = measure(size, args.batch, args.steps)
        print(f"{size}×{size}: GANTrainer.fit {1 / fit_step:.3f} steps/s ({fit_step:.3f} s), bare tf.function "
              f"{1 / bare:.3f} steps/s ({bare:.3f} s): trainer overhead {100 * (fit_step / bare - 1):+.1f} %")


if __name__ == "__main__":
    main()
