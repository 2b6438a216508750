"""Preprocessing on NumPy arrays (no TensorFlow): crop-to-mask (goel2021 §5.1), skin tone (goel2021 §7) and
colour constancy (barata2020 §4.2).

- :mod:`dermkit.preprocessing.crop`: :func:`crop_to_mask`, :func:`lesion_bbox`, :func:`binarize_mask`,
  :func:`segment_and_crop` (runs a trained segmenter over a dataset; calls only ``model.predict``).
- :mod:`dermkit.preprocessing.skin_tone`: the 18-tone palette :data:`SKIN_TONES` (Monk Skin Tone scale
  interpolated in CIELAB), ITA°, :func:`estimate_skin_tone`, :func:`replace_background`.
- :mod:`dermkit.preprocessing.color`: :func:`shades_of_gray` (Shades of Gray, Minkowski p = 6, Barata et al.
  2015) and its :func:`estimate_illuminant`.
- :mod:`dermkit.preprocessing.hair` (bisla2019 §3.2.2): :func:`remove_hair` ("closing" / "blackhat");
  :mod:`dermkit.preprocessing.channels`: :func:`seven_channel_input` (§3.2.3);
  :mod:`dermkit.preprocessing.purification`: the purification network's training pairs and masks (§6.1).
"""

from dermkit.data.masks import binarize_mask
from dermkit.preprocessing.color import estimate_illuminant, shades_of_gray
from dermkit.preprocessing.crop import crop_to_mask, lesion_bbox, segment_and_crop
from dermkit.preprocessing.skin_tone import (
    SKIN_TONE_LABELS,
    SKIN_TONES,
    SkinTone,
    estimate_skin_tone,
    individual_typology_angle,
    ita_category,
    replace_background,
)

__all__ = [
    "binarize_mask",
    "crop_to_mask",
    "lesion_bbox",
    "segment_and_crop",
    "SKIN_TONES",
    "SKIN_TONE_LABELS",
    "SkinTone",
    "estimate_skin_tone",
    "individual_typology_angle",
    "ita_category",
    "replace_background",
    "estimate_illuminant",
    "shades_of_gray",
    "remove_hair",
    "seven_channel_input",
    "purification_masks",
    "purification_pairs",
    "purification_test_masks",
]

# bisla2019: hair / ruler removal (§3.2.2) and the segmentation network's 7-channel input (§3.2.3).
from dermkit.preprocessing.channels import seven_channel_input  # noqa: E402
from dermkit.preprocessing.hair import remove_hair  # noqa: E402
from dermkit.preprocessing.purification import (  # noqa: E402
    purification_masks,
    purification_pairs,
    purification_test_masks,
)
