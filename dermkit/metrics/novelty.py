"""Novelty of generated images (bisla2019 Section 3.3.2, Figs. 5–6) and per-channel image statistics.

* :func:`nearest_training_mse` — "we calculate the mean squared error (MSE) between each generated image to
  all the images from the training data set and choose the training image that corresponds to the minimal
  value of the MSE", as the authors' ``Generator/mse_check.py`` does it: each generated image min–max
  stretched to [0, 1] (:func:`minmax_stretch`, their ``norm_ip``), compared with the training images (in
  [0, 1], not stretched) of its own class (their ``Data/`` folder holds one class: one DCGAN per class).
  MSE is the mean over the ``H·W·3`` values, so Fig. 5's values (melanoma 0.088 ± 0.052, SK 0.030 ± 0.015)
  are on the [0, 1] scale.
* :func:`channel_stats` / :func:`channel_stats_distance` — per-channel mean and standard deviation of a set of
  images and the Euclidean distance between two such 6-vectors: the cheap "does the GAN learn the class's
  colours" check of the reproduction (the ``gan`` table's ``stats_distance_*``).

NumPy only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_training_mse", "minmax_stretch", "channel_stats", "channel_stats_distance",
           "NOVELTY_BLOCK_SIZE", "NOVELTY_BLOCK_BYTES"]

#: Default block size of :func:`nearest_training_mse` (images per block, each side).
NOVELTY_BLOCK_SIZE = 1024
#: Cap of one float64 image block of :func:`nearest_training_mse`, in bytes (512 MiB): at 256² a block holds at
#: most 341 images (256 MiB blocks, 170 images, ran at 1.9× the matmul floor there; 512 MiB at 1.6×).
NOVELTY_BLOCK_BYTES = 512 * 2 ** 20


def _images(name: str, x, *, unit_range: bool = True) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty [N, H, W, C] image array. Received: shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must hold float images in [0, 1]. Received: dtype {x.dtype}")
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name} must hold finite values. Received: values in [{lo:g}, {hi:g}]")
    if unit_range and (lo < 0.0 or hi > 1.0):
        raise ValueError(f"{name} must hold finite values in [0, 1] (dermkit's image range). "
                         f"Received: values in [{lo:g}, {hi:g}]")
    return x


def minmax_stretch(images) -> np.ndarray:
    """Each image mapped affinely onto [0, 1] by its own minimum and maximum over all its ``H·W·C`` values:
    ``(x − min) / (max − min)`` (the authors' ``norm_ip(img, img.min(), img.max())`` in ``mse_check.py``).

    The stretch does not depend on the image's affine scale: a generator's raw tanh output in [−1, 1] and
    dermkit's ``(x + 1) / 2`` in [0, 1] stretch to the same image. A constant image (``max = min``, where the
    authors' code divides by zero) maps to 0 (dermkit's choice).

    Args:
        images: finite ``float [N, H, W, C]`` (any range).

    Returns:
        ``float64 [N, H, W, C]`` in [0, 1].

    Raises:
        ValueError: an empty, non-4-D, non-float or non-finite array.
    """
    x = _images("images", images, unit_range=False)
    return _stretch_rows(x.reshape(len(x), -1).astype(np.float64)).reshape(x.shape)


def _stretch_rows(flat: np.ndarray) -> np.ndarray:
    """:func:`minmax_stretch` of each row of a float64 ``[n, D]`` array, in place (returned)."""
    lo = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - lo
    flat -= lo
    np.divide(flat, span, out=flat, where=span > 0)
    flat[(span <= 0)[:, 0]] = 0.0
    return flat


def _block_rows(batch_size: int, d: int) -> int:
    return max(1, min(int(batch_size), NOVELTY_BLOCK_BYTES // (8 * d)))


def _nearest(gen: np.ndarray, train: np.ndarray, rows: int, stretch: bool) -> tuple[np.ndarray, np.ndarray]:
    """Smallest squared distance (sum, not mean) of each row of ``gen`` (min–max stretched first with
    ``stretch``, block by block) to the rows of ``train`` and its index: ``‖a‖² − 2 a·b + ‖b‖²`` in float64,
    ``rows`` × ``rows`` blocks, ties to the lowest index. The float64 blocks are allocated once and reused
    (fresh 100 MB arrays per block pair cost ~25 % more at 256², in page faults)."""
    n, m = len(gen), len(train)
    d = gen.shape[1]
    best = np.full(n, np.inf)
    index = np.zeros(n, np.int64)
    a_block = np.empty((min(rows, n), d))
    b_block = np.empty((min(rows, m), d))
    product = np.empty((len(a_block), len(b_block)))
    train_norms: dict[int, np.ndarray] = {}
    for i in range(0, n, rows):
        a = a_block[:min(rows, n - i)]
        np.copyto(a, gen[i:i + rows])
        if stretch:
            _stretch_rows(a)
        a2 = np.einsum("ij,ij->i", a, a)
        for j in range(0, m, rows):
            b = b_block[:min(rows, m - j)]
            np.copyto(b, train[j:j + rows])
            if j not in train_norms:
                train_norms[j] = np.einsum("ij,ij->i", b, b)
            ab = product[:len(a), :len(b)]
            np.matmul(a, b.T, out=ab)
            sq = a2[:, None] - 2.0 * ab + train_norms[j][None, :]
            col = np.argmin(sq, axis=1)
            val = sq[np.arange(len(a)), col]
            better = val < best[i:i + len(a)]
            best[i:i + len(a)][better] = val[better]
            index[i:i + len(a)][better] = j + col[better]
    return best, index


def _labels(name: str, labels, n: int) -> np.ndarray:
    raw = np.asarray(labels)
    if raw.shape != (n,):
        raise ValueError(f"{name} must hold one label per image: shape ({n},). Received: shape {raw.shape}")
    if raw.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels. Received: dtype {raw.dtype}")
    return raw.astype(np.int64)


def nearest_training_mse(generated, training, *, generated_labels=None, training_labels=None,
                         stretch: bool = True, batch_size: int = NOVELTY_BLOCK_SIZE
                         ) -> tuple[np.ndarray, np.ndarray]:
    """For each generated image, the smallest MSE to a training image (of its own class, when labels are
    given) and that image's index: bisla2019 Section 3.3.2 / Fig. 5 as the authors' ``mse_check.py``.

    ``MSE(a, b) = ‖a − b‖² / D`` with ``D = H·W·C``, where ``a`` is the generated image min–max stretched to
    [0, 1] (:func:`minmax_stretch`; ``stretch=False`` compares it as given) and ``b`` the training image as
    given. Computed as ``(‖a‖² − 2 a·b + ‖b‖²) / D`` in float64, block by block, no loop over pairs; ties go
    to the lowest training index.

    Memory: besides the inputs (and, with labels, one class's copy of them), two float64 blocks of ``r``
    images and a few ``r × r`` float64 distance blocks, ``r = min(batch_size, 512 MiB / (8·D))``
    (:data:`NOVELTY_BLOCK_BYTES`): at most ~1.05 GiB whatever the image size (64²: r = 1024, ~220 MiB;
    256²: r = 341, ~1 GiB). Speed on a 2-core CPU (benchmarks/bench_novelty.py): 2,000 × 2,000 images at 64²
    take 1.2× the float64 matmul floor with the default block (1.8× with 256-image blocks), 350 × 800 at 256²
    1.6×.

    Args:
        generated: ``float [N, H, W, C]``: in [0, 1], or any finite range with ``stretch`` (the stretch
            removes it: raw tanh output in [−1, 1] gives the same result).
        training: ``float [M, H, W, C]`` in [0, 1] (same H, W, C).
        generated_labels, training_labels: ``int [N]`` / ``int [M]`` class labels, both or neither. Given,
            each generated image is compared only with the training images of its label (the authors: one
            DCGAN and one training folder per class); the returned index still points into ``training``.
        stretch: min–max stretch each generated image first (default True, the authors' check).
        batch_size: largest block (≥ 1; default :data:`NOVELTY_BLOCK_SIZE`), capped by the memory bound above.

    Returns:
        ``(mse float64 [N], index int64 [N])``.

    Raises:
        ValueError: empty or non-4-D arrays, differing image shapes, values outside [0, 1] (or non-finite),
            one label array without the other, labels of the wrong shape or type, a generated label without
            training images, a bad ``batch_size``.
    """
    gen = _images("generated", generated, unit_range=not stretch)
    train = _images("training", training)
    if gen.shape[1:] != train.shape[1:]:
        raise ValueError(f"generated and training images differ in shape: {gen.shape[1:]} vs {train.shape[1:]}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    if (generated_labels is None) != (training_labels is None):
        raise ValueError("pass both generated_labels and training_labels, or neither")
    d = int(np.prod(gen.shape[1:]))
    flat_gen = gen.reshape(len(gen), d)
    flat_train = train.reshape(len(train), d)
    rows = _block_rows(batch_size, d)
    if generated_labels is None:
        best, index = _nearest(flat_gen, flat_train, rows, stretch)
    else:
        g_labels = _labels("generated_labels", generated_labels, len(gen))
        t_labels = _labels("training_labels", training_labels, len(train))
        best, index = np.empty(len(gen)), np.empty(len(gen), np.int64)
        for label in np.unique(g_labels):
            members = np.flatnonzero(t_labels == label)
            if not len(members):
                raise ValueError(f"generated images of class {int(label)} have no training image of that class")
            which = np.flatnonzero(g_labels == label)
            best[which], nearest = _nearest(flat_gen[which], flat_train[members], rows, stretch)
            index[which] = members[nearest]
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
