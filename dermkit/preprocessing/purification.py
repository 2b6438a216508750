"""Training pairs and masks for bisla2019's purification network (supplement Section 6.1).

"The input of the network is the original image and the output is the same image after occlusion removal.
Since the training data set for this model requires coupled pairs of images before and after occlusion
removal and those ... are not available in any public data sets, we created such training data using the
algorithm described in the main text ... [and] augmented through random masking." So each pair is:

* input: the **original** training image, with its hairs and rulers (not the cleaned one);
* target ``I_gt``: the same image after :func:`dermkit.preprocessing.hair.remove_hair` (the classical
  removal with the authors' setting; lesion pixels copied from the original — the segmented lesion);
* holes (partial convolution convention, 1 = valid, 0 = hole): the **occlusion mask** ``remove_hair`` found
  in that image (where input and target differ), united with one **random mask** per image (the "random
  masking"): 30 % an *inverted lesion mask* (the valid mask is ``1 − lesion``: the hole is the lesion),
  40 % a *hair mask* (the occlusion mask of a randomly drawn training image), 30 % *random blocks* (1–4
  axis-aligned rectangles with sides 10–30 % of the image's) — the shares from the reference notes.

Outside the holes input and target are equal (``remove_hair`` changes masked pixels only), so Liu et al.'s
loss against the purified target (:class:`dermkit.losses.InpaintingLoss`) teaches the network to replace
occlusions by skin, not only to inpaint behind the classical mask.

At test time (Table 6, Fig. 10) the network gets the test image and, as holes, the occlusions ``remove_hair``
finds in that image outside the **segmented lesion** (:func:`purification_test_masks` with the segmentation
network's masks): the lesion is never repainted — as the paper overlays "the segmented lesion" to correct
the removal of "dark regions belonging to the lesion itself". The paper does not say which mask the network
gets at test time; this is dermkit's reading, the occlusion part of the training holes.

NumPy only.
"""

from __future__ import annotations

import numpy as np

from dermkit.preprocessing.hair import remove_hair

__all__ = ["MASK_KINDS", "MASK_FRACTIONS", "purification_masks", "purification_pairs", "purification_test_masks"]

#: The kinds of training hole, in the order of :data:`MASK_FRACTIONS`.
MASK_KINDS = ("lesion", "block", "hair")
#: Their shares (reference notes: 30 % inverted lesion masks, 30 % random blocks, 40 % hair masks).
MASK_FRACTIONS = (0.3, 0.3, 0.4)


def _masks(x, name: str) -> np.ndarray:
    from dermkit.data.masks import binarize_mask

    array = np.asarray(x)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(f"{name} must be [N, H, W] (or [N, H, W, 1]). Received: shape {array.shape}")
    return np.stack([binarize_mask(m, where=f"{name}[{i}]") for i, m in enumerate(array)]) if len(array) else (
        array.astype(bool))


def _blocks(rng: np.random.Generator, shape: tuple[int, int], n_blocks, block_size) -> np.ndarray:
    h, w = shape
    hole = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(n_blocks[0], n_blocks[1] + 1))):
        bh = max(1, int(round(rng.uniform(*block_size) * h)))
        bw = max(1, int(round(rng.uniform(*block_size) * w)))
        top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        hole[top:top + bh, left:left + bw] = True
    return hole


def purification_masks(
    lesion_masks,
    hair_masks,
    *,
    seed: int = 0,
    fractions=MASK_FRACTIONS,
    n_blocks: tuple[int, int] = (1, 4),
    block_size: tuple[float, float] = (0.1, 0.3),
) -> tuple[np.ndarray, list[str]]:
    """One training hole per image: inverted lesion mask, random blocks or a hair mask (module docstring).

    Args:
        lesion_masks: ``[N, H, W]`` lesion masks (bool, 0/255, or probabilities; ``binarize_mask``'s rule).
        hair_masks: ``[N, H, W]`` occlusion masks from ``remove_hair`` (True = hair); a hair hole is drawn
            from the non-empty ones.
        seed: the draws' seed (same seed, same masks). Call again with another seed for fresh holes.
        fractions: shares of ``("lesion", "block", "hair")``, summing to 1. Default (0.3, 0.3, 0.4).
        n_blocks: inclusive range of rectangles per block hole. Default (1, 4).
        block_size: range of a rectangle's side as a fraction of the image's. Default (0.1, 0.3).

    Returns:
        ``(valid_masks, kinds)``: ``bool [N, H, W]`` (True = valid, False = hole) and each image's kind. An
        image drawn "lesion" with an empty lesion mask, or "hair" when no hair mask is non-empty, gets
        blocks instead (its kind says ``"block"``).

    Raises:
        ValueError: shapes that disagree, bad fractions or block options.
    """
    lesions = _masks(lesion_masks, "lesion_masks")
    hairs = _masks(hair_masks, "hair_masks")
    if lesions.shape != hairs.shape:
        raise ValueError(f"lesion_masks and hair_masks must have one shape. Received: {lesions.shape}, {hairs.shape}")
    p = np.asarray(fractions, np.float64)
    if p.shape != (3,) or (p < 0).any() or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"fractions must be 3 shares >= 0 summing to 1 (lesion, block, hair). Received: {fractions!r}")
    if not (1 <= n_blocks[0] <= n_blocks[1]):
        raise ValueError(f"n_blocks must be (low, high) with 1 <= low <= high. Received: {n_blocks!r}")
    if not (0 < block_size[0] <= block_size[1] <= 1):
        raise ValueError(f"block_size must be (low, high) with 0 < low <= high <= 1. Received: {block_size!r}")
    rng = np.random.default_rng(seed)
    with_hair = np.flatnonzero(hairs.reshape(len(hairs), -1).any(axis=1))
    valid = np.ones(lesions.shape, bool)
    kinds: list[str] = []
    for i in range(len(lesions)):
        kind = MASK_KINDS[int(rng.choice(3, p=p))]
        if kind == "lesion" and lesions[i].any():
            hole = lesions[i]
        elif kind == "hair" and with_hair.size:
            hole = hairs[int(rng.choice(with_hair))]
        else:
            kind, hole = "block", _blocks(rng, lesions.shape[1:], n_blocks, block_size)
        valid[i] = ~hole
        kinds.append(kind)
    return valid, kinds


def _lesion_list(lesion_masks, n: int) -> list:
    if lesion_masks is None:
        raise ValueError("lesion_masks is required: the segmented lesion (from the segmentation network) is copied "
                         "from the original so the lesion is never repainted. Pass one [H, W] mask per image.")
    lesions = _masks(lesion_masks, "lesion_masks")
    if len(lesions) != n:
        raise ValueError(f"lesion_masks must hold one mask per image ({n}). Received: {len(lesions)}")
    return list(lesions)


def _images(images, name: str = "images") -> np.ndarray:
    """The one image rule (:mod:`dermkit._validation`) for a batch: float32 RGB ``[N, H, W, 3]`` in [0, 1]."""
    from dermkit._validation import as_rgb01

    array = np.asarray(images)
    if array.ndim == 4 and array.shape[0] == 0:
        return array.astype(np.float32)
    return as_rgb01(array, name=name, ndims=(4,))


def purification_pairs(
    images,
    lesion_masks,
    *,
    method: str = "closing",
    seed: int = 0,
    fractions=MASK_FRACTIONS,
    **remove_hair_options,
) -> dict:
    """The purification network's training set: (original, classically purified) pairs and their holes
    (module docstring).

    Args:
        images: RGB ``[N, H, W, 3]`` in [0, 1] (uint8 accepted) — the training images, with their occlusions.
        lesion_masks: ``[N, H, W]`` lesion masks (the segmentation network's, or ground truth), copied from the
            original by ``remove_hair`` and used for the inverted-lesion holes.
        method: ``remove_hair``'s method. Default ``"closing"`` (the authors').
        seed, fractions: as for :func:`purification_masks`.
        **remove_hair_options: passed to :func:`~dermkit.preprocessing.hair.remove_hair` (``threshold``, ...).

    Returns:
        ``{"inputs": float32 [N, H, W, 3]`` (the originals in [0, 1]), ``"targets": float32 [N, H, W, 3]``
        (``I_gt``, the purified images), ``"hair_masks": bool [N, H, W]`` (each image's occlusion mask),
        ``"valid_masks": bool [N, H, W]`` (False = hole: occlusion ∪ random mask), ``"kinds": list[str]}``
        (the random mask's kind). Train with ``model.fit({"image": inputs, "mask": valid_masks[..., None]},
        dermkit.losses.inpainting.inpainting_target(targets, valid_masks))``.

    Raises:
        ValueError: images that are not ``[N, H, W, 3]`` or masks of another shape.
    """
    images = _images(images)
    lesions = _masks(lesion_masks, "lesion_masks")
    if images.shape[:3] != lesions.shape:
        raise ValueError(f"images must be [N, H, W, 3] matching lesion_masks [N, H, W]. Received: {images.shape}, "
                         f"{lesions.shape}")
    cleaned = [remove_hair(image, lesion, method=method, **remove_hair_options) for image, lesion in
               zip(images, lesions)]
    inputs = images  # float32 in [0, 1] (_images)
    targets = np.stack([c for c, _ in cleaned]) if cleaned else np.zeros(images.shape, np.float32)
    hairs = np.stack([m for _, m in cleaned]) if cleaned else np.zeros(lesions.shape, bool)
    random_valid, kinds = purification_masks(lesions, hairs, seed=seed, fractions=fractions)
    valid = random_valid & ~hairs
    return {"inputs": inputs, "targets": targets, "hair_masks": hairs, "valid_masks": valid, "kinds": kinds}


def purification_test_masks(images, lesion_masks, **remove_hair_options) -> np.ndarray:
    """The network's masks at test time (Table 6, Fig. 10; module docstring): ``~hair_mask`` of
    ``remove_hair(image, lesion_mask)`` for each image → ``bool [N, H, W]`` (True = valid). The segmented
    lesion is valid everywhere: it is never repainted.

    Args:
        images: RGB ``[N, H, W, 3]`` in [0, 1] (uint8 accepted).
        lesion_masks: ``[N, H, W]`` masks from the segmentation network (required).
        **remove_hair_options: passed to ``remove_hair`` (default: the authors' closing setting).

    Pass the result to :func:`dermkit.models.partialconv.purify`.
    """
    images = _images(images)
    lesions = _lesion_list(lesion_masks, len(images))
    if len(images) and lesions[0].shape != images.shape[1:3]:
        raise ValueError(f"lesion_masks must be [N, H, W] with the images' H, W = {images.shape[1:3]}. "
                         f"Received: {lesions[0].shape}")
    if not len(images):
        return np.zeros(images.shape[:3], bool)
    return np.stack([~remove_hair(image, lesion, **remove_hair_options)[1] for image, lesion in zip(images, lesions)])
