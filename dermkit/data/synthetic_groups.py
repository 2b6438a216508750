"""Synthetic non-expert similarity groups for the synthetic ISIC 2017 tree (codella2018, Section 2.3).

The paper's groups are not public. :func:`dermkit.data.synthetic.make_isic2017` with
``similarity_groups=True`` (or a dict of group counts) calls this module to

* give every image a **hierarchical group** nested under its disease (20 / 12 / 15 groups under melanoma /
  seborrhoeic keratosis / nevus at full scale, :data:`FULL_GROUPS`),
* give every hierarchical group a **look** — a lesion tint and a stripe texture (angle, period) drawn inside
  the lesion mask after rendering (:func:`apply_look`) — so that the images of one group look alike,
* define the **joint groups** (disease-agnostic, 37 at full scale) as the looks: each disease's groups have
  distinct looks, taken in turn along one seeded cycle of all looks, so groups of different diseases share
  looks and a joint group mixes diseases (visual similarity crosses disease lines, as in the paper's Fig. 2),

and writes two CSVs ``image_id,disease,group`` at the tree's root: :data:`HIERARCHICAL_CSV` covering every
image of every split (the paper annotated the 2,000 training and 600 test images) and :data:`JOINT_CSV`
covering the training images (the paper's joint annotation is of 1,700 other ISIC Archive images, excluding
test images — here it is of the training images).

The looks are drawn after the lesion is rendered, so the superpixel files (computed by the renderer) are those
of the image before its look; the lesion masks are unchanged. Callers that do not ask for groups get exactly
the files they got before (the look stream is a separate random stream).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dermkit._io import atomic_write_text

__all__ = ["FULL_GROUPS", "HIERARCHICAL_CSV", "JOINT_CSV", "FILES", "DISEASE_NAMES", "resolve_groups",
           "GroupWriter", "apply_look", "make_looks"]

#: Section 2.3: hierarchical groups per disease and the number of joint groups.
FULL_GROUPS = {"melanoma": 20, "seborrheic_keratosis": 12, "nevus": 15, "joint": 37}
HIERARCHICAL_CSV = "ISIC-2017_similarity_groups_hierarchical.csv"
JOINT_CSV = "ISIC-2017_similarity_groups_joint.csv"
FILES = (HIERARCHICAL_CSV, JOINT_CSV)
#: The synthetic generator's class codes → the disease names written in the CSVs.
DISEASE_NAMES = {"melanoma": "melanoma", "sk": "seborrheic_keratosis", "nevus": "nevus"}
_TINTS = np.array([[1.45, 0.80, 0.75], [0.75, 0.95, 1.50], [0.80, 1.40, 0.80], [1.40, 1.30, 0.60],
                   [0.60, 0.60, 0.60]], np.float32)
_ANGLES = (0.0, 45.0, 90.0, 135.0)
_PERIODS = (4.0, 8.0)  # px at 64×64
_ZOOMS = (0.7, 0.85, 1.0, 1.2)
_STREAM = 12018  # random stream id of the looks and the group draws (distinct from the renderer's)


def resolve_groups(similarity_groups) -> dict[str, int] | None:
    """``False``/``None`` → None (no groups); ``True`` → :data:`FULL_GROUPS`; a mapping overrides some counts.

    Raises:
        ValueError: an unknown key or a count < 1, or more joint groups than hierarchical groups.
    """
    if similarity_groups is None or similarity_groups is False:
        return None
    groups = dict(FULL_GROUPS)
    if isinstance(similarity_groups, Mapping):
        unknown = set(similarity_groups) - set(groups)
        if unknown:
            raise ValueError(f"similarity_groups keys must be among {tuple(groups)}. Received: {sorted(unknown)}")
        groups.update(similarity_groups)
    elif similarity_groups is not True:
        raise TypeError(f"similarity_groups must be a bool or a dict of counts. Received: {similarity_groups!r}")
    for key, value in groups.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"similarity_groups[{key!r}] must be an integer ≥ 1. Received: {value!r}")
    total = sum(v for k, v in groups.items() if k != "joint")
    if groups["joint"] > total:
        raise ValueError(f"similarity_groups: {groups['joint']} joint groups but only {total} hierarchical groups")
    most = max(v for k, v in groups.items() if k != "joint")
    if most > groups["joint"]:
        raise ValueError(f"similarity_groups: a disease has {most} groups but there are only {groups['joint']} joint "
                         "groups (looks); each group of a disease needs its own look")
    return {k: int(v) for k, v in groups.items()}


def make_looks(n: int, seed: int) -> list[dict]:
    """``n`` distinct looks (tint, stripe angle, stripe period), a seeded draw without replacement."""
    combos = [(t, a, p) for t in range(len(_TINTS)) for a in _ANGLES for p in _PERIODS]
    if n > len(combos):
        raise ValueError(f"at most {len(combos)} distinct looks; asked for {n}")
    order = np.random.default_rng([int(seed), _STREAM]).permutation(len(combos))[:n]
    zooms = np.random.default_rng([int(seed), _STREAM, 3]).choice(_ZOOMS, size=n)
    return [{"tint": _TINTS[combos[i][0]], "angle": combos[i][1], "period": combos[i][2], "zoom": float(z)}
            for i, z in zip(order, zooms)]


def _zoom(array: np.ndarray, z: float, interpolation: int) -> np.ndarray:
    """Scale about the centre by ``z`` keeping the size (z > 1 crops, z < 1 pads by replicating the border)."""
    import cv2

    h, w = array.shape[:2]
    matrix = np.array([[z, 0, (1 - z) * w / 2], [0, z, (1 - z) * h / 2]], np.float32)
    return cv2.warpAffine(array, matrix, (w, h), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)


def apply_look(image: np.ndarray, mask: np.ndarray, look: dict,
               strength: float = 0.45) -> tuple[np.ndarray, np.ndarray]:
    """The image and mask with ``look`` drawn: the view zoomed by the look's ``zoom`` (so lesion size is a
    group trait as much as a disease trait), the image tinted and, inside the lesion, a stripe texture
    ``1 + strength·cos(2π (x cos θ + y sin θ) / period)``. ``uint8 [H, W, 3]``, ``uint8 [H, W]`` in and out."""
    import cv2

    zoom = float(look.get("zoom", 1.0))
    if zoom != 1.0:
        image = _zoom(image, zoom, cv2.INTER_LINEAR)
        mask = _zoom(mask, zoom, cv2.INTER_NEAREST)
    h, w = mask.shape
    unit = min(h, w) / 64.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = np.deg2rad(look["angle"])
    stripes = 1.0 + strength * np.cos(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / (look["period"] * unit))
    out = image.astype(np.float32) * look["tint"] ** 0.5  # the whole image (skin and lesion) takes the tint
    inside = mask > 0
    out[inside] = out[inside] * look["tint"] ** 0.5 * stripes[inside, None]
    return np.clip(np.round(out), 0, 255).astype(np.uint8), mask


class GroupWriter:
    """Draws each image's group and look while :func:`make_isic2017` renders, then writes the two CSVs."""

    def __init__(self, groups: dict[str, int], seed: int):
        self.groups = groups
        self.seed = int(seed)
        names = [(d, g) for d in ("melanoma", "seborrheic_keratosis", "nevus") for g in range(groups[d])]
        self.looks = make_looks(groups["joint"], seed)
        # the diseases' groups take the looks in turn along one seeded cycle: distinct looks within a disease,
        # every look used, and looks shared across diseases (a joint group mixes diseases)
        n_joint = groups["joint"]
        cycle = np.random.default_rng([self.seed, _STREAM, 1]).permutation(n_joint)
        self.look_of = {name: int(cycle[i % n_joint]) for i, name in enumerate(names)}
        self.rows: dict[str, list] = {HIERARCHICAL_CSV: [], JOINT_CSV: []}

    def draw(self, split_index: int, i: int, cls: str, image: np.ndarray, mask: np.ndarray,
             image_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Image ``i`` of split ``split_index`` (class code ``cls``): its group, recorded, and its look, drawn
        (returns the image and the mask, zoomed alike)."""
        disease = DISEASE_NAMES[cls]
        rng = np.random.default_rng([self.seed, _STREAM, 2, split_index, i])
        g = int(rng.integers(self.groups[disease]))
        look = self.look_of[(disease, g)]
        self.rows[HIERARCHICAL_CSV].append([image_id, disease, f"{disease}_g{g:02d}"])
        if split_index == 0:  # the joint annotation excludes test images (Section 2.3)
            self.rows[JOINT_CSV].append([image_id, disease, f"joint_g{look:02d}"])
        return apply_look(image, mask, self.looks[look])

    def write(self, root: Path) -> None:
        from dermkit.data.synthetic import _csv_text

        for name, rows in self.rows.items():
            atomic_write_text(Path(root) / name, _csv_text(["image_id", "disease", "group"], rows), overwrite=True)
