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


# ----------------------------------------------------------------------------------------------------------
# Issue 17: predictions of two models never mix; a pixel-corrupt JPEG is named on the prediction paths
# ----------------------------------------------------------------------------------------------------------
def _other_model():
    """The pixel model with other weights (W negated)."""
    model = _pixel_model()
    model.get_layer("head").set_weights([-W[None, None], B])
    return model


def _images_dir(isic2017_root, tmp_path, n=3):
    df = load_isic2017(isic2017_root, "test").head(n)
    images = tmp_path / "images"
    images.mkdir()
    for row in df.itertuples():
        for src in (Path(row.image_path), Path(row.superpixels_path)):
            shutil.copyfile(src, images / src.name)
    return images, df


def _predictions(folder):
    return {p.name: p.read_text() for p in sorted(Path(folder).glob("*_features.json"))}


def test_another_models_predictions_are_refused_then_replaced_whole(isic2017_root, tmp_path):
    from dermkit.inference import PREDICTIONS_MANIFEST, model_fingerprint

    images, df = _images_dir(isic2017_root, tmp_path)
    out = tmp_path / "pred"
    predict_isic2017_folder(_pixel_model(), images, out, progress=False, weights="a.weights.h5")
    first = _predictions(out)
    manifest = json.loads((out / PREDICTIONS_MANIFEST).read_text())
    assert manifest["model_sha256"] == model_fingerprint(_pixel_model()) != model_fingerprint(_other_model())
    assert manifest["complete"] is True and manifest["weights"] == "a.weights.h5"
    with pytest.raises(FileExistsError, match=r"pred: already holds predictions, and they were written by another "
                                              r"model \(a\.weights\.h5.*overwrite=True"):
        predict_isic2017_folder(_other_model(), images, out, progress=False, weights="b.weights.h5")
    assert _predictions(out) == first  # untouched
    predict_isic2017_folder(_other_model(), images, out, progress=False, weights="b.weights.h5", overwrite=True)
    fresh = tmp_path / "fresh"
    predict_isic2017_folder(_other_model(), images, fresh, progress=False)
    assert _predictions(out) == _predictions(fresh) and set(_predictions(out)) == set(first)
    assert all(_predictions(out)[name] != first[name] for name in first)  # every file replaced
    assert json.loads((out / PREDICTIONS_MANIFEST).read_text())["weights"] == "b.weights.h5"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "images", "pred"]  # no staging left


def test_predictions_without_a_manifest_or_beside_other_files_are_not_replaced_silently(isic2017_root, tmp_path):
    images, df = _images_dir(isic2017_root, tmp_path, n=2)
    out = tmp_path / "pred"
    out.mkdir()
    (out / f"{df.image_id.iloc[0]}_features.json").write_text(
        Path(df.features_path.iloc[0]).read_text())  # someone's predictions: which model made them is unknown
    with pytest.raises(FileExistsError, match="holds 1 \\*_features.json files but no dermkit_predictions.json"):
        predict_isic2017_folder(_pixel_model(), images, out, progress=False)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"holds files that are not predictions \(notes\.txt\)"):
        predict_isic2017_folder(_pixel_model(), images, out, progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_a_replacement_killed_midway_leaves_the_old_predictions_and_resumes(isic2017_root, tmp_path, monkeypatch):
    import dermkit.inference as inference

    images, df = _images_dir(isic2017_root, tmp_path)
    out = tmp_path / "pred"
    predict_isic2017_folder(_pixel_model(), images, out, progress=False)
    old = _predictions(out)
    real, calls = inference.predict_isic2017_features, []

    def killed_at_the_second(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "predict_isic2017_features", killed_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        predict_isic2017_folder(_other_model(), images, out, progress=False, overwrite=True)
    assert _predictions(out) == old  # the old folder intact, nothing new mixed in
    monkeypatch.setattr(inference, "predict_isic2017_features", real)
    predict_isic2017_folder(_other_model(), images, out, progress=False, overwrite=True)
    fresh = tmp_path / "fresh"
    predict_isic2017_folder(_other_model(), images, fresh, progress=False)
    assert _predictions(out) == _predictions(fresh)
    # A kill between the two renames: the old folder set aside, the new one complete → the next run finishes.
    staging, aside = tmp_path / ".pred.dermkit-predict-new", tmp_path / ".pred.dermkit-predict-old"
    shutil.copytree(fresh, staging)
    out.rename(aside)
    predict_isic2017_folder(_other_model(), images, out, progress=False)
    assert _predictions(out) == _predictions(fresh) and not aside.exists() and not staging.exists()


def _pixel_corrupt(path: Path) -> Path:
    tf = pytest.importorskip("tensorflow")
    data = bytearray(path.read_bytes())
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    data[start:-2] = np.random.default_rng(1).integers(0, 256, len(data) - 2 - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(tf.errors.InvalidArgumentError, match="jpeg::Uncompress failed"):
        tf.io.decode_jpeg(bytes(data), channels=3)
    return path


def test_prediction_paths_name_a_pixel_corrupt_jpeg(isic2017_root, tmp_path):
    from dermkit.inference import write_isic_masks

    images, df = _images_dir(isic2017_root, tmp_path)
    bad = _pixel_corrupt(images / f"{df.image_id.iloc[1]}.jpg")
    named = f"{bad}: corrupt or truncated image"
    with pytest.raises(DermkitDataError, match=named):
        predict_isic2017_features(_pixel_model(), bad, images / f"{df.image_id.iloc[1]}_superpixels.png")
    with pytest.raises(DermkitDataError, match=named):
        predict_isic2017_folder(_pixel_model(), images, tmp_path / "pred", progress=False)
    frame = df.assign(image_path=[str(images / f"{i}.jpg") for i in df.image_id])
    with pytest.raises(DermkitDataError, match=named):
        write_isic_masks(_pixel_model((16, 16, 3)), frame, tmp_path / "masks", progress=False)
