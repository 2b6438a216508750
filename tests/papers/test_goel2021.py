"""goel2021 reproduction: the experiment grid is the report's, data/metric helpers on hand cases, tables from
fake results, one cheap segmentation learning check; the end-to-end quick run is marked slow."""

from __future__ import annotations

import math
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from dermkit.papers import goel2021 as g21  # noqa: E402
from dermkit.training.runner import RunOptions, select_experiments  # noqa: E402

# Table 1 of the report, row by row: weights, data, augm., lr, l2, class w.
TABLE_1 = {
    1: ("frozen", "original", False, 1e-3, 0.0, 1.0),
    2: ("frozen", "segmented", False, 1e-3, 0.0, 1.0),
    3: ("finetune", "original", False, 1e-3, 0.0, 1.0),
    4: ("finetune", "segmented", False, 1e-3, 0.0, 1.0),
    5: ("fc", "segmented", False, 1e-3, 0.0, 1.0),
    6: ("last_block", "segmented", False, 1e-3, 0.0, 1.0),
    7: ("finetune", "segmented", True, 1e-3, 0.0, 1.0),
    8: ("finetune", "segmented", False, 1e-2, 0.0, 1.0),
    9: ("frozen", "segmented", False, 1e-2, 0.0, 1.0),
    10: ("finetune", "segmented", False, 1e-3, 1e-3, 1.0),
    11: ("finetune", "segmented", False, 1e-3, 0.0, 2.0),
}


def _classifier_rows():
    return [e for e in g21.EXPERIMENTS if e.params["kind"] == "classifier"]


def test_eleven_classifier_rows_with_the_reports_settings_and_numbers():
    rows = _classifier_rows()
    assert [e.params["row"] for e in rows] == list(range(1, 12))
    for exp in rows:
        mode, data, aug, lr, l2, w = TABLE_1[exp.params["row"]]
        p = exp.params
        assert (p["train_mode"], p["data"], p["augment"], p["lr"], p["l2"], p["class_weights"]) == (
            mode, data, aug, lr, l2, (1.0, w))
        assert set(exp.reported["2"]) == set(g21.T2_METRICS)
        assert exp.reported["1"]["lr"] == lr and exp.reported["1"]["class_w_malignant"] == w
    by_row = {e.params["row"]: e.reported["2"] for e in rows}
    # spot checks against the report's Table 2
    assert by_row[4]["balanced_acc"] == 0.771 and by_row[4]["malignant_acc"] == 0.793
    assert by_row[5]["loss"] == 0.18 and by_row[5]["f1"] == 0.112
    assert by_row[10]["accuracy"] == 0.535
    for reported in by_row.values():  # balanced accuracy is the mean of the two class accuracies (±0.6 pt)
        assert abs((reported["benign_acc"] + reported["malignant_acc"]) / 2 - reported["balanced_acc"]) < 0.006


def test_confusion_matrices_and_table_3_reported():
    by_key = {e.key: e for e in g21.EXPERIMENTS}
    cm4 = by_key["t2_row04"].reported["3cm"]
    assert cm4["true_malignant"] == {"pred_malignant": 69, "pred_benign": 18}
    assert cm4["true_benign"] == {"pred_malignant": 1193, "pred_benign": 3541}
    # the matrix gives row 4's Table 2 malignant accuracy: 69 / 87 = 79.3 %
    assert round(69 / 87, 3) == by_key["t2_row04"].reported["2"]["malignant_acc"]
    assert by_key["t2_row03"].reported["3cm"]["true_benign"]["pred_benign"] == 3737
    assert by_key["t3_unet"].reported["3"] == {"dice_loss": 0.09, "dice_coeff": 0.91, "pixel_acc": 0.923}
    assert by_key["t3_densenet_unet"].params["backbone"] == "densenet121"
    assert g21.FULL["unet_size"] == (448, 592) and g21.FULL["densenet_unet_size"] == (448, 576)


def test_quick_grid():
    quick = select_experiments(g21, ["all"], quick=True)
    assert [e.key for e in quick] == ["t3_unet", "t3_densenet_unet", "t2_row01", "t2_row03", "t2_row04",
                                      "t2_row11", "tone_original", "tone_balanced"]
    for key in ("unet_size", "densenet_unet_size"):
        assert all(s % 32 == 0 for s in g21.QUICK[key])


def test_parse_data_roots(tmp_path):
    assert g21.parse_data_roots("synthetic") is None
    roots = g21.parse_data_roots("ham10000=/a/ham, isic2020=/b/isic")
    assert roots == {"ham10000": Path("/a/ham"), "isic2020": Path("/b/isic")}
    (tmp_path / "HAM10000").mkdir()
    (tmp_path / "isic2020").mkdir()
    assert g21.parse_data_roots(str(tmp_path)) == {"ham10000": tmp_path / "HAM10000",
                                                   "isic2020": tmp_path / "isic2020"}
    with pytest.raises(ValueError, match="Received"):
        g21.parse_data_roots("ham10000=/a")
    with pytest.raises(ValueError, match="Received"):
        g21.parse_data_roots("foo=/a,isic2020=/b")


def test_preprocess_isic2020_resizes_then_centre_crops():
    image = np.zeros((400, 600, 3), np.uint8)  # 3:2 source
    image[:, 300:] = 255  # right half white
    out = g21.preprocess_isic2020(image, (480, 640), 224)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    # after the 640×480 resize the crop keeps x in [80, 560): the white half starts at x = 320 → column 112
    assert out[:, :100].max() == 0 and out[:, 125:].min() == 255


def test_classification_metrics_hand_case():
    y = np.array([1, 1, 0, 0, 0])
    prob = np.array([[0.2, 0.8], [0.6, 0.4], [0.9, 0.1], [0.3, 0.7], [0.8, 0.2]])
    m = g21.classification_metrics(y, prob)
    assert m["malignant_acc"] == 0.5 and m["benign_acc"] == pytest.approx(2 / 3)
    assert m["balanced_acc"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(0.5) and m["f1"] == pytest.approx(0.5)
    assert m["confusion"] == {"true_malignant": {"pred_malignant": 1, "pred_benign": 1},
                              "true_benign": {"pred_malignant": 1, "pred_benign": 2}}
    ce = -np.log([0.8, 0.4, 0.9, 0.3, 0.8])
    assert m["loss"] == pytest.approx(ce.mean(), rel=1e-6)
    weighted = g21.classification_metrics(y, prob, (1.0, 2.0))["loss"]
    assert weighted == pytest.approx((2 * ce[:2].sum() + ce[2:].sum()) / 7, rel=1e-6)


def test_sample_weights_give_the_2_to_1_loss():
    """Row 11's loss (weights 2:1) equals the 1:1 loss with per-sample weights, as _with_weights feeds it."""
    import tensorflow as tf

    from dermkit.losses import WeightedCategoricalCrossentropy

    y = tf.constant([[0, 1], [1, 0], [1, 0], [0, 1]], tf.float32)
    p = tf.constant([[0.3, 0.7], [0.6, 0.4], [0.9, 0.1], [0.8, 0.2]], tf.float32)
    direct = WeightedCategoricalCrossentropy((1.0, 2.0))(y, p)
    ds = g21._with_weights(tf.data.Dataset.from_tensors((tf.zeros([4, 1]), y)), (1.0, 2.0))
    _, _, sw = next(iter(ds))
    np.testing.assert_allclose(sw.numpy(), [2, 1, 1, 2])
    via_weights = WeightedCategoricalCrossentropy((1.0, 1.0))(y, p, sample_weight=sw)
    assert float(direct) == pytest.approx(float(via_weights), rel=1e-6)


def _session(tmp_path, synthetic=True, quick=True):
    options = RunOptions(output=tmp_path, data="synthetic" if synthetic else "x", quick=quick)
    return types.SimpleNamespace(options=options, output=tmp_path, figures_dir=tmp_path / "figures")


def test_tables_from_fake_results(tmp_path):
    fake_cls = {"loss": 0.5, "accuracy": 0.7, "benign_acc": 0.7, "malignant_acc": 0.8, "balanced_acc": 0.75,
                "precision": 0.05, "f1": 0.09,
                "confusion": {"true_malignant": {"pred_malignant": 3, "pred_benign": 1},
                              "true_benign": {"pred_malignant": 10, "pred_benign": 20}},
                "settings": g21._t1_reported(4), "fit": {"best_epoch": 2, "epochs_run": 3}}
    seg = {"dice_loss": 0.2, "dice_coeff": 0.8, "pixel_acc": 0.9, "jaccard": 0.7,
           "baseline_background": {"dice_loss": 1.0, "dice_coeff": 0.0, "pixel_acc": 0.8, "jaccard": 0.0},
           "baseline_lesion": {"dice_loss": 0.7, "dice_coeff": 0.3, "pixel_acc": 0.2, "jaccard": 0.2}}
    tone = {"dataset": "segmented", "per_tone": [{"group": "C", "n": 5.0, "positives": 1.0, "sensitivity": 1.0,
                                                  "false_negative_rate": 0.0}],
            "per_ita": [{"group": "tan", "n": 5.0, "positives": 1.0, "sensitivity": 1.0,
                         "false_negative_rate": 0.0}]}
    results = {"t2_row04": fake_cls, "t3_unet": seg, "tone_original": tone}
    tables = {t.name: t for t in g21.make_tables(results, None, _session(tmp_path))}
    assert list(tables) == list(g21.TABLES)
    assert all(t.synthetic for t in tables.values())
    t2 = tables["2"]
    assert len(t2.rows) == 11
    row4 = t2.rows[3]
    assert row4.dermkit["balanced_acc"] == 0.75 and row4.paper["balanced_acc"] == 0.771
    assert t2.rows[0].dermkit == {} and t2.rows[0].paper["loss"] == 0.51
    assert "SYNTHETIC" in t2.to_markdown()
    t3 = tables["3"]
    assert [r.label for r in t3.rows] == ["U-Net", "DenseNet", "all-background baseline", "all-lesion baseline"]
    assert t3.rows[0].dermkit["dice_coeff"] == 0.8 and t3.rows[1].paper["dice_coeff"] == 0.94
    cm = tables["3cm"]
    assert [r.label for r in cm.rows] == ["row 3 · true malignant", "row 3 · true benign",
                                          "row 4 · true malignant", "row 4 · true benign"]
    assert cm.rows[2].dermkit == {"pred_malignant": 3, "pred_benign": 1}
    assert cm.rows[3].paper == {"pred_malignant": 1193, "pred_benign": 3541}
    tone_rows = tables["skin_tone"].rows
    assert tone_rows[0].label == "Fig. 4 · tone C" and tone_rows[1].label == "Fig. 4 · ITA tan"
    assert tone_rows[-1].label.endswith("(not run)")
    frame = t2.to_frame()
    assert math.isnan(frame[(frame.row == t2.rows[0].label) & (frame.metric == "loss")].dermkit.iloc[0])


def test_segmentation_metrics_hand_case():
    truth = np.zeros((2, 4, 4, 1), np.float32)
    truth[0, :2, :2] = 1
    truth[1, 2:, 2:] = 1
    m = g21.segmentation_metrics(truth, truth.copy())
    assert m["dice_coeff"] == pytest.approx(1.0, abs=1e-6) and m["pixel_acc"] == 1.0 and m["jaccard"] == 1.0
    zero = g21.segmentation_metrics(truth, np.zeros_like(truth))
    assert zero["dice_coeff"] == pytest.approx(0.0, abs=1e-5) and zero["pixel_acc"] == 0.75
    half = truth.copy()
    half[1] = 0  # one of two lesions found: Dice over all pixels = 2·4 / (4 + 8)
    assert g21.segmentation_metrics(truth, half)["dice_coeff"] == pytest.approx(8 / 12, abs=1e-5)


def test_write_isic_masks_names_values_and_resume(tmp_path):
    from dermkit.data.imageio import read_mask, write_png
    from dermkit.inference import write_isic_masks

    paths = []
    for i in range(3):
        image = np.zeros((10, 12, 3), np.uint8)
        image[2:6, 3:8] = 200
        paths.append(write_png(tmp_path / f"im{i}.png", image))
    df = pd.DataFrame({"image_id": ["ISIC_1", "ISIC_2", "ISIC_3"], "image_path": [str(p) for p in paths]})

    class Bright:  # "lesion" = bright pixels
        calls = 0

        def predict(self, x, verbose=0):
            Bright.calls += 1
            return (x.mean(axis=-1, keepdims=True) > 0.5).astype(np.float32)

    out = write_isic_masks(Bright(), df, tmp_path / "masks", input_size=(10, 12), batch_size=2, progress=False)
    mask = read_mask(tmp_path / "masks" / "ISIC_1_segmentation.png")
    assert out["mask_path"].tolist()[0].endswith("ISIC_1_segmentation.png")
    assert set(np.unique(mask)) == {0, 255} and (mask[2:6, 3:8] == 255).all() and mask.sum() == 255 * 20
    calls = Bright.calls
    write_isic_masks(Bright(), df, tmp_path / "masks", input_size=(10, 12), progress=False)
    assert Bright.calls == calls  # resumed: nothing predicted again
    with pytest.raises(ValueError, match="threshold"):
        write_isic_masks(Bright(), df, tmp_path / "m2", input_size=(10, 12), threshold=1.5)


def test_goel_plots_write_files(tmp_path):
    from dermkit.plots import plot_activation_maps, plot_mask_comparison, plot_pr_roc_curves

    image = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    mask = np.zeros((16, 16), bool)
    mask[4:10, 4:10] = True
    p1 = plot_mask_comparison([image], {"truth": [mask], "pred": [mask]}, tmp_path / "f1.png", title="SYNTHETIC")
    p2 = plot_activation_maps([("a", image, mask.astype(np.float32))], tmp_path / "f2.png")
    p3 = plot_pr_roc_curves({"r": ([0, 1, 1, 0], [0.1, 0.9, 0.6, 0.4]), "one": ([0, 0], [0.2, 0.3])},
                            tmp_path / "f3.png")
    assert all(p.stat().st_size > 1000 for p in (p1, p2, p3))
    with pytest.raises(FileExistsError):
        plot_pr_roc_curves({"r": ([0, 1], [0.1, 0.9])}, tmp_path / "f3.png")
    with pytest.raises(ValueError, match="masks"):
        plot_mask_comparison([image], {"truth": []}, tmp_path / "f4.png")


def test_plain_unet_learns_beyond_trivial_masks(tmp_path):
    """Cheap learning check: the quick segmentation recipe (plain U-Net, Dice loss, Adam 1e-3, BN momentum 0.9)
    on 24 synthetic HAM10000 images at 32×32 beats both trivial masks on held-out images."""
    import keras

    from dermkit.data.isic import load_ham10000
    from dermkit.data.pipelines import segmentation_dataset
    from dermkit.data.synthetic import make_ham10000

    keras.utils.set_random_seed(0)
    df = load_ham10000(make_ham10000(tmp_path / "ham", n_images=32, image_size=(32, 32), seed=1))
    train = segmentation_dataset(df.iloc[:24], image_size=32, batch_size=8, shuffle=True, seed=0, cache="memory")
    x_test, y_test = next(iter(segmentation_dataset(df.iloc[24:], image_size=32, batch_size=8)))
    model, _ = g21._build_segmenter({"backbone": None, "size_key": "unet_size"}, {**g21.QUICK, "unet_size": (32, 32)})
    model.compile(keras.optimizers.Adam(1e-3), loss=g21.dice_loss_fn())
    model.fit(train, epochs=5, verbose=0, shuffle=False)
    truth = y_test.numpy()
    ours = g21.segmentation_metrics(truth, model.predict(x_test, verbose=0))
    background = g21.segmentation_metrics(truth, np.zeros_like(truth))
    lesion = g21.segmentation_metrics(truth, np.ones_like(truth))
    assert ours["dice_coeff"] > background["dice_coeff"] + 0.3
    assert ours["dice_coeff"] > lesion["dice_coeff"] + 0.1


@pytest.mark.slow
def test_quick_reproduction_end_to_end(tmp_path):
    from dermkit.training.runner import reproduce

    out = reproduce(g21, RunOptions(output=tmp_path / "run", data="synthetic", quick=True, verbose=0))
    names = {p.name for p in out["files"]}
    assert {"table_2.md", "table_3.md", "table_3cm.md", "table_skin_tone.md", "fig1_masks.png",
            "fig2_activation_maps.png", "pr_roc.png", "fig4_tones.png"} <= names
    seg = out["results"]["t3_unet"]
    assert seg["dice_coeff"] > seg["baseline_background"]["dice_coeff"] + 0.3
