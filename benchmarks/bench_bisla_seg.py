"""bisla2019 network speed: the dilated U-Net's train step (Table 1) and the partial-convolution purification
network's (supplement 6.1), each against the same network built from plain convolutions in the same run.

    python benchmarks/bench_bisla_seg.py                              # CPU-sized defaults (below)
    python benchmarks/bench_bisla_seg.py --seg-size 380 --seg-width 1 --seg-batch 15 \\
        --pconv-size 256 --pconv-width 1 --pconv-batch 8               # the paper's sizes (a GPU)

* dilated U-Net (BCE, Adam 1e-4) vs its plain twin: every dilated convolution and every transposed
  convolution replaced by a 3×3 'same' Conv2D with the same channels, at the input side rounded up to a
  multiple of 8 so the poolings and up-samplings align (Table 1's sizes shrink and regrow inside the
  bottleneck; the twin keeps them) — the cost of the dilations and transposed convolutions.
* purification U-Net (L1 loss) vs its plain twin: the same encoder/decoder with Conv2D instead of
  PartialConv2D and no mask path — the partial convolution's overhead (mask convolutions, renormalisation,
  the mask's up-sampling and concatenation). One more row: the purification step with InpaintingLoss
  (random-weight VGG16 features), Liu et al.'s full loss.

Random weights, in-memory tensors, ``train_on_batch``; prints s/step and images/s per network and the ratios,
with the process's CPU time (wall time on a shared machine is inflated by other work).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _timed(step, steps: int, warmup: int) -> tuple[float, float]:
    for _ in range(warmup):
        step()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - wall0) / steps, (time.process_time() - cpu0) / steps


def _plain_dilated_twin(side: int, width: float, channels: int = 7):
    """Table 1's channel plan with 'same' 3×3 Conv2D everywhere (no dilations, no transposed convolutions)."""
    import keras

    def ch(base):
        return max(1, int(round(base * width)))

    def conv(x, f, name):
        return keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=name)(x)

    inputs = keras.Input((side, side, channels))
    x, skips = inputs, []
    for level, base in enumerate((64, 128, 256), start=1):
        x = conv(conv(x, ch(base), f"d{level}a"), ch(base), f"d{level}b")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2)(x)
    for i, base in enumerate((512, 512, 1024, 1024, 1024, 512, 512, 512)):
        x = conv(x, ch(base), f"mid{i}")
    for level, base in ((3, 256), (2, 128), (1, 64)):
        x = conv(keras.layers.UpSampling2D(2)(x), ch(base), f"u{level}")
        x = keras.layers.Concatenate()([x, skips[level - 1]])
        x = conv(conv(x, ch(base), f"u{level}a"), ch(base), f"u{level}b")
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def _plain_partialconv_twin(side: int, depth: int, width: float):
    """partialconv_unet's topology with Conv2D layers and no mask path."""
    import keras

    from dermkit.models.partialconv import ENCODER_FILTERS, ENCODER_KERNELS

    def ch(base):
        return max(1, int(round(base * width)))

    image = keras.Input((side, side, 3))
    x, levels = image, [image]
    for i in range(depth):
        x = keras.layers.Conv2D(ch(ENCODER_FILTERS[i]), ENCODER_KERNELS[i], strides=2, padding="same",
                                use_bias=i == 0)(x)
        if i > 0:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        levels.append(x)
    for i in range(depth, 0, -1):
        x = keras.layers.Concatenate()([keras.layers.UpSampling2D(2)(x), levels[i - 1]])
        last = i == 1
        x = keras.layers.Conv2D(3 if last else ch(ENCODER_FILTERS[i - 2]), 3, padding="same", use_bias=last)(x)
        if not last:
            x = keras.layers.LeakyReLU(0.2)(keras.layers.BatchNormalization()(x))
    return keras.Model(image, keras.layers.Activation("tanh")(x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seg-size", type=int, default=228, help="dilated U-Net side (paper 380; 8k+4, k>=28)")
    parser.add_argument("--seg-width", type=float, default=0.25, help="channel multiplier (paper 1)")
    parser.add_argument("--seg-batch", type=int, default=4, help="batch (paper 15)")
    parser.add_argument("--pconv-size", type=int, default=128, help="purification side (paper 256)")
    parser.add_argument("--pconv-depth", type=int, default=7, help="stride-2 encoder layers (paper 7)")
    parser.add_argument("--pconv-width", type=float, default=0.25, help="channel multiplier (paper 1)")
    parser.add_argument("--pconv-batch", type=int, default=4, help="batch")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per network")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (tracing)")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from dermkit.losses.inpainting import InpaintingLoss, inpainting_target
    from dermkit.models.dilated_unet import dilated_unet
    from dermkit.models.partialconv import partialconv_unet

    rng = np.random.default_rng(0)
    print(f"bisla2019 networks, TF {tf.__version__}, keras {keras.__version__}, "
          f"devices {[d.device_type for d in tf.config.list_logical_devices()]}")
    rows = []

    def run(label, model, x, y, loss, batch):
        keras.utils.set_random_seed(0)
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss)
        wall, cpu = _timed(lambda: model.train_on_batch(x, y), args.steps, args.warmup)
        rows.append((label, wall))
        print(f"  {label:<44} {wall:7.3f} s/step  {batch / wall:7.2f} images/s  ({cpu:7.3f} s CPU/step)")
        return wall

    s, b = args.seg_size, args.seg_batch
    twin_side = -(-s // 8) * 8
    print(f"dilated U-Net {s}×{s}×7, width {args.seg_width}, batch {b}; plain twin at {twin_side}×{twin_side}")
    x = tf.constant(rng.uniform(-1, 1, (b, s, s, 7)).astype(np.float32))
    y = tf.constant((rng.random((b, s, s, 1)) > 0.5).astype(np.float32))
    dilated = run("dilated U-Net (Table 1)", dilated_unet((s, s, 7), width=args.seg_width), x, y,
                  "binary_crossentropy", b)
    xt = tf.constant(rng.uniform(-1, 1, (b, twin_side, twin_side, 7)).astype(np.float32))
    yt = tf.constant((rng.random((b, twin_side, twin_side, 1)) > 0.5).astype(np.float32))
    plain = run("plain-conv twin", _plain_dilated_twin(twin_side, args.seg_width), xt, yt,
                "binary_crossentropy", b)
    print(f"  dilated / plain step time: {dilated / plain:.2f}×")

    p, b = args.pconv_size, args.pconv_batch
    print(f"purification U-Net {p}×{p}, depth {args.pconv_depth}, width {args.pconv_width}, batch {b}")
    images = rng.random((b, p, p, 3)).astype(np.float32)
    valid = np.ones((b, p, p), np.float32)
    valid[:, p // 4: p // 2, p // 8: 3 * p // 4] = 0.0
    inputs = {"image": tf.constant(images), "mask": tf.constant(valid[..., None])}
    model = partialconv_unet((p, p, 3), depth=args.pconv_depth, width=args.pconv_width)
    partial = run("partial-conv U-Net, L1", model, inputs, tf.constant(images), "mae", b)
    twin = _plain_partialconv_twin(p, args.pconv_depth, args.pconv_width)
    plain = run("plain-conv twin, L1", twin, tf.constant(images), tf.constant(images * 2 - 1), "mae", b)
    print(f"  partial / plain step time: {partial / plain:.2f}× (the partial convolution's overhead)")
    model = partialconv_unet((p, p, 3), depth=args.pconv_depth, width=args.pconv_width)
    full = run("partial-conv U-Net, InpaintingLoss", model, inputs,
               tf.constant(inpainting_target(images, valid)), InpaintingLoss(vgg_weights=None), b)
    print(f"  InpaintingLoss / L1 step time: {full / partial:.2f}×")


if __name__ == "__main__":
    main()
