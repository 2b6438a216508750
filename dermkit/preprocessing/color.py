"""Colour constancy for dermoscopy images: Shades of Gray (barata2020 Section 4.2, after Barata et al. 2015).

barata2020 normalises "all of the images ... using the color normalization scheme proposed in [1]" (Barata,
Celebi, Marques, "Improving dermoscopy image classification using color constancy", IEEE JBHI 19(3), 2015)
before resizing them to 299×299; the hierarchical model it builds on (Barata et al. 2019) uses Shades of Gray
with the Minkowski norm ``p = 6``. Two steps:

1. Illuminant estimate (Finlayson & Trezzi's Shades of Gray): per channel ``c``, the Minkowski ``p``-mean of
   the pixel values, ``e_c = (mean over pixels of I_c^p)^(1/p)``. ``p = 1`` is Gray World (the channel means),
   ``p → ∞`` is max-RGB (the channel maxima); :func:`estimate_illuminant`.
2. Correction (von Kries diagonal model): the illuminant is normalised to unit length, ``ê = e / ||e||₂``, and
   each channel is multiplied by ``1 / (√3 · ê_c)``, which maps the estimated illuminant to the white
   ``(1, 1, 1)/√3`` — equivalently ``I_c · rms(e) / e_c`` with ``rms(e) = sqrt(mean over c of e_c²)``. A white
   (achromatic) illuminant leaves the image unchanged. This is the normalisation of the public
   implementations of Barata et al. 2015 used by ISIC challenge entries; it differs from
   ``I_c · mean(e) / e_c`` only by a global brightness factor (``rms(e) / mean(e)`` ≥ 1). The result is
   clipped to [0, 1].

NumPy only: no TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["shades_of_gray", "estimate_illuminant", "DEFAULT_MINKOWSKI_P"]

#: The Minkowski norm of barata2020's colour normalisation (Barata et al. 2015 / 2019).
DEFAULT_MINKOWSKI_P = 6


def _check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not (p >= 1):
        raise ValueError(f"p must be a real number >= 1 (or numpy.inf for max-RGB). Received: p={p!r}")
    return float(p)


def _check_image(image) -> np.ndarray:
    """The one image rule (:mod:`dermkit._validation`): uint8 or float in [0, 1], any leading batch axes."""
    from dermkit._validation import as_rgb01

    array = np.asarray(image)
    return as_rgb01(array, ndims=(array.ndim,) if array.ndim >= 3 else (3,), dtype=np.float64)


def estimate_illuminant(image, *, p: float = DEFAULT_MINKOWSKI_P) -> np.ndarray:
    """The Shades of Gray illuminant: each channel's Minkowski ``p``-mean over the image's pixels.

    ``e_c = (mean over pixels of I_c^p)^(1/p)``; ``p = 1`` gives Gray World (the channel means), ``p =
    numpy.inf`` max-RGB (the channel maxima). Computed as ``m_c · (mean((I_c / m_c)^p))^(1/p)`` with ``m_c`` the
    channel maximum, so large ``p`` does not underflow.

    Args:
        image: RGB float ``[H, W, 3]`` in [0, 1], or a batch ``[..., H, W, 3]`` (one estimate per image).
        p: Minkowski norm, ``>= 1`` or ``numpy.inf``. Default 6 (barata2020).

    Returns:
        float64 ``[3]`` (``[..., 3]`` for a batch): the estimated illuminant colour, not normalised.

    Raises:
        ValueError: not ``[..., H, W, 3]``, not uint8 or float, NaN/inf, float outside [0, 1], or a bad ``p``.
    """
    p = _check_p(p)
    array = _check_image(image).astype(np.float64)
    peak = array.max(axis=(-3, -2))  # [..., 3]
    if math.isinf(p):
        return peak
    safe = np.where(peak > 0, peak, 1.0)
    ratio = array / safe[..., None, None, :]
    return peak * np.mean(ratio**p, axis=(-3, -2)) ** (1.0 / p)


def shades_of_gray(image, *, p: float = DEFAULT_MINKOWSKI_P) -> np.ndarray:
    """Shades of Gray colour constancy (barata2020 Section 4.2; Barata et al. 2015), RGB in [0, 1] → same.

    ``out_c = clip(I_c / (√3 · ê_c), 0, 1)`` with ``ê = e / ||e||₂`` the unit-length illuminant of
    :func:`estimate_illuminant` (module docstring): the estimated illuminant becomes white; an achromatic
    image (R = G = B) is returned unchanged; an image under a colour cast ``(k_R, k_G, k_B)`` of an achromatic
    scene becomes achromatic again (scaled by ``rms(k)``).

    Args:
        image: RGB ``[H, W, 3]``, uint8 or float in [0, 1] (the one image rule, :mod:`dermkit._validation`), or
            a batch ``[..., H, W, 3]`` (each image corrected with its own illuminant).
        p: Minkowski norm, ``>= 1`` or ``numpy.inf`` (max-RGB); 1 is Gray World. Default 6 (barata2020).

    Returns:
        float32 array of the input's shape, in [0, 1].

    Raises:
        ValueError: bad shape, dtype, values or ``p`` (see :func:`estimate_illuminant`), or a channel that is
            zero over a whole image (its illuminant cannot be estimated).
    """
    image = _check_image(image)  # uint8 or float in [0, 1] → float64 in [0, 1]
    illuminant = estimate_illuminant(image, p=p)
    if np.any(illuminant <= 0):
        zero = sorted({"RGB"[c] for c in np.argwhere(illuminant <= 0)[:, -1]})
        raise ValueError(
            f"channel(s) {', '.join(zero)} are zero over a whole image: the illuminant cannot be estimated."
        )
    unit = illuminant / np.linalg.norm(illuminant, axis=-1, keepdims=True)
    gains = 1.0 / (math.sqrt(3.0) * unit)
    corrected = np.asarray(image, dtype=np.float64) * gains[..., None, None, :]
    return np.clip(corrected, 0.0, 1.0).astype(np.float32)
