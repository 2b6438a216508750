"""A tiny paper module for engine tests: a supervised row, a two-optimiser GAN-like row, a multi-output row,
a dependency chain with artifacts, and a row with repeats — all small models on fixed random data.

Importable by the tests, and runnable through the CLI in subprocesses (``PYTHONPATH=tests/training
python -m dermkit.cli reproduce _tiny_paper ...``). Data order is fixed (no shuffling), so a resumed epoch
sees the same batches as an uninterrupted run.

Environment hooks for the kill-and-resume tests (read at run time):
``TINY_KILL_AT_EPOCH=K`` — at the start of epoch K (0-based) of ``row_a``, SIGKILL this process;
``TINY_TRUNCATE_BACKUP=1`` — first truncate the row's backup weights file, as a torn write would;
``TINY_SYNTHETIC_ISIC2017=1`` — ``prepare`` also writes a small synthetic ISIC 2017 set into the run folder.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np

from dermkit.training.experiment import Experiment
from dermkit.training.report import Table, TableRow

NAME = "tiny"
VERSION = 1
TABLES = ("T", "G")
EXPERIMENTS = [
    Experiment("row_a", "row a", ("T",), {"kind": "supervised", "epochs": 3, "filters": 4}, {"T": {"loss": 0.5}},
               quick=True),
    Experiment("row_b", "row b", ("T",), {"kind": "supervised", "epochs": 2, "filters": 2}, {"T": {"loss": 0.4}}),
    Experiment("gan", "GAN-like", ("G",), {"kind": "gan", "epochs": 2}),
    Experiment("multi", "two outputs", ("G",), {"kind": "multi", "epochs": 2}),
    Experiment("producer", "makes a model", ("G",), {"kind": "producer", "epochs": 2}),
    Experiment("consumer", "uses it", ("G",), {"kind": "consumer"}, depends_on=("producer",)),
    Experiment("noisy", "two repeats", ("G",), {"kind": "supervised", "epochs": 1, "filters": 3}, repeats=2),
]
CALLS: list[str] = []
FAIL_AT_EPOCH: dict[str, int] = {}


def prepare(data, session):
    if os.environ.get("TINY_SYNTHETIC_ISIC2017"):  # the real synthetic generator, for the concurrency test
        from dermkit.data.synthetic import make_isic2017

        make_isic2017(session.output / "data" / "isic2017", n_train=6, n_val=2, n_test=2, image_size=(32, 32))
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 3), dtype=np.float32)
    y = (x[..., :1] > 0.5).astype(np.float32)
    return x, y


def _conv_model(filters: int, name: str):
    import keras

    inputs = keras.Input((8, 8, 3), name="image")
    hidden = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv")(inputs)
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid", name="head")(hidden)
    return keras.Model(inputs, outputs, name=name)


def _callbacks(exp):
    import keras

    callbacks = []
    if exp.key in FAIL_AT_EPOCH:
        fail_at = FAIL_AT_EPOCH.pop(exp.key)

        class Crash(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == fail_at:
                    raise KeyboardInterrupt("simulated kill")

        callbacks.append(Crash())
    kill_at = os.environ.get("TINY_KILL_AT_EPOCH")
    if kill_at is not None and exp.key == "row_a":

        class Kill(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == int(kill_at):
                    if os.environ.get("TINY_TRUNCATE_BACKUP"):
                        for path in Path(_backup_dir(exp)).glob("*.weights.h5"):
                            with open(path, "r+b") as f:
                                f.truncate(96)
                    os.kill(os.getpid(), signal.SIGKILL)

        callbacks.append(Kill())
    return callbacks


_SESSION = {}


def _backup_dir(exp) -> Path:
    return _SESSION["session"].workdir("fit") / "backup"


def run_experiment(exp, data, session):
    import keras
    import tensorflow as tf

    from dermkit.losses import DiceF1Loss

    CALLS.append(exp.key)
    _SESSION["session"] = session
    x, y = data
    kind = exp.params["kind"]
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    if kind == "supervised":
        model = _conv_model(exp.params["filters"], f"tiny_{exp.key}")
        session.compile(model, optimizer=keras.optimizers.SGD(0.1), loss=DiceF1Loss())
        fit = session.fit(model, train, validation_data=train, epochs=exp.params["epochs"], callbacks=_callbacks(exp))
        return {"loss": float(model.evaluate(train, verbose=0)), "replicas": session.strategy.num_replicas_in_sync,
                "seed": session.seed, "repeat": session.repeat, "fit": fit}
    if kind == "gan":
        model = TinyGAN(name="tiny_gan")
        session.compile(model, d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
        real = tf.data.Dataset.from_tensor_slices(x.reshape(16, -1)[:, :8]).batch(8)
        fit = session.fit(model, real, epochs=exp.params["epochs"], monitor="g_loss", checkpoint="last")
        return {"d_loss": fit["final"]["d_loss"], "g_loss": fit["final"]["g_loss"], "fit": fit,
                "replicas": session.strategy.num_replicas_in_sync}
    if kind == "multi":
        inputs = keras.Input((8, 8, 3), name="image")
        hidden = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="conv")(inputs)
        seg = keras.layers.Conv2D(1, 1, activation="sigmoid", name="seg")(hidden)
        pooled = keras.layers.GlobalAveragePooling2D(name="pool")(hidden)
        cls = keras.layers.Dense(2, activation="softmax", name="cls")(pooled)
        model = keras.Model(inputs, {"seg": seg, "cls": cls}, name="tiny_multi")
        session.compile(model, optimizer=keras.optimizers.SGD(0.1),
                        loss={"seg": DiceF1Loss(), "cls": keras.losses.CategoricalCrossentropy()})
        labels = np.eye(2, dtype=np.float32)[(y.mean(axis=(1, 2, 3)) > 0.5).astype(int)]
        both = tf.data.Dataset.from_tensor_slices((x, {"seg": y, "cls": labels})).batch(8)
        fit = session.fit(model, both, validation_data=both, epochs=exp.params["epochs"])
        return {"loss": fit["final"]["loss"], "outputs": sorted(k for k in fit["final"] if k.endswith("_loss")),
                "fit": fit}
    if kind == "producer":
        model = _conv_model(2, "tiny_producer")
        session.compile(model, optimizer=keras.optimizers.SGD(0.1), loss=DiceF1Loss())
        fit = session.fit(model, train, validation_data=train, epochs=exp.params["epochs"])
        model.save(session.artifact(exp.key, "model.keras"))
        folder = session.artifact(exp.key, "predictions")
        folder.mkdir()
        np.save(folder / "pred.npy", model.predict(x, verbose=0))
        return {"loss": float(model.evaluate(train, verbose=0)), "fit": fit}
    if kind == "consumer":
        import dermkit.losses  # noqa: F401  (registers DiceF1Loss for the reload)

        model = keras.saving.load_model(session.artifact("producer", "model.keras"))
        saved = np.load(session.artifact("producer", "predictions") / "pred.npy")
        same = float(np.abs(model.predict(x, verbose=0) - saved).max())
        return {"loss": float(model.evaluate(train, verbose=0)), "max_diff": same,
                "producer_loss": session.result("producer")["loss"]}
    raise ValueError(kind)


def _gan_class():
    import keras
    import tensorflow as tf

    class _TinyGAN(keras.Model):
        """Generator z[4] → x[8], discriminator x[8] → logit; two optimisers; no ``call``."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="g_dense")],
                                              name="generator")
            self.discriminator = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, name="d_dense")],
                                                  name="discriminator")
            self.noise = keras.random.SeedGenerator(0)
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
            self.bce = keras.losses.BinaryCrossentropy(from_logits=True, reduction="sum")

        def compile(self, d_optimizer, g_optimizer, **kwargs):
            super().compile(**kwargs)
            self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
            d_optimizer.build(self.discriminator.trainable_variables)
            g_optimizer.build(self.generator.trainable_variables)

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def train_step(self, real):
            batch = tf.shape(real)[0]
            global_batch = tf.cast(batch * tf.distribute.get_strategy().num_replicas_in_sync, tf.float32)
            z = keras.random.normal((batch, 4), seed=self.noise)
            with tf.GradientTape() as tape:
                fake = self.generator(z, training=True)
                logits = self.discriminator(tf.concat([real, fake], 0), training=True)
                labels = tf.concat([tf.ones((batch, 1)), tf.zeros((batch, 1))], 0)
                d_loss = self.bce(labels, logits) / global_batch
            grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
            self.d_optimizer.apply(grads, self.discriminator.trainable_variables)
            with tf.GradientTape() as tape:
                logits = self.discriminator(self.generator(z, training=True), training=True)
                g_loss = self.bce(tf.ones((batch, 1)), logits) / global_batch
            grads = tape.gradient(g_loss, self.generator.trainable_variables)
            self.g_optimizer.apply(grads, self.generator.trainable_variables)
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    return _TinyGAN


def TinyGAN(**kwargs):  # noqa: N802 (a class made on first use, so importing this module needs no Keras)
    return _gan_class()(**kwargs)


def make_tables(results, data, session):
    rows = [TableRow(e.label, {"loss": results.get(e.key, {}).get("loss")}, e.reported.get("T", {}))
            for e in EXPERIMENTS if "T" in e.tables]
    g_rows = [TableRow(e.label, {m: results.get(e.key, {}).get(m) for m in ("loss", "d_loss", "g_loss")}, {})
              for e in EXPERIMENTS if "G" in e.tables]
    return [Table("T", "tiny table", ("loss",), rows, "random", session.options.synthetic),
            Table("G", "engine features", ("loss", "d_loss", "g_loss"), g_rows, "random", session.options.synthetic)]


if __name__ == "__main__":  # MirroredStrategy on 2 logical CPU devices (must be set before TF initialises)
    import sys

    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from dermkit.training.options import RunOptions
    from dermkit.training.runner import reproduce

    module = sys.modules[__name__]
    run = reproduce(module, RunOptions(output=Path(sys.argv[1]), rows=("row_a", "gan"), strategy="mirrored",
                                       verbose=0))
    print("REPLICAS", run["results"]["row_a"]["replicas"], "LOSS", run["results"]["row_a"]["loss"])
    print("GAN_REPLICAS", run["results"]["gan"]["replicas"], "G_LOSS", run["results"]["gan"]["g_loss"])
