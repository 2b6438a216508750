"""Novelty of generated images (bisla2019 Section 3.3.2, Figs. 5–6) and per-channel image statistics.

* :func:`nearest_training_mse` — "we calculate the mean squared error (MSE) between each generated image to
  all the images from the training data set and choose the training image that corresponds to the minimal
  value of the MSE". MSE is the mean over the ``H·W·3`` values of images in [0, 1] (dermkit's image range);
  on the networks' [−1, 1] range it is 4× larger. The paper does not say which scale Fig. 5's values
  (melanoma 0.088 ± 0.052, SK 0.030 ± 0.015) are on.
* :func:`channel_stats` / :func:`channel_stats_distance` — per-channel mean and standard deviation of a set of
  images and the Euclidean distance between two such 6-vectors: the cheap "does the GAN learn the class's
  colours" check of the reproduction (the ``gan`` table's ``stats_distance_*``).

NumPy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_training_mse", "channel_stats", "channel_stats_distance"]


def _images(name: str, x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty [N, H, W, C] image array. Received: shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must hold float images in [0, 1]. Received: dtype {x.dtype}")
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name} must hold finite values in [0, 1] (dermkit's image range). "
                         f"Received: values in [{lo:g}, {hi:g}]")
    return x


def nearest_training_mse(generated, training, *, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """For each generated image, the smallest MSE to any training image and that image's index.

    ``MSE(a, b) = ‖a − b‖² / D`` with ``D = H·W·C``, computed as ``(‖a‖² − 2 a·b + ‖b‖²) / D`` in float64, block
    by block (``batch_size`` generated × ``batch_size`` training images at a time: memory ``O(batch_size ·
    D)``), no loop over pairs. Ties go to the lowest training index.

    Args:
        generated: ``float [N, H, W, C]`` in [0, 1].
        training: ``float [M, H, W, C]`` in [0, 1] (same H, W, C): all the training images (the paper), or one
            class's (one call per class).
        batch_size: block size (≥ 1).

    Returns:
        ``(mse float64 [N], index int64 [N])``.

    Raises:
        ValueError: empty or non-4-D arrays, differing image shapes, values outside [0, 1], a bad
            ``batch_size``.
    """
    gen = _images("generated", generated)
    train = _images("training", training)
    if gen.shape[1:] != train.shape[1:]:
        raise ValueError(f"generated and training images differ in shape: {gen.shape[1:]} vs {train.shape[1:]}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    d = int(np.prod(gen.shape[1:]))
    n, m = len(gen), len(train)
    best = np.full(n, np.inf)
    index = np.zeros(n, np.int64)
    train_norms = [None] * (-(-m // batch_size))
    for i in range(0, n, batch_size):
        a = gen[i:i + batch_size].reshape(-1, d).astype(np.float64)
        a2 = np.einsum("ij,ij->i", a, a)
        for k, j in enumerate(range(0, m, batch_size)):
            b = train[j:j + batch_size].reshape(-1, d).astype(np.float64)
            if train_norms[k] is None:
                train_norms[k] = np.einsum("ij,ij->i", b, b)
            sq = a2[:, None] - 2.0 * (a @ b.T) + train_norms[k][None, :]
            col = np.argmin(sq, axis=1)
            val = sq[np.arange(len(a)), col]
            better = val < best[i:i + len(a)]
            best[i:i + len(a)][better] = val[better]
            index[i:i + len(a)][better] = j + col[better]
    return np.maximum(best, 0.0) / d, index


def channel_stats(images) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over every pixel of every image: ``(mean [C], std [C])``
    float64, for ``images float [N, H, W, C]`` in [0, 1]."""
    x = _images("images", images).astype(np.float64)
    flat = x.reshape(-1, x.shape[-1])
    return flat.mean(axis=0), flat.std(axis=0)


def channel_stats_distance(images, reference) -> float:
    """``‖(μ − μ_ref, σ − σ_ref)‖₂``: the Euclidean distance between the per-channel means and standard
    deviations (:func:`channel_stats`) of ``images`` and of ``reference`` (images, or a ``(mean, std)`` pair
    from :func:`channel_stats`)."""
    mean, std = channel_stats(images)
    if isinstance(reference, tuple) and len(reference) == 2:
        ref_mean, ref_std = (np.asarray(v, np.float64) for v in reference)
    else:
        ref_mean, ref_std = channel_stats(reference)
    if ref_mean.shape != mean.shape:
        raise ValueError(f"images have {mean.shape[0]} channels, the reference {ref_mean.shape[0]}")
    return float(np.sqrt(np.sum((mean - ref_mean) ** 2) + np.sum((std - ref_std) ** 2)))
