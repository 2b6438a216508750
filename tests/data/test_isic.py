"""ISIC / HAM10000 readers on tiny trees written here with PIL, json and pandas (no dermkit.data.synthetic).

Every error case checks the exception type *and* that the message names the offending file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dermkit import DermkitDataError, DermkitFileNotFoundError
from dermkit.data.isic import (
    HAM10000_CLASSES,
    ISIC2017_FEATURES,
    ISIC2018_TASK3_CLASSES,
    load_ham10000,
    load_isic2017,
    load_isic2018_task3,
    load_isic2020,
    read_superpixel_labels,
    read_superpixels,
    write_superpixel_labels,
)

H, W = 48, 64
IDS = ("ISIC_0000000", "ISIC_0000001", "ISIC_0000002")
SCHEMA = ["image_id", "image_path", "mask_path", "label", "group"]


# ---------------------------------------------------------------------------------------------- writers


def _jpg(path: Path, size=(H, W), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path, format="JPEG")
    return path


def _png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")
    return path


def _index_map(size=(H, W), n=4) -> np.ndarray:
    """Vertical stripes 0..n-1 (every index present)."""
    cols = np.arange(size[1]) * n // size[1]
    return np.broadcast_to(cols, size).astype(np.int32)


def _superpixel_png(path: Path, index: np.ndarray) -> Path:
    rgb = np.stack([index & 0xFF, (index >> 8) & 0xFF, (index >> 16) & 0xFF], axis=-1).astype(np.uint8)
    return _png(path, rgb)


def _features(path: Path, n=4, **override) -> Path:
    obj = {k: [int(i % 2) for i in range(n)] for k in ISIC2017_FEATURES}
    obj.update(override)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _truncate(path: Path) -> Path:
    """Cut the file to 60%: the header survives (the files here are a few kB), the pixel data does not."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 5])
    return path


def make_isic2017(root: Path, split_word="Training", ids=IDS, parts=("sp", "p1", "p2", "p3")) -> Path:
    data = root / f"ISIC-2017_{split_word}_Data"
    for k, i in enumerate(ids):
        _jpg(data / f"{i}.jpg", seed=k)
        if "sp" in parts:
            _superpixel_png(data / f"{i}_superpixels.png", _index_map())
        if "p1" in parts:
            mask = np.zeros((H, W), np.uint8)
            mask[3:9, 4:12] = 255
            _png(root / f"ISIC-2017_{split_word}_Part1_GroundTruth" / f"{i}_segmentation.png", mask)
        if "p2" in parts:
            _features(root / f"ISIC-2017_{split_word}_Part2_GroundTruth" / f"{i}_features.json")
    (data / f"ISIC-2017_{split_word}_Data_metadata.csv").write_text("image_id,age_approximate,sex\n")
    if "p3" in parts:
        rows = [
            {"image_id": i, "melanoma": float(k == 0), "seborrheic_keratosis": float(k == 1)} for k, i in enumerate(ids)
        ]
        _csv(root / f"ISIC-2017_{split_word}_Part3_GroundTruth.csv", rows)
    return root


def _paths2017(root: Path, i="ISIC_0000001", word="Training") -> dict[str, Path]:
    return {
        "image": root / f"ISIC-2017_{word}_Data" / f"{i}.jpg",
        "sp": root / f"ISIC-2017_{word}_Data" / f"{i}_superpixels.png",
        "seg": root / f"ISIC-2017_{word}_Part1_GroundTruth" / f"{i}_segmentation.png",
        "json": root / f"ISIC-2017_{word}_Part2_GroundTruth" / f"{i}_features.json",
        "csv": root / f"ISIC-2017_{word}_Part3_GroundTruth.csv",
    }


def _raises(exc, path, fn, *args, **kwargs):
    """Call fn and check both the exception type and that the message names ``path``'s file."""
    with pytest.raises(exc, match=re.escape(Path(path).name)) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ------------------------------------------------------------------------------- superpixel files (Part 2)


def test_read_superpixels_uses_stored_channel_order(tmp_path):
    # One pixel per case, channel bytes written by PIL in stored order (R, G, B).
    rgb = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 2, 3], [255, 255, 255]]], np.uint8)
    path = _png(tmp_path / "x_superpixels.png", rgb)
    index = read_superpixels(path)
    assert index.dtype == np.int32 and index.shape == (1, 5)
    # R + 256 G + 65536 B; the BGR reading (OpenCV) would give 65536, 256, 1, 66051, ...
    np.testing.assert_array_equal(index, [[1, 256, 65536, 1 + 2 * 256 + 3 * 65536, (1 << 24) - 1]])


def test_read_superpixels_errors(tmp_path):
    _raises(DermkitFileNotFoundError, tmp_path / "nope.png", read_superpixels, tmp_path / "nope.png")
    grey = _png(tmp_path / "grey.png", np.zeros((4, 4), np.uint8))
    assert "mode" in _raises(DermkitDataError, grey, read_superpixels, grey)
    jpeg = tmp_path / "lossy_superpixels.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(jpeg, format="JPEG")  # a JPEG named .png
    assert "PNG" in _raises(DermkitDataError, jpeg, read_superpixels, jpeg)
    trunc = _truncate(_superpixel_png(tmp_path / "t_superpixels.png", np.arange(4096).reshape(64, 64)))
    assert "truncated" in _raises(DermkitDataError, trunc, read_superpixels, trunc)


def test_read_superpixel_labels_order_and_dtype(tmp_path):
    obj = {"streaks": [1, 0], "pigment_network": [0, 1], "negative_network": [0.25, 0.5], "milia_like_cyst": [1, 1]}
    path = tmp_path / "a_features.json"
    path.write_text(json.dumps(obj))
    labels = read_superpixel_labels(path, num_superpixels=2)
    assert labels.dtype == np.float32 and labels.shape == (2, 4)
    np.testing.assert_array_equal(labels, [[0, 0.25, 1, 1], [1, 0.5, 1, 0]])  # PN, NN, MC, ST


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({k: [0] for k in ISIC2017_FEATURES[:3]}), "missing key"),
        (json.dumps({**{k: [0, 1] for k in ISIC2017_FEATURES}, "streaks": [0, "x"]}), "non-numeric"),
        (json.dumps({**{k: [0, 1] for k in ISIC2017_FEATURES}, "streaks": 1}), "must be a list"),
        (json.dumps({**{k: [0, 1] for k in ISIC2017_FEATURES}, "streaks": [0]}), "unequal lengths"),
        ('{"pigment_network": [NaN], "negative_network": [0], "milia_like_cyst": [0], "streaks": [0]}', "NaN"),
    ],
)
def test_read_superpixel_labels_bad_json(tmp_path, text, message):
    path = tmp_path / "bad_features.json"
    path.write_text(text)
    assert message in _raises(DermkitDataError, path, read_superpixel_labels, path)


@pytest.mark.parametrize(
    ("values", "binary", "message"),
    [
        ([0, 1, 2, 0], False, "'streaks' value at superpixel 2 is 2, outside [0, 1] (1 such value(s))"),
        ([0, -0.5, 1, 0], False, "'streaks' value at superpixel 1 is -0.5, outside [0, 1]"),
        ([0, 10**400, 1, 0], False, "'streaks' value at superpixel 1 is too large (1000"),
        ([0, 1, 0.25, 0], True, "'streaks' value at superpixel 2 is 0.25; ground-truth labels must be 0 or 1"),
    ],
)
def test_read_superpixel_labels_refuses_values_outside_the_range(tmp_path, values, binary, message):
    path = _features(tmp_path / "c_features.json", streaks=values)
    assert message in _raises(DermkitDataError, path, read_superpixel_labels, path, binary=binary)


def test_read_superpixel_labels_accepts_predictions_and_truth(tmp_path):
    soft = _features(tmp_path / "p_features.json", streaks=[0.0, 0.25, 1.0, 0.999])
    assert read_superpixel_labels(soft)[:, 3].tolist() == pytest.approx([0.0, 0.25, 1.0, 0.999])
    truth = _features(tmp_path / "t_features.json", streaks=[0, 1, 1.0, 0.0])
    assert read_superpixel_labels(truth, binary=True)[:, 3].tolist() == [0, 1, 1, 0]


def test_read_superpixel_labels_count_and_missing(tmp_path):
    path = _features(tmp_path / "b_features.json", n=5)
    assert "5" in _raises(DermkitDataError, path, read_superpixel_labels, path, num_superpixels=4)
    missing = tmp_path / "none_features.json"
    _raises(DermkitFileNotFoundError, missing, read_superpixel_labels, missing)


def test_write_superpixel_labels_round_trip(tmp_path):
    truth = np.array([[0, 1, 0, 1], [1, 1, 0, 0]], np.float32)
    path = write_superpixel_labels(tmp_path / "gt_features.json", truth)
    assert json.loads(path.read_text())["pigment_network"] == [0, 1]  # ints for 0/1 ground truth
    np.testing.assert_array_equal(read_superpixel_labels(path), truth)
    pred = np.array([[0.1, 0.9, 0.5, 0.25]], np.float32)
    with pytest.raises(FileExistsError, match="gt_features.json"):
        write_superpixel_labels(path, pred)
    write_superpixel_labels(path, pred, overwrite=True)
    np.testing.assert_allclose(read_superpixel_labels(path), pred)
    for bad in (np.zeros((2, 3)), np.full((1, 4), 1.5), np.full((1, 4), np.nan)):
        _raises(
            DermkitDataError,
            tmp_path / "bad_features.json",
            write_superpixel_labels,
            tmp_path / "bad_features.json",
            bad,
        )
    assert not (tmp_path / "bad_features.json").exists()


# ----------------------------------------------------------------------------------------------- ISIC 2017


def test_load_isic2017_full_tree(tmp_path):
    root = make_isic2017(tmp_path)
    for validate in ("header", "full"):
        df = load_isic2017(root, "training", validate=validate)
        assert list(df.columns) == [
            "image_id",
            "image_path",
            "segmentation_path",
            "superpixels_path",
            "features_path",
            "melanoma",
            "seborrheic_keratosis",
        ]
        assert df["image_id"].tolist() == list(IDS)
        assert df["melanoma"].tolist() == [1, 0, 0] and df["seborrheic_keratosis"].tolist() == [0, 1, 0]
        assert df["melanoma"].dtype == np.int64
        row = df.iloc[1]
        assert row["image_path"] == str(_paths2017(root)["image"])
        assert row["superpixels_path"] == str(_paths2017(root)["sp"])
        assert row["segmentation_path"] == str(_paths2017(root)["seg"])
        assert row["features_path"] == str(_paths2017(root)["json"])
        labels = read_superpixel_labels(row["features_path"])
        assert labels.shape[0] == read_superpixels(row["superpixels_path"]).max() + 1
        assert df.attrs["split"] == "training"


@pytest.mark.parametrize(("split", "word"), [("validation", "Validation"), ("test", "Test_v2")])
def test_load_isic2017_split_folder_names(tmp_path, split, word):
    root = make_isic2017(tmp_path, split_word=word, ids=IDS[:1])
    assert load_isic2017(root, split)["image_id"].tolist() == [IDS[0]]
    _raises(DermkitFileNotFoundError, "ISIC-2017_Training_Data", load_isic2017, root, "training")


def test_load_isic2017_absent_parts_give_none(tmp_path):
    root = make_isic2017(tmp_path, parts=())
    df = load_isic2017(root, validate="full")
    for col in ("segmentation_path", "superpixels_path", "features_path", "melanoma", "seborrheic_keratosis"):
        assert df[col].isna().all() and all(v is None for v in df[col]), col


def test_load_isic2017_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="split must be one of"):
        load_isic2017(tmp_path, "train")
    with pytest.raises(ValueError, match="validate must be one of"):
        load_isic2017(tmp_path, validate="deep")
    _raises(DermkitFileNotFoundError, tmp_path / "missing", load_isic2017, tmp_path / "missing")


def _corrupt(p: Path) -> None:
    p.write_bytes(b"this is not an image at all")


# (name, files to break -> (key of the file named in the message), breaker, exception, message part, level)
CASES_2017 = [
    ("image missing", "image", Path.unlink, DermkitFileNotFoundError, "file not found", "header"),
    ("corrupt image", "image", _corrupt, DermkitDataError, "not a readable image", "header"),
    ("truncated image", "image", _truncate, DermkitDataError, "truncated", "full"),
    ("superpixels missing", "sp", Path.unlink, DermkitFileNotFoundError, "superpixel", "header"),
    ("corrupt superpixels", "sp", _corrupt, DermkitDataError, "not a readable image", "header"),
    (
        "truncated superpixels",
        "sp",
        lambda p: _truncate(_superpixel_png(p, np.random.default_rng(0).integers(0, 4, (H, W)))),
        DermkitDataError,
        "truncated",
        "full",
    ),
    (
        "superpixels wrong size",
        "sp",
        lambda p: _superpixel_png(p, _index_map((H, W + 2))),
        DermkitDataError,
        "superpixel map is",
        "header",
    ),
    ("superpixels grey", "sp", lambda p: _png(p, np.zeros((H, W), np.uint8)), DermkitDataError, "RGB", "header"),
    ("superpixel count vs JSON", "json", lambda p: _features(p, n=5), DermkitDataError, "superpixels", "full"),
    ("features not JSON", "json", lambda p: p.write_text("{oops"), DermkitDataError, "not valid JSON", "header"),
    (
        "features key missing",
        "json",
        lambda p: p.write_text(json.dumps({"streaks": [0]})),
        DermkitDataError,
        "missing key",
        "header",
    ),
    (
        "features non-numeric",
        "json",
        lambda p: _features(p, streaks=["a", 0, 0, 0]),
        DermkitDataError,
        "non-numeric",
        "header",
    ),
    ("features unequal", "json", lambda p: _features(p, streaks=[0]), DermkitDataError, "unequal", "header"),
    ("features missing", "json", Path.unlink, DermkitFileNotFoundError, "features.json", "header"),
    ("segmentation missing", "seg", Path.unlink, DermkitFileNotFoundError, "segmentation", "header"),
    (
        "segmentation wrong size",
        "seg",
        lambda p: _png(p, np.zeros((H + 1, W), np.uint8)),
        DermkitDataError,
        "segmentation mask is",
        "header",
    ),
    (
        "truncated segmentation",
        "seg",
        lambda p: _truncate(_png(p, np.random.default_rng(0).integers(0, 255, (H, W), dtype=np.uint8))),
        DermkitDataError,
        "truncated",
        "full",
    ),
    # issue 8 item 7: one mask rule — ISIC masks are 0/255, other values are refused and listed
    (
        "segmentation 0/1",
        "seg",
        lambda p: _png(p, (np.arange(H * W).reshape(H, W) % 7 == 0).astype(np.uint8)),
        DermkitDataError,
        "integer mask with maximum 1 is ambiguous (values [0, 1]",
        "full",
    ),
    (
        "segmentation 0/100",
        "seg",
        lambda p: _png(p, np.where(np.arange(H * W).reshape(H, W) % 7 == 0, 100, 0).astype(np.uint8)),
        DermkitDataError,
        "mask holds values [0, 100], not only the 0/255",
        "full",
    ),
    # issue 8 item 8: ground-truth labels must be 0/1, refused at read time with the superpixel index
    ("features 2", "json", lambda p: _features(p, streaks=[0, 2, 0, 0]), DermkitDataError,
     "'streaks' value at superpixel 1 is 2, outside [0, 1]", "header"),
    ("features -0.5", "json", lambda p: _features(p, streaks=[0, 0, -0.5, 0]), DermkitDataError,
     "'streaks' value at superpixel 2 is -0.5, outside [0, 1]", "header"),
    ("features 0.5", "json", lambda p: _features(p, milia_like_cyst=[0, 0, 0, 0.5]), DermkitDataError,
     "'milia_like_cyst' value at superpixel 3 is 0.5; ground-truth labels must be 0 or 1", "header"),
    ("features 10**400", "json", lambda p: _features(p, streaks=[0, 10**400, 0, 0]), DermkitDataError,
     "'streaks' value at superpixel 1 is too large", "header"),
]


@pytest.mark.parametrize(
    ("key", "breaker", "exc", "message", "level"), [c[1:] for c in CASES_2017], ids=[c[0] for c in CASES_2017]
)
def test_load_isic2017_errors(tmp_path, key, breaker, exc, message, level):
    root = make_isic2017(tmp_path)
    target = _paths2017(root)[key]
    breaker(target)
    if level == "full":
        load_isic2017(root, validate="header")  # cheap checks do not decode pixels
    assert message in _raises(exc, target, load_isic2017, root, validate="full")


def test_load_isic2017_declared_zero_one_masks(tmp_path):
    root = make_isic2017(tmp_path)
    for i in IDS:
        seg = _paths2017(root, i)["seg"]
        _png(seg, (np.asarray(Image.open(seg)) > 0).astype(np.uint8))
    df = load_isic2017(root, validate="full", mask_values="0/1")
    assert len(df) == 3
    with pytest.raises(ValueError, match="mask_values must be one of"):
        load_isic2017(root, mask_values="binary")


# issue 8 item 9: a file where a folder should be (or the reverse) is not "absent"
def _file_instead(path: Path) -> None:
    import shutil

    shutil.rmtree(path) if path.is_dir() else path.unlink()
    path.write_text("not a folder")


def _folder_instead(path: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize(
    ("name", "swap", "what"),
    [
        ("ISIC-2017_Training_Part1_GroundTruth", _file_instead, "is a file, but the Part 1 ground-truth folder"),
        ("ISIC-2017_Training_Part2_GroundTruth", _file_instead, "is a file, but the Part 2 ground-truth folder"),
        ("ISIC-2017_Training_Part3_GroundTruth.csv", _folder_instead, "is a folder, but the Part 3 ground-truth CSV"),
        ("ISIC-2017_Training_Data", _file_instead, "is a file, but the ISIC 2017 training images"),
    ],
)
def test_load_isic2017_wrong_kind_of_path_is_refused(tmp_path, name, swap, what):
    root = make_isic2017(tmp_path)
    swap(root / name)
    assert what in _raises(DermkitDataError, root / name, load_isic2017, root)


def test_other_loaders_refuse_the_wrong_kind_of_path(tmp_path):
    ham = make_ham(tmp_path / "ham")
    _file_instead(ham / "HAM10000_segmentations")
    assert "is a file" in _raises(DermkitDataError, ham / "HAM10000_segmentations", load_ham10000, ham)
    t3 = make_isic2018(tmp_path / "t3")
    csv = t3 / "ISIC2018_Task3_Training_GroundTruth.csv"
    _folder_instead(csv)
    assert "is a folder" in _raises(DermkitDataError, csv, load_isic2018_task3, t3)
    i20 = make_isic2020(tmp_path / "i20")
    dup = i20 / "ISIC_2020_Training_Duplicates.csv"
    _folder_instead(dup)
    assert "is a folder, but the duplicates CSV" in _raises(DermkitDataError, dup, load_isic2020, i20)


@pytest.mark.parametrize(
    ("rows_edit", "message"),
    [
        (lambda df: df.drop(columns="melanoma"), "missing column"),
        (lambda df: df.assign(melanoma=[1, 0.5, 0]), "must hold 0 or 1"),
        (lambda df: df.assign(melanoma=[1, None, 0]), "must hold 0 or 1"),
        (lambda df: df.assign(melanoma=["yes", 0, 0]), "must hold 0 or 1"),
        (lambda df: df.assign(seborrheic_keratosis=[1, 1, 0]), "both 1"),
        (lambda df: df.iloc[:2], "no row for 1 image"),
        (lambda df: pd.concat([df, df.iloc[:1]]), "more than once"),
        (lambda df: df.assign(image_id=[IDS[0], "", IDS[2]]), "empty"),
    ],
)
def test_load_isic2017_bad_csv(tmp_path, rows_edit, message):
    root = make_isic2017(tmp_path)
    csv = _paths2017(root)["csv"]
    rows_edit(pd.read_csv(csv)).to_csv(csv, index=False)
    assert message in _raises(DermkitDataError, csv, load_isic2017, root)


def test_load_isic2017_csv_id_without_image(tmp_path):
    root = make_isic2017(tmp_path)
    csv = _paths2017(root)["csv"]
    df = pd.read_csv(csv)
    pd.concat([df, pd.DataFrame([{"image_id": "ISIC_0009999", "melanoma": 0, "seborrheic_keratosis": 0}])]).to_csv(
        csv, index=False
    )
    msg = _raises(DermkitFileNotFoundError, "ISIC_0009999.jpg", load_isic2017, root)
    assert csv.name in msg


def test_load_isic2017_empty_csv(tmp_path):
    root = make_isic2017(tmp_path)
    csv = _paths2017(root)["csv"]
    csv.write_text("")
    assert "not a readable CSV" in _raises(DermkitDataError, csv, load_isic2017, root)


def test_load_isic2017_synthetic_fixture(request):
    pytest.importorskip("dermkit.data.synthetic")
    root = request.getfixturevalue("isic2017_root")
    sizes = {"training": 24, "validation": 8, "test": 8}
    for split, n in sizes.items():
        df = load_isic2017(root, split, validate="full")
        assert len(df) == n
        assert df["melanoma"].notna().all()


@pytest.mark.parametrize(
    ("fixture", "loader", "class_names"),
    [("ham10000_root", "load_ham10000", HAM10000_CLASSES), ("isic2020_root", "load_isic2020", ("benign", "malignant"))],
)
def test_loaders_on_synthetic_fixtures(request, fixture, loader, class_names):
    pytest.importorskip("dermkit.data.synthetic")
    df = globals()[loader](request.getfixturevalue(fixture), validate="full")
    _check_schema(df, class_names)


# -------------------------------------------------------------------------------------------- ISIC 2018 T3


def make_isic2018(root: Path, ids=IDS, gt_in_folder=False, labels=(0, 1, 6)) -> Path:
    for k, i in enumerate(ids):
        _jpg(root / "ISIC2018_Task3_Training_Input" / f"{i}.jpg", seed=k)
    (root / "ISIC2018_Task3_Training_Input" / "LICENSE.txt").write_text("cc")
    rows = [
        {"image": i, **{c: float(j == lab) for j, c in enumerate(ISIC2018_TASK3_CLASSES)}}
        for i, lab in zip(ids, labels)
    ]
    name = "ISIC2018_Task3_Training_GroundTruth"
    _csv(root / name / f"{name}.csv" if gt_in_folder else root / f"{name}.csv", rows)
    return root


def _check_schema(df: pd.DataFrame, class_names) -> None:
    assert list(df.columns[:5]) == SCHEMA
    assert df.attrs["class_names"] == tuple(class_names)
    assert df["label"].dtype == np.int64
    assert df["image_id"].notna().all() and df["group"].notna().all()
    assert all(Path(p).is_file() for p in df["image_path"])


@pytest.mark.parametrize("gt_in_folder", [False, True])
def test_load_isic2018_task3(tmp_path, gt_in_folder):
    root = make_isic2018(tmp_path, gt_in_folder=gt_in_folder)
    df = load_isic2018_task3(root, validate="full")
    _check_schema(df, ISIC2018_TASK3_CLASSES)
    assert df["label"].tolist() == [0, 1, 6]
    assert df["group"].tolist() == list(IDS) and df.attrs["group_source"] == "image_id"
    assert df["mask_path"].isna().all()
    assert df["VASC"].tolist() == [0, 0, 1]


def test_load_isic2018_task3_groups_from_ham_metadata(tmp_path):
    root = make_isic2018(tmp_path)
    meta = [
        {"lesion_id": "HAM_1", "image_id": IDS[0], "dx": "mel"},
        {"lesion_id": "HAM_1", "image_id": IDS[1], "dx": "mel"},
        {"lesion_id": "HAM_2", "image_id": IDS[2], "dx": "nv"},
    ]
    _csv(root / "HAM10000_metadata.csv", meta)
    df = load_isic2018_task3(root)
    assert df["group"].tolist() == ["HAM_1", "HAM_1", "HAM_2"]
    assert df.attrs["group_source"] == "HAM10000_metadata.csv"
    _csv(root / "HAM10000_metadata.csv", meta[:2])
    assert "no lesion_id" in _raises(DermkitDataError, "HAM10000_metadata.csv", load_isic2018_task3, root)


def test_load_isic2018_task3_groups_from_lesion_groupings(tmp_path):
    root = make_isic2018(tmp_path)
    _csv(
        root / "ISIC2018_Task3_Training_LesionGroupings.csv",
        [{"image": i, "lesion_id": f"L{k // 2}", "diagnosis_confirm_type": "histo"} for k, i in enumerate(IDS)],
    )
    df = load_isic2018_task3(root)
    assert df["group"].tolist() == ["L0", "L0", "L1"]


def test_load_isic2018_task3_errors(tmp_path):
    root = make_isic2018(tmp_path)
    csv = root / "ISIC2018_Task3_Training_GroundTruth.csv"
    good = pd.read_csv(csv)
    good.assign(NV=1.0).to_csv(csv, index=False)
    assert "exactly one 1" in _raises(DermkitDataError, csv, load_isic2018_task3, root)
    good.assign(MEL=0.0).to_csv(csv, index=False)  # first row all zero
    assert "line(s) 2" in _raises(DermkitDataError, csv, load_isic2018_task3, root)
    good.drop(columns="DF").to_csv(csv, index=False)
    assert "'DF'" in _raises(DermkitDataError, csv, load_isic2018_task3, root)
    good.to_csv(csv, index=False)
    image = root / "ISIC2018_Task3_Training_Input" / f"{IDS[2]}.jpg"
    _truncate(image)
    load_isic2018_task3(root)
    _raises(DermkitDataError, image, load_isic2018_task3, root, validate="full")
    image.unlink()
    _raises(DermkitFileNotFoundError, image, load_isic2018_task3, root)
    csv.unlink()
    _raises(DermkitFileNotFoundError, csv, load_isic2018_task3, root)
    with pytest.raises(ValueError, match="split must be one of"):
        load_isic2018_task3(root, "train")


# ----------------------------------------------------------------------------------------------- HAM10000


def make_ham(root: Path, split_parts=False, masks=True) -> Path:
    dx = ["nv", "nv", "mel", "bkl"]
    rows = [
        {
            "lesion_id": f"HAM_{k // 2:07d}",
            "image_id": f"ISIC_{24306 + k:07d}",
            "dx": d,
            "dx_type": "histo",
            "age": 50.0 if k else None,
            "sex": "male",
            "localization": "back",
            "dataset": "vidir_modern",
        }
        for k, d in enumerate(dx)
    ]
    _csv(root / "HAM10000_metadata.csv", rows)
    for k, row in enumerate(rows):
        folder = ("HAM10000_images_part_1" if k < 2 else "HAM10000_images_part_2") if split_parts else "HAM10000_images"
        _jpg(root / folder / f"{row['image_id']}.jpg", seed=k)
        if masks:
            _png(root / "HAM10000_segmentations" / f"{row['image_id']}_segmentation.png", np.zeros((H, W), np.uint8))
    return root


@pytest.mark.parametrize("split_parts", [False, True])
def test_load_ham10000(tmp_path, split_parts):
    root = make_ham(tmp_path, split_parts=split_parts)
    df = load_ham10000(root, validate="full")
    _check_schema(df, HAM10000_CLASSES)
    assert df["label"].tolist() == [HAM10000_CLASSES.index(d) for d in ("nv", "nv", "mel", "bkl")]
    assert df["group"].tolist() == ["HAM_0000000", "HAM_0000000", "HAM_0000001", "HAM_0000001"]
    assert all(Path(p).name == f"{i}_segmentation.png" for p, i in zip(df["mask_path"], df["image_id"]))
    assert {"dx", "dx_type", "age", "sex", "localization", "dataset", "lesion_id"} <= set(df.columns)
    assert np.isnan(df["age"].iloc[0])  # the dataset's own NaN ages are kept
    if split_parts:
        assert "part_2" in df["image_path"].iloc[3]


def test_load_ham10000_without_masks(tmp_path):
    df = load_ham10000(make_ham(tmp_path, masks=False))
    assert df["mask_path"].isna().all()


def test_load_ham10000_errors(tmp_path):
    root = make_ham(tmp_path)
    csv = root / "HAM10000_metadata.csv"
    good = pd.read_csv(csv)
    good.assign(dx=["nv", "nv", "melanoma", "bkl"]).to_csv(csv, index=False)
    assert "melanoma" in _raises(DermkitDataError, csv, load_ham10000, root)
    good.drop(columns="lesion_id").to_csv(csv, index=False)
    assert "lesion_id" in _raises(DermkitDataError, csv, load_ham10000, root)
    good.to_csv(csv, index=False)
    mask = root / "HAM10000_segmentations" / "ISIC_0024307_segmentation.png"
    _png(mask, np.zeros((H, W + 1), np.uint8))
    assert "segmentation mask is" in _raises(DermkitDataError, mask, load_ham10000, root)
    mask.unlink()
    _raises(DermkitFileNotFoundError, mask, load_ham10000, root)
    _png(mask, np.zeros((H, W), np.uint8))
    image = root / "HAM10000_images" / "ISIC_0024308.jpg"
    _jpg(root / "HAM10000_images_part_1" / image.name)
    assert "also in" in _raises(DermkitDataError, image.name, load_ham10000, root)
    (root / "HAM10000_images_part_1" / image.name).unlink()
    image.unlink()
    _raises(DermkitFileNotFoundError, image, load_ham10000, root)
    csv.unlink()
    _raises(DermkitFileNotFoundError, csv, load_ham10000, root)


# ----------------------------------------------------------------------------------------------- ISIC 2020


def make_isic2020(root: Path, csv_name="train.csv", image_dir="train", duplicates=True) -> Path:
    rows = [
        {
            "image_name": f"ISIC_{k:07d}",
            "patient_id": f"IP_{k // 2}",
            "sex": "female",
            "age_approx": 45.0,
            "anatom_site_general_challenge": "torso",
            "diagnosis": "unknown",
            "benign_malignant": "malignant" if k == 1 else "benign",
            "target": int(k == 1),
        }
        for k in range(5)
    ]
    _csv(root / csv_name, rows)
    for k, row in enumerate(rows):
        _jpg(root / image_dir / f"{row['image_name']}.jpg", seed=k)
    if duplicates:
        _csv(
            root / "ISIC_2020_Training_Duplicates.csv",
            [
                {"image_name_1": "ISIC_0000000", "image_name_2": "ISIC_0000003"},
                {"image_name_1": "ISIC_0000002", "image_name_2": "ISIC_0000009"},
            ],
        )  # second not in train.csv
    return root


@pytest.mark.parametrize(
    ("csv_name", "image_dir"),
    [("train.csv", "train"), ("ISIC_2020_Training_GroundTruth_v2.csv", "train"), ("train.csv", "jpeg/train")],
)
def test_load_isic2020(tmp_path, csv_name, image_dir):
    root = make_isic2020(tmp_path, csv_name, image_dir)
    df = load_isic2020(root, validate="full")
    _check_schema(df, ("benign", "malignant"))
    assert df["image_id"].tolist() == ["ISIC_0000000", "ISIC_0000001", "ISIC_0000002", "ISIC_0000004"]
    assert df.attrs["duplicates_dropped"] == 1
    assert df["label"].tolist() == [0, 1, 0, 0]
    assert df["group"].tolist() == ["IP_0", "IP_0", "IP_1", "IP_2"]
    assert df["mask_path"].isna().all()
    assert {"patient_id", "sex", "age_approx", "target", "benign_malignant"} <= set(df.columns)


def test_load_isic2020_without_duplicates_file(tmp_path):
    df = load_isic2020(make_isic2020(tmp_path, duplicates=False))
    assert len(df) == 5 and df.attrs["duplicates_dropped"] == 0


def test_load_isic2020_errors(tmp_path):
    root = make_isic2020(tmp_path)
    csv = root / "train.csv"
    good = pd.read_csv(csv)
    good.assign(target=[0, 2, 0, 0, 0]).to_csv(csv, index=False)
    assert "must hold 0 or 1" in _raises(DermkitDataError, csv, load_isic2020, root)
    good.assign(target=[1, 1, 0, 0, 0]).to_csv(csv, index=False)
    assert "contradicts" in _raises(DermkitDataError, csv, load_isic2020, root)
    good.drop(columns="patient_id").to_csv(csv, index=False)
    assert "patient_id" in _raises(DermkitDataError, csv, load_isic2020, root)
    good.assign(patient_id=["IP_0", None, "IP_1", "IP_1", "IP_2"]).to_csv(csv, index=False)
    assert "empty" in _raises(DermkitDataError, csv, load_isic2020, root)
    good.to_csv(csv, index=False)
    dup = root / "ISIC_2020_Training_Duplicates.csv"
    pd.read_csv(dup).rename(columns={"image_name_2": "other"}).to_csv(dup, index=False)
    assert "image_name_2" in _raises(DermkitDataError, dup, load_isic2020, root)
    dup.unlink()
    image = root / "train" / "ISIC_0000004.jpg"
    _corrupt(image)
    _raises(DermkitDataError, image, load_isic2020, root)
    image.unlink()
    _raises(DermkitFileNotFoundError, image, load_isic2020, root)
    csv.unlink()
    _raises(DermkitFileNotFoundError, csv, load_isic2020, root)


def test_loaders_do_not_import_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, dermkit.data.isic, dermkit.data.superpixels, dermkit.data.imageio; "
        "sys.exit(int('tensorflow' in sys.modules or 'keras' in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
