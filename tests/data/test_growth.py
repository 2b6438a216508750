"""Fig. 7's data growth reproduces the paper's counts (bisla2019 Section 3.3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermkit.data.growth import apply_growth_transform, grow_training_set, growth_counts, growth_table


def _frame(counts: dict, prefix: str) -> pd.DataFrame:
    rows = [(f"{prefix}/{cls}_{i}.jpg", cls) for cls, n in counts.items() for i in range(n)]
    return pd.DataFrame(rows, columns=["image_path", "label"])


@pytest.fixture(scope="module")
def paper_sized():
    originals = _frame({"melanoma": 803 + 40 + 76, "nevus": 2107 + 80 + 331, "seborrheic_keratosis": 288 + 257}, "o")
    generated = _frame({"melanoma": 350, "seborrheic_keratosis": 750}, "g")
    purified = _frame({"melanoma": 147, "nevus": 470, "seborrheic_keratosis": 182}, "p")
    return grow_training_set(originals, generated=generated, purified=purified, seed=0)


def test_stage_counts_are_the_papers(paper_sized):
    counts = growth_counts(paper_sized)
    # typed from the paper: 2685 / 2772 after flips and purified copies; ×6 → 16110 / 17928 / 16632
    assert counts.loc["source"].iloc[:3].tolist() == [919, 2518, 545]
    assert counts.loc["gan"].iloc[:3].tolist() == [1269, 2518, 1295]
    assert counts.loc["purified"].iloc[:3].tolist() == [2685, 2988, 2772]
    assert counts.loc["x6"].iloc[:3].tolist() == [16110, 17928, 16632]
    assert len(paper_sized) == 16110 + 17928 + 16632
    assert counts.loc["x6", "generated_share"] == pytest.approx(0.26, abs=0.005)  # "26%"
    table = growth_table(counts)
    for cls in ("melanoma", "nevus", "seborrheic_keratosis"):
        assert (table[cls] == table[f"{cls}_paper"]).all()
    assert table["generated_share_paper"].loc["x6"] == pytest.approx(counts.loc["x6", "generated_share"])


def test_rows_say_what_each_item_is(paper_sized):
    nevus = paper_sized[paper_sized["label"] == "nevus"]
    assert not nevus["hflip"].any()  # nevus is not flipped
    purified = paper_sized[paper_sized["origin"] == "purified"]
    assert not purified["hflip"].any()
    item = paper_sized[paper_sized["image_path"] == "o/melanoma_0.jpg"]
    assert len(item) == 12  # itself and its horizontal flip, ×6
    assert sorted(zip(item["hflip"], item["vflip"], item["crop"])) == sorted(
        (h, k % 2 == 1, k // 2) for h in (False, True) for k in range(6))
    again = grow_training_set(paper_sized.iloc[:0][["image_path", "label"]])
    assert len(again) == 0 and growth_counts(again)["total"].sum() == 0


def test_apply_transform_flips_and_crops():
    image = np.arange(8 * 8 * 3, dtype=np.float32).reshape(8, 8, 3) / (8 * 8 * 3)
    row = {"hflip": True, "vflip": True, "crop_seed": 5}
    out = apply_growth_transform(image, row, scale=None, crop=8)
    np.testing.assert_array_equal(out, image[::-1, ::-1])
    small = apply_growth_transform(image, row, scale=None, crop=4)
    rng = np.random.default_rng(5)
    top, left = int(rng.integers(0, 5)), int(rng.integers(0, 5))
    np.testing.assert_array_equal(small, image[::-1, ::-1][top:top + 4, left:left + 4])
    assert apply_growth_transform(image, row, scale=16, crop=12).shape == (12, 12, 3)
    with pytest.raises(ValueError, match="larger than the image"):
        apply_growth_transform(image, row, scale=None, crop=9)


def test_bad_tables():
    with pytest.raises(ValueError, match="columns"):
        grow_training_set(pd.DataFrame({"path": ["a"]}))
    with pytest.raises(ValueError, match="labels"):
        grow_training_set(pd.DataFrame({"image_path": ["a"], "label": ["bcc"]}))
    with pytest.raises(ValueError, match="copies"):
        grow_training_set(pd.DataFrame({"image_path": ["a"], "label": ["nevus"]}), copies=0)
