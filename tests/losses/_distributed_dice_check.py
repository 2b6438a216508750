"""Subprocess check: DiceF1Loss on 2 replicas equals one device on the same global batch.

Run by tests/losses/test_dice.py in a fresh interpreter, because the two logical CPU devices must be
configured before TensorFlow initialises. Prints one JSON object per line (one per partition and alpha/beta)
with the largest absolute differences between the 2-replica and the single-device results:

- ``run_loss`` / ``run_grads``: one step through ``strategy.run`` with a GradientTape, per-replica losses and
  gradients summed across replicas (what Keras' optimizer does with gradients);
- ``fit_loss`` / ``fit_weights``: one ``Model.fit`` step with SGD, reported loss and updated weights;
- ``eval_loss``: ``Model.evaluate`` on the same batch;
- ``uneven_loss`` / ``uneven_grads``: ``strategy.run`` on a global batch of 3 split 2 + 1 (a last, partial
  batch), against one device on those 3 samples;
- ``naive_gap``: how far the mean of per-replica (local) losses is from the global loss, to show the data
  makes a local computation visibly wrong.
"""

from __future__ import annotations

import contextlib
import functools
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

from dermkit.losses import PARTITIONS, DiceF1Loss  # noqa: E402

GLOBAL_BATCH, SIZE, CHANNELS = 4, 8, 2
LEARNING_RATE = 0.5
SETTINGS = [(partition, 0.0, 1.0) for partition in PARTITIONS] + [
    ("channel_batch", 1.0, 1.0),
    ("volume", 0.0, 1e-3),
]


def make_data():
    rng = np.random.default_rng(0)
    x = rng.random((GLOBAL_BATCH, SIZE, SIZE, 3), dtype=np.float32)
    y = (rng.random((GLOBAL_BATCH, SIZE, SIZE, CHANNELS)) > 0.6).astype(np.float32)
    y[1:, :, :, 1] = 0.0  # channel 1 positive only in sample 0: empty on the second replica
    y[2, :, :, :] = 0.0  # one all-negative sample
    return x, y


def build_model():
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    outputs = keras.layers.Conv2D(CHANNELS, 1, activation="sigmoid", name="head")(hidden)
    return keras.Model(inputs, outputs, name="tiny_fcn")


def max_abs_diff(a, b):
    return float(max(np.max(np.abs(np.asarray(u) - np.asarray(v))) for u, v in zip(a, b)))


def one_device_step(weights, loss_fn, x, y):
    """Loss and gradients of one model on the whole batch, on the default strategy."""
    model = build_model()
    model.set_weights(weights)
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    return float(loss), [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]


def replicated_step(strategy, model, loss_fn, x, y, sizes):
    """Per-replica loss and gradients through ``strategy.run``, summed across replicas as Keras does.

    Replica r gets the ``sizes[r]`` samples after those of the replicas before it.
    """
    starts = np.cumsum((0, *sizes))

    def shard(array):
        return strategy.experimental_distribute_values_from_function(
            lambda context: tf.constant(
                array[starts[context.replica_id_in_sync_group] : starts[context.replica_id_in_sync_group + 1]]
            )
        )

    def step(x_part, y_part):
        with tf.GradientTape() as tape:
            loss = loss_fn(y_part, model(x_part, training=True))
        return loss, tape.gradient(loss, model.trainable_variables)

    loss, grads = tf.function(lambda a, b: strategy.run(step, args=(a, b)))(shard(x), shard(y))
    total = float(strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None))
    return total, [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None).numpy() for g in grads]


def main():
    x, y = make_data()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    keras.utils.set_random_seed(1)
    initial = build_model().get_weights()

    for partition, alpha, beta in SETTINGS:
        make_loss = functools.partial(DiceF1Loss, partition=partition, alpha=alpha, beta=beta)

        # One device, whole global batch; and the naive mean of the two halves' local losses.
        loss_single, grads_single = one_device_step(initial, make_loss(), x, y)
        half = GLOBAL_BATCH // 2
        naive = np.mean(
            [one_device_step(initial, make_loss(), x[s], y[s])[0] for s in (slice(0, half), slice(half, None))]
        )

        # Two replicas through strategy.run, an even (2 + 2) and an uneven (2 + 1) split.
        with strategy.scope():
            replicated = build_model()
            replicated.set_weights(initial)
        loss_run, grads_run = replicated_step(strategy, replicated, make_loss(), x, y, (half, half))
        loss_uneven, grads_uneven = replicated_step(strategy, replicated, make_loss(), x[:3], y[:3], (2, 1))
        loss_single3, grads_single3 = one_device_step(initial, make_loss(), x[:3], y[:3])

        # Model.fit one SGD step (and evaluate), 2 replicas vs one device.
        fitted = {}
        for name, scope in (("single", None), ("mirrored", strategy)):
            with scope.scope() if scope else contextlib.nullcontext():
                model = build_model()
                model.set_weights(initial)
                model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss=make_loss())
            history = model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0)
            fitted[name] = (history.history["loss"][0], model.get_weights())
            fitted[name + "_eval"] = model.evaluate(x, y, batch_size=GLOBAL_BATCH, verbose=0)
        expected_weights = [w - LEARNING_RATE * g for w, g in zip(initial, grads_single)]

        print(
            json.dumps(
                {
                    "partition": partition,
                    "alpha": alpha,
                    "beta": beta,
                    "loss_single": loss_single,
                    "run_loss": abs(loss_run - loss_single),
                    "run_grads": max_abs_diff(grads_run, grads_single),
                    "fit_loss": abs(fitted["mirrored"][0] - loss_single),
                    "fit_weights": max_abs_diff(fitted["mirrored"][1], fitted["single"][1]),
                    "fit_weights_vs_manual": max_abs_diff(fitted["mirrored"][1], expected_weights),
                    "eval_loss": abs(fitted["mirrored_eval"] - fitted["single_eval"]),
                    "uneven_loss": abs(loss_uneven - loss_single3),
                    "uneven_grads": max_abs_diff(grads_uneven, grads_single3),
                    "naive_gap": abs(naive - loss_single),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
