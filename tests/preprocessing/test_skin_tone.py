"""Skin-tone palette, ITA, skin ring, tone estimation and background replacement (goel2021 §7)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import color

from dermkit.errors import DermkitDataError
from dermkit.preprocessing.skin_tone import (
    MONK_SKIN_TONES_HEX,
    SKIN_TONE_LABELS,
    SKIN_TONES,
    _order_by_palette,
    estimate_skin_tone,
    get_skin_tone,
    individual_typology_angle,
    ita_category,
    ita_from_lab,
    replace_background,
    skin_ring_mask,
)


def _uniform_from_lab(lab, shape=(8, 8)):
    """A float RGB image whose every pixel has the given CIELAB value (in gamut)."""
    rgb = color.lab2rgb(np.asarray(lab, dtype=np.float64).reshape(1, 1, 3))
    return np.broadcast_to(rgb, shape + (3,)).astype(np.float64)


# ------------------------------------------------------------------------------------------- palette


def test_palette_has_18_labels_a_to_r():
    assert SKIN_TONE_LABELS == tuple("ABCDEFGHIJKLMNOPQR")
    assert [t.label for t in SKIN_TONES] == list(SKIN_TONE_LABELS)


def test_palette_runs_dark_to_light_by_lightness():
    lightness = [t.lab[0] for t in SKIN_TONES]
    assert all(b > a for a, b in zip(lightness, lightness[1:]))
    for tone in SKIN_TONES:  # stored Lab is the Lab of the stored (rounded) RGB
        np.testing.assert_allclose(color.rgb2lab(np.array(tone.rgb).reshape(1, 1, 3) / 255.0)[0, 0], tone.lab)


def test_palette_ends_are_the_monk_extremes():
    def to_rgb(code):
        return tuple(int(code[i : i + 2], 16) for i in (1, 3, 5))

    assert SKIN_TONES[0].rgb == to_rgb(MONK_SKIN_TONES_HEX[-1])  # MST 10, darkest
    assert SKIN_TONES[-1].rgb == to_rgb(MONK_SKIN_TONES_HEX[0])  # MST 1, lightest


def test_palette_neighbours_are_evenly_spaced():
    lab = np.array([t.lab for t in SKIN_TONES])
    steps = np.linalg.norm(np.diff(lab, axis=0), axis=1)
    assert steps.min() > 3.0 and steps.max() < 8.0  # ≈ 6 ΔE76 each (rounding and polyline corners)


def test_get_skin_tone():
    assert get_skin_tone("c") is SKIN_TONES[2]
    assert get_skin_tone(SKIN_TONES[5]) is SKIN_TONES[5]
    with pytest.raises(ValueError, match="tone must be one of"):
        get_skin_tone("Z")


# ----------------------------------------------------------------------------------------------- ITA

# (L*, b*, expected ITA°), hand-computed: arctan((L - 50) / b) · 180/π
ITA_CASES = [
    (60.0, 10.0, 45.0),  # arctan(1)
    (50.0, 15.0, 0.0),
    (40.0, 10.0, -45.0),
    (50.0 + 10.0 * math.sqrt(3.0), 10.0, 60.0),  # arctan(√3)
    (70.0, 0.0, 90.0),  # b* = 0: limit b* → 0⁺
    (30.0, 0.0, -90.0),
]


@pytest.mark.parametrize("lightness, b_star, expected", ITA_CASES)
def test_individual_typology_angle_formula(lightness, b_star, expected):
    image = _uniform_from_lab([lightness, 0.0, b_star])
    lab = color.rgb2lab(image)[0, 0]  # the exact Lab the function sees (gamut round trip)
    assert abs(lab[0] - lightness) < 1e-6 and abs(lab[2] - b_star) < 1e-6
    assert individual_typology_angle(image) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("lightness, b_star, expected", ITA_CASES + [
    (60.0, -10.0, -45.0),  # b* < 0: arctan(1 / −1) = −45°, where atan2 would give 135°
    (40.0, -10.0, 45.0),  # arctan(−10 / −10) = 45°, where atan2 would give −135°
    (50.0, 0.0, 0.0),
])
def test_ita_from_lab_hand_values(lightness, b_star, expected):
    assert ita_from_lab(lightness, b_star) == pytest.approx(expected, abs=1e-9)


def test_ita_from_lab_stays_in_the_ita_range_and_refuses_nan():
    rng = np.random.default_rng(0)
    for lightness, b_star in zip(rng.uniform(0, 100, 200), rng.uniform(-60, 60, 200)):
        assert -90.0 <= ita_from_lab(lightness, b_star) <= 90.0
    with pytest.raises(ValueError, match="numbers"):
        ita_from_lab(float("nan"), 10.0)


def test_palette_ita_uses_the_one_definition():
    """Every palette tone's ITA (as goel2021 groups the painted tones of Fig. 6) by the hand formula."""
    for tone in SKIN_TONES:
        lightness, _, b_star = tone.lab
        assert b_star > 0  # skin colours: arctan and atan2 agree here
        assert ita_from_lab(lightness, b_star) == pytest.approx(math.degrees(math.atan((lightness - 50) / b_star)))


def test_ita_uses_median_of_masked_pixels_only():
    image = _uniform_from_lab([60.0, 0.0, 10.0], shape=(5, 5)).copy()
    image[0, :] = 0.0  # black row, excluded by the mask
    mask = np.ones((5, 5), dtype=bool)
    mask[0, :] = False
    assert individual_typology_angle(image, mask) == pytest.approx(45.0, abs=1e-6)
    with pytest.raises(DermkitDataError, match="no pixel"):
        individual_typology_angle(image, np.zeros((5, 5), dtype=bool))


# (ITA°, category) — boundaries belong to the darker group
ITA_CATEGORY_CASES = [
    (70.0, "very_light"),
    (55.0, "light"),
    (41.0, "intermediate"),
    (30.0, "intermediate"),
    (28.0, "tan"),
    (10.0, "brown"),
    (-29.9, "brown"),
    (-30.0, "dark"),
    (-80.0, "dark"),
]


@pytest.mark.parametrize("ita, expected", ITA_CATEGORY_CASES)
def test_ita_category(ita, expected):
    assert ita_category(ita) == expected


def test_ita_category_nan():
    with pytest.raises(ValueError, match="NaN"):
        ita_category(float("nan"))


# ------------------------------------------------------------------------------------- ring, estimate


def _lesion_mask(size=100, centre=(50, 50), radius=12):
    yy, xx = np.mgrid[0:size, 0:size]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_ring_excludes_lesion_and_corners():
    lesion = _lesion_mask()
    ring = skin_ring_mask(lesion, ring=(3, 10))
    assert ring.any()
    assert not (ring & lesion).any()
    yy, xx = np.nonzero(ring)
    dist = np.sqrt((yy - 50) ** 2 + (xx - 50) ** 2)
    assert dist.min() > 12 + 3 - 1 and dist.max() <= 12 + 10 + 1

    # A lesion in a corner: the ring is cut by the inscribed circle.
    corner = _lesion_mask(centre=(5, 5), radius=4)
    ring = skin_ring_mask(corner, ring=(1, 30))
    assert not ring[0:10, 0:10].any()
    assert not (ring & corner).any()
    assert skin_ring_mask(corner, ring=(1, 30), exclude_corners=False)[0:10, 0:10].any()


def test_ring_validates():
    with pytest.raises(ValueError, match="ring must be"):
        skin_ring_mask(_lesion_mask(), ring=(5, 5))


@pytest.mark.parametrize("label", ["A", "F", "K", "R"])
def test_estimate_skin_tone_recovers_painted_tone(label):
    tone = get_skin_tone(label)
    image = np.empty((100, 100, 3), dtype=np.uint8)
    image[:] = tone.rgb
    lesion = _lesion_mask()
    image[lesion] = (90, 30, 20)  # dark-red lesion, must not influence the estimate
    yy, xx = np.mgrid[0:100, 0:100]
    image[(yy - 49.5) ** 2 + (xx - 49.5) ** 2 > 50**2] = 0  # black vignette corners
    result = estimate_skin_tone(image, lesion)
    assert result["tone"] == label
    assert result["rgb"] == tone.rgb
    assert result["delta_e"] < 1e-6
    assert result["skin_rgb"] == tone.rgb
    expected_ita = math.degrees(math.atan((tone.lab[0] - 50.0) / tone.lab[2]))
    assert result["ita"] == pytest.approx(expected_ita, abs=1e-6)
    assert result["ita_category"] == ita_category(expected_ita)
    assert result["n_pixels"] > 0


def test_estimate_skin_tone_nearest_tone_for_a_nearby_colour():
    tone = get_skin_tone("H")
    lab = np.array(tone.lab) + [1.0, 0.5, -0.5]
    image = _uniform_from_lab(lab, shape=(60, 60))
    result = estimate_skin_tone(image, _lesion_mask(size=60, centre=(30, 30), radius=5))
    assert result["tone"] == "H" and 0 < result["delta_e"] < 2.0


def test_estimate_skin_tone_errors():
    image = np.zeros((20, 20, 3), dtype=np.uint8)  # all black: nothing passes min_lightness
    with pytest.raises(DermkitDataError, match="no skin pixel"):
        estimate_skin_tone(image, _lesion_mask(size=20, centre=(10, 10), radius=3))
    with pytest.raises(DermkitDataError, match="shape"):
        estimate_skin_tone(np.zeros((20, 20, 3), dtype=np.uint8) + 200, np.zeros((10, 10), dtype=bool))


# ------------------------------------------------------------------------------------ replace_background


def test_replace_background_keeps_lesion_and_paints_rest():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    lesion = np.zeros((30, 40), dtype=bool)
    lesion[10:20, 5:25] = True
    out = replace_background(image, lesion, "D")
    np.testing.assert_array_equal(out[lesion], image[lesion])
    assert (out[~lesion] == np.array(get_skin_tone("D").rgb, dtype=np.uint8)).all()
    assert out.dtype == np.uint8


def test_replace_background_float_and_black_background_default():
    image = np.zeros((10, 10, 3), dtype=np.float32)
    image[3:6, 3:6] = 0.7  # a segmented crop: lesion on black
    out, label = replace_background(image, None, "random", rng=1, return_label=True)
    assert label in SKIN_TONE_LABELS and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], np.array(get_skin_tone(label).rgb) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(out[3:6, 3:6], image[3:6, 3:6])


def test_replace_background_random_is_reproducible_and_spread():
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    draw = [replace_background(image, None, "random", rng=np.random.default_rng(7), return_label=True)[1]]
    draw.append(replace_background(image, None, "random", rng=np.random.default_rng(7), return_label=True)[1])
    assert draw[0] == draw[1]
    gen = np.random.default_rng(0)
    labels = {replace_background(image, None, "random", rng=gen, return_label=True)[1] for _ in range(300)}
    assert labels == set(SKIN_TONE_LABELS)


def test_replace_background_errors():
    with pytest.raises(ValueError, match="tone must be one of"):
        replace_background(np.zeros((4, 4, 3), dtype=np.uint8), None, "S")
    with pytest.raises(DermkitDataError, match="RGB"):
        replace_background(np.zeros((4, 4), dtype=np.uint8), None, "A")


def test_order_by_palette():
    import pandas as pd

    table = pd.DataFrame({"group": ["R", "dark", "A", "C"], "sensitivity": [0.1, 0.2, 0.3, 0.4]})
    assert _order_by_palette(table)["group"].tolist() == ["A", "C", "R", "dark"]


# ------------------------------------------------------------------------------ per-tone rates and plot


def _tone_predictions():
    # tone: y_true, y_pred — A: 2 malignant, 1 missed; C: 1 malignant, found; R: benign only
    tones = ["R", "A", "C", "A", "R", "A", "C"]
    y_true = [0, 1, 1, 1, 0, 0, 0]
    y_pred = [0, 0, 1, 1, 1, 0, 0]
    return y_true, y_pred, tones


def test_per_tone_rates_ordered_dark_to_light():
    from dermkit.preprocessing.skin_tone import per_tone_rates

    table = per_tone_rates(*_tone_predictions())
    assert list(table.index) == ["A", "C", "R"]
    assert table.loc["A", "sensitivity"] == pytest.approx(0.5)
    assert table.loc["A", "false_negative_rate"] == pytest.approx(0.5)
    assert table.loc["C", "sensitivity"] == pytest.approx(1.0)
    assert np.isnan(table.loc["R", "sensitivity"])


def test_plot_per_tone_rates(tmp_path):
    from dermkit.plots import plot_per_tone_rates
    from dermkit.preprocessing.skin_tone import per_tone_rates

    table = per_tone_rates(*_tone_predictions())
    path = plot_per_tone_rates(table, tmp_path / "fig4.png", title="SYNTHETIC")
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError, match="overwrite=True"):
        plot_per_tone_rates(table, tmp_path / "fig4.png")
    plot_per_tone_rates(table, tmp_path / "fig4.png", overwrite=True)
    with pytest.raises(ValueError, match="no column"):
        plot_per_tone_rates(table.drop(columns=["sensitivity"]), tmp_path / "other.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig4.png"]
