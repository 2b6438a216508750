"""codella2018 Section 2.2 triplet logic over many draws, the group CSV checks, the synthetic groups and the
tf.data triplet pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermkit.data.triplets import TripletSampler, load_similarity_groups
from dermkit.errors import DermkitDataError


def groups_frame():
    # two diseases, two groups each (sizes 3, 2 | 4, 3)
    rows = [("m", "m1")] * 3 + [("m", "m2")] * 2 + [("n", "n1")] * 4 + [("n", "n2")] * 3
    return pd.DataFrame({"image_id": [f"I{i:02d}" for i in range(len(rows))],
                         "disease": [d for d, _ in rows], "group": [g for _, g in rows]})


def test_hierarchical_never_uses_cousins():
    df = groups_frame()
    t = TripletSampler(df, logic="hierarchical", seed=1).sample(20000)
    a, b, c = (df.iloc[t[:, k]] for k in range(3))
    assert (t[:, 0] != t[:, 1]).all()
    assert (a["group"].to_numpy() == b["group"].to_numpy()).all()  # siblings
    assert (a["disease"].to_numpy() != c["disease"].to_numpy()).all()  # another disease, never a cousin
    # every image of the other disease is used as dissimilar (uniform over it)
    assert set(t[a["disease"].to_numpy() == "m", 2]) == set(np.flatnonzero(df["disease"] == "n"))


def test_non_hierarchical_uses_cousins():
    df = groups_frame()
    t = TripletSampler(df, logic="non_hierarchical", seed=2).sample(20000)
    a, b, c = (df.iloc[t[:, k]] for k in range(3))
    assert (a["group"].to_numpy() == b["group"].to_numpy()).all()
    assert (a["group"].to_numpy() != c["group"].to_numpy()).all()
    cousin = (a["disease"].to_numpy() == c["disease"].to_numpy())
    assert 0.2 < cousin.mean() < 0.6  # cousins do appear as dissimilar


def test_disease_logic_and_uniform_partners():
    df = groups_frame()
    t = TripletSampler(df, logic="disease", seed=3).sample(30000)
    d = df["disease"].to_numpy()
    assert (d[t[:, 0]] == d[t[:, 1]]).all() and (d[t[:, 0]] != d[t[:, 2]]).all()
    # anchor I00 (melanoma): its 4 fellow melanoma images equally often as similar
    counts = np.bincount(t[t[:, 0] == 0, 1], minlength=len(df))[1:5]
    assert counts.min() > 0.8 * counts.mean()


def test_joint_mixes_disease_and_group_triplets():
    diseases = pd.DataFrame({"image_id": [f"D{i}" for i in range(6)], "disease": ["m"] * 3 + ["n"] * 3,
                             "group": [None] * 6})
    archive = pd.DataFrame({"image_id": [f"A{i}" for i in range(6)], "disease": [None] * 6,
                            "group": ["g1"] * 3 + ["g2"] * 3})
    df = pd.concat([diseases, archive], ignore_index=True)
    t = TripletSampler(df, logic="joint", seed=4).sample(10000)
    from_disease = t[:, 0] < 6
    assert 0.4 < from_disease.mean() < 0.6
    assert (t[from_disease] < 6).all() and (t[~from_disease] >= 6).all()
    g = df["group"].to_numpy()
    s = t[~from_disease]
    assert (g[s[:, 0]] == g[s[:, 1]]).all() and (g[s[:, 0]] != g[s[:, 2]]).all()


def test_sampler_errors_and_determinism():
    df = groups_frame()
    np.testing.assert_array_equal(TripletSampler(df, seed=5).sample(50), TripletSampler(df, seed=5).sample(50))
    with pytest.raises(ValueError, match="logic"):
        TripletSampler(df, logic="random")
    with pytest.raises(ValueError, match="no hierarchical triplet"):
        TripletSampler(df[df["disease"] == "m"], logic="hierarchical")
    mixed = df.copy()
    mixed.loc[0, "disease"] = "n"
    with pytest.raises(ValueError, match="nested"):
        TripletSampler(mixed, logic="hierarchical")


def write(tmp_path, text, name="groups.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_similarity_groups_checks(tmp_path):
    images = pd.DataFrame({"image_id": ["a", "b", "c"], "disease": ["mel", "mel", "nev"]})
    ok = load_similarity_groups(write(tmp_path, "image_id,disease,group\nb,mel,g1\na,mel,g1\nc,nev,g2\n"), images)
    assert ok["image_id"].tolist() == ["a", "b", "c"]
    with pytest.raises(DermkitDataError, match=r"groups.csv.*not in the image table.*'z'"):
        load_similarity_groups(write(tmp_path, "image_id,disease,group\nz,mel,g1\n"), images)
    with pytest.raises(DermkitDataError, match="more than once"):
        load_similarity_groups(write(tmp_path, "image_id,disease,group\na,mel,g1\na,mel,g2\n"), images)
    with pytest.raises(DermkitDataError, match="span several diseases"):
        load_similarity_groups(write(tmp_path, "image_id,disease,group\na,mel,g1\nc,nev,g1\n"), images)
    mixed = load_similarity_groups(write(tmp_path, "image_id,disease,group\na,mel,g1\nc,nev,g1\n"), images,
                                   hierarchical=False)
    assert len(mixed) == 2
    with pytest.raises(DermkitDataError, match="disagrees"):
        load_similarity_groups(write(tmp_path, "image_id,disease,group\na,nev,g1\n"), images)
    with pytest.raises(DermkitDataError, match="missing column"):
        load_similarity_groups(write(tmp_path, "image_id,group\na,g1\n"), images)


def test_synthetic_groups(tmp_path):
    from dermkit.data.synthetic import make_isic2017
    from dermkit.data.synthetic_groups import HIERARCHICAL_CSV, JOINT_CSV

    counts = {"melanoma": 2, "seborrheic_keratosis": 2, "nevus": 3, "joint": 4}
    plain = make_isic2017(tmp_path / "plain", n_train=30, n_val=0, n_test=10, seed=3)
    root = make_isic2017(tmp_path / "g", n_train=30, n_val=0, n_test=10, seed=3, similarity_groups=counts)
    assert not (plain / HIERARCHICAL_CSV).exists()
    h = load_similarity_groups(root / HIERARCHICAL_CSV)
    j = load_similarity_groups(root / JOINT_CSV, hierarchical=False)
    assert len(h) == 40 and len(j) == 30  # joint: training images only
    assert h.groupby("disease")["group"].nunique().to_dict() == {"melanoma": 2, "nevus": 3, "seborrheic_keratosis": 2}
    assert j["group"].nunique() <= 4 and (j.groupby("group")["disease"].nunique() > 1).any()  # joint mixes diseases
    # labels and superpixels are those of the plain tree; the images carry their group's look
    for rel in ("ISIC-2017_Training_Part3_GroundTruth.csv", "ISIC-2017_Training_Data/ISIC_0000003_superpixels.png"):
        assert (plain / rel).read_bytes() == (root / rel).read_bytes()
    from dermkit.data.imageio import read_image

    images = np.stack([read_image(root / f"ISIC-2017_Training_Data/{i}.jpg").astype(float).mean((0, 1))
                       for i in h["image_id"][:30]])
    same = h["group"].to_numpy()[:30]
    d = np.abs(images[:, None] - images[None]).sum(-1)
    pair_same = (same[:, None] == same[None]) & ~np.eye(30, dtype=bool)
    assert d[pair_same].mean() < d[~pair_same & ~np.eye(30, dtype=bool)].mean()  # a group looks alike
    with pytest.raises(ValueError, match="own look"):
        make_isic2017(tmp_path / "bad", n_train=5, similarity_groups={"melanoma": 5, "joint": 4})


def test_triplet_dataset_batches():
    pytest.importorskip("tensorflow")
    from dermkit.data.triplets import triplet_dataset

    images = np.arange(4, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    t = np.array([[0, 1, 2], [3, 2, 1], [1, 0, 3]])
    batches = list(triplet_dataset(images, t, batch_size=2))
    x, y = batches[0]
    assert x["anchor"].shape == (2, 2, 2, 3) and y.shape == (2,)
    np.testing.assert_allclose(x["dissimilar"].numpy()[:, 0, 0, 0], [2 / 255, 1 / 255])
    assert batches[1][0]["similar"].numpy()[0, 0, 0, 0] == 0
    with pytest.raises(ValueError, match="outside"):
        triplet_dataset(images, np.array([[0, 1, 4]]))


@pytest.mark.parametrize(("images", "message"), [
    (np.full((4, 8, 8, 3), 200.0, np.float32), r"dtype float32 must lie in \[0, 1\]; received values in \[200, 200\]"),
    (np.linspace(0, 255, 4 * 8 * 8 * 3).reshape(4, 8, 8, 3), r"dtype float64 must lie in \[0, 1\].*\[0, 255\]"),
    (np.full((4, 8, 8, 3), 40000, np.uint16), r"uint8 in \[0, 255\] or float in \[0, 1\]; received dtype uint16 "
                                              r"with values in \[40000, 40000\]"),
])
def test_triplet_dataset_rejects_other_scales(images, message):
    pytest.importorskip("tensorflow")
    from dermkit.data.triplets import triplet_dataset

    with pytest.raises(ValueError, match=message):
        triplet_dataset(images, np.array([[0, 1, 2]]))


def test_triplet_dataset_accepts_unit_floats():
    pytest.importorskip("tensorflow")
    from dermkit.data.triplets import triplet_dataset

    images = np.random.default_rng(0).random((4, 8, 8, 3)).astype(np.float32)
    x, _ = next(iter(triplet_dataset(images, np.array([[0, 1, 2]]), batch_size=1)))
    np.testing.assert_array_equal(x["dissimilar"].numpy()[0], images[2])


def test_validation_split_is_stratified_disjoint_and_seeded():
    from dermkit.data.triplets import validation_split

    labels = np.array(["m"] * 8 + ["n"] * 12 + ["s"] * 1)
    train, val = validation_split(labels, 0.25, seed=3)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(21)) and not set(train) & set(val)
    # round(0.25 · 8) = 2 melanoma, round(0.25 · 12) = 3 nevi, the single "s" stays in training
    assert (labels[val] == "m").sum() == 2 and (labels[val] == "n").sum() == 3 and 20 in train
    again = validation_split(labels, 0.25, seed=3)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(validation_split(labels, 0.25, seed=4)[1], val)
    with pytest.raises(ValueError, match=r"fraction must be a number in \(0, 1\)"):
        validation_split(labels, 1.0)
