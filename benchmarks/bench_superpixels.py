"""Speed of kawahara2018 Eq. 1 / Eq. 2 (dermkit.data.superpixels) against a plain loop and bare NumPy.

A 1024x768 superpixel index map with ~1000 superpixels (scikit-image SLIC on a smooth random image, the size
of a typical ISIC 2017 image) and 4 feature channels. For each direction it prints the best-of-N time of

* dermkit's function,
* the floor of bare NumPy with no checks: Eq. 1 the faster of ``labels[index]`` and
  ``np.take(labels, index, axis=0)`` (the same gather; ``take`` is several times faster for ``[N, K]``
  labels, and both are printed); Eq. 2 one ``np.bincount`` for the superpixel sizes plus one weighted
  ``np.bincount`` per channel and the division,
* a plain per-superpixel Python loop (the obvious implementation),

and the ratios; the target is dermkit within 3x of the floor. No assertion: numbers only.

    python benchmarks/bench_superpixels.py [--repeat 20] [--height 768 --width 1024 --segments 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage
from skimage.segmentation import slic

from dermkit.data.superpixels import mask_to_superpixels, superpixels_to_mask

K = 4  # ISIC 2017 features: PN, NN, MC, ST


def best_time(fn, repeat: int) -> float:
    """Best wall time of ``repeat`` calls, in seconds (one warm-up call first)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def eq1_loop(index: np.ndarray, labels: np.ndarray) -> np.ndarray:
    mask = np.zeros(index.shape + (labels.shape[1],), np.float32)
    for i in range(labels.shape[0]):
        mask[index == i] = labels[i]
    return mask


def eq2_loop(mask: np.ndarray, index: np.ndarray) -> np.ndarray:
    n = int(index.max()) + 1
    out = np.zeros((n, mask.shape[-1]), np.float32)
    for i in range(n):
        member = index == i
        if member.any():
            out[i] = mask[member].mean(axis=0)
    return out


def eq2_floor(mask: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    flat = index.ravel()
    sizes = np.bincount(flat, minlength=n)
    sums = [np.bincount(flat, weights=mask[..., c].ravel(), minlength=n) for c in range(mask.shape[-1])]
    return np.stack(sums, axis=1) / np.maximum(sizes, 1)[:, None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--segments", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--loop-repeat", type=int, default=1)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    image = ndimage.gaussian_filter(rng.random((args.height, args.width, 3)), sigma=(4, 4, 0))
    index = slic(image, n_segments=args.segments, compactness=30, start_label=0, channel_axis=-1)
    index = index.astype(np.int32)
    n = int(index.max()) + 1
    labels = (rng.random((n, K)) > 0.7).astype(np.float32)
    mask = rng.random((args.height, args.width, K)).astype(np.float32)
    print(f"index map {args.width}x{args.height}, {n} superpixels, K={K} channels; best of {args.repeat}")

    # Same answers before timing anything.
    np.testing.assert_array_equal(superpixels_to_mask(index, labels), labels[index])
    np.testing.assert_array_equal(superpixels_to_mask(index, labels), eq1_loop(index, labels))
    np.testing.assert_allclose(mask_to_superpixels(mask, index), eq2_floor(mask, index, n), rtol=1e-5)
    np.testing.assert_allclose(mask_to_superpixels(mask, index), eq2_loop(mask, index), rtol=1e-4)

    fancy = best_time(lambda: labels[index], args.repeat)
    take = best_time(lambda: np.take(labels, index, axis=0), args.repeat)
    print(f"Eq. 1 bare NumPy: labels[index] {fancy * 1e3:.2f} ms, np.take(labels, index, axis=0) {take * 1e3:.2f} ms")
    rows = [
        (
            "Eq. 1 superpixels_to_mask",
            best_time(lambda: superpixels_to_mask(index, labels), args.repeat),
            min(fancy, take),
            best_time(lambda: eq1_loop(index, labels), args.loop_repeat),
        ),
        (
            "Eq. 2 mask_to_superpixels",
            best_time(lambda: mask_to_superpixels(mask, index), args.repeat),
            best_time(lambda: eq2_floor(mask, index, n), args.repeat),
            best_time(lambda: eq2_loop(mask, index), args.loop_repeat),
        ),
    ]
    print(f"{'':28s}{'dermkit ms':>12s}{'floor ms':>10s}{'loop ms':>10s}{'vs floor':>10s}{'loop/dermkit':>14s}")
    worst = 0.0
    for name, ours, floor, loop in rows:
        worst = max(worst, ours / floor)
        print(
            f"{name:28s}{ours * 1e3:12.2f}{floor * 1e3:10.2f}{loop * 1e3:10.1f}{ours / floor:9.2f}x{loop / ours:13.0f}x"
        )
    verdict = "within" if worst <= 3 else "NOT within"
    print(f"target: within 3x of the bare-NumPy floor -> {verdict} (worst ratio {worst:.2f}x)")


if __name__ == "__main__":
    main()
