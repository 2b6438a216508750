"""barata2020 sample weighting: what SampleWeightingLoss (OHEM selection, ES class weights) adds to a train step.

    python benchmarks/bench_sample_weighting.py                 # small conv classifier, 64×64, batch 20
    python benchmarks/bench_sample_weighting.py --vgg           # also VGG16 at 299×299, batch 20 (slow on CPU)
    python benchmarks/bench_sample_weighting.py --vgg --vgg-budget 0   # VGG16 whatever it costs

Prints, in one process, the train step time (``train_on_batch`` on in-memory tensors) of the same model and
weights compiled with

  1. plain ``keras.losses.CategoricalCrossentropy()`` (the baseline);
  2. ``SampleWeightingLoss(CategoricalCrossentropy(), curriculum="ohem")`` at m = M/2;
  3. ``SampleWeightingLoss(CategoricalCrossentropy(), class_weights=ES, curriculum="ohem")``;

and each one's ratio to the baseline; then the loss value + gradient alone (the only part of the step the
weighting changes), as a share of the small model's step. Target: the weighting adds < 5 %. Measurements
alternate between the losses (``--repeats`` rounds of ``--steps`` steps) and report the median round, so
drift on a shared machine hits all of them alike. The VGG16 model is
``vgg16_cbam_classifier(encoder_weights=None)`` when dermkit has it, else Keras' VGG16 (``weights=None``) +
global average pooling + a softmax layer; it is skipped when its estimated cost exceeds ``--vgg-budget``
seconds (default 120: on a 2-core CPU one step at 299×299 takes over a minute).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

CLASSES = 7
TABLE1_COUNTS = [1119, 6741, 517, 331, 1101, 116, 143]  # barata2020 Table 1 in ISIC order MEL NV BCC AKIEC BKL DF VASC


def small_classifier(size: int):
    import keras

    inputs = keras.Input((size, size, 3), name="image")
    x = inputs
    for i, filters in enumerate((32, 64, 128), start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{i}_conv")(x)
        x = keras.layers.MaxPooling2D(name=f"block{i}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small_conv_classifier")


def vgg16_classifier(size: int):
    import keras

    try:
        from dermkit.models import vgg16_cbam_classifier
    except ImportError:
        vgg16_cbam_classifier = None
    if vgg16_cbam_classifier is not None:
        return vgg16_cbam_classifier((size, size, 3), num_classes=CLASSES, encoder_weights=None), "vgg16_cbam"
    encoder = keras.applications.VGG16(include_top=False, weights=None, input_shape=(size, size, 3))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(encoder.output)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(encoder.input, outputs, name="vgg16_gap"), "keras VGG16 + GAP + dense (stand-in)"


def losses():
    import keras

    from dermkit.losses import SampleWeightingLoss, class_weights

    es = class_weights(TABLE1_COUNTS, method="es", normalize="num_classes")
    return {
        "plain CE": lambda: keras.losses.CategoricalCrossentropy(),
        "OHEM": lambda: SampleWeightingLoss(keras.losses.CategoricalCrossentropy(), curriculum="ohem"),
        "ES + OHEM": lambda: SampleWeightingLoss(
            keras.losses.CategoricalCrossentropy(), class_weights=es, curriculum="ohem"
        ),
    }


def compare(build, x, y, *, steps: int, repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds per train step for each loss, same initial weights, rounds interleaved."""
    import keras

    keras.utils.set_random_seed(0)
    reference = build()
    initial = reference.get_weights()
    models = {}
    for name, make_loss in losses().items():
        model = build()
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=make_loss())
        for _ in range(warmup):  # tracing
            model.train_on_batch(x, y)
        models[name] = model
    rounds = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            rounds[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(times) for name, times in rounds.items()}


def loss_only(y, *, iterations: int, repeats: int) -> dict[str, float]:
    """Median seconds of one loss value + its gradient w.r.t. the predictions (a compiled tf.function), the
    part of a step the weighting changes; steadier than whole steps on a shared machine."""
    import tensorflow as tf

    logits = tf.constant(np.random.default_rng(1).normal(size=y.shape).astype(np.float32))
    timings = {}
    functions = {}
    for name, make_loss in losses().items():
        loss = make_loss()

        @tf.function
        def value_and_gradient(loss=loss):
            total = tf.constant(0.0)
            for _ in tf.range(iterations):
                with tf.GradientTape() as tape:
                    tape.watch(logits)
                    value = loss(y, tf.nn.softmax(logits))
                total += value + tf.reduce_sum(tape.gradient(value, logits))
            return total

        value_and_gradient()  # tracing
        functions[name] = value_and_gradient
        timings[name] = []
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            timings[name].append((time.perf_counter() - start) / iterations)
    return {name: statistics.median(times) for name, times in timings.items()}


def report(title: str, batch: int, seconds: dict[str, float]) -> None:
    base = seconds["plain CE"]
    print(title)
    for name, value in seconds.items():
        print(f"  {name:10s} {value * 1000:9.2f} ms/step  {batch / value:8.1f} images/s  "
              f"{100 * (value / base - 1):+6.1f} % vs plain CE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=64, help="input size of the small classifier")
    parser.add_argument("--batch", type=int, default=20, help="batch size (barata2020: 20)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round (small model)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the median is reported")
    parser.add_argument("--vgg", action="store_true", help="also time VGG16 at --vgg-size")
    parser.add_argument("--vgg-size", type=int, default=299)
    parser.add_argument("--vgg-steps", type=int, default=2)
    parser.add_argument("--vgg-repeats", type=int, default=3)
    parser.add_argument("--vgg-budget", type=float, default=120.0,
                        help="skip VGG16 when its estimated cost exceeds this many seconds (0: no limit)")
    args = parser.parse_args()

    import tensorflow as tf

    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, args.batch)
    y = tf.constant(np.eye(CLASSES, dtype=np.float32)[labels])
    print(f"TF {tf.__version__}, devices {[d.device_type for d in tf.config.list_logical_devices()]}, "
          f"batch {args.batch}")

    x = tf.constant(rng.random((args.batch, args.size, args.size, 3), dtype=np.float32))
    seconds = compare(lambda: small_classifier(args.size), x, y, steps=args.steps, repeats=args.repeats, warmup=2)
    report(f"small conv classifier {args.size}×{args.size} (median of {args.repeats} rounds × {args.steps} steps):",
           args.batch, seconds)
    alone = loss_only(y, iterations=200, repeats=args.repeats)
    print(f"loss + gradient alone, [{args.batch}, {CLASSES}] predictions (median of {args.repeats} × 200):")
    for name, value in alone.items():
        extra = value - alone["plain CE"]
        share = 100 * extra / seconds["plain CE"]
        print(f"  {name:10s} {value * 1e6:9.1f} µs   {extra * 1e6:+8.1f} µs = {share:+.2f} % of the small model's step")

    if not args.vgg:
        return
    size = args.vgg_size
    x = tf.constant(rng.random((args.batch, size, size, 3), dtype=np.float32))
    model, label = vgg16_classifier(size)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.train_on_batch(x, y)  # tracing
    start = time.perf_counter()
    model.train_on_batch(x, y)
    one_step = time.perf_counter() - start
    # 3 losses × (1 warm-up + repeats × steps) steps, plus tracing.
    estimate = 3 * (1 + args.vgg_repeats * args.vgg_steps) * one_step * 1.2
    print(f"{label} {size}×{size}: {one_step:.2f} s/step with plain CE; the comparison would take ≈ {estimate:.0f} s")
    if args.vgg_budget and estimate > args.vgg_budget:
        print(f"  skipped: over the --vgg-budget of {args.vgg_budget:.0f} s (run with --vgg-budget 0 to force)")
        return
    seconds = compare(lambda: vgg16_classifier(size)[0], x, y, steps=args.vgg_steps, repeats=args.vgg_repeats,
                      warmup=1)
    report(f"{label} {size}×{size} (median of {args.vgg_repeats} rounds × {args.vgg_steps} steps):", args.batch,
           seconds)


if __name__ == "__main__":
    main()
