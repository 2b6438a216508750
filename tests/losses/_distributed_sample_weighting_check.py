"""Subprocess check: SampleWeightingLoss on 2 replicas equals one device on the same global batch.

Run by tests/losses/test_sample_weighting.py in a fresh interpreter, because the two logical CPU devices must
be configured before TensorFlow initialises. Prints one JSON object per line (one per setting) with the
largest absolute differences between the 2-replica and the single-device results:

- ``run_loss`` / ``run_grads``: one step through ``strategy.run`` with a GradientTape, per-replica losses and
  gradients summed across replicas (what Keras' optimizer does with gradients);
- ``fit_loss`` / ``fit_weights``: one ``Model.fit`` step with SGD, reported loss and updated weights;
  ``fit_weights_vs_manual``: against ``w − lr · grad`` of the single-device gradient;
- ``eval_loss``: ``Model.evaluate`` on the same batch;
- ``uneven_loss`` / ``uneven_grads``: ``strategy.run`` on a global batch of 5 split 3 + 2 (a last, partial
  batch), against one device on those 5 samples;
- ``naive_gap``: how far the sum of the two halves' *local* losses (each half selecting its own samples and
  dividing by the global M) is from the global loss, to show the data makes a per-replica selection wrong.
"""

from __future__ import annotations

import contextlib
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

from dermkit.losses import SampleWeightingLoss  # noqa: E402

GLOBAL_BATCH, FEATURES, CLASSES = 8, 5, 3
LEARNING_RATE = 0.5
CLASS_WEIGHTS = (0.5, 1.0, 3.0)
# (base, class_weights, curriculum, keep_fraction)
SETTINGS = [
    ("ce", None, "ohem", 0.5),
    ("ce", CLASS_WEIGHTS, "ohem", 0.7),
    ("focal", CLASS_WEIGHTS, "spl", 0.3),
]


def make_base(kind):
    if kind == "ce":
        return keras.losses.CategoricalCrossentropy()
    return keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=1.0)


def make_data(weights):
    """A batch sorted by the initial model's loss, hardest first: the hardest half sits on replica 0 and the
    easiest on replica 1, so a per-replica selection picks other samples than the global one (CE and focal
    loss rank samples alike: both decrease with p(y))."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(GLOBAL_BATCH, FEATURES)).astype(np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[rng.integers(0, CLASSES, GLOBAL_BATCH)]
    model = build_model()
    model.set_weights(weights)
    losses = keras.losses.categorical_crossentropy(y, model(x)).numpy()
    order = np.argsort(-losses, kind="stable")
    return x[order], y[order]


def build_model():
    inputs = keras.Input((FEATURES,), name="features")
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(inputs)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="head")(hidden)
    return keras.Model(inputs, outputs, name="tiny_classifier")


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
    """Per-replica loss and gradients through ``strategy.run``, summed across replicas as Keras does."""
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
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    keras.utils.set_random_seed(1)
    initial = build_model().get_weights()
    x, y = make_data(initial)

    for base, weights, curriculum, fraction in SETTINGS:

        def make_loss(base=base, weights=weights, curriculum=curriculum, fraction=fraction):
            return SampleWeightingLoss(
                make_base(base), class_weights=weights, curriculum=curriculum, keep_fraction=fraction
            )

        loss_single, grads_single = one_device_step(initial, make_loss(), x, y)
        # Per-replica selection: each half picks its own samples; scaled to divide by the global M.
        half = GLOBAL_BATCH // 2
        naive = sum(
            0.5 * one_device_step(initial, make_loss(), x[s], y[s])[0] for s in (slice(0, half), slice(half, None))
        )

        with strategy.scope():
            replicated = build_model()
            replicated.set_weights(initial)
        loss_run, grads_run = replicated_step(strategy, replicated, make_loss(), x, y, (half, half))
        loss_uneven, grads_uneven = replicated_step(strategy, replicated, make_loss(), x[:5], y[:5], (3, 2))
        loss_single5, grads_single5 = one_device_step(initial, make_loss(), x[:5], y[:5])

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
                    "setting": [base, weights is not None, curriculum, fraction],
                    "loss_single": loss_single,
                    "run_loss": abs(loss_run - loss_single),
                    "run_grads": max_abs_diff(grads_run, grads_single),
                    "fit_loss": abs(fitted["mirrored"][0] - loss_single),
                    "fit_weights": max_abs_diff(fitted["mirrored"][1], fitted["single"][1]),
                    "fit_weights_vs_manual": max_abs_diff(fitted["mirrored"][1], expected_weights),
                    "eval_loss": abs(fitted["mirrored_eval"] - fitted["single_eval"]),
                    "uneven_loss": abs(loss_uneven - loss_single5),
                    "uneven_grads": max_abs_diff(grads_uneven, grads_single5),
                    "naive_gap": abs(naive - loss_single),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
