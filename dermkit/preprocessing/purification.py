"""Training pairs and masks for bisla2019's purification network (supplement Section 6.1).

"Since the training data set for this model requires coupled pairs of images before and after occlusion
removal and those ... are not available in any public data sets, we created such training data using the
algorithm described in the main text ... [and] augmented through random masking." The pairs:

* the target ``I_gt`` is the image after :func:`dermkit.preprocessing.hair.remove_hair` (the classical
  removal, "closing" by default), and the network input is that target with holes (Liu et al.'s training);
* the holes (reference notes, from the authors' code): 30 % of the images get an *inverted lesion mask*,
  40 % a *hair mask*, 30 % *random blocks*. Masks follow the partial convolution's convention, 1 = valid,
  0 = hole; "inverted" is read in that convention: the valid mask is ``1 − lesion``, so the hole is the
  lesion. A hair mask is the occlusion mask ``remove_hair`` found in a randomly drawn training image (its
  own or another's), as the hole. Blocks: 1–4 axis-aligned rectangles with sides 10–30 % of the image's.

At test time (Table 6) the holes are the occlusions ``remove_hair(method="closing")`` finds in the test image
itself (:func:`purification_test_masks`) — the paper does not say which mask the network gets; dermkit's
choice.

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


def purification_pairs(
    images,
    lesion_masks,
    *,
    method: str = "closing",
    seed: int = 0,
    fractions=MASK_FRACTIONS,
    **remove_hair_options,
) -> dict:
    """The purification network's training set: classical removal, then holes (module docstring).

    Args:
        images: RGB ``[N, H, W, 3]`` in [0, 1] (uint8 accepted) — the training images, with their occlusions.
        lesion_masks: ``[N, H, W]`` lesion masks (ground truth or the segmentation network's), restored by
            ``remove_hair`` and used for the inverted-lesion holes.
        method: ``remove_hair``'s method. Default ``"closing"``.
        seed, fractions: as for :func:`purification_masks`.
        **remove_hair_options: passed to :func:`~dermkit.preprocessing.hair.remove_hair` (``radius``, ...).

    Returns:
        ``{"targets": float32 [N, H, W, 3]`` (``I_gt``, the cleaned images), ``"hair_masks": bool [N, H, W]``,
        ``"valid_masks": bool [N, H, W]``, ``"kinds": list[str]}``. Train with
        ``model.fit({"image": targets, "mask": valid_masks[..., None]},
        dermkit.losses.inpainting.inpainting_target(targets, valid_masks))``.
    """
    images = np.asarray(images)
    lesions = _masks(lesion_masks, "lesion_masks")
    if images.ndim != 4 or images.shape[:3] != lesions.shape:
        raise ValueError(f"images must be [N, H, W, 3] matching lesion_masks [N, H, W]. Received: {images.shape}, "
                         f"{lesions.shape}")
    cleaned = [remove_hair(image, lesion, method=method, **remove_hair_options) for image, lesion in
               zip(images, lesions)]
    targets = np.stack([c for c, _ in cleaned]) if cleaned else np.zeros(images.shape, np.float32)
    hairs = np.stack([m for _, m in cleaned]) if cleaned else np.zeros(lesions.shape, bool)
    valid, kinds = purification_masks(lesions, hairs, seed=seed, fractions=fractions)
    return {"targets": targets, "hair_masks": hairs, "valid_masks": valid, "kinds": kinds}


def purification_test_masks(images, lesion_masks=None, **remove_hair_options) -> np.ndarray:
    """The network's masks at test time (Table 6, dermkit's reading): ``~hair_mask`` of
    ``remove_hair(image, lesion_mask, method="closing")`` for each image → ``bool [N, H, W]`` (True = valid).
    Pass the result to :func:`dermkit.models.partialconv.purify`."""
    images = np.asarray(images)
    if lesion_masks is None:
        lesions = [None] * len(images)
    else:
        lesions = list(_masks(lesion_masks, "lesion_masks"))
    options = {**remove_hair_options, "method": "closing"}
    return np.stack([~remove_hair(image, lesion, **options)[1] for image, lesion in zip(images, lesions)])
