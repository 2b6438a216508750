"""A tiny paper module for runner tests: two rows, a 2-layer conv net with the Dice-F1 loss on random data.

Importable both by the tests and by the MirroredStrategy subprocess (``python _tiny_paper.py OUT``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from dermkit.training.report import Table, TableRow
from dermkit.training.runner import Experiment

NAME = "tiny"
TABLES = ("T",)
EXPERIMENTS = [
    Experiment("row_a", "row a", ("T",), {"epochs": 3, "filters": 4}, {"T": {"loss": 0.5}}, quick=True),
    Experiment("row_b", "row b", ("T",), {"epochs": 2, "filters": 2}, {"T": {"loss": 0.4}}, quick=False),
]
CALLS: list[str] = []
FAIL_AT_EPOCH: dict[str, int] = {}


def prepare(data, session):
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 3), dtype=np.float32)
    y = (x[..., :1] > 0.5).astype(np.float32)
    return x, y


def run_experiment(exp, data, session):
    import keras
    import tensorflow as tf

    from dermkit.losses import DiceF1Loss

    CALLS.append(exp.key)
    x, y = data
    inputs = keras.Input((8, 8, 3), name="image")
    hidden = keras.layers.Conv2D(exp.params["filters"], 3, padding="same", activation="relu", name="conv")(inputs)
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid", name="head")(hidden)
    model = keras.Model(inputs, outputs, name=f"tiny_{exp.key}")
    session.compile(model, optimizer=keras.optimizers.SGD(0.1), loss=DiceF1Loss())
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    callbacks = []
    if exp.key in FAIL_AT_EPOCH:
        fail_at = FAIL_AT_EPOCH.pop(exp.key)

        class Crash(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == fail_at:
                    raise KeyboardInterrupt("simulated kill")

        callbacks.append(Crash())
    fit = session.fit(model, train, validation_data=train, key=exp.key, epochs=exp.params["epochs"],
                      callbacks=callbacks)
    return {"loss": float(model.evaluate(train, verbose=0)), "replicas": session.strategy.num_replicas_in_sync,
            "fit": fit}


def make_tables(results, data, session):
    rows = [TableRow(e.label, {"loss": results.get(e.key, {}).get("loss")}, e.reported["T"]) for e in EXPERIMENTS]
    return [Table("T", "tiny table", ("loss",), rows, "random", session.options.synthetic)]


if __name__ == "__main__":  # MirroredStrategy on 2 logical CPU devices (must be set before TF initialises)
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from dermkit.training.options import RunOptions
    from dermkit.training.runner import reproduce

    module = sys.modules[__name__]
    run = reproduce(module, RunOptions(output=Path(sys.argv[1]), quick=True, strategy="mirrored", verbose=0))
    print("REPLICAS", run["results"]["row_a"]["replicas"], "LOSS", run["results"]["row_a"]["loss"])
