"""Subprocess check: GANTrainer under MirroredStrategy on 2 logical CPU devices vs one device.

Run by tests/training/test_gan.py in a fresh interpreter (the logical devices must be configured before
TensorFlow initialises), with the cases to run as arguments (default: all). Prints one JSON line per case:

- ``sync``: 16×16 DCGAN with ``synchronized_bn=True``, one ``fit`` step on the same global batch of 8 and the
  same seeds on one device and on 2 replicas: both steps' ``d_loss`` / ``g_loss`` / accuracies and the largest
  difference of the updated generator and discriminator weights;
- ``coupled_sync``: the same for the coupled DCGAN at 64×64 (7 classes, 2 images of each per batch);
- ``per_replica``: default batch normalisation (each replica normalises its half batch), 3 steps on 2
  replicas: the losses (finite) and how far the generator's weights moved (training proceeds).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from dermkit.models.dcgan import coupled_dcgan, dcgan_discriminator, dcgan_generator  # noqa: E402
from dermkit.training.gan import GANTrainer  # noqa: E402

SIZE, LATENT, GLOBAL_BATCH = 16, 10, 8


def build(kind: str, sync: bool):
    keras.utils.set_random_seed(0)
    if kind == "coupled":
        g, d = coupled_dcgan(num_classes=7, latent_dim=LATENT, image_size=64, synchronized_bn=sync)
        trainer = GANTrainer(g, d, latent_dim=LATENT, num_classes=7, seed=3)
    else:
        g = dcgan_generator(latent_dim=LATENT, image_size=SIZE, synchronized_bn=sync)
        d = dcgan_discriminator(image_size=SIZE, synchronized_bn=sync)
        trainer = GANTrainer(g, d, latent_dim=LATENT, seed=3)
    trainer.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    return trainer


def data(kind: str):
    rng = np.random.default_rng(1)
    if kind == "coupled":
        x = rng.random((14, 64, 64, 3), dtype=np.float32)
        y = (np.arange(14) % 7).astype(np.int32)  # interleaved, as gan_dataset: each replica gets one per class
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(14, drop_remainder=True)
    x = rng.random((GLOBAL_BATCH * 3, SIZE, SIZE, 3), dtype=np.float32)
    return tf.data.Dataset.from_tensor_slices(x).batch(GLOBAL_BATCH, drop_remainder=True)


def one_step(strategy, kind: str, sync: bool, initial=None):
    with strategy.scope():
        trainer = build(kind, sync)
        if initial is not None:
            trainer.generator.set_weights(initial[0])
            trainer.discriminator.set_weights(initial[1])
    start = (trainer.generator.get_weights(), trainer.discriminator.get_weights())
    history = trainer.fit(data(kind), epochs=1, steps_per_epoch=1, verbose=0, shuffle=False).history
    logs = {k: float(v[-1]) for k, v in history.items()}
    return logs, start, (trainer.generator.get_weights(), trainer.discriminator.get_weights())


def max_diff(a, b) -> float:
    return float(max(np.max(np.abs(x - y)) for x, y in zip(a, b)))


def main(cases) -> None:
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = tf.distribute.get_strategy()
    for kind, case in (("dcgan", "sync"), ("coupled", "coupled_sync")):
        if case not in cases:
            continue
        one, start, after_one = one_step(single, kind, True)
        two, _, after_two = one_step(mirrored, kind, True, initial=start)
        print(json.dumps({"case": case, "replicas": mirrored.num_replicas_in_sync, "one": one, "two": two,
                          "generator_weights": max_diff(after_one[0], after_two[0]),
                          "discriminator_weights": max_diff(after_one[1], after_two[1])}), flush=True)
    if "per_replica" not in cases:
        return
    with mirrored.scope():
        trainer = build("dcgan", False)
    before_trainable = [v.numpy() for v in trainer.generator.trainable_variables]
    history = trainer.fit(data("dcgan"), epochs=1, verbose=0, shuffle=False).history
    after_trainable = [v.numpy() for v in trainer.generator.trainable_variables]
    print(json.dumps({"case": "per_replica", "d_loss": [float(v) for v in history["d_loss"]],
                      "g_loss": [float(v) for v in history["g_loss"]],
                      "generator_moved": max_diff(before_trainable, after_trainable),
                      "steps": int(trainer.d_optimizer.iterations.numpy())}), flush=True)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:] or ["sync", "coupled_sync", "per_replica"])
