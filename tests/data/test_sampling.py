"""Samplers and up-sampling (dermkit.data.sampling): label counts per batch, determinism, errors.

The tf.data side (batches actually produced by the pipelines) is in test_pipelines.py."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dermkit.data.sampling import ClassBalancedBatchSampler, MultiLabelBatchSampler, random_upsample


def kawahara_like_presence(n=200, seed=0):
    """Feature prevalence like ISIC 2017 Part 2: PN common, NN / MC / ST rare."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 4)) < np.array([0.6, 0.07, 0.2, 0.04])


# ----------------------------------------------------------------------------------------------------------
# MultiLabelBatchSampler (kawahara2018 Section II-E)
# ----------------------------------------------------------------------------------------------------------
def test_every_batch_holds_two_of_each_label_paper_setting():
    present = kawahara_like_presence()
    sampler = MultiLabelBatchSampler(present, batch_size=12, per_label=2, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 17  # ceil(200 / 12)
    for batch in batches:
        assert batch.shape == (12,) and batch.dtype == np.int64
        assert np.all(present[batch].sum(axis=0) >= 2)
        assert len(np.unique(batch)) == 12  # no repeats while enough images remain


def test_rare_labels_are_over_sampled_compared_with_random_batches():
    present = kawahara_like_presence()
    rows = MultiLabelBatchSampler(present, seed=1, num_batches=200).batches(0).ravel()
    assert present[rows, 3].mean() > 3 * present[:, 3].mean()


def test_a_label_with_one_image_repeats_it():
    present = np.zeros((20, 2), bool)
    present[:, 0] = True
    present[5, 1] = True
    for batch in MultiLabelBatchSampler(present, batch_size=6, per_label=2, seed=0).batches(0):
        assert (batch == 5).sum() >= 2


def test_multilabel_sampler_is_seeded_and_epochs_differ():
    present = kawahara_like_presence()
    a = MultiLabelBatchSampler(present, seed=3)
    b = MultiLabelBatchSampler(present, seed=3)
    first, second = list(a), list(a)
    np.testing.assert_array_equal(np.stack(first), np.stack(list(b)))
    np.testing.assert_array_equal(np.stack(second), a.batches(1))
    assert not np.array_equal(np.stack(first), np.stack(second))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(labels_present=np.ones(5, bool)), r"\[n_images, K\]"),
        (dict(labels_present=np.ones((5, 4), bool), batch_size=6), r"at least K·per_label = 4·2 = 8"),
        (dict(labels_present=np.ones((5, 2), bool), per_label=0), "per_label must be a positive integer"),
        (dict(labels_present=np.ones((5, 2), bool), num_batches=-1), "num_batches must be a positive integer"),
    ],
)
def test_multilabel_sampler_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiLabelBatchSampler(**kwargs)


def test_a_label_in_no_image_is_named():
    present = np.ones((10, 3), bool)
    present[:, 2] = False
    with pytest.raises(ValueError, match=r"label\(s\) \[2\] occur in no image"):
        MultiLabelBatchSampler(present, batch_size=6)


# ----------------------------------------------------------------------------------------------------------
# ClassBalancedBatchSampler (bisla2019 Section 6.3)
# ----------------------------------------------------------------------------------------------------------
def ham_like_labels(n=700, seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice(7, size=n, p=[0.033, 0.051, 0.11, 0.011, 0.111, 0.669, 0.015])


def test_class_balanced_batches_hold_every_class_equally():
    labels = ham_like_labels()
    sampler = ClassBalancedBatchSampler(labels, batch_size=50, seed=0)
    assert len(sampler) == 14
    for batch in sampler:
        counts = np.bincount(labels[batch], minlength=7)
        assert counts.sum() == 50 and counts.min() == 7 and counts.max() == 8


def test_class_balanced_uses_every_image_of_a_class_before_repeating():
    labels = np.array([0] * 30 + [1] * 6)
    rows = ClassBalancedBatchSampler(labels, batch_size=4, seed=0, num_batches=3).batches(0).ravel()
    ones = rows[labels[rows] == 1]
    assert sorted(ones) == list(range(30, 36))


def test_class_balanced_with_string_labels_and_num_classes():
    labels = np.array(["mel"] * 3 + ["nv"] * 20)
    batch = ClassBalancedBatchSampler(labels, batch_size=4, seed=2).batches(0)[0]
    assert (labels[batch] == "mel").sum() == 2
    with pytest.raises(ValueError, match=r"class\(es\) \[2\] have no sample"):
        ClassBalancedBatchSampler(np.array([0, 1, 1]), batch_size=3, num_classes=3)
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 2\)"):
        ClassBalancedBatchSampler(np.array([0, 1, 2]), batch_size=3, num_classes=2)
    with pytest.raises(ValueError, match=r"at least the number of classes \(7\)"):
        ClassBalancedBatchSampler(ham_like_labels(), batch_size=5)


def test_class_balanced_is_seeded():
    labels = ham_like_labels()
    a = ClassBalancedBatchSampler(labels, batch_size=50, seed=4).batches(2)
    b = ClassBalancedBatchSampler(labels, batch_size=50, seed=4).batches(2)
    c = ClassBalancedBatchSampler(labels, batch_size=50, seed=5).batches(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ----------------------------------------------------------------------------------------------------------
# random_upsample (goel2021 Section 3.3)
# ----------------------------------------------------------------------------------------------------------
def isic2020_like(n=500, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {"image_id": [f"ISIC_{i:07d}" for i in range(n)], "label": (rng.random(n) < 0.03).astype(int)}
    )
    df.attrs["class_names"] = ["benign", "malignant"]
    return df


def test_random_upsample_balances_and_keeps_every_original_row():
    df = isic2020_like()
    out = random_upsample(df, seed=0)
    counts = out["label"].value_counts()
    assert counts[0] == counts[1] == (df["label"] == 0).sum()
    assert set(df["image_id"]) <= set(out["image_id"])
    assert set(out.loc[out["label"] == 1, "image_id"]) == set(df.loc[df["label"] == 1, "image_id"])
    assert out.attrs["class_names"] == ["benign", "malignant"]
    assert out.index.equals(pd.RangeIndex(len(out)))


def test_random_upsample_is_seeded():
    df = isic2020_like()
    pd.testing.assert_frame_equal(random_upsample(df, seed=1), random_upsample(df, seed=1))
    assert not random_upsample(df, seed=1).equals(random_upsample(df, seed=2))


def test_random_upsample_refuses_validation_and_test_rows():
    df = isic2020_like().assign(split=["train"] * 400 + ["val"] * 50 + ["test"] * 50)
    with pytest.raises(ValueError, match=r"only be applied to the training split.*\['test', 'val'\]"):
        random_upsample(df)
    assert len(random_upsample(df[df["split"] == "train"])) >= 400


def test_random_upsample_bad_input():
    with pytest.raises(ValueError, match="label column 'target' not found"):
        random_upsample(isic2020_like(), label_column="target")
    with pytest.raises(ValueError, match="missing labels"):
        random_upsample(pd.DataFrame({"label": [0, None, 1]}))


def test_sampling_and_splits_do_not_import_tensorflow():
    code = "import sys, dermkit.data.sampling, dermkit.data.splits; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
