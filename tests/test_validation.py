"""Issue 18: one image rule at every public boundary — RGB uint8 in [0, 255] or float in [0, 1], accepted
alike; anything else refused with the dtype / range in the message."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit._validation import as_rgb01, as_rgb_uint8
from dermkit.errors import DermkitDataError
from dermkit.preprocessing import shades_of_gray
from dermkit.preprocessing.channels import seven_channel_input
from dermkit.preprocessing.hair import remove_hair
from dermkit.preprocessing.isic2020 import preprocess_isic2020
from dermkit.preprocessing.skin_tone import estimate_skin_tone, individual_typology_angle

RNG = np.random.default_rng(0)
UINT8 = RNG.integers(1, 256, size=(24, 24, 3), dtype=np.uint8)
FLOAT = UINT8.astype(np.float32) / 255.0
LESION = np.zeros((24, 24), bool)
LESION[8:16, 8:16] = True

FUNCTIONS = {
    "shades_of_gray": lambda im: shades_of_gray(im),
    "remove_hair": lambda im: remove_hair(im)[0],
    "seven_channel_input": lambda im: seven_channel_input(im),
    "individual_typology_angle": lambda im: individual_typology_angle(im),
    "estimate_skin_tone": lambda im: estimate_skin_tone(im, LESION)["ita"],
    "preprocess_isic2020": lambda im: preprocess_isic2020(im, base_size=(20, 16), out_size=8).classifier,
}


def test_the_rule_by_hand():
    np.testing.assert_array_equal(as_rgb01(np.array([[[0, 51, 255]]], np.uint8), dtype=np.float64), [[[0.0, 0.2, 1.0]]])
    np.testing.assert_array_equal(as_rgb_uint8(np.array([[[0.0, 0.2, 1.0]]])), [[[0, 51, 255]]])
    with pytest.raises(DermkitDataError, match=r"dtype uint16"):
        as_rgb01(np.zeros((2, 2, 3), np.uint16))
    with pytest.raises(DermkitDataError, match=r"\[0, 255\].*divide by 255"):
        as_rgb01(np.full((2, 2, 3), 200.0))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_uint8_and_float_give_the_same_result(name):
    a, b = FUNCTIONS[name](UINT8), FUNCTIONS[name](FLOAT)
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), atol=1e-5)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("bad, message", [(UINT8.astype(np.int16), "int16"), (FLOAT * 255.0, r"\[0, 255\]"),
                                          (FLOAT - 0.5, r"values must lie in \[0, 1\]")])
def test_anything_else_is_refused_naming_dtype_or_range(name, bad, message):
    with pytest.raises(ValueError, match=message):
        FUNCTIONS[name](bad)
