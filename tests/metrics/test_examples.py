"""Hard / easy example selection (barata2020 Figs. 3–4) on a hand-made prediction table."""

from __future__ import annotations

import pandas as pd
import pytest

from dermkit.metrics.examples import count_wrong, select_examples

# Three models; truth and predictions typed by hand. Wrong counts: a1 0, a2 2, a3 1, b1 1, b2 3, c1 0, c2 0.
TABLE = pd.DataFrame({
    "image_id": ["a1", "a2", "a3", "b1", "b2", "c1", "c2"],
    "label": ["MEL", "MEL", "MEL", "NV", "NV", "BCC", "BCC"],
    "m1": ["MEL", "NV", "MEL", "NV", "MEL", "BCC", "BCC"],
    "m2": ["MEL", "NV", "MEL", "MEL", "MEL", "BCC", "BCC"],
    "m3": ["MEL", "MEL", "DF", "NV", "DF", "BCC", "BCC"],
})


def test_wrong_counts_by_hand():
    assert count_wrong(TABLE).tolist() == [0, 2, 1, 1, 3, 0, 0]
    assert count_wrong(TABLE, ["m3"]).tolist() == [0, 0, 1, 0, 1, 0, 0]


def test_hard_examples_are_wrong_for_at_least_one_model():
    hard = select_examples(TABLE, ["MEL", "NV", "BCC"], kind="hard")
    assert hard["image_id"].tolist() == ["a2", "b2"]  # most models wrong; BCC has no hard image
    assert list(hard.columns) == ["image_id", "label", "m1", "m2", "m3"]
    assert hard.attrs["n_wrong"] == [2, 3]
    assert hard.loc[0, "m1"] == "NV"


def test_easy_examples_allow_at_most_one_error_and_prefer_none():
    easy = select_examples(TABLE, ["NV", "BCC", "MEL", "DF"], kind="easy")
    assert easy["image_id"].tolist() == ["b1", "c1", "a1"]  # NV: only b1 (1 error); BCC: tie → smallest id
    assert easy.attrs["n_wrong"] == [1, 0, 0]
    only_m3 = select_examples(TABLE, ["MEL"], kind="easy", models=["m1", "m2"])
    assert only_m3["image_id"].tolist() == ["a1"] and list(only_m3.columns) == ["image_id", "label", "m1", "m2"]


def test_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        select_examples(TABLE, ["MEL"], kind="medium")
    with pytest.raises(ValueError, match=r"no column for the models \['m9'\]"):
        select_examples(TABLE, ["MEL"], kind="hard", models=["m9"])
    with pytest.raises(ValueError, match="'image_id' and 'label'"):
        select_examples(TABLE.drop(columns="label"), ["MEL"], kind="hard")
