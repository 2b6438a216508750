"""Synthetic datasets: written in the real formats (read back by the readers), deterministic, reused or
regenerated as asked, and learnable from simple statistics."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dermkit.data.isic as isic
from dermkit.data.imageio import read_image, read_mask
from dermkit.data.isic import ISIC2017_FEATURES, read_superpixel_labels, read_superpixels
from dermkit.data.superpixels import mask_to_superpixels
from dermkit.data.synthetic import (
    MANIFEST_NAME,
    is_synthetic,
    make_ham10000,
    make_isic2017,
    make_isic2018_task3,
    make_isic2020,
    read_manifest,
    summarize_isic2017,
)
from dermkit.errors import DermkitDataError

SPLITS = {"Training": 24, "Validation": 8, "Test_v2": 8}  # as in tests/conftest.py


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------------------------------------------
# ISIC 2017: layout and read-back
# ---------------------------------------------------------------------------------------------------------
def test_isic2017_files_read_back(isic2017_root):
    root = isic2017_root
    ids_seen = set()
    for split, n in SPLITS.items():
        header, rows = _rows(root / f"ISIC-2017_{split}_Part3_GroundTruth.csv")
        assert header == ["image_id", "melanoma", "seborrheic_keratosis"]
        assert len(rows) == n
        present = np.zeros(4, int)
        for row in rows:
            image_id = row["image_id"]
            assert len(image_id) == len("ISIC_0000000") and image_id[5:].isdigit() and image_id not in ids_seen
            ids_seen.add(image_id)
            assert {row["melanoma"], row["seborrheic_keratosis"]} <= {"0.0", "1.0"}
            data = root / f"ISIC-2017_{split}_Data"
            with Image.open(data / f"{image_id}.jpg") as img:
                assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (64, 64))
            with Image.open(root / f"ISIC-2017_{split}_Part1_GroundTruth" / f"{image_id}_segmentation.png") as m:
                assert (m.mode, m.size) == ("L", (64, 64))
                values = set(np.unique(np.asarray(m)).tolist())
            assert values <= {0, 255} and 255 in values
            index = read_superpixels(data / f"{image_id}_superpixels.png")
            assert index.shape == (64, 64)
            n_sp = int(index.max()) + 1
            assert 100 <= n_sp <= 200
            np.testing.assert_array_equal(np.unique(index), np.arange(n_sp))  # 0..N-1, contiguous
            json_path = root / f"ISIC-2017_{split}_Part2_GroundTruth" / f"{image_id}_features.json"
            assert sorted(json.loads(json_path.read_text())) == sorted(ISIC2017_FEATURES)
            labels = read_superpixel_labels(json_path, num_superpixels=n_sp)
            assert set(np.unique(labels).tolist()) <= {0.0, 1.0}
            present += labels.any(axis=0)
        assert (present >= 2).all(), f"{split}: every feature in at least two images, got {present}"


def test_isic2017_labels_are_imbalanced_like_the_real_data(tmp_path):
    root = make_isic2017(tmp_path, n_train=100, n_val=0, n_test=0, image_size=(32, 32), seed=3)
    _, rows = _rows(root / "ISIC-2017_Training_Part3_GroundTruth.csv")
    assert sum(r["melanoma"] == "1.0" for r in rows) == 19
    assert sum(r["seborrheic_keratosis"] == "1.0" for r in rows) == 13
    assert not any(r["melanoma"] == r["seborrheic_keratosis"] == "1.0" for r in rows)
    images_with = np.zeros(4, int)
    for r in rows:
        images_with += read_superpixel_labels(
            root / "ISIC-2017_Training_Part2_GroundTruth" / f"{r['image_id']}_features.json"
        ).any(axis=0)
    pn, nn, mc, st = images_with
    assert pn > mc > max(nn, st) and max(nn, st) < 30, images_with  # PN most common, NN and ST rare


@pytest.mark.parametrize("split, n", [("training", 24), ("validation", 8), ("test", 8)])
def test_isic2017_loader_reads_it(isic2017_root, split, n):
    df = isic.load_isic2017(isic2017_root, split, validate="full")
    assert len(df) == n
    assert df[["segmentation_path", "superpixels_path", "features_path"]].notna().all().all()


# ---------------------------------------------------------------------------------------------------------
# HAM10000, ISIC 2018 Task 3, ISIC 2020
# ---------------------------------------------------------------------------------------------------------
def test_ham10000_layout(ham10000_root):
    header, rows = _rows(ham10000_root / "HAM10000_metadata.csv")
    assert header == ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]
    assert len(rows) == 70
    counts = {dx: sum(r["dx"] == dx for r in rows) for dx in ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")}
    assert min(counts.values()) >= 4 and counts["nv"] > 0.5 * len(rows), counts
    assert counts["mel"] >= counts["bcc"] >= counts["akiec"] >= counts["df"]
    per_lesion: dict[str, set] = {}
    for r in rows:
        per_lesion.setdefault(r["lesion_id"], set()).add(r["dx"])
        with Image.open(ham10000_root / "HAM10000_images" / f"{r['image_id']}.jpg") as img:
            assert img.size == (64, 64)
        mask = read_mask(ham10000_root / "HAM10000_segmentations" / f"{r['image_id']}_segmentation.png")
        assert set(np.unique(mask).tolist()) <= {0, 255}
        float(r["age"])
    assert all(len(dx) == 1 for dx in per_lesion.values())  # a lesion has one diagnosis
    assert len(per_lesion) < len(rows)  # several images per lesion


def test_ham10000_loader_reads_it(ham10000_root):
    df = isic.load_ham10000(ham10000_root, validate="full")
    assert len(df) == 70 and df["group"].nunique() < 70 and df["mask_path"].notna().all()
    assert sorted(df["label"].unique()) == list(range(7))


def test_isic2018_task3_layout_matches_ham10000(tmp_path):
    make_isic2018_task3(tmp_path / "t3", n_images=42, image_size=(32, 32), seed=5)
    make_ham10000(tmp_path / "ham", n_images=42, image_size=(32, 32), seed=5)
    header, rows = _rows(tmp_path / "t3" / "ISIC2018_Task3_Training_GroundTruth.csv")
    assert header == ["image", "MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    for r in rows:
        values = [r[c] for c in header[1:]]
        assert sorted(values) == ["0.0"] * 6 + ["1.0"]
    _, meta = _rows(tmp_path / "ham" / "HAM10000_metadata.csv")
    dx = {m["image_id"]: m["dx"] for m in meta}
    for r in rows:  # Task 3's training set is HAM10000: same images, same diagnoses
        assert r[dx[r["image"]].upper()] == "1.0"
        a = (tmp_path / "t3" / "ISIC2018_Task3_Training_Input" / f"{r['image']}.jpg").read_bytes()
        assert a == (tmp_path / "ham" / "HAM10000_images" / f"{r['image']}.jpg").read_bytes()
    if hasattr(isic, "load_isic2018_task3"):
        df = isic.load_isic2018_task3(tmp_path / "t3", validate="full")
        assert len(df) == 42 and df["group"].nunique() < 42


def test_isic2020_layout(isic2020_root):
    header, rows = _rows(isic2020_root / "train.csv")
    assert header == [
        "image_name", "patient_id", "sex", "age_approx", "anatom_site_general_challenge", "diagnosis",
        "benign_malignant", "target",
    ]
    assert len(rows) == 80
    targets = [int(r["target"]) for r in rows]
    assert 3 <= sum(targets) <= 5
    assert all((r["benign_malignant"] == "malignant") == (r["target"] == "1") for r in rows)
    patients = {r["patient_id"] for r in rows}
    assert len(patients) <= 40  # several images per patient
    by_name = {r["image_name"]: r for r in rows}
    _, pairs = _rows(isic2020_root / "ISIC_2020_Training_Duplicates.csv")
    assert len(pairs) == 2
    for pair in pairs:
        a, b = by_name[pair["image_name_1"]], by_name[pair["image_name_2"]]
        assert a["patient_id"] == b["patient_id"] and a["target"] == b["target"]
        data = [(isic2020_root / "train" / f"{r['image_name']}.jpg").read_bytes() for r in (a, b)]
        assert data[0] == data[1]  # genuine duplicates
    if hasattr(isic, "load_isic2020"):
        df = isic.load_isic2020(isic2020_root, validate="full")
        assert len(df) == 78 and df.attrs["duplicates_dropped"] == 2


# ---------------------------------------------------------------------------------------------------------
# Determinism, reuse, overwrite
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, kwargs",
    [
        (make_isic2017, {"n_train": 4, "n_val": 2, "n_test": 2}),
        (make_ham10000, {"n_images": 14}),
        (make_isic2018_task3, {"n_images": 14}),
        (make_isic2020, {"n_images": 12}),
    ],
)
def test_same_seed_gives_byte_identical_files(tmp_path, make, kwargs):
    first = _hashes(make(tmp_path / "a", image_size=(48, 40), seed=7, **kwargs))
    second = _hashes(make(tmp_path / "b", image_size=(48, 40), seed=7, **kwargs))
    other = _hashes(make(tmp_path / "c", image_size=(48, 40), seed=8, **kwargs))
    assert first == second and MANIFEST_NAME in first
    assert first != other
    with Image.open(next((tmp_path / "a").rglob("*.jpg"))) as img:
        assert img.size == (40, 48)  # image_size is (height, width)


def test_reuse_refuse_and_overwrite(tmp_path):
    root = tmp_path / "isic2017"
    make_isic2017(root, n_train=4, n_val=1, n_test=1, image_size=(32, 32))
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    assert make_isic2017(root, n_train=4, n_val=1, n_test=1, image_size=(32, 32)) == root
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == stamps  # reused: nothing written

    with pytest.raises(DermkitDataError, match="different parameters.*overwrite=True"):
        make_isic2017(root, n_train=3, n_val=1, n_test=1, image_size=(32, 32))

    make_isic2017(root, n_train=3, n_val=1, n_test=1, image_size=(32, 32), overwrite=True)
    assert len(list((root / "ISIC-2017_Training_Data").glob("ISIC_???????.jpg"))) == 3  # no stale files
    assert read_manifest(root)["datasets"]["isic2017"]["params"]["n_train"] == 3

    victim = next((root / "ISIC-2017_Training_Part2_GroundTruth").glob("*.json"))
    victim.unlink()
    with pytest.raises(DermkitDataError, match="incomplete.*overwrite=True"):
        make_isic2017(root, n_train=3, n_val=1, n_test=1, image_size=(32, 32))
    make_isic2017(root, n_train=3, n_val=1, n_test=1, image_size=(32, 32), overwrite=True)
    assert victim.is_file()


def test_refuses_to_write_over_files_it_did_not_write(tmp_path):
    (tmp_path / "ISIC-2017_Training_Data").mkdir()
    (tmp_path / "ISIC-2017_Training_Data" / "ISIC_0000000.jpg").write_bytes(b"real data")
    for overwrite in (False, True):
        with pytest.raises(DermkitDataError, match="no record that dermkit generated them"):
            make_isic2017(tmp_path, n_train=2, n_val=0, n_test=0, overwrite=overwrite)
    assert (tmp_path / "ISIC-2017_Training_Data" / "ISIC_0000000.jpg").read_bytes() == b"real data"


def test_several_datasets_share_one_root(tmp_path):
    make_ham10000(tmp_path, n_images=14, image_size=(32, 32))
    make_isic2018_task3(tmp_path, n_images=14, image_size=(32, 32))
    assert sorted(read_manifest(tmp_path)["datasets"]) == ["ham10000", "isic2018_task3"]
    assert is_synthetic(tmp_path, "ham10000") and not is_synthetic(tmp_path, "isic2017")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_size": (16, 64)}, r"image_size must be at least \(32, 32\)\. Received: image_size=\(16, 64\)"),
        ({"image_size": 64}, r"image_size must be \(height, width\)\. Received: image_size=64"),
        ({"n_train": 0}, "n_train must be an integer ≥ 1. Received: n_train=0"),
        ({"n_test": -1}, "n_test must be an integer ≥ 0. Received: n_test=-1"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_isic2017(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------------------
def test_summary(isic2017_root, tmp_path):
    text = summarize_isic2017(isic2017_root)
    title, *body = text.splitlines()
    assert "SYNTHETIC" in title
    training = next(line for line in body if line.startswith("training")).split()
    assert training[1:3] == ["24", "5"]  # images, melanoma (19 % of 24)
    assert any(line.startswith("validation") for line in body) and any(line.startswith("test") for line in body)
    assert "superpixels/image" in text
    only_test = summarize_isic2017(isic2017_root, split="test")
    assert not any(line.startswith("training") for line in only_test.splitlines())
    copy = tmp_path / "copy"
    shutil.copytree(isic2017_root, copy)
    (copy / MANIFEST_NAME).unlink()
    assert "SYNTHETIC" not in summarize_isic2017(copy).splitlines()[0]
    with pytest.raises(ValueError, match=r"split must be one of .*\. Received: split='Training'"):
        summarize_isic2017(isic2017_root, split="Training")


# ---------------------------------------------------------------------------------------------------------
# Learnability: simple statistics + logistic regression reach AUROC ≥ 0.8 on held-out images
# ---------------------------------------------------------------------------------------------------------
def _superpixel_statistics(image_path, superpixels_path) -> np.ndarray:
    """Per superpixel: mean and std of RGB, RGB minus the skin colour, local mean / std (σ = 3 px) and the
    gradient magnitude (raw and smoothed): ``[N, 20]``."""
    import cv2

    img = read_image(image_path).astype(np.float32) / 255.0
    index = read_superpixels(superpixels_path)
    grey = img.mean(axis=-1)
    grad = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    local_mean = cv2.GaussianBlur(img, (0, 0), 3)
    local_std = np.sqrt(np.maximum(cv2.GaussianBlur(img**2, (0, 0), 3) - local_mean**2, 0))
    skin = np.median(np.concatenate([img[:2].reshape(-1, 3), img[-2:].reshape(-1, 3)]), axis=0)
    channels = np.concatenate(
        [img, img**2, img - skin, local_mean, local_std, grad[..., None], cv2.GaussianBlur(grad, (0, 0), 3)[..., None]],
        axis=-1,
    )
    means = mask_to_superpixels(channels, index)
    std = np.sqrt(np.maximum(means[:, 3:6] - means[:, :3] ** 2, 0))
    return np.concatenate([means[:, :3], std, means[:, 6:]], axis=1)


def _image_statistics(image_path) -> np.ndarray:
    """Per image: skin colour (border), centre colour relative to it, spread, percentiles, darkness, edges."""
    import cv2

    img = read_image(image_path).astype(np.float32) / 255.0
    h, w = img.shape[:2]
    border = np.zeros((h, w), bool)
    border[:4], border[-4:], border[:, :4], border[:, -4:] = True, True, True, True
    skin = np.median(img[border], axis=0)
    centre = img[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3)
    grey = img.mean(axis=-1)
    grad = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    low, high = np.percentile(centre, [10, 90], axis=0)
    return np.concatenate(
        [skin, centre.mean(0) - skin, centre.std(0), low - skin, high - skin, centre.mean(0) / np.maximum(skin, 1e-3),
         [(grey < 0.85 * skin.mean()).mean(), grad.mean()]]
    )


def _classifier(solver: str = "lbfgs"):
    """Standardise, then class-balanced logistic regression (liblinear: fast on many rows, binary only)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(solver=solver, max_iter=3000, class_weight="balanced"))


@pytest.fixture(scope="module")
def learn2017_root(tmp_path_factory):
    """40 training and 24 test images, not the conftest tree: enough superpixels to score per feature."""
    return make_isic2017(tmp_path_factory.mktemp("learn2017"), n_train=40, n_val=1, n_test=24, seed=11)


def test_isic2017_features_learnable_per_superpixel(learn2017_root):
    from sklearn.metrics import roc_auc_score

    root = learn2017_root

    def xy(split):
        df = isic.load_isic2017(root, split)
        x = [_superpixel_statistics(r.image_path, r.superpixels_path) for r in df.itertuples()]
        y = [read_superpixel_labels(r.features_path, len(xi)) for r, xi in zip(df.itertuples(), x)]
        return np.concatenate(x), np.concatenate(y)

    (x_train, y_train), (x_test, y_test) = xy("training"), xy("test")
    scores = {}
    for k, name in enumerate(ISIC2017_FEATURES):
        model = _classifier("liblinear").fit(x_train, y_train[:, k])
        scores[name] = roc_auc_score(y_test[:, k], model.predict_proba(x_test)[:, 1])
    assert min(scores.values()) >= 0.8, scores


def test_isic2017_part3_learnable_per_image(learn2017_root):
    from sklearn.metrics import roc_auc_score

    train, test = (isic.load_isic2017(learn2017_root, split) for split in ("training", "test"))
    x_train, x_test = (np.stack([_image_statistics(p) for p in df["image_path"]]) for df in (train, test))
    y_train, y_test = ((df["melanoma"] + 2 * df["seborrheic_keratosis"]).to_numpy() for df in (train, test))
    proba = _classifier().fit(x_train, y_train).predict_proba(x_test)  # columns: nevus, melanoma, SK
    scores = {name: roc_auc_score(y_test == k, proba[:, k]) for k, name in [(1, "melanoma"), (2, "SK")]}
    assert min(scores.values()) >= 0.8, scores


def test_classification_sets_learnable_per_image(tmp_path):
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    for make, load, n in [(make_ham10000, isic.load_ham10000, 105), (make_isic2020, isic.load_isic2020, 120)]:
        df = load(make(tmp_path / make.__name__, n_images=n, image_size=(64, 64), seed=2))
        x = np.stack([_image_statistics(p) for p in df["image_path"]])
        y = df["label"].to_numpy()
        # Out-of-fold probabilities with lesion / patient groups kept together.
        proba = cross_val_predict(_classifier(), x, y, groups=df["group"], cv=GroupKFold(3), method="predict_proba")
        if proba.shape[1] == 2:
            auc = roc_auc_score(y, proba[:, 1])
        else:
            auc = roc_auc_score(y, proba, multi_class="ovr", average="macro")
        assert auc >= 0.8, (make.__name__, auc)
