"""Small synthetic datasets written in the real ISIC file formats: dermkit's embedded default data.

Every generator writes exactly the layout that :mod:`dermkit.data.isic` reads (../docs/data.md), so the
whole package — readers, pipelines, models, paper runners, the CLI — runs end to end without a download.
Numbers computed on these trees are **SYNTHETIC** and say nothing about the papers' results.

What the images hold (NumPy / OpenCV / scikit-image only, no TensorFlow):

* a pigmented lesion (an irregular blob, soft border, internal texture) on a skin-coloured background
  whose tone varies from very light to dark, with optional hairs, a ruler and a dark dermoscope vignette;
* per class a visible difference in colour, size, border irregularity and texture (melanoma: large,
  irregular, dark with a blue-grey veil; seborrhoeic keratosis / BKL: tan, mottled; BCC: pink with red
  vessels; AKIEC: red, scaly; DF: small with a white centre; VASC: red-purple lacunae), so per-image
  statistics are learnable;
* for ISIC 2017 Part 2, the four dermoscopic features drawn as regions — a dark mesh near the border
  (pigment network), a light mesh in the centre (negative network), white dots (milia-like cysts) and
  dark radial lines across the border (streaks) — every structure at least 4 px wide at 64×64 (and wider
  in proportion at larger sizes). A SLIC superpixel is labelled 1 for a feature when the feature's drawn
  region covers at least 30 % of it (:data:`SUPERPIXEL_COVERAGE`).

Determinism: files are byte-identical for the same parameters (each image draws from its own
``numpy.random.default_rng([seed, dataset, split, index])`` stream). A ``dermkit_synthetic.json`` manifest
in the root records, per dataset, the parameters and the files written; calling a generator again with the
same parameters reuses the tree without writing, different parameters or a finished tree changed afterwards
raise :class:`~dermkit.errors.DermkitDataError` unless ``overwrite=True`` (which deletes the files the manifest
lists and regenerates). A generation that was killed (its manifest entry, written before the first file,
still says incomplete) is regenerated on the next call without ``overwrite``, unless its writer still runs.
A generator never touches files it did not write: a root that already holds ISIC
files without a manifest entry is refused even with ``overwrite=True``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dermkit._io import atomic_write_text, remove_temporaries
from dermkit.data import synthetic_groups as _groups
from dermkit.data.imageio import write_jpeg, write_png
from dermkit.data.isic import (
    HAM10000_CLASSES,
    ISIC2017_FEATURES,
    ISIC2017_SPLITS,
    ISIC2018_TASK3_CLASSES,
    read_superpixel_labels,
    read_superpixels,
    write_superpixel_labels,
)
from dermkit.data.superpixels import encode_superpixels, mask_to_superpixels
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__all__ = [
    "MANIFEST_NAME",
    "SUPERPIXEL_COVERAGE",
    "make_isic2017",
    "make_ham10000",
    "make_isic2018_task3",
    "make_isic2020",
    "read_manifest",
    "is_synthetic",
    "summarize_isic2017",
]

#: Name of the manifest the generators keep in the dataset root.
MANIFEST_NAME = "dermkit_synthetic.json"
#: A superpixel is labelled 1 for a feature when the drawn feature region covers at least this fraction.
SUPERPIXEL_COVERAGE = 0.30
#: Real HAM10000 class counts (10,015 images), used for the synthetic class imbalance.
HAM10000_COUNTS = {"nv": 6705, "mel": 1113, "bkl": 1099, "bcc": 514, "akiec": 327, "vasc": 142, "df": 115}

_GENERATOR_VERSION = 1
_DATASET_CODES = {"isic2017": 2017, "ham10000": 10000, "isic2020": 2020}  # rng stream ids
_SPLITS_2017 = tuple(ISIC2017_SPLITS.values())  # Training, Validation, Test_v2

# Skin tones from very light to dark (sRGB in [0, 1]) and how often each is drawn (dermoscopy archives are
# mostly light-skinned; the darker tones are there so skin-tone analyses have something to measure).
_SKIN_TONES = np.array(
    [
        [0.96, 0.84, 0.78],
        [0.93, 0.77, 0.68],
        [0.87, 0.69, 0.58],
        [0.79, 0.59, 0.46],
        [0.67, 0.47, 0.34],
        [0.53, 0.36, 0.25],
        [0.39, 0.26, 0.18],
    ],
    dtype=np.float32,
)
_SKIN_WEIGHTS = np.array([0.18, 0.26, 0.22, 0.15, 0.10, 0.06, 0.03])


# ----------------------------------------------------------------------------------------------------------
# Lesion styles: what makes each class look different.
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Style:
    """Visible properties of one diagnostic class (sizes as a fraction of the image's shorter side)."""

    size: tuple[float, float]  # lesion diameter / min(H, W)
    irregularity: tuple[float, float]  # amplitude of the border harmonics
    colour: tuple[float, float, float]  # lesion colour = skin colour × this (per channel)
    texture: float = 0.06  # amplitude of the internal mottling
    texture_scale: float = 3.0  # its spatial scale, in px at 64×64
    border_blur: float = 1.0  # softness of the border, in px at 64×64
    veil: bool = False  # blue-grey veil and black dots (melanoma)
    vessels: bool = False  # red arborising vessels and pearly white areas (BCC)
    scale: bool = False  # white scale specks (AKIEC)
    white_centre: bool = False  # central white patch (DF)
    lacunae: bool = False  # dark red-purple lacunae (VASC)


_STYLES: dict[str, _Style] = {
    "nv": _Style(size=(0.5, 0.7), irregularity=(0.03, 0.08), colour=(0.55, 0.45, 0.42)),
    "mel": _Style(
        size=(0.68, 0.88), irregularity=(0.16, 0.26), colour=(0.40, 0.31, 0.30), texture=0.12, veil=True
    ),
    "bkl": _Style(
        size=(0.52, 0.75), irregularity=(0.07, 0.14), colour=(0.80, 0.66, 0.48), texture=0.16,
        texture_scale=1.2,
    ),
    "bcc": _Style(
        size=(0.42, 0.62), irregularity=(0.08, 0.16), colour=(0.95, 0.74, 0.74), texture=0.05, vessels=True
    ),
    "akiec": _Style(
        size=(0.5, 0.72), irregularity=(0.12, 0.22), colour=(0.93, 0.58, 0.54), texture=0.08,
        border_blur=2.5, scale=True,
    ),
    "df": _Style(size=(0.28, 0.42), irregularity=(0.02, 0.06), colour=(0.70, 0.55, 0.46), white_centre=True),
    "vasc": _Style(
        size=(0.32, 0.5), irregularity=(0.04, 0.10), colour=(0.72, 0.26, 0.36), texture=0.05, lacunae=True
    ),
}
_STYLES["sk"] = _STYLES["bkl"]  # ISIC 2017 seborrhoeic keratosis


# ----------------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation, ``float32 [H, W]``."""
    import cv2

    noise = rng.standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=max(float(sigma), 0.3), borderType=cv2.BORDER_REFLECT)
    std = float(noise.std())
    return noise / std if std > 0 else noise


def _blend(img: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """In place: ``img = img·(1-α) + colour·α`` (``colour`` a 3-vector or an ``[H, W, 3]`` map)."""
    a = alpha[..., None].astype(np.float32)
    img *= 1.0 - a
    img += a * colour


def _sample_skin(rng: np.random.Generator) -> np.ndarray:
    tone = _SKIN_TONES[rng.choice(len(_SKIN_TONES), p=_SKIN_WEIGHTS)]
    return np.clip(tone + rng.normal(0.0, 0.02, 3), 0.05, 1.0).astype(np.float32)


def _sample_lesion(rng: np.random.Generator, style: _Style, size_cap: float | None = None) -> dict:
    """Lesion-level parameters (shared by all images of one lesion)."""
    size = rng.uniform(*style.size)
    if size_cap is not None:
        size = min(size, size_cap)
    irregularity = rng.uniform(*style.irregularity)
    k = np.arange(2, 9)
    return {
        "size": float(size),
        "harmonics": k,
        "amplitudes": (irregularity * rng.normal(0.0, 1.0, k.size) / np.sqrt(k - 1)).astype(np.float32),
        "phases": rng.uniform(0, 2 * np.pi, k.size).astype(np.float32),
        "aspect": float(rng.uniform(0.78, 1.0)),
        "colour": np.clip(np.asarray(style.colour) * rng.uniform(0.92, 1.08, 3), 0.05, 1.0).astype(np.float32),
        "style": style,
    }


@dataclass
class _Canvas:
    """A rendered base image with the lesion geometry the feature painters need."""

    image: np.ndarray  # float32 [H, W, 3] in [0, 1]
    skin: np.ndarray  # float32 [3]
    lesion_colour: np.ndarray  # float32 [H, W, 3], the lesion's own (textured) colour
    rho: np.ndarray  # float32 [H, W]: normalised radius, < 1 inside the lesion
    theta: np.ndarray  # float32 [H, W]: angle around the lesion centre
    dist: np.ndarray  # float32 [H, W]: distance to the lesion centre in px
    radius: float  # mean lesion radius in px
    unit: float  # px per px-at-64×64

    @property
    def mask(self) -> np.ndarray:
        return self.rho < 1.0


def _render_lesion(
    rng: np.random.Generator, shape: tuple[int, int], skin: np.ndarray, lesion: dict
) -> _Canvas:
    """Skin background and the lesion with its class extras (veil, vessels, scale, ...), no artefacts."""
    h, w = shape
    unit = min(h, w) / 64.0
    import cv2

    style: _Style = lesion["style"]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5

    # Background: skin with low-frequency unevenness and a little redness variation.
    img = np.empty((h, w, 3), np.float32)
    img[:] = skin
    img *= (1.0 + 0.035 * _smooth_noise(rng, shape, 8 * unit))[..., None]
    img[..., 0] *= 1.0 + 0.02 * _smooth_noise(rng, shape, 5 * unit)

    # Geometry: polar radius with random harmonics, elongated and rotated.
    cy = h / 2 + rng.normal(0, 0.04 * min(h, w))
    cx = w / 2 + rng.normal(0, 0.04 * min(h, w))
    radius = lesion["size"] * min(h, w) / 2 * rng.uniform(0.95, 1.05)
    phi = rng.uniform(0, 2 * np.pi)
    dy, dx = yy - cy, xx - cx
    a = dx * math.cos(phi) + dy * math.sin(phi)
    b = (-dx * math.sin(phi) + dy * math.cos(phi)) / lesion["aspect"]
    theta = np.arctan2(b, a).astype(np.float32)
    r_frame = np.hypot(a, b)
    k = lesion["harmonics"][:, None, None]
    bump = np.sum(lesion["amplitudes"][:, None, None] * np.cos(k * theta + lesion["phases"][:, None, None]), 0)
    boundary = radius * np.maximum(1.0 + bump, 0.35)
    rho = (r_frame / boundary).astype(np.float32)
    dist = np.hypot(dx, dy).astype(np.float32)

    # Lesion colour: skin × class colour, mottled; darker towards the centre.
    colour = np.empty((h, w, 3), np.float32)
    colour[:] = skin * lesion["colour"]
    mottle = 1.0 + style.texture * _smooth_noise(rng, shape, style.texture_scale * unit)
    colour *= (mottle * (1.0 - 0.12 * np.clip(1.0 - rho, 0.0, 1.0)))[..., None]
    if style.veil:  # blue-grey veil over part of the lesion + black dots
        veil = (_smooth_noise(rng, shape, 4 * unit) > 0.3) & (rho < 0.75)
        lum = float(skin.mean())
        colour[veil] = np.array([0.42, 0.46, 0.56], np.float32) * lum
        for _ in range(int(rng.integers(2, 6))):
            _paint_disk(colour, rho, rng, 1.5 * unit, (0.06, 0.05, 0.05), rho_max=0.85)
    if style.lacunae:
        for _ in range(int(rng.integers(3, 7))):
            _paint_disk(colour, rho, rng, rng.uniform(2.0, 3.5) * unit, skin * (0.42, 0.10, 0.22), rho_max=0.8)
    if style.white_centre:
        centre = rho < rng.uniform(0.35, 0.5)
        colour[centre] = np.minimum(skin * 1.12 + 0.06, 0.98)
    if style.vessels:
        _paint_vessels(colour, rho, theta, dist, rng, unit, skin)
    if style.scale:  # 1 px specks at 64×64, drawn on a coarse grid so they scale with the image
        coarse = (rng.random((max(1, round(h / unit)), max(1, round(w / unit)))) < 0.12).astype(np.uint8)
        specks = (cv2.resize(coarse, (w, h), interpolation=cv2.INTER_NEAREST) > 0) & (rho < 0.95)
        colour[specks] = np.minimum(skin * 1.15 + 0.12, 1.0)

    # Composite with a soft border.
    alpha = cv2.GaussianBlur((rho < 1.0).astype(np.float32), (0, 0), sigmaX=style.border_blur * unit)
    alpha = np.clip(alpha * 1.6 - 0.3, 0.0, 1.0) * rng.uniform(0.9, 1.0)
    _blend(img, alpha, colour)
    return _Canvas(img, skin, colour, rho, theta, dist, float(radius), unit)


def _paint_disk(colour, rho, rng, r, value, rho_max) -> None:
    """Paint one filled disk of radius ``r`` px at a random point with ``rho < rho_max``."""
    ys, xs = np.nonzero(rho < rho_max)
    if ys.size == 0:
        return
    i = int(rng.integers(ys.size))
    h, w = rho.shape
    yy, xx = np.ogrid[0:h, 0:w]
    colour[(yy - ys[i]) ** 2 + (xx - xs[i]) ** 2 <= r * r] = value


def _paint_vessels(colour, rho, theta, dist, rng, unit, skin) -> None:
    """Red branching vessels (arcs of constant angle drift) and pearly white areas (BCC)."""
    import cv2

    h, w = rho.shape
    layer = np.zeros((h, w), np.uint8)
    ys, xs = np.nonzero(rho < 0.8)
    for _ in range(int(rng.integers(3, 6))):
        i = int(rng.integers(ys.size))
        pts = [(float(xs[i]), float(ys[i]))]
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(6):
            angle += rng.normal(0, 0.5)
            x, y = pts[-1]
            pts.append((x + 3 * unit * math.cos(angle), y + 3 * unit * math.sin(angle)))
        poly = np.round(np.array(pts) * 4).astype(np.int32)  # 2 fractional bits
        cv2.polylines(layer, [poly], False, 1, thickness=max(1, round(1.5 * unit)), shift=2)
    colour[(layer > 0) & (rho < 1.0)] = skin * np.array([0.75, 0.12, 0.15], np.float32)
    pearl = (_smooth_noise(rng, (h, w), 3 * unit) > 0.9) & (rho < 0.9)
    colour[pearl] = np.minimum(skin * 1.1 + 0.1, 1.0)


def _add_artefacts(rng: np.random.Generator, canvas: _Canvas, p_hair=0.25, p_ruler=0.1, p_vignette=0.2):
    """Hairs, a ruler along one edge and a dark dermoscope vignette; then optics blur and sensor noise.

    Returns the occlusion mask ``bool [H, W]``: the pixels painted as hair or as a dark ruler tick (before
    the blur), the ground truth of bisla2019's hair and ruler removal (:func:`_occlusion_png`)."""
    import cv2

    img = canvas.image
    h, w = img.shape[:2]
    unit = canvas.unit
    occlusion = np.zeros((h, w), bool)
    if rng.random() < p_vignette:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
        r = np.hypot(yy - h / 2, xx - w / 2) / (0.5 * math.hypot(h, w))
        edge = rng.uniform(0.82, 0.95)
        img *= np.clip(1.0 - (r - edge) / 0.08, 0.08, 1.0)[..., None]
    if rng.random() < p_ruler:
        band = max(3, round(5 * unit))
        top = bool(rng.random() < 0.5)
        rows = slice(0, band) if top else slice(h - band, h)
        img[rows] = 0.92
        step = max(3, round(4 * unit))
        tick_rows = slice(0, band // 2 + 1) if top else slice(h - band // 2 - 1, h)
        img[tick_rows, :: step] = 0.15
        occlusion[tick_rows, :: step] = True
    if rng.random() < p_hair:
        hair = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 5))):
            x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
            angle = rng.uniform(0, 2 * np.pi)
            pts = []
            for t in range(8):
                angle += rng.normal(0, 0.12)
                pts.append((x0 + t * 9 * unit * math.cos(angle), y0 + t * 9 * unit * math.sin(angle)))
            poly = np.round(np.array(pts) * 4).astype(np.int32)
            cv2.polylines(hair, [poly], False, 1, thickness=max(1, round(0.8 * unit)), shift=2)
        img[hair > 0] = np.array([0.12, 0.09, 0.07], np.float32)
        occlusion |= hair > 0
    img[:] = cv2.GaussianBlur(img, (0, 0), sigmaX=0.5 * unit)
    img += rng.normal(0.0, 0.008, img.shape).astype(np.float32)
    return occlusion


#: Default share of synthetic images drawn with hairs (and the fixed share with a ruler).
HAIR_FRACTION = 0.25


def _occlusion_params(hair_fraction: float | None, occlusion_masks: bool) -> dict:
    """Manifest entries of bisla2019's options (absent at their defaults, so earlier trees stay valid)."""
    params: dict = {}
    if hair_fraction is not None:
        if isinstance(hair_fraction, bool) or not isinstance(hair_fraction, (int, float)) or not (
            0.0 <= hair_fraction <= 1.0
        ):
            raise ValueError(f"hair_fraction must be a number in [0, 1] or None. Received: {hair_fraction!r}")
        params["hair_fraction"] = float(hair_fraction)
    if not isinstance(occlusion_masks, bool):
        raise ValueError(f"occlusion_masks must be True or False. Received: {occlusion_masks!r}")
    if occlusion_masks:
        params["occlusion_masks"] = True
    return params


def _occlusion_png(occlusion: np.ndarray) -> np.ndarray:
    """The occlusion mask as the 0/255 ``uint8`` PNG dermkit writes (hairs and ruler ticks = 255)."""
    return np.where(occlusion, 255, 0).astype(np.uint8)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------
# ISIC 2017 Part 2 dermoscopic features
# ----------------------------------------------------------------------------------------------------------
def _mesh(rng: np.random.Generator, shape: tuple[int, int], unit: float) -> np.ndarray:
    """A warped square mesh: lines ≥ 4 px wide (at 64×64) around holes ~5 px wide. ``bool [H, W]``."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    psi = rng.uniform(0, np.pi / 2)
    period = rng.uniform(9.0, 10.5) * unit
    width = 4.0 * unit
    u = xx * math.cos(psi) + yy * math.sin(psi) + 1.2 * unit * _smooth_noise(rng, shape, 4 * unit)
    v = -xx * math.sin(psi) + yy * math.cos(psi) + 1.2 * unit * _smooth_noise(rng, shape, 4 * unit)
    off_u, off_v = rng.uniform(0, period, 2)
    return (np.mod(u + off_u, period) < width) | (np.mod(v + off_v, period) < width)


def _angle_in(theta: np.ndarray, start: float, span: float) -> np.ndarray:
    return np.mod(theta - start, 2 * np.pi) < span


def _draw_features(rng: np.random.Generator, canvas: _Canvas, present: dict[str, bool]) -> np.ndarray:
    """Paint the present features onto ``canvas.image``; return their regions ``bool [H, W, 4]``."""
    h, w = canvas.rho.shape
    unit, rho, theta, skin = canvas.unit, canvas.rho, canvas.theta, canvas.skin
    img, base = canvas.image, canvas.lesion_colour
    regions = np.zeros((h, w, len(ISIC2017_FEATURES)), bool)
    # Pigment network and streaks share the border zone: give them disjoint angular sectors.
    start = rng.uniform(0, 2 * np.pi)
    pn_span = rng.uniform(0.45, 0.75) * 2 * np.pi if present["streaks"] else rng.uniform(0.5, 1.0) * 2 * np.pi
    st_start = start + pn_span + 0.15 if present["pigment_network"] else rng.uniform(0, 2 * np.pi)
    st_span = rng.uniform(0.22, 0.4) * 2 * np.pi

    nn_outer = rng.uniform(0.42, 0.52)
    if present["negative_network"]:  # light lines around dark holes, in the centre
        region = rho < nn_outer
        lines = _mesh(rng, (h, w), unit)
        img[region & lines] = np.minimum(skin * 1.02 + 0.04, 1.0)
        img[region & ~lines] = base[region & ~lines] * 0.72
        regions[..., 1] = region
    if present["pigment_network"]:  # dark lines around lighter holes, near the border
        inner = nn_outer + 0.06 if present["negative_network"] else rng.uniform(0.35, 0.5)
        region = (rho > inner) & (rho < 0.97) & _angle_in(theta, start, pn_span)
        lines = _mesh(rng, (h, w), unit)
        img[region & lines] = base[region & lines] * 0.5
        img[region & ~lines] = np.minimum(base[region & ~lines] * 1.25, 1.0)
        regions[..., 0] = region
    if present["streaks"]:  # dark radial lines across the border
        region = (rho > 0.75) & (rho < 1.35) & _angle_in(theta, st_start, st_span)
        step = 9.0 * unit / max(canvas.radius, 1.0)
        angles = st_start + np.arange(step / 2, st_span, step) + rng.normal(0, step * 0.1, 1)
        lines = np.zeros((h, w), bool)
        for angle in angles:
            delta = np.abs(np.mod(theta - angle + np.pi, 2 * np.pi) - np.pi)
            lines |= delta * np.maximum(canvas.dist, 1.0) < 2.5 * unit
        paint = region & lines & (rho < rng.uniform(1.2, 1.3))
        img[paint] = skin * np.array([0.22, 0.16, 0.15], np.float32)
        regions[..., 3] = region
    if present["milia_like_cyst"]:  # white-yellow dots, ~5 px across
        yy, xx = np.ogrid[0:h, 0:w]
        ys, xs = np.nonzero(rho < 0.8)
        region = np.zeros((h, w), bool)
        dot_r = 2.5 * unit
        for _ in range(int(rng.integers(3, 8))):
            i = int(rng.integers(ys.size))
            d2 = (yy - ys[i]) ** 2 + (xx - xs[i]) ** 2
            img[d2 <= dot_r**2] = np.minimum(skin * 1.08 + np.array([0.1, 0.1, 0.02]), 1.0)
            region |= d2 <= (dot_r + 2 * unit) ** 2
        regions[..., 2] = region
    return regions


def _superpixels(image_u8: np.ndarray) -> np.ndarray:
    """SLIC superpixels (about one per 28 px; ~146 at 64×64, capped at 1000), indices 0..N-1 contiguous."""
    from skimage.segmentation import slic

    h, w = image_u8.shape[:2]
    n_segments = int(np.clip(round(h * w / 28), 16, 1000))
    labels = slic(image_u8, n_segments=n_segments, compactness=10, start_label=0, channel_axis=-1)
    _, index = np.unique(labels, return_inverse=True)
    return index.reshape(h, w).astype(np.int32)


# Per-class probabilities of each feature being present in an image (PN, NN, MC, ST), ISIC 2017 Part 3
# class → feature; overall about PN 0.6, MC 0.3, NN 0.1, ST 0.1 as in the real training set.
_FEATURE_PROBS_2017 = {
    "nevus": (0.72, 0.05, 0.25, 0.05),
    "melanoma": (0.55, 0.28, 0.15, 0.38),
    "sk": (0.25, 0.04, 0.65, 0.03),
}


def _quota(n: int, p: float, minimum: int) -> int:
    return int(min(n, max(minimum, round(p * n))))


def _plan_isic2017_split(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    """Class of each image (melanoma ~19 %, SK ~13 %, ≥ 1 each when n ≥ 3) and its feature flags [n, 4]."""
    n_mel = _quota(n, 0.19, 1 if n >= 3 else 0)
    n_sk = _quota(n - n_mel, 0.13 * n / max(n - n_mel, 1), 1 if n >= 3 else 0)
    classes = np.array(["melanoma"] * n_mel + ["sk"] * n_sk + ["nevus"] * (n - n_mel - n_sk))
    classes = classes[rng.permutation(n)]
    probs = np.array([_FEATURE_PROBS_2017[c] for c in classes]).reshape(n, 4)
    flags = rng.random((n, 4)) < probs
    for k in range(4):  # every feature in at least two images of the split (one when n == 1)
        need = min(2, n) - int(flags[:, k].sum())
        if need > 0:
            candidates = np.flatnonzero(~flags[:, k])
            order = np.argsort(-probs[candidates, k] + rng.random(candidates.size) * 0.5, kind="stable")
            flags[candidates[order[:need]], k] = True
    return classes.tolist(), flags


def _render_isic2017_image(rng: np.random.Generator, shape, cls: str, flags: np.ndarray, p_hair=HAIR_FRACTION):
    style = _STYLES["mel" if cls == "melanoma" else "sk" if cls == "sk" else "nv"]
    lesion = _sample_lesion(rng, style, size_cap=0.66 if flags[3] else None)
    canvas = _render_lesion(rng, shape, _sample_skin(rng), lesion)
    present = dict(zip(ISIC2017_FEATURES, (bool(f) for f in flags)))
    regions = _draw_features(rng, canvas, present)
    occlusion = _add_artefacts(rng, canvas, p_hair=p_hair)
    image = _to_uint8(canvas.image)
    index = _superpixels(image)
    coverage = mask_to_superpixels(regions.astype(np.float32), index)
    labels = (coverage >= SUPERPIXEL_COVERAGE).astype(np.int64)
    mask = np.where(canvas.mask, 255, 0).astype(np.uint8)
    return image, mask, index, labels, occlusion


# ----------------------------------------------------------------------------------------------------------
# Manifest, reuse and overwrite
# ----------------------------------------------------------------------------------------------------------
def read_manifest(root: str | os.PathLike) -> dict:
    """The ``dermkit_synthetic.json`` manifest of ``root`` (``{}`` when there is none)."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DermkitDataError(f"{path}: not a valid dermkit synthetic-data manifest ({exc})") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("datasets"), dict):
        raise DermkitDataError(f"{path}: not a valid dermkit synthetic-data manifest (no 'datasets' object)")
    return obj


def is_synthetic(root: str | os.PathLike, dataset: str | None = None) -> bool:
    """Whether ``root`` holds a complete synthetic dataset (``dataset``, or any) written by this module."""
    try:
        datasets = read_manifest(root).get("datasets", {})
    except DermkitDataError:
        return False
    names = [dataset] if dataset else list(datasets)
    return any(datasets.get(name, {}).get("complete") for name in names)


def _write_manifest(root: Path, manifest: dict) -> None:
    atomic_write_text(root / MANIFEST_NAME, json.dumps(manifest, indent=1, sort_keys=True) + "\n", overwrite=True)


def _this_writer() -> dict:
    """Who is generating (recorded in the incomplete manifest entry): host, pid and the pid's start tick."""
    import socket

    from dermkit.training.locks import _process_start

    return {"host": socket.gethostname(), "pid": os.getpid(), "proc_start": _process_start(os.getpid())}


def _writer_alive(writer: dict) -> bool:
    """Whether the process that wrote an incomplete entry still runs (on this host; another host's writer
    cannot be checked and counts as gone — concurrent generation into one folder from several hosts is not
    supported)."""
    import socket

    from dermkit.training.locks import _owner_alive_here

    if writer.get("host") != socket.gethostname() or writer.get("pid") == os.getpid():
        return False
    return _owner_alive_here(writer)


def _file_sizes_ok(root: Path, files: dict) -> bool:
    for rel, size in files.items():
        path = root / rel
        if not path.is_file() or (size is not None and path.stat().st_size != size):
            return False
    return True


def _generate(
    root: str | os.PathLike,
    dataset: str,
    params: dict,
    owned: Iterable[str],
    planned: list[str],
    write_all: Callable[[Path], None],
    overwrite: bool,
) -> Path:
    """Reuse / refuse / (re)generate one dataset under ``root`` and keep the manifest up to date.

    Kill safety: the manifest entry ``{"complete": false, "files": <every file planned>}`` is written before
    the first file (the marker: "dermkit is writing these"), the entry ``{"complete": true, "files": <sizes>}``
    after the last. An entry still incomplete is a generation that was killed: its planned files (and the
    atomic writers' temporaries in its folders) are deleted and it is regenerated without ``overwrite`` — it
    is dermkit's own, unfinished data. A complete entry whose files were changed afterwards is refused
    without ``overwrite`` (someone touched them).
    """
    root = Path(root)
    params = json.loads(json.dumps(params))  # normalise tuples → lists for comparison
    manifest = read_manifest(root) if root.exists() else {}
    entry = manifest.get("datasets", {}).get(dataset)
    how = f"pass overwrite=True (CLI: dermkit synth ... --overwrite) to regenerate it, or delete {root}"
    if entry is not None and not overwrite and entry.get("complete"):
        if entry.get("params") != params:
            raise DermkitDataError(
                f"{root}: holds a synthetic {dataset} dataset made with different parameters "
                f"{entry.get('params')} (asked for {params}); {how}"
            )
        if not _file_sizes_ok(root, entry.get("files", {})):
            raise DermkitDataError(f"{root}: the synthetic {dataset} dataset there is incomplete (files were "
                                   f"removed or changed after it was written); {how}")
        return root
    if entry is not None and not entry.get("complete"):
        writer = entry.get("writer") if isinstance(entry.get("writer"), dict) else None
        if writer and _writer_alive(writer):
            raise DermkitDataError(
                f"{root}: the synthetic {dataset} dataset there is being generated by pid {writer.get('pid')} on "
                f"{writer.get('host')}; wait for it to finish (or stop it) and run again")
    if entry is not None and not entry.get("complete") and not overwrite:
        warnings.warn(f"{root}: the synthetic {dataset} dataset there was left half-written (its generation "
                      "was interrupted); regenerating it", stacklevel=3)
    if entry is None:
        clash = sorted(name for name in owned if (root / name).exists())
        if clash:
            raise DermkitDataError(
                f"{root}: already holds {clash} but no record that dermkit generated them "
                f"({MANIFEST_NAME}); refusing to write synthetic {dataset} data over what may be real "
                "data — choose an empty folder"
            )
    else:  # overwrite, or a half-written generation: delete exactly what the previous generation listed
        for rel in entry.get("files", {}):
            path = root / rel
            if path.is_file():
                path.unlink()
        for name in sorted(owned, key=len, reverse=True):
            path = root / name
            if path.is_dir():
                remove_temporaries(path, recursive=False)  # a killed atomic write's hidden .NAME.tmp-* file
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        remove_temporaries(root, recursive=False)
    root.mkdir(parents=True, exist_ok=True)
    manifest = {"generator": "dermkit.data.synthetic", "version": _GENERATOR_VERSION,
                "datasets": dict(manifest.get("datasets", {}))}
    manifest["datasets"][dataset] = {"params": params, "complete": False, "files": dict.fromkeys(planned),
                                     "writer": _this_writer()}
    _write_manifest(root, manifest)
    write_all(root)
    manifest["datasets"][dataset] = {
        "params": params,
        "complete": True,
        "files": {rel: (root / rel).stat().st_size for rel in planned},
    }
    _write_manifest(root, manifest)
    return root


def _csv_text(header: list[str], rows: Iterable[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _check_size(image_size) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"image_size must be (height, width). Received: image_size={image_size!r}") from exc
    if h < 32 or w < 32:
        raise ValueError(f"image_size must be at least (32, 32). Received: image_size={image_size!r}")
    return h, w


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}. Received: {name}={value!r}")
    return int(value)


# ----------------------------------------------------------------------------------------------------------
# ISIC 2017
# ----------------------------------------------------------------------------------------------------------
def _isic2017_names(split: str) -> dict[str, str]:
    return {
        "data": f"ISIC-2017_{split}_Data",
        "part1": f"ISIC-2017_{split}_Part1_GroundTruth",
        "part2": f"ISIC-2017_{split}_Part2_GroundTruth",
        "part3": f"ISIC-2017_{split}_Part3_GroundTruth.csv",
    }


def _occlusions_folder(split: str) -> str:
    """Folder of the occlusion masks of one split (``make_isic2017(occlusion_masks=True)``)."""
    return f"ISIC-2017_{split}_Occlusions"


def make_isic2017(
    root: str | os.PathLike,
    n_train: int = 120,
    n_val: int = 30,
    n_test: int = 40,
    image_size: tuple[int, int] = (64, 64),
    seed: int = 0,
    overwrite: bool = False,
    *,
    hair_fraction: float | None = None,
    occlusion_masks: bool = False,
    similarity_groups: bool | dict = False,
) -> Path:
    """Write a synthetic ISIC 2017 tree (Parts 1, 2 and 3 for the three splits) under ``root``.

    Layout, per split ``S`` ∈ Training, Validation, Test_v2 (image ids ``ISIC_0000000`` upward, unique over
    the splits)::

        ISIC-2017_S_Data/ISIC_XXXXXXX.jpg, ISIC_XXXXXXX_superpixels.png
        ISIC-2017_S_Part1_GroundTruth/ISIC_XXXXXXX_segmentation.png      (0/255)
        ISIC-2017_S_Part2_GroundTruth/ISIC_XXXXXXX_features.json         (N × 4 lists of 0/1)
        ISIC-2017_S_Part3_GroundTruth.csv                                (image_id,melanoma,seborrheic_keratosis)

    Part 3 labels are imbalanced (melanoma ~19 %, seborrhoeic keratosis ~13 %, at least one each per split of
    three images or more) and visible (size, colour, border, texture); Part 2 features are drawn regions
    (see the module docstring), each present in at least two images per split.

    Args:
        root: output folder (created).
        n_train, n_val, n_test: images per split (n_val and n_test may be 0).
        image_size: ``(height, width)`` of every image, at least 32×32.
        seed: random seed; the same parameters give byte-identical files.
        overwrite: regenerate a synthetic tree made with other parameters (or left incomplete).
        hair_fraction: share of images drawn with dark hairs, in [0, 1] (about 10 % get a ruler with dark
            ticks whatever it is). Default None: :data:`HAIR_FRACTION` (0.25), the trees written before
            this option, byte for byte.
        occlusion_masks: also write, per image, the pixels painted as hair or ruler tick, the ground truth
            of bisla2019's hair and ruler removal: ``ISIC-2017_S_Occlusions/ISIC_XXXXXXX_occlusions.png``
            (0/255, not an ISIC file; all zero for an image without hairs or ruler). Default False.
        similarity_groups: also write codella2018's similarity-group CSVs and draw each group's look
            (:mod:`dermkit.data.synthetic_groups`; True, or a dict of group counts). False: unchanged output.
            (Occlusion masks are those of the image before its group's zoom.)

    Returns:
        ``Path(root)``.

    Raises:
        ValueError: a count, the image size, ``hair_fraction`` or ``occlusion_masks`` is invalid.
        DermkitDataError: ``root`` holds a synthetic ISIC 2017 tree with other parameters or an incomplete
            one (and ``overwrite`` is False), or ISIC 2017 files that this module did not write.
    """
    counts = {
        "Training": _check_count("n_train", n_train, 1),
        "Validation": _check_count("n_val", n_val, 0),
        "Test_v2": _check_count("n_test", n_test, 0),
    }
    shape = _check_size(image_size)
    params = {"dataset": "isic2017", "n_train": counts["Training"], "n_val": counts["Validation"],
              "n_test": counts["Test_v2"], "image_size": list(shape), "seed": int(seed),
              "version": _GENERATOR_VERSION, **_occlusion_params(hair_fraction, occlusion_masks)}
    p_hair = HAIR_FRACTION if hair_fraction is None else float(hair_fraction)
    groups = _groups.resolve_groups(similarity_groups)
    if groups:
        params["similarity_groups"] = groups
    code = _DATASET_CODES["isic2017"]
    ids: dict[str, list[str]] = {}
    start = 0
    for split in _SPLITS_2017:
        ids[split] = [f"ISIC_{start + i:07d}" for i in range(counts[split])]
        start += counts[split]
    owned, planned = [], []
    for split in _SPLITS_2017:
        names = _isic2017_names(split)
        owned += list(names.values()) + ([_occlusions_folder(split)] if occlusion_masks else [])
        if not counts[split]:
            continue
        for image_id in ids[split]:
            planned += [
                f"{names['data']}/{image_id}.jpg",
                f"{names['data']}/{image_id}_superpixels.png",
                f"{names['part1']}/{image_id}_segmentation.png",
                f"{names['part2']}/{image_id}_features.json",
            ]
            if occlusion_masks:
                planned.append(f"{_occlusions_folder(split)}/{image_id}_occlusions.png")
        planned.append(names["part3"])
    if groups:
        owned, planned = owned + list(_groups.FILES), planned + list(_groups.FILES)

    def write_all(out: Path) -> None:
        writer = _groups.GroupWriter(groups, seed) if groups else None
        for s, split in enumerate(_SPLITS_2017):
            n = counts[split]
            if not n:
                continue
            names = _isic2017_names(split)
            classes, flags = _plan_isic2017_split(np.random.default_rng([int(seed), code, s]), n)
            rows = []
            for i, image_id in enumerate(ids[split]):
                rng = np.random.default_rng([int(seed), code, s, i])
                image, mask, index, labels, occlusion = _render_isic2017_image(
                    rng, shape, classes[i], flags[i], p_hair=p_hair
                )
                if occlusion_masks:
                    write_png(out / _occlusions_folder(split) / f"{image_id}_occlusions.png",
                              _occlusion_png(occlusion))
                if writer is not None:
                    image, mask = writer.draw(s, i, classes[i], image, mask, image_id)
                write_jpeg(out / names["data"] / f"{image_id}.jpg", image, quality=95)
                write_png(out / names["data"] / f"{image_id}_superpixels.png", encode_superpixels(index))
                write_png(out / names["part1"] / f"{image_id}_segmentation.png", mask)
                write_superpixel_labels(out / names["part2"] / f"{image_id}_features.json", labels)
                rows.append([image_id, f"{float(classes[i] == 'melanoma'):.1f}", f"{float(classes[i] == 'sk'):.1f}"])
            atomic_write_text(
                out / names["part3"], _csv_text(["image_id", "melanoma", "seborrheic_keratosis"], rows)
            )
        if writer is not None:
            writer.write(out)

    return _generate(root, "isic2017", params, owned, planned, write_all, overwrite)


# ----------------------------------------------------------------------------------------------------------
# HAM10000 / ISIC 2018 Task 3
# ----------------------------------------------------------------------------------------------------------
_LOCALIZATIONS = ("back", "lower extremity", "trunk", "upper extremity", "abdomen", "face", "chest", "foot",
                  "scalp", "neck", "hand", "ear", "genital", "acral", "unknown")
_LOCALIZATION_P = np.array([22, 21, 14, 11, 10, 7, 4, 3, 1.3, 1.7, 1, 0.5, 0.5, 0.5, 2.5])
_DX_TYPES = {"mel": ("histo",), "bcc": ("histo",), "akiec": ("histo",), "df": ("histo", "consensus"),
             "vasc": ("histo", "consensus"), "bkl": ("histo", "consensus", "confocal"),
             "nv": ("follow_up", "histo", "consensus")}


def _class_counts(n: int, min_per_class: int | None = None) -> dict[str, int]:
    """HAM10000-like image counts per class summing to ``n``, every class at least ``min_per_class`` times
    (default min(4, n // 7))."""
    minimum = max(1, min(4, n // 7)) if min_per_class is None else int(min_per_class)
    total = sum(HAM10000_COUNTS.values())
    counts = {c: max(minimum, int(round(n * k / total))) for c, k in HAM10000_COUNTS.items() if c != "nv"}
    while sum(counts.values()) > n - minimum:  # keep nv the majority: shave the largest minority class
        biggest = max(counts, key=lambda c: (counts[c], c))
        if counts[biggest] <= minimum:
            break
        counts[biggest] -= 1
    counts["nv"] = n - sum(counts.values())
    return counts


def _min_per_class_param(min_per_class: int | None, n: int) -> dict:
    """The manifest entry of ``min_per_class`` (absent for the default, so earlier trees stay valid)."""
    if min_per_class is None:
        return {}
    k = len(HAM10000_CLASSES)
    if isinstance(min_per_class, bool) or not isinstance(min_per_class, (int, np.integer)) or min_per_class < 1:
        raise ValueError(f"min_per_class must be a positive integer or None. Received: {min_per_class!r}")
    if min_per_class * k > n:
        raise ValueError(f"min_per_class={min_per_class} needs n_images ≥ {min_per_class * k}. Received: {n}")
    return {"min_per_class": int(min_per_class)}


def _plan_ham10000(seed: int, n: int, min_per_class: int | None = None) -> list[dict]:
    """One record per image: image_id, lesion_id, dx, lesion index; several images per lesion."""
    rng = np.random.default_rng([int(seed), _DATASET_CODES["ham10000"], 0])
    records = []
    lesion = 0
    for dx in sorted(_class_counts(n, min_per_class).items(), key=lambda kv: HAM10000_CLASSES.index(kv[0])):
        cls, count = dx
        left = count
        while left > 0:
            # 1–3 images per lesion; a rare class keeps at least three lesions so grouped splits can hold it
            size = int(min(left, max(1, count // 3), rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15])))
            for _ in range(size):
                records.append({"dx": cls, "lesion": lesion})
            lesion += 1
            left -= size
    image_numbers = np.sort(rng.choice(10_015 * 4, size=n, replace=False)) + 24_306
    order = rng.permutation(n)  # image ids do not follow the class order
    lesion_numbers = rng.choice(10**7, size=lesion, replace=False)
    for rec, number in zip((records[i] for i in order), image_numbers):
        rec["image_id"] = f"ISIC_{number:07d}"
        rec["lesion_id"] = f"HAM_{lesion_numbers[rec['lesion']]:07d}"
    records.sort(key=lambda r: r["image_id"])
    for view, rec in enumerate(records):
        rec["view"] = view
    return records


def _render_ham_images(seed: int, records: list[dict], shape) -> Iterable[tuple[dict, np.ndarray, np.ndarray]]:
    code = _DATASET_CODES["ham10000"]
    lesions: dict[int, dict] = {}
    for rec in records:
        if rec["lesion"] not in lesions:
            lrng = np.random.default_rng([int(seed), code, 1, rec["lesion"]])
            lesions[rec["lesion"]] = {
                "params": _sample_lesion(lrng, _STYLES[rec["dx"]]),
                "skin": _sample_skin(lrng),
                "age": float(np.clip(round(lrng.normal(62 if rec["dx"] in ("mel", "bcc", "akiec", "bkl") else 45,
                                                      15) / 5) * 5, 5, 85)),
                "sex": str(lrng.choice(["male", "female"], p=[0.54, 0.46])),
                "localization": str(lrng.choice(_LOCALIZATIONS, p=_LOCALIZATION_P / _LOCALIZATION_P.sum())),
                "dx_type": str(lrng.choice(_DX_TYPES[rec["dx"]])),
            }
        info = lesions[rec["lesion"]]
        rng = np.random.default_rng([int(seed), code, 2, rec["view"]])
        canvas = _render_lesion(rng, shape, info["skin"], info["params"])
        _add_artefacts(rng, canvas)
        rec.update({k: info[k] for k in ("age", "sex", "localization", "dx_type")})
        yield rec, _to_uint8(canvas.image), np.where(canvas.mask, 255, 0).astype(np.uint8)


def make_ham10000(
    root: str | os.PathLike,
    n_images: int = 210,
    image_size: tuple[int, int] = (64, 64),
    seed: int = 0,
    overwrite: bool = False,
    *,
    min_per_class: int | None = None,
) -> Path:
    """Write a synthetic HAM10000 tree under ``root``.

    Layout::

        HAM10000_metadata.csv                       lesion_id,image_id,dx,dx_type,age,sex,localization
        HAM10000_images/<image_id>.jpg
        HAM10000_segmentations/<image_id>_segmentation.png   (0/255)

    ``dx`` follows HAM10000's imbalance (nv ≫ mel ≈ bkl > bcc > akiec > vasc ≈ df) with every class present
    at least ``min(4, n_images // 7)`` times; a lesion has 1–3 images (the same lesion seen again, shifted
    and rotated), so splits must group by ``lesion_id``.

    Args:
        root: output folder (created).
        n_images: number of images, at least 7 (one per class).
        image_size, seed, overwrite: as for :func:`make_isic2017`.
        min_per_class: images of every class at least (default ``min(4, n_images // 7)``); e.g. 25 gives every
            class ≥ 5 images in a 20 % validation split (barata2020's quick run). Nevus stays the majority.

    Returns:
        ``Path(root)``.

    Raises:
        ValueError, DermkitDataError: as for :func:`make_isic2017`.
    """
    n = _check_count("n_images", n_images, len(HAM10000_CLASSES))
    shape = _check_size(image_size)
    params = {"dataset": "ham10000", "n_images": n, "image_size": list(shape), "seed": int(seed),
              "version": _GENERATOR_VERSION, **_min_per_class_param(min_per_class, n)}
    records = _plan_ham10000(seed, n, min_per_class)
    owned = ["HAM10000_metadata.csv", "HAM10000_images", "HAM10000_segmentations"]
    planned = [f"HAM10000_images/{r['image_id']}.jpg" for r in records]
    planned += [f"HAM10000_segmentations/{r['image_id']}_segmentation.png" for r in records]
    planned.append("HAM10000_metadata.csv")

    def write_all(out: Path) -> None:
        rows = []
        for rec, image, mask in _render_ham_images(seed, records, shape):
            write_jpeg(out / "HAM10000_images" / f"{rec['image_id']}.jpg", image, quality=95)
            write_png(out / "HAM10000_segmentations" / f"{rec['image_id']}_segmentation.png", mask)
            rows.append([rec["lesion_id"], rec["image_id"], rec["dx"], rec["dx_type"], f"{rec['age']:.1f}",
                         rec["sex"], rec["localization"]])
        header = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]
        atomic_write_text(out / "HAM10000_metadata.csv", _csv_text(header, rows))

    return _generate(root, "ham10000", params, owned, planned, write_all, overwrite)


def make_isic2018_task3(
    root: str | os.PathLike,
    n_images: int = 210,
    image_size: tuple[int, int] = (64, 64),
    seed: int = 0,
    overwrite: bool = False,
    *,
    min_per_class: int | None = None,
) -> Path:
    """Write a synthetic ISIC 2018 Task 3 training tree under ``root`` (the same images as
    :func:`make_ham10000` with the same arguments, as in the real challenge).

    Layout::

        ISIC2018_Task3_Training_Input/<image>.jpg
        ISIC2018_Task3_Training_GroundTruth.csv     image,MEL,NV,BCC,AKIEC,BKL,DF,VASC  (one-hot 0.0/1.0)
        ISIC2018_Task3_Training_LesionGroupings.csv image,lesion_id,diagnosis_confirm_type

    Args (``min_per_class`` too), returns and raises: as for :func:`make_ham10000`.
    """
    n = _check_count("n_images", n_images, len(HAM10000_CLASSES))
    shape = _check_size(image_size)
    params = {"dataset": "isic2018_task3", "n_images": n, "image_size": list(shape), "seed": int(seed),
              "version": _GENERATOR_VERSION, **_min_per_class_param(min_per_class, n)}
    records = _plan_ham10000(seed, n, min_per_class)
    owned = ["ISIC2018_Task3_Training_Input", "ISIC2018_Task3_Training_GroundTruth.csv",
             "ISIC2018_Task3_Training_LesionGroupings.csv"]
    planned = [f"ISIC2018_Task3_Training_Input/{r['image_id']}.jpg" for r in records] + owned[1:]

    def write_all(out: Path) -> None:
        rows, groups = [], []
        for rec, image, _ in _render_ham_images(seed, records, shape):
            write_jpeg(out / "ISIC2018_Task3_Training_Input" / f"{rec['image_id']}.jpg", image, quality=95)
            rows.append([rec["image_id"]] + [f"{float(rec['dx'] == c.lower()):.1f}" for c in ISIC2018_TASK3_CLASSES])
            groups.append([rec["image_id"], rec["lesion_id"], rec["dx_type"]])
        header = ["image", *ISIC2018_TASK3_CLASSES]
        atomic_write_text(out / "ISIC2018_Task3_Training_GroundTruth.csv", _csv_text(header, rows))
        atomic_write_text(out / "ISIC2018_Task3_Training_LesionGroupings.csv",
                          _csv_text(["image", "lesion_id", "diagnosis_confirm_type"], groups))

    return _generate(root, "isic2018_task3", params, owned, planned, write_all, overwrite)


# ----------------------------------------------------------------------------------------------------------
# ISIC 2020
# ----------------------------------------------------------------------------------------------------------
_SITES_2020 = ("torso", "lower extremity", "upper extremity", "head/neck", "palms/soles", "oral/genital", "")
_SITES_2020_P = np.array([50.8, 25.4, 15.0, 5.6, 1.1, 0.4, 1.6])
_BENIGN_2020 = (("unknown", "nv"), ("nevus", "nv"), ("seborrheic keratosis", "bkl"), ("lentigo NOS", "bkl"),
                ("lichenoid keratosis", "akiec"), ("solar lentigo", "bkl"))
_BENIGN_2020_P = np.array([87.6, 9.8, 0.8, 0.7, 0.6, 0.5])


def _plan_isic2020(seed: int, n: int) -> list[dict]:
    """Records with patient, target (~2 %, ≥ 3 positives when n ≥ 10) and two duplicate pairs (n ≥ 10)."""
    rng = np.random.default_rng([int(seed), _DATASET_CODES["isic2020"], 0])
    patient_of: list[int] = []
    patient = 0
    while len(patient_of) < n:
        patient_of += [patient] * int(rng.integers(2, 7))
        patient += 1
    patient_of = patient_of[:n]
    n_dup = 2 if n >= 10 else (1 if n >= 4 else 0)
    # A duplicate is the next image of the same patient, a copy of the one before it.
    dup_candidates = [j for j in range(1, n) if patient_of[j] == patient_of[j - 1]]
    duplicate_of: dict[int, int] = {}
    for j in rng.permutation(dup_candidates):
        if len(duplicate_of) == n_dup:
            break
        j = int(j)
        if j - 1 not in duplicate_of and j + 1 not in duplicate_of and j - 1 not in duplicate_of.values():
            duplicate_of[j] = j - 1
    originals = [i for i in range(n) if i not in duplicate_of]
    n_pos = int(min(len(originals), max(3 if n >= 10 else 1, round(0.02 * n))))
    positives = set(int(i) for i in rng.choice(originals, size=n_pos, replace=False))
    names = np.sort(rng.choice(10**7, size=n, replace=False))
    names = names[rng.permutation(n)]
    patient_numbers = rng.choice(10**7, size=patient, replace=False)
    patient_info = [
        {"sex": str(rng.choice(["male", "female"], p=[0.52, 0.48])), "age": float(rng.integers(3, 18) * 5),
         "skin": _sample_skin(rng)}
        for _ in range(patient)
    ]
    records = []
    for i in range(n):
        src = duplicate_of.get(i, i)
        p = patient_of[i]
        records.append({
            "image_name": f"ISIC_{names[i]:07d}",
            "patient_id": f"IP_{patient_numbers[p]:07d}",
            "patient": p,
            "render": src,
            "target": int(src in positives),
            "sex": patient_info[p]["sex"],
            "age": patient_info[p]["age"],
            "skin": patient_info[p]["skin"],
        })
    return records


def make_isic2020(
    root: str | os.PathLike,
    n_images: int = 200,
    image_size: tuple[int, int] = (64, 64),
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic ISIC 2020 training tree under ``root``.

    Layout::

        train.csv      image_name,patient_id,sex,age_approx,anatom_site_general_challenge,diagnosis,
                       benign_malignant,target
        train/<image_name>.jpg
        ISIC_2020_Training_Duplicates.csv    image_name_1,image_name_2

    About 2 % of images are malignant (``target`` 1, diagnosis melanoma: large, dark, irregular), at least
    three when ``n_images ≥ 10``; each patient has 2–6 images and one skin tone; two pairs of images are
    byte-identical duplicates (same patient, same label) listed in the duplicates CSV. A few rows leave
    ``anatom_site_general_challenge`` empty, as the real file does.

    Args:
        root: output folder (created).
        n_images: number of images (duplicates included), at least 2.
        image_size, seed, overwrite: as for :func:`make_isic2017`.

    Returns:
        ``Path(root)``.

    Raises:
        ValueError, DermkitDataError: as for :func:`make_isic2017`.
    """
    n = _check_count("n_images", n_images, 2)
    shape = _check_size(image_size)
    params = {"dataset": "isic2020", "n_images": n, "image_size": list(shape), "seed": int(seed),
              "version": _GENERATOR_VERSION}
    records = _plan_isic2020(seed, n)
    owned = ["train.csv", "train", "ISIC_2020_Training_Duplicates.csv"]
    planned = [f"train/{r['image_name']}.jpg" for r in records] + [owned[0], owned[2]]
    code = _DATASET_CODES["isic2020"]

    def write_all(out: Path) -> None:
        rendered: dict[int, tuple[np.ndarray, dict]] = {}
        rows = []
        for rec in records:
            src = rec["render"]
            if src not in rendered:
                rng = np.random.default_rng([int(seed), code, 1, src])
                if rec["target"]:
                    diagnosis, style = "melanoma", "mel"
                else:
                    diagnosis, style = _BENIGN_2020[int(rng.choice(len(_BENIGN_2020), p=_BENIGN_2020_P / 100))]
                site = str(rng.choice(_SITES_2020, p=_SITES_2020_P / _SITES_2020_P.sum()))
                canvas = _render_lesion(rng, shape, rec["skin"], _sample_lesion(rng, _STYLES[style]))
                _add_artefacts(rng, canvas)
                rendered[src] = (_to_uint8(canvas.image), {"diagnosis": diagnosis, "site": site})
            image, info = rendered[src]
            write_jpeg(out / "train" / f"{rec['image_name']}.jpg", image, quality=95)
            rows.append([rec["image_name"], rec["patient_id"], rec["sex"], f"{rec['age']:.1f}", info["site"],
                         info["diagnosis"], "malignant" if rec["target"] else "benign", rec["target"]])
        rows.sort(key=lambda r: r[0])
        header = ["image_name", "patient_id", "sex", "age_approx", "anatom_site_general_challenge",
                  "diagnosis", "benign_malignant", "target"]
        atomic_write_text(out / "train.csv", _csv_text(header, rows))
        pairs = sorted(
            sorted((records[rec["render"]]["image_name"], rec["image_name"]))
            for i, rec in enumerate(records)
            if rec["render"] != i
        )
        atomic_write_text(out / "ISIC_2020_Training_Duplicates.csv",
                          _csv_text(["image_name_1", "image_name_2"], pairs))

    return _generate(root, "isic2020", params, owned, planned, write_all, overwrite)


# ----------------------------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------------------------
def summarize_isic2017(root: str | os.PathLike, split: str | None = None) -> str:
    """A short text summary of an ISIC 2017 tree, read through :func:`dermkit.data.isic.load_isic2017`.

    Per split: images, Part 3 label counts (melanoma, seborrhoeic keratosis, nevus), Part 2 feature
    frequencies (images with ≥ 1 positive superpixel, and the share of positive superpixels) and superpixels
    per image (min/mean/max). The title says **SYNTHETIC** when ``root`` holds this module's manifest for
    ISIC 2017.

    Args:
        root: the ISIC 2017 root folder.
        split: ``"training"``, ``"validation"`` or ``"test"``; every split present when None.

    Raises:
        ValueError: unknown ``split``.
        DermkitFileNotFoundError, DermkitDataError: no split present, or a file missing or malformed.
    """
    from dermkit.data.isic import load_isic2017

    root = Path(root)
    if split is not None and split not in ISIC2017_SPLITS:
        raise ValueError(f"split must be one of {tuple(ISIC2017_SPLITS)} or None. Received: split={split!r}")
    entry = (read_manifest(root) if root.is_dir() else {}).get("datasets", {}).get("isic2017")
    if entry:
        p = entry["params"]
        title = (f"ISIC 2017 — SYNTHETIC data (dermkit.data.synthetic, seed {p['seed']}, "
                 f"{p['image_size'][0]}×{p['image_size'][1]} px); numbers say nothing about real ISIC data")
    else:
        title = "ISIC 2017"
    splits = [split] if split else [
        s for s, word in ISIC2017_SPLITS.items() if (root / _isic2017_names(word)["data"]).is_dir()
    ]
    if not splits:
        raise DermkitFileNotFoundError(f"{root}: no ISIC-2017_*_Data folder found")
    abbrev = ("PN", "NN", "MC", "ST")
    lines = [title, f"root: {root}",
             f"{'split':<11}{'images':>7}{'mel':>5}{'SK':>5}{'nevus':>6}  "
             + "".join(f"{a + ' img/sp%':>14}" for a in abbrev) + "  superpixels/image min/mean/max"]
    for s in splits:
        df = load_isic2017(root, s)
        n = len(df)
        if df["melanoma"].dtype == object:  # no Part 3 CSV
            mel = sk = nevus = "-"
        else:
            mel, sk = int(df["melanoma"].sum()), int(df["seborrheic_keratosis"].sum())
            nevus = n - mel - sk
        img_pos, sp_pos, sp_counts = np.zeros(4, int), np.zeros(4, int), []
        for sp_path, json_path in zip(df["superpixels_path"], df["features_path"]):
            if sp_path is None or json_path is None:
                continue
            n_sp = int(read_superpixels(sp_path).max()) + 1
            positive = read_superpixel_labels(json_path, n_sp) >= 0.5
            img_pos += positive.any(axis=0)
            sp_pos += positive.sum(axis=0)
            sp_counts.append(n_sp)
        if sp_counts:
            share = 100.0 * sp_pos / sum(sp_counts)
            feats = "".join(f"{f'{img_pos[k]}/{share[k]:.1f}%':>14}" for k in range(4))
            sp = f"{min(sp_counts)}/{np.mean(sp_counts):.0f}/{max(sp_counts)}"
        else:
            feats, sp = "".join(f"{'-':>14}" for _ in abbrev), "-"
        lines.append(f"{s:<11}{n:>7}{mel:>5}{sk:>5}{nevus:>6}  {feats}  {sp}")
    lines.append("PN pigment network, NN negative network, MC milia-like cysts, ST streaks; img = images with "
                 "≥ 1 positive superpixel, sp% = share of all superpixels that are positive")
    return "\n".join(lines)
