"""bisla2019's growth of the classifier's training set (Section 3.3, Fig. 7).

The rule that reproduces the paper's counts, per class (melanoma, nevus, seborrhoeic keratosis):

1. **source** — the original images. The paper: 919 melanoma (803 ISIC + 40 PH2 + 76 Dermofit), 2518 nevus
   (2107 + 80 + 331), 545 SK (288 + 257). ISIC 2017's training set holds 374 melanoma, 1372 nevus, 254 SK:
   the paper's 803 / 2107 / 288 ISIC images are more than that, so the authors drew on the ISIC Archive.
2. **GAN** — generated images for the scarce classes (bisla2019 part 1's de-coupled DCGANs): 350 melanoma,
   750 SK.
3. **h-flip** — "horizontal flipping of images" of those two classes: originals and GAN images flipped,
   doubling them: 2·(919 + 350) = 2538, 2·(545 + 750) = 2590; nevus unchanged.
4. **purified** — the images with hairs or rulers after removal (147 melanoma, 470 nevus, 182 SK), added
   unflipped: 2685, 2988, 2772 — "the class sizes increase to 2685 for melanoma and 2772 for seborrheic
   keratosis".
5. **×6** — "vertical flipping and random cropping to increase the data set further 6 times": 16110
   melanoma, 17928 nevus, 16632 SK, of which 26 % generated ((700 + 1500)·6 / 50670).

:func:`grow_training_set` applies the rule to tables of image paths and returns one row per training item
(which source image, flipped how, which crop); :func:`growth_counts` tabulates each stage per class and
:func:`growth_table` puts dermkit's counts beside :data:`PAPER_GROWTH`. :func:`apply_growth_transform`
materialises one row's image (flips and the seeded random crop).

NumPy + pandas (OpenCV for the resize in :func:`apply_growth_transform`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "GROWTH_CLASSES",
    "GROWTH_STAGES",
    "PAPER_GROWTH",
    "FLIP_CLASSES",
    "COPIES",
    "grow_training_set",
    "growth_counts",
    "growth_table",
    "apply_growth_transform",
]

#: bisla2019's three ISIC 2017 classes, in the order of its tables.
GROWTH_CLASSES = ("melanoma", "nevus", "seborrheic_keratosis")
#: The stages of Fig. 7 (cumulative counts after each).
GROWTH_STAGES = ("source", "gan", "hflip", "purified", "x6")
#: The classes whose originals and GAN images are horizontally flipped.
FLIP_CLASSES = ("melanoma", "seborrheic_keratosis")
#: Copies of every item made by vertical flips and random crops (the ×6 stage).
COPIES = 6

#: The paper's cumulative counts after each stage (Section 3.3 and Fig. 7; the text gives source, GAN,
#: purified, the two 'h-flip + purified' totals and the ×6 totals; the others follow from the rule).
PAPER_GROWTH = pd.DataFrame(
    {
        "melanoma": [919, 919 + 350, 2 * (919 + 350), 2685, 16110],
        "nevus": [2518, 2518, 2518, 2988, 17928],
        "seborrheic_keratosis": [545, 545 + 750, 2 * (545 + 750), 2772, 16632],
    },
    index=pd.Index(GROWTH_STAGES, name="stage"),
)

_COLUMNS = ["image_path", "label", "origin", "hflip", "vflip", "crop", "crop_seed"]


def _table(frame, name: str) -> pd.DataFrame:
    if frame is None:
        return pd.DataFrame({"image_path": pd.Series(dtype=object), "label": pd.Series(dtype=object)})
    if not isinstance(frame, pd.DataFrame) or not {"image_path", "label"} <= set(frame.columns):
        raise ValueError(f"{name} must be a DataFrame with columns 'image_path' and 'label'")
    unknown = sorted(set(frame["label"].astype(str)) - set(GROWTH_CLASSES))
    if unknown:
        raise ValueError(f"{name} holds labels {unknown}; expected only {GROWTH_CLASSES}")
    return frame[["image_path", "label"]].astype({"label": str}).reset_index(drop=True)


def grow_training_set(
    originals: pd.DataFrame,
    *,
    generated: pd.DataFrame | None = None,
    purified: pd.DataFrame | None = None,
    flip_classes=FLIP_CLASSES,
    copies: int = COPIES,
    seed: int = 0,
) -> pd.DataFrame:
    """Fig. 7's training set, one row per item (module docstring).

    Args:
        originals: the source images: a DataFrame with columns ``image_path`` and ``label`` (one of
            :data:`GROWTH_CLASSES`; ISIC 2017 + PH2 + Dermofit in the paper).
        generated: GAN images (same columns), or None.
        purified: hair/ruler-removed copies of originals that had occlusions (same columns), or None.
        flip_classes: classes whose originals and GAN images get horizontal flips. Default melanoma and SK.
        copies: the ×``copies`` stage; copy ``k`` is vertically flipped when ``k`` is odd and takes crop
            ``k // 2`` (each with its own seed). Default 6.
        seed: seeds the crops (``crop_seed`` column). Default 0.

    Returns:
        DataFrame with columns ``image_path, label, origin`` (``"original"``, ``"gan"``, ``"purified"``),
        ``hflip, vflip`` (bool), ``crop`` (int, 0-based) and ``crop_seed`` (int). :func:`growth_counts` tabulates it.

    Raises:
        ValueError: a table without those columns or with other labels; bad ``flip_classes`` or ``copies``.
    """
    if isinstance(copies, bool) or not isinstance(copies, (int, np.integer)) or copies < 1:
        raise ValueError(f"copies must be a positive integer. Received: copies={copies!r}")
    flip = {str(c) for c in flip_classes}
    if flip - set(GROWTH_CLASSES):
        raise ValueError(f"flip_classes must be among {GROWTH_CLASSES}. Received: {sorted(flip)}")
    parts = []
    for origin, frame, name in (("original", originals, "originals"), ("gan", generated, "generated"),
                                ("purified", purified, "purified")):
        table = _table(frame, name).assign(origin=origin, hflip=False)
        parts.append(table)
        if origin != "purified":
            flipped = table[table["label"].isin(flip)].assign(hflip=True)
            parts.append(flipped)
    base = pd.concat(parts, ignore_index=True)  # originals, their flips, GAN, their flips, purified
    rng = np.random.default_rng(seed)
    rows = base.loc[base.index.repeat(int(copies))].reset_index(drop=True)
    k = np.tile(np.arange(int(copies)), len(base))
    rows["vflip"] = k % 2 == 1
    rows["crop"] = k // 2
    rows["crop_seed"] = rng.integers(0, 2**31 - 1, len(rows))
    return rows[_COLUMNS].reset_index(drop=True)


def growth_counts(grown: pd.DataFrame) -> pd.DataFrame:
    """Cumulative counts per class after each stage of Fig. 7, from a :func:`grow_training_set` table.

    Returns:
        DataFrame indexed by :data:`GROWTH_STAGES` with one column per class of :data:`GROWTH_CLASSES`, plus
        ``total`` and ``generated_share`` (the share of the stage's items that are GAN images or their flips).
    """
    base = grown[(~grown["vflip"]) & (grown["crop"] == 0)] if len(grown) else grown
    counts = {}
    for cls in GROWTH_CLASSES:
        mine = base[base["label"] == cls]
        original = mine[(mine["origin"] == "original") & ~mine["hflip"]]
        gan = mine[(mine["origin"] == "gan") & ~mine["hflip"]]
        n_hflip_stage = int((mine["origin"] != "purified").sum())
        n_purified = int((mine["origin"] == "purified").sum())
        counts[cls] = [len(original), len(original) + len(gan), n_hflip_stage, n_hflip_stage + n_purified,
                       int((grown["label"] == cls).sum())]
    table = pd.DataFrame(counts, index=pd.Index(GROWTH_STAGES, name="stage"))
    table["total"] = table.sum(axis=1)
    gan_items = base[base["origin"] == "gan"]
    n_gan = len(gan_items[~gan_items["hflip"]])
    generated = [0, n_gan, len(gan_items), len(gan_items), int((grown["origin"] == "gan").sum())]
    table["generated_share"] = np.divide(generated, table["total"].to_numpy(), out=np.zeros(5),
                                         where=table["total"].to_numpy() > 0)
    return table


def growth_table(counts: pd.DataFrame, paper: pd.DataFrame = PAPER_GROWTH) -> pd.DataFrame:
    """dermkit's stage counts beside the paper's: columns ``<class>`` and ``<class>_paper`` per class, plus
    ``total`` / ``total_paper`` and ``generated_share`` / ``generated_share_paper`` (0.26 at ×6)."""
    out = pd.DataFrame(index=counts.index)
    for cls in GROWTH_CLASSES:
        out[cls] = counts[cls]
        out[f"{cls}_paper"] = paper[cls].reindex(counts.index)
    out["total"] = counts["total"]
    out["total_paper"] = paper[list(GROWTH_CLASSES)].sum(axis=1).reindex(counts.index)
    out["generated_share"] = counts["generated_share"]
    paper_generated = pd.Series([0, 1100, 2200, 2200, 13200], index=pd.Index(GROWTH_STAGES))
    out["generated_share_paper"] = (paper_generated / out["total_paper"]).reindex(counts.index)
    return out


def apply_growth_transform(image, row, *, scale: int | None = 400, crop: int = 224) -> np.ndarray:
    """One item of a :func:`grow_training_set` table as an image: resize to ``scale``×``scale`` (the
    classifier's "scale 400"; None keeps the size), flip as the row says, then the row's seeded random
    ``crop``×``crop`` window (copy ``crop = 0`` of an item and its flipped twins share no window).

    Args:
        image: RGB ``[H, W, 3]`` (float in [0, 1] or uint8).
        row: a row of the table (``hflip``, ``vflip``, ``crop_seed``; a mapping or a Series).
        scale, crop: sides in px; ``crop ≤`` the resized side.

    Returns:
        ``[crop, crop, 3]`` of the input's dtype.
    """
    import cv2

    image = np.asarray(image)
    if scale is not None:
        image = cv2.resize(image, (int(scale), int(scale)), interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    if crop > min(h, w):
        raise ValueError(f"crop {crop} is larger than the image ({h}×{w}). Received: crop={crop!r}")
    if row["hflip"]:
        image = image[:, ::-1]
    if row["vflip"]:
        image = image[::-1]
    rng = np.random.default_rng(int(row["crop_seed"]))
    top, left = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    return np.ascontiguousarray(image[top:top + crop, left:left + crop])
