"""bisla2019 GAN training speed: ``GANTrainer.fit`` against a bare ``tf.function`` step doing the same two
updates in the separate-batch recipe of DCGAN and the authors' ``Generator/main.py`` (one generator pass;
the discriminator updated on ``D(real)`` and ``D(G(z))`` called apart; the generator updated on the new
``D(G(z))`` alone), in one process.

    python benchmarks/bench_gan.py                 # 64×64 and 256×256, batch 50 (the paper's batch)
    python benchmarks/bench_gan.py --sizes 64 --steps 10
    python benchmarks/bench_gan.py --joint         # also the joint-batch variant (compile(joint_batch=True))

Prints steps/s of each (the median step, ``fit``'s per-epoch set-up excluded) and the trainer's overhead
(target: < 5 %). Both run the DCGAN of Table 2
(:func:`dermkit.models.dcgan_generator` / :func:`~dermkit.models.dcgan_discriminator`) on in-memory batches.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def measure(size: int, batch: int, steps: int, rounds: int, joint: bool = False) -> tuple[float, float]:
    """Seconds per step of ``GANTrainer.fit`` (``joint``: ``compile(joint_batch=True)``) and of the bare
    separate-batch ``tf.function`` step at ``size``²."""
    import keras
    import tensorflow as tf

    from dermkit.models import dcgan_discriminator, dcgan_generator
    from dermkit.training.gan import GANTrainer

    rng = np.random.default_rng(0)
    real = rng.random((batch, size, size, 3), dtype=np.float32)
    ds = tf.data.Dataset.from_tensors(real).repeat()

    keras.utils.set_random_seed(0)
    trainer = GANTrainer(dcgan_generator(latent_dim=10, image_size=size), dcgan_discriminator(image_size=size),
                         latent_dim=10, seed=0)
    trainer.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5),
                    joint_batch=joint)
    trainer.fit(ds.take(1), epochs=1, verbose=0, shuffle=False)  # trace

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ticks.append(time.perf_counter())


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
        with tf.GradientTape() as g_tape:
            fake = g(z, training=True)
            with g_tape.stop_recording():
                with tf.GradientTape() as tape:
                    loss = bce(ones, d(x, training=True)) + bce(zeros, d(tf.stop_gradient(fake), training=True))
                d_opt.apply(tape.gradient(loss, d.trainable_variables), d.trainable_variables)
            loss = bce(ones, d(fake, training=True))
        g_opt.apply(g_tape.gradient(loss, g.trainable_variables), g.trainable_variables)
        return loss

    x = tf.constant(real)
    bare_step(x)
    fit_times, bare_times = [], []
    for _ in range(rounds):  # interleaved, so that a change of machine load hits both alike
        ticks: list[float] = []
        trainer.fit(ds.take(steps + 1), epochs=1, verbose=0, shuffle=False, callbacks=[Clock()])
        fit_times += list(np.diff(ticks))  # step to step inside fit (its per-epoch set-up excluded)
        for _ in range(steps):
            start = time.perf_counter()
            bare_step(x).numpy()
            bare_times.append(time.perf_counter() - start)
    return float(np.median(fit_times)), float(np.median(bare_times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round and method")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--joint", action="store_true", help="also time the joint-batch trainer variant")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    print(f"bisla2019 GAN step, batch {args.batch}, TF {tf.__version__}, keras {keras.__version__}, "
          f"devices {[d.device_type for d in tf.config.list_logical_devices()]}")
    for size in args.sizes:
        for joint in (False, True) if args.joint else (False,):
            fit_step, bare = measure(size, args.batch, args.steps, args.rounds, joint)
            label = "GANTrainer.fit (joint_batch)" if joint else "GANTrainer.fit"
            print(f"{size}×{size}: {label} {1 / fit_step:.3f} steps/s ({fit_step:.3f} s), bare separate-batch "
                  f"tf.function {1 / bare:.3f} steps/s ({bare:.3f} s): trainer / bare {fit_step / bare:.3f} "
                  f"({100 * (fit_step / bare - 1):+.1f} %)")


if __name__ == "__main__":
    main()
