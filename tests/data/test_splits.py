"""Grouped, stratified splits (dermkit.data.splits.grouped_split)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermkit.data.splits import grouped_split

HAM_PRIORS = [0.033, 0.051, 0.11, 0.011, 0.111, 0.67, 0.014]  # akiec bcc bkl df mel nv vasc (HAM10000)


def ham_like(n_lesions=800, seed=0):
    """Lesions with 1–6 images each and HAM10000's class imbalance."""
    rng = np.random.default_rng(seed)
    rows = []
    for lesion in range(n_lesions):
        label = int(rng.choice(7, p=HAM_PRIORS))
        for _ in range(int(rng.choice([1, 1, 1, 2, 2, 3, 4, 6]))):
            rows.append({"image_id": f"ISIC_{len(rows):07d}", "group": f"HAM_{lesion:07d}", "label": label})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def ham():
    return ham_like()


@pytest.fixture(scope="module")
def ham_split(ham):
    return grouped_split(ham, seed=0)


def test_no_group_on_two_sides(ham_split):
    assert (ham_split.groupby("group")["split"].nunique() == 1).all()


def test_fractions_count_images_and_are_close(ham, ham_split):
    assert len(ham_split) == len(ham)
    shares = ham_split["split"].value_counts(normalize=True)
    np.testing.assert_allclose([shares["train"], shares["val"], shares["test"]], [0.7, 0.15, 0.15], atol=0.01)


def test_stratified_by_label(ham_split):
    table = pd.crosstab(ham_split["label"], ham_split["split"], normalize="columns")
    overall = ham_split["label"].value_counts(normalize=True).sort_index()
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(table[split].sort_index(), overall, atol=0.03)


def test_input_untouched_and_other_columns_kept(ham, ham_split):
    assert "split" not in ham.columns
    pd.testing.assert_frame_equal(ham_split.drop(columns="split"), ham)
    assert set(ham_split["split"]) == {"train", "val", "test"}


@pytest.mark.parametrize("n_rare_groups, seed", [(3, 0), (3, 1), (4, 2), (7, 3)])
def test_rare_class_reaches_every_split(ham, n_rare_groups, seed):
    df = ham.assign(label=0)
    rare = df["group"].isin([f"HAM_{i:07d}" for i in range(n_rare_groups)])
    df.loc[rare, "label"] = 1
    out = grouped_split(df, seed=seed)
    assert set(out.loc[out["label"] == 1, "split"]) == {"train", "val", "test"}
    assert (out.groupby("group")["split"].nunique() == 1).all()
    shares = out["split"].value_counts(normalize=True)
    assert abs(shares["train"] - 0.7) < 0.02


def test_two_rare_groups_cannot_cover_three_splits_but_stay_grouped(ham):
    df = ham.assign(label=np.where(ham["group"].isin(["HAM_0000000", "HAM_0000001"]), 1, 0))
    out = grouped_split(df, seed=0)
    assert out.loc[out["label"] == 1, "split"].nunique() <= 2
    assert (out.groupby("group")["split"].nunique() == 1).all()


def test_deterministic_for_a_seed(ham):
    a = grouped_split(ham, seed=5)
    b = grouped_split(ham, seed=5)
    c = grouped_split(ham, seed=6)
    pd.testing.assert_series_equal(a["split"], b["split"])
    assert not a["split"].equals(c["split"])


def test_other_fractions_columns_and_no_stratification():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"patient_id": rng.integers(0, 400, 2000), "target": (rng.random(2000) < 0.05).astype(int)})
    out = grouped_split(df, (0.8, 0.2, 0.0), group="patient_id", stratify="target", seed=0, column="fold")
    assert set(out["fold"]) == {"train", "val"}
    assert abs((out["fold"] == "val").mean() - 0.2) < 0.01
    assert (out.groupby("patient_id")["fold"].nunique() == 1).all()
    plain = grouped_split(df.assign(group=df["patient_id"]), stratify=None, seed=0)
    assert (plain.groupby("group")["split"].nunique() == 1).all()


def test_missing_groups_are_their_own_groups():
    df = pd.DataFrame({"group": [None] * 30 + ["a"] * 5, "label": [0, 1] * 15 + [1] * 5})
    out = grouped_split(df, seed=0)
    assert out.loc[out["group"] == "a", "split"].nunique() == 1
    assert set(out["split"]) == {"train", "val", "test"}


@pytest.mark.parametrize(
    "fractions, match",
    [
        ((0.7, 0.3), "three numbers"),
        ((0.7, 0.2, 0.2), "must sum to 1"),
        ((1.2, -0.1, -0.1), "non-negative"),
        ((0.0, 0.5, 0.5), "positive train fraction"),
        (("a", "b", "c"), "three numbers"),
    ],
)
def test_bad_fractions(ham, fractions, match):
    with pytest.raises(ValueError, match=match):
        grouped_split(ham, fractions)


def test_missing_columns_and_too_few_groups(ham):
    with pytest.raises(ValueError, match=r"column\(s\) \['lesion_id'\] not found.*group=/stratify="):
        grouped_split(ham, group="lesion_id")
    with pytest.raises(ValueError, match=r"column\(s\) \['dx'\] not found"):
        grouped_split(ham, stratify="dx")
    tiny = pd.DataFrame({"group": ["a", "a", "b"], "label": [0, 0, 1]})
    with pytest.raises(ValueError, match="cannot split 2 group"):
        grouped_split(tiny)
    with pytest.raises(ValueError, match="empty"):
        grouped_split(tiny.iloc[:0])


def test_stratify_by_several_columns_isic2017_style():
    rng = np.random.default_rng(0)
    n = 600
    df = pd.DataFrame(
        {
            "group": [f"ISIC_{i:07d}" for i in range(n)],  # one image per lesion
            "melanoma": (rng.random(n) < 0.19).astype(int),
            "seborrheic_keratosis": (rng.random(n) < 0.13).astype(int),
        }
    )
    out = grouped_split(df, stratify=["melanoma", "seborrheic_keratosis"], seed=0)
    for column in ("melanoma", "seborrheic_keratosis"):
        shares = out.groupby("split")[column].mean()
        np.testing.assert_allclose(shares, df[column].mean(), atol=0.03)
