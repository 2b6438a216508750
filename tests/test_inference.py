"""ISIC 2017 Part 2 predict/score tools: Eq. 2 at original size, folder round trip, resume, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dermkit.data.imageio import read_image  # noqa: E402
from dermkit.data.isic import load_isic2017, read_superpixel_labels, read_superpixels  # noqa: E402
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError  # noqa: E402
from dermkit.inference import (  # noqa: E402
    predict_isic2017_features,
    predict_isic2017_folder,
    predict_mask,
    score_isic2017_folder,
)

W = np.array([[0.5, -1.0, 2.0, 0.3], [-0.7, 0.2, 0.1, -1.5], [1.1, 0.4, -0.6, 0.9]], np.float32)
B = np.array([0.1, -0.2, 0.0, 0.3], np.float32)


def _pixel_model(input_shape=(None, None, 3)):
    """A per-pixel model (1×1 conv + sigmoid) whose output we can compute in NumPy."""
    inputs = keras.Input(input_shape, name="image")
    conv = keras.layers.Conv2D(4, 1, activation="sigmoid", name="head")
    model = keras.Model(inputs, conv(inputs), name="pixel_model")
    conv.set_weights([W[None, None], B])
    return model


def _numpy_pixels(image_u8):
    x = image_u8.astype(np.float32) / 255.0
    return 1.0 / (1.0 + np.exp(-(x @ W + B)))


def test_predict_features_is_eq2_of_the_pixel_prediction(isic2017_root):
    row = load_isic2017(isic2017_root, "test").iloc[0]
    image = read_image(row.image_path)
    index = read_superpixels(row.superpixels_path)
    pred = predict_isic2017_features(_pixel_model(), row.image_path, row.superpixels_path)
    pixels = _numpy_pixels(image)
    expected = np.stack([pixels[index == i].mean(axis=0) for i in range(index.max() + 1)])  # plain loop
    assert pred.shape == (index.max() + 1, 4)
    np.testing.assert_allclose(pred, expected, atol=1e-5)


def test_predict_mask_resizes_to_the_model_and_back():
    image = np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    out = predict_mask(_pixel_model((32, 32, 3)), image)
    assert out.shape == (48, 80, 4) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    # A per-pixel model on a constant image gives the same constant whatever the resizing.
    flat = np.full((40, 56, 3), 200, np.uint8)
    np.testing.assert_allclose(predict_mask(_pixel_model((32, 32, 3)), flat), _numpy_pixels(flat), atol=1e-5)


def test_size_mismatch_names_both_files(isic2017_root, tmp_path):
    rows = load_isic2017(isic2017_root, "test")
    other = tmp_path / "other.png"
    from dermkit.data.imageio import write_png
    from dermkit.data.superpixels import encode_superpixels

    write_png(other, encode_superpixels(np.zeros((10, 12), np.int32)))
    with pytest.raises(DermkitDataError, match="other.png: superpixel map is 12×10 but its image"):
        predict_isic2017_features(_pixel_model(), rows.iloc[0].image_path, other)


def test_folder_predict_resumes_and_scores(isic2017_root, tmp_path):
    df = load_isic2017(isic2017_root, "test")
    images_dir = Path(df.iloc[0].image_path).parent
    out = tmp_path / "pred"
    paths = predict_isic2017_folder(_pixel_model(), images_dir, out, progress=False)
    assert sorted(p.name for p in paths) == sorted(f"{i}_features.json" for i in df.image_id)
    first = paths[0]
    n = len(read_superpixel_labels(first))
    # Resume: an existing file is kept as it is (here replaced by a marker prediction).
    first.write_text(json.dumps({k: [0.25] * n for k in
                                 ("pigment_network", "negative_network", "milia_like_cyst", "streaks")}))
    predict_isic2017_folder(_pixel_model(), images_dir, out, progress=False)
    assert read_superpixel_labels(first)[0, 0] == pytest.approx(0.25)
    predict_isic2017_folder(_pixel_model(), images_dir, out, progress=False, overwrite=True)
    assert read_superpixel_labels(first)[0, 0] != pytest.approx(0.25)

    truth_dir = Path(df.iloc[0].features_path).parent
    table = score_isic2017_folder(truth_dir, out)
    assert list(table.index) == ["pigment_network", "negative_network", "milia_like_cyst", "streaks", "average"]
    # Scoring the truth against itself: a perfect ranking wherever the feature occurs.
    perfect = score_isic2017_folder(truth_dir, truth_dir)
    assert perfect.loc["pigment_network", "auc"] == pytest.approx(1.0)
    assert perfect.loc["pigment_network", "accuracy"] == pytest.approx(1.0)


def test_score_names_a_missing_prediction(isic2017_root, tmp_path):
    truth_dir = Path(load_isic2017(isic2017_root, "test").iloc[0].features_path).parent
    pred_dir = tmp_path / "pred"
    shutil.copytree(truth_dir, pred_dir)
    victim = sorted(pred_dir.glob("*_features.json"))[1]
    victim.unlink()
    with pytest.raises(DermkitFileNotFoundError, match=f"{victim.name}: no prediction for ground truth"):
        score_isic2017_folder(truth_dir, pred_dir)


# ----------------------------------------------------------------------------------------------------------
# Issue 8: bad outputs and inputs name their files
# ----------------------------------------------------------------------------------------------------------
def test_predict_folder_refuses_an_out_dir_that_is_a_file(isic2017_root, tmp_path):
    images_dir = Path(load_isic2017(isic2017_root, "test").iloc[0].image_path).parent
    out = tmp_path / "pred"
    out.write_text("I am a file")
    with pytest.raises(DermkitDataError, match="pred: is a file, but the output folder"):
        predict_isic2017_folder(_pixel_model(), images_dir, out, progress=False)
    with pytest.raises(DermkitDataError, match="pred: is a file"):
        predict_isic2017_folder(_pixel_model(), images_dir, out / "sub", progress=False)


def test_resume_recomputes_broken_earlier_predictions(isic2017_root, tmp_path):
    df = load_isic2017(isic2017_root, "test")
    images_dir = Path(df.iloc[0].image_path).parent
    out = tmp_path / "pred"
    paths = predict_isic2017_folder(_pixel_model(), images_dir, out, progress=False)
    good = {p: p.read_text() for p in paths}
    n = len(read_superpixel_labels(paths[2]))
    paths[0].write_text("")  # 0 bytes: a run killed by the disk filling up
    paths[1].write_text(good[paths[1]][:40])  # cut short
    paths[2].write_text(json.dumps({k: [0.5] * (n - 1) for k in ("pigment_network", "negative_network",
                                                                  "milia_like_cyst", "streaks")}))  # wrong length
    with pytest.warns(UserWarning) as caught:
        predict_isic2017_folder(_pixel_model(), images_dir, out, progress=False)
    warned = sorted(str(w.message) for w in caught if "earlier prediction" in str(w.message))
    assert [m.split(":")[0] for m in warned] == [str(p) for p in sorted(paths[:3])]
    assert "not valid JSON" in warned[0] and f"the superpixel map has {n} superpixels" in warned[2]
    for p in paths[:3]:
        assert p.read_text() == good[p]  # recomputed: the same prediction as the first run
    table = score_isic2017_folder(Path(df.iloc[0].features_path).parent, out)
    assert np.isfinite(table.loc["average"].to_numpy(dtype=float)).all()


def test_score_names_the_file_and_superpixel_of_a_bad_value(isic2017_root, tmp_path):
    truth_dir = Path(load_isic2017(isic2017_root, "test").iloc[0].features_path).parent
    for folder in ("truth", "pred"):
        shutil.copytree(truth_dir, tmp_path / folder)
    victim = sorted((tmp_path / "truth").glob("*_features.json"))[1]
    obj = json.loads(victim.read_text())
    obj["negative_network"][3] = 2
    victim.write_text(json.dumps(obj))
    with pytest.raises(DermkitDataError, match=rf"{victim.name}: 'negative_network' value at superpixel 3 is 2"):
        score_isic2017_folder(tmp_path / "truth", tmp_path / "pred")
    obj["negative_network"][3] = 0.5  # a probability is no ground truth
    victim.write_text(json.dumps(obj))
    with pytest.raises(DermkitDataError, match=rf"{victim.name}: .*ground-truth labels must be 0 or 1"):
        score_isic2017_folder(tmp_path / "truth", tmp_path / "pred")
    shutil.copy(truth_dir / victim.name, victim)
    pred = tmp_path / "pred" / victim.name
    obj["negative_network"][3] = 1.5
    pred.write_text(json.dumps(obj))
    with pytest.raises(DermkitDataError, match=rf"pred/{victim.name}: 'negative_network' value at superpixel 3"):
        score_isic2017_folder(tmp_path / "truth", tmp_path / "pred")
    with pytest.raises(DermkitDataError, match="truth_file: is a file, but the ground-truth folder"):
        (tmp_path / "truth_file").write_text("x")
        score_isic2017_folder(tmp_path / "truth_file", tmp_path / "pred")


def test_write_isic_masks_resume_and_out_dir(tmp_path):
    from dermkit.data.imageio import write_jpeg
    from dermkit.inference import write_isic_masks

    rng = np.random.default_rng(0)
    rows = []
    for i in range(3):
        path = write_jpeg(tmp_path / "in" / f"ISIC_{i}.jpg", rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
        rows.append({"image_id": f"ISIC_{i}", "image_path": str(path)})
    import pandas as pd

    df = pd.DataFrame(rows)
    inputs = keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(1, 1, activation="sigmoid")
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([W[None, None, :, :1], B[:1]])
    out = write_isic_masks(model, df, tmp_path / "masks", progress=False)
    first = [Path(p).read_bytes() for p in out["mask_path"]]
    Path(out["mask_path"][0]).write_bytes(b"")
    from dermkit.data.imageio import write_png

    write_png(out["mask_path"][1], np.ones((20, 24), np.uint8), overwrite=True)  # a 0/1 mask: not ours
    with pytest.warns(UserWarning) as caught:
        write_isic_masks(model, df, tmp_path / "masks", progress=False)
    warned = sorted(str(w.message).split(":")[0] for w in caught if "earlier mask" in str(w.message))
    assert warned == sorted(out["mask_path"][:2])
    assert [Path(p).read_bytes() for p in out["mask_path"]] == first
    (tmp_path / "file").write_text("x")
    with pytest.raises(DermkitDataError, match="file: is a file, but the output folder"):
        write_isic_masks(model, df, tmp_path / "file", progress=False)
