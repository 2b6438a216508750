"""goel2021 reproduction: the grid against the report's Tables 1–3 (typed from the report's text, not from the
module), the grid's structure (dependencies and artifacts), tables from fake results, the crops manifest, the
classifier cache (a row's numbers do not depend on whether it was warm), one cheap segmentation learning check;
the end-to-end quick run is marked slow."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dermkit.papers import goel2021 as g21
from dermkit.training.experiment import dependency_closure, fingerprint, identity
from dermkit.training.options import RunOptions
from dermkit.training.runner import select_experiments

# --- the report's tables, as printed (tab-separated, copied from the report's text) -----------------------
REPORT_TABLE_1 = """
1	base froz.	orig.	no	1e-3	0	no
2	base froz.	seg.	no	1e-3	0	no
3	finetun.	orig.	no	1e-3	0	no
4	finetun.	seg.	no	1e-3	0	no
5	fc layers	seg.	no	1e-3	0	no
6	dense-bl.	seg.	no	1e-3	0	no
7	finetun.	seg.	yes	1e-3	0	no
8	finetun.	seg.	no	1e-2	0	no
9	base froz.	seg.	no	1e-2	0	no
10	finetun.	seg.	no	1e-3	1e-3	no
11	finetun.	seg.	no	1e-3	0	2-1
"""
# columns: loss, accuracy, benign acc., malignant acc., balanced acc., precision, f1-score
REPORT_TABLE_2 = """
1	0.51	71%	70.8%	81.6%	76.2%	4.8%	9.1%
2	0.66	64.2%	63.9%	78.2%	71%	3.8%	7.3%
3	0.49	77.5%	77.6%	75.9%	76.7%	5.8%	10.7%
4	0.49	74.9%	74.8%	79.3%	77.1%	5.5%	10.2%
5	0.18	92.5%	93.7%	26.4%	60%	7.1%	11.2%
6	0.59	60.2%	59.6%	92%	75.8%	4%	7.7%
7	0.45	78.2%	78.3%	70.1%	74.2%	5.6%	10.4%
8	0.67	67.1%	66.8%	80.5%	73.7%	4.3%	8.1%
9	0.57	71.9%	72%	70.1%	71%	4.4%	8.3%
10	0.77	53.5%	52.8%	93.1%	73%	3.5%	6.7%
11	0.6	69.7%	69.5%	78.2%	73.8%	4.5%	8.5%
"""
REPORT_TABLE_3_TOP = {"U-Net": "0.09	0.91	92.3%", "DenseNet": "0.06	0.94	93.8%"}
# Table 3 bottom: rows truth (mal., ben.), columns predicted (mal., ben.); left row 4, right row 3.
REPORT_TABLE_3_BOTTOM = {4: ("69	18", "1,193	3,541"), 3: ("66	21", "1,081	3,737")}
# Section 3.2's names for the "weights" column; §3.1 input sizes (W * H).
REPORT_WEIGHTS = {"base froz.": "frozen", "finetun.": "finetune", "fc layers": "fc", "dense-bl.": "last_block"}
T2_COLUMNS = ("loss", "accuracy", "benign_acc", "malignant_acc", "balanced_acc", "precision", "f1")


def _number(text: str) -> float:
    text = text.replace(",", "")
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


def _lines(block: str) -> list[list[str]]:
    return [line.split("\t") for line in block.strip().splitlines()]


def _classifier_rows():
    return [e for e in g21.EXPERIMENTS if e.params["kind"] == "classifier" and e.key != g21.LONG_RUN_KEY]


def _by_key():
    return {e.key: e for e in g21.EXPERIMENTS}


# --- the grid is the report's -----------------------------------------------------------------------------
def test_table_1_is_the_reports():
    rows = {e.params["row"]: e for e in _classifier_rows()}
    assert sorted(rows) == list(range(1, 12))
    for number, weights, data, augm, lr, l2, class_w in _lines(REPORT_TABLE_1):
        exp = rows[int(number)]
        expected = {"weights": REPORT_WEIGHTS[weights], "data": {"orig.": "original", "seg.": "segmented"}[data],
                    "augmentation": augm == "yes", "lr": float(lr), "l2": float(l2),
                    "class_weights": [1.0, 2.0] if class_w == "2-1" else [1.0, 1.0]}
        got = {k: (list(v) if isinstance(v, tuple) else v) for k, v in exp.params.items()}
        assert {k: got[k] for k in expected} == expected, number
        assert exp.reported["1"]["lr"] == float(lr) and exp.reported["1"]["class_w_malignant"] == expected[
            "class_weights"][1]
        assert exp.label.startswith(f"{number}: {weights}, {data}, augm. {augm}")


def test_table_2_is_the_reports():
    rows = {e.params["row"]: e for e in _classifier_rows()}
    for number, *values in _lines(REPORT_TABLE_2):
        reported = rows[int(number)].reported["2"]
        assert set(reported) == set(T2_COLUMNS)
        for column, text in zip(T2_COLUMNS, values):
            assert reported[column] == pytest.approx(_number(text), abs=1e-9), (number, column)
    # the report's bolded best balanced accuracy is row 4's
    best = max(rows.values(), key=lambda e: e.reported["2"]["balanced_acc"])
    assert best.key == g21.BEST_KEY == "t2_row04"


def test_table_3_is_the_reports():
    by_label = {e.label: e for e in g21.EXPERIMENTS if e.params["kind"] == "segmentation"}
    for label, text in REPORT_TABLE_3_TOP.items():
        loss, coeff, acc = (_number(t) for t in text.split("\t"))
        assert by_label[label].reported["3"] == pytest.approx({"dice_loss": loss, "dice_coeff": coeff,
                                                               "pixel_acc": acc})
    assert by_label["DenseNet"].params["backbone"] == "densenet121" and by_label["U-Net"].params["backbone"] is None
    # §3.1: "592*448 pixels" for the U-Net, "576 * 448" for the DenseNet backbone (W * H)
    assert g21.FULL["unet_size"] == (448, 592) and g21.FULL["densenet_unet_size"] == (448, 576)
    by_key = _by_key()
    for row, (mal, ben) in REPORT_TABLE_3_BOTTOM.items():
        (tp, fn), (fp, tn) = ([int(_number(t)) for t in line.split("\t")] for line in (mal, ben))
        cm = by_key[f"t2_row{row:02d}"].reported["3cm"]
        assert cm == {"true_malignant": {"pred_malignant": tp, "pred_benign": fn},
                      "true_benign": {"pred_malignant": fp, "pred_benign": tn}}
        # the matrix gives the row's Table 2 class accuracies (report's rounding)
        assert round(tp / (tp + fn), 3) == by_key[f"t2_row{row:02d}"].reported["2"]["malignant_acc"]
        assert round(tn / (tn + fp), 3) == by_key[f"t2_row{row:02d}"].reported["2"]["benign_acc"]


def test_augmentation_and_the_50_epoch_row():
    """§4.2's augmentation set; §5.2.3: row 7's model trained for 50 epochs is a row of its own (Fig. 8)."""
    assert g21.AUGMENT == {"rot90": False, "rotation": 90.0, "scale": (0.8, 1.2), "shear": 20.0}
    by_key = _by_key()
    long = by_key[g21.LONG_RUN_KEY]
    row7 = by_key["t2_row07"]
    assert long.params == {**row7.params, "epochs": 50} and row7.params["epochs"] is None
    assert long.reported == {} and long.depends_on == (g21.CROPS_KEY,) and not long.quick


# --- the grid's structure ---------------------------------------------------------------------------------
def test_dependencies_are_declared():
    by_key = _by_key()
    assert len(by_key) == len(g21.EXPERIMENTS)
    crops = by_key[g21.CROPS_KEY]
    assert crops.depends_on == ("t3_densenet_unet",) and crops.params["segmenter"] == "t3_densenet_unet"
    for exp in g21.EXPERIMENTS:
        if exp.params["kind"] == "classifier":
            segmented = exp.params["data"] == "segmented"
            assert exp.depends_on == ((g21.CROPS_KEY,) if segmented else ()), exp.key
        if exp.params["kind"] == "tone":
            assert set(exp.depends_on) == {"t2_row04", g21.CROPS_KEY}, exp.key
        if exp.params["kind"] == "segmentation":
            assert exp.depends_on == ()
    plan = [e.key for e in dependency_closure(g21.EXPERIMENTS, g21.EXPERIMENTS)]
    for exp in g21.EXPERIMENTS:  # every dependency runs before its user
        assert all(plan.index(dep) < plan.index(exp.key) for dep in exp.depends_on)


def test_selecting_a_table_pulls_in_its_dependencies():
    skin = [e.key for e in dependency_closure(select_experiments(g21, ["skin_tone"], quick=False), g21.EXPERIMENTS)]
    assert skin == ["t3_densenet_unet", g21.CROPS_KEY, "t2_row04", "tone_original", "tone_balanced"]
    quick = select_experiments(g21, ["all"], quick=True)
    assert [e.key for e in quick] == ["t3_unet", "t3_densenet_unet", "t2_row01", "t2_row03", "t2_row04", "t2_row11",
                                      "tone_original", "tone_balanced"]
    assert g21.CROPS_KEY in {e.key for e in dependency_closure(quick, g21.EXPERIMENTS)}
    for key in ("unet_size", "densenet_unet_size"):
        assert all(s % 32 == 0 for s in g21.QUICK[key])


def test_rows_have_fingerprints_and_a_version():
    assert isinstance(g21.VERSION, int)
    prints = set()
    for exp in g21.EXPERIMENTS:
        json.dumps(dict(exp.params))  # params are plain data
        prints.add(fingerprint(identity(g21.NAME, g21.VERSION, exp, 0, 0, {"data": "synthetic"})))
    assert len(prints) == len(g21.EXPERIMENTS)


def test_module_imports_without_tensorflow():
    code = ("import sys, dermkit.papers.goel2021 as g; g.make_tables({}, None, __import__('types').SimpleNamespace("
            "options=__import__('dermkit.training.options', fromlist=['x']).RunOptions(output='.', quick=True)));"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["False", "False"]


# --- tables from fake results -----------------------------------------------------------------------------
def _session(tmp_path, synthetic=True, quick=True):
    options = RunOptions(output=tmp_path, data="synthetic" if synthetic else "x", quick=quick)
    return types.SimpleNamespace(options=options, output=tmp_path, figures_dir=tmp_path / "figures")


def test_tables_from_fake_results(tmp_path):
    fake_cls = {"loss": 0.5, "accuracy": 0.7, "benign_acc": 0.7, "malignant_acc": 0.8, "balanced_acc": 0.75,
                "precision": 0.05, "f1": 0.09,
                "confusion": {"true_malignant": {"pred_malignant": 3, "pred_benign": 1},
                              "true_benign": {"pred_malignant": 10, "pred_benign": 20}},
                "settings": {"lr": 1e-3}, "fit": {"best_epoch": 2, "epochs_total": 3}}
    seg = {"dice_loss": 0.2, "dice_coeff": 0.8, "pixel_acc": 0.9, "jaccard": 0.7,
           "baseline_background": {"dice_loss": 1.0, "dice_coeff": 0.0, "pixel_acc": 0.8, "jaccard": 0.0},
           "baseline_lesion": {"dice_loss": 0.7, "dice_coeff": 0.3, "pixel_acc": 0.2, "jaccard": 0.2}}
    tone = {"dataset": "segmented", "per_tone": [{"group": "C", "n": 5.0, "positives": 1.0, "sensitivity": 1.0,
                                                  "false_negative_rate": 0.0}],
            "per_ita": [{"group": "tan", "n": 5.0, "positives": 1.0, "sensitivity": 1.0,
                         "false_negative_rate": 0.0}]}
    results = {"t2_row04": fake_cls, "t3_unet": seg, "tone_original": tone,
               g21.CROPS_KEY: {"fallbacks": 2, "n_images": 40}}
    tables = {t.name: t for t in g21.make_tables(results, None, _session(tmp_path))}
    assert list(tables) == list(g21.TABLES)
    assert all(t.synthetic for t in tables.values())
    t2 = tables["2"]
    assert len(t2.rows) == 12 and t2.rows[-1].paper == {}  # 11 rows of the report + the 50-epoch run
    row4 = t2.rows[3]
    assert row4.dermkit["balanced_acc"] == 0.75 and row4.paper["balanced_acc"] == 0.771
    assert t2.rows[0].dermkit == {} and t2.rows[0].paper["loss"] == 0.51
    assert any("2 of 40" in note for note in t2.notes) and "SYNTHETIC" in t2.to_markdown()
    assert tables["1"].rows[3].dermkit["epochs_run"] == 3 and tables["1"].rows[3].dermkit["best_epoch"] == 2
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


# --- the crops artifact: a manifest of paths relative to the artifact folder -------------------------------
class _ArtifactSession(types.SimpleNamespace):
    def artifact(self, key, name):
        assert key == g21.CROPS_KEY
        return self.folder / name


def test_crops_frame_resolves_the_manifest(tmp_path):
    folder = tmp_path / "artifacts" / "isic2020_crops.r0"
    folder.mkdir(parents=True)
    pd.DataFrame({"image_id": ["ISIC_2", "ISIC_1"], "split": ["test", "train"], "label": [1, 0],
                  "segmented_path": ["segmented/ISIC_2.png", "segmented/ISIC_1.png"],
                  "balanced_path": ["balanced/ISIC_2.png", "balanced/ISIC_1.png"], "painted_tone": ["C", "NA"],
                  "crop_fallback": [False, True], "bbox": ["0 0 4 4", "0 0 8 8"],
                  "test_mask_path": ["test_masks/ISIC_2_segmentation.png", ""]}).to_csv(folder / "manifest.csv",
                                                                                         index=False)
    isic = pd.DataFrame({"image_id": ["ISIC_1", "ISIC_2"], "split": ["train", "test"], "label": [0, 1],
                         "original_path": ["/o/1.png", "/o/2.png"]})
    data = g21.Data(ham=pd.DataFrame(), isic=isic, cache=tmp_path, synthetic=True, roots={})
    session = _ArtifactSession(folder=folder)
    frame = g21._crops_frame(data, session)
    assert frame["image_id"].tolist() == ["ISIC_1", "ISIC_2"]  # the data's order, not the manifest's
    assert frame["segmented_path"].tolist() == [str(folder / "segmented/ISIC_1.png"),
                                                str(folder / "segmented/ISIC_2.png")]
    assert frame["test_mask_path"].tolist() == ["", str(folder / "test_masks/ISIC_2_segmentation.png")]
    assert frame["crop_fallback"].tolist() == [True, False] and frame["painted_tone"].tolist() == ["NA", "C"]
    test = g21._frame(data, session, "balanced", "test")
    assert test["image_path"].tolist() == [str(folder / "balanced/ISIC_2.png")]
    more = g21.Data(ham=pd.DataFrame(), isic=pd.concat([isic, isic.assign(image_id="ISIC_3")]), cache=tmp_path,
                    synthetic=True, roots={})
    with pytest.raises(FileNotFoundError, match="ISIC_3"):
        g21._crops_frame(more, session)


# --- recipes that need TensorFlow -------------------------------------------------------------------------
def test_table2_numbers_hand_case():
    pytest.importorskip("tensorflow")
    y = np.array([1, 1, 0, 0, 0])
    prob = np.array([[0.2, 0.8], [0.6, 0.4], [0.9, 0.1], [0.3, 0.7], [0.8, 0.2]])
    m = g21._table2_numbers(y, prob)
    assert m["malignant_acc"] == 0.5 and m["benign_acc"] == pytest.approx(2 / 3)
    assert m["balanced_acc"] == pytest.approx((0.5 + 2 / 3) / 2) and m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(0.5) and m["f1"] == pytest.approx(0.5)
    assert m["confusion"] == {"true_malignant": {"pred_malignant": 1, "pred_benign": 1},
                              "true_benign": {"pred_malignant": 1, "pred_benign": 2}}
    ce = -np.log([0.8, 0.4, 0.9, 0.3, 0.8])
    assert m["loss"] == pytest.approx(ce.mean(), rel=1e-6)
    weighted = g21._table2_numbers(y, prob, (1.0, 2.0))["loss"]  # §3.2: Σ wᵢ lossᵢ / Σ wᵢ, malignant 2
    assert weighted == pytest.approx((2 * ce[:2].sum() + ce[2:].sum()) / 7, rel=1e-6)


class _CacheSession(types.SimpleNamespace):
    """What _classifier uses of RunSession: options, seed, key, cache, log, compile."""

    def log(self, message):
        self.logs.append(message)

    def compile(self, model, **kwargs):
        model.compile(**kwargs)
        return model


def _tiny_classifier(monkeypatch):
    """Replace DenseNet121 by a tiny model with batch norm (what the cache must restore is the same kind)."""
    import keras

    import dermkit.models.classifiers as classifiers

    def build(input_shape, *, num_classes, encoder_weights, train_mode, l2):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(3, 3, strides=8, name="conv")(inputs)
        x = keras.layers.BatchNormalization(name="bn")(x)
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x))

    def set_mode(model, mode):
        model.get_layer("conv").trainable = mode != "frozen"
        return model

    monkeypatch.setattr(classifiers, "densenet_classifier", build)
    monkeypatch.setattr(classifiers, "set_train_mode", set_mode)


def test_classifier_cache_warm_equals_cold(monkeypatch, tmp_path):
    """A row's training is the same whether an earlier row of the process left its model in session.cache
    (initial weights restored, Adam zeroed, seed reset) or the model is built fresh."""
    pytest.importorskip("tensorflow")
    _tiny_classifier(monkeypatch)
    rng = np.random.default_rng(0)
    x = rng.random((8, 64, 64, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[[0, 1] * 4]

    def run(session, mode, lr):
        model = g21._classifier(session, train_mode=mode, l2=0.0, lr=lr)
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
        return [w.copy() for w in model.get_weights()]

    def session():
        return _CacheSession(options=RunOptions(output=tmp_path, quick=True), seed=3, key="t2_rowXX", cache={},
                             logs=[])

    cold = run(session(), "finetune", 1e-2)
    warm_session = session()
    run(warm_session, "finetune", 1e-3)  # an earlier row: same architecture, other learning rate
    warm = run(warm_session, "finetune", 1e-2)  # same trainable layers: reset, not recompiled
    assert any("reusing" in line for line in warm_session.logs)
    switched_session = session()
    run(switched_session, "frozen", 1e-3)  # an earlier row with other trainable layers: recompiled
    switched = run(switched_session, "finetune", 1e-2)
    for a, b, c in zip(cold, warm, switched):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(a, c, rtol=1e-6, atol=1e-7)
    other_seed = session()
    other_seed.seed = 4
    assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(cold, run(other_seed, "finetune", 1e-2)))
    assert len(other_seed.cache) == 1  # the cache key holds the seed


def test_plain_unet_learns_beyond_trivial_masks(tmp_path):
    """Cheap learning check: the quick segmentation recipe (plain U-Net, Dice loss, Adam 1e-3, BN momentum 0.9)
    on 24 synthetic HAM10000 images at 32×32 beats both trivial masks on held-out images."""
    keras = pytest.importorskip("keras")

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
    ours = g21._table3_numbers(truth, model.predict(x_test, verbose=0))
    background = g21._table3_numbers(truth, np.zeros_like(truth))
    lesion = g21._table3_numbers(truth, np.ones_like(truth))
    assert ours["dice_coeff"] > background["dice_coeff"] + 0.3
    assert ours["dice_coeff"] > lesion["dice_coeff"] + 0.1


def test_write_isic_masks_names_values_and_resume(tmp_path):
    pytest.importorskip("tensorflow")
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


@pytest.mark.slow
def test_quick_reproduction_end_to_end(tmp_path):
    from dermkit.training.runner import reproduce

    out = reproduce(g21, RunOptions(output=tmp_path / "run", data="synthetic", quick=True, verbose=0))
    names = {p.name for p in out["files"]}
    assert {"table_2.md", "table_3.md", "table_3cm.md", "table_skin_tone.md", "fig1_masks.png",
            "fig2_activation_maps.png", "pr_roc.png", "fig4_tones.png", "fig7_training_curves.png"} <= names
    seg = out["results"]["t3_unet"]
    assert seg["dice_coeff"] > seg["baseline_background"]["dice_coeff"] + 0.3
    history = out["results"]["t2_row04"]["fit"]["history"]
    assert {"loss", "accuracy", "val_benign_acc", "val_malignant_acc", "val_balanced_accuracy"} <= set(history)
    artifacts = tmp_path / "run" / "artifacts"
    assert (artifacts / "t2_row04.r0" / "model.keras").is_file()
    assert (artifacts / "isic2020_crops.r0" / "manifest.csv").is_file()


# ----------------------------------------------------------------------------------------------------------
# Issue 17: a pixel-corrupt image on the recipe's own paths (test predictions, a row's datasets) is named
# ----------------------------------------------------------------------------------------------------------
def _images_with_a_pixel_corrupt_jpeg(tmp_path, n=4, bad=2):
    tf = pytest.importorskip("tensorflow")
    from dermkit.data.imageio import write_jpeg

    rng = np.random.default_rng(0)
    paths = [write_jpeg(tmp_path / f"ISIC_{i:07d}.jpg", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
             for i in range(n)]
    data = bytearray(paths[bad].read_bytes())
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    data[start:-2] = np.random.default_rng(1).integers(0, 256, len(data) - 2 - start, dtype=np.uint8).tobytes()
    paths[bad].write_bytes(bytes(data))
    with pytest.raises(tf.errors.InvalidArgumentError, match="jpeg::Uncompress failed"):
        tf.io.decode_jpeg(bytes(data), channels=3)
    df = pd.DataFrame({"image_id": [p.stem for p in paths], "image_path": [str(p) for p in paths],
                       "label": [0, 1] * (n // 2)})
    df.attrs["class_names"] = g21.CLASS_NAMES
    return df, paths[bad]


def _tiny_softmax():
    keras = pytest.importorskip("keras")
    return keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(name="pool"),
                             keras.layers.Dense(2, activation="softmax", name="head")])


def test_test_predictions_name_a_pixel_corrupt_jpeg(tmp_path):
    from dermkit.errors import DermkitDataError

    df, bad = _images_with_a_pixel_corrupt_jpeg(tmp_path)
    with pytest.raises(DermkitDataError, match=f"{bad}: TensorFlow cannot decode this file"):
        g21._predict(_tiny_softmax(), df, {"cls_size": 16, "cls_batch": 2})


def test_a_row_runs_inside_named_data_errors(tmp_path, monkeypatch):
    """Whatever a row does with its datasets (here: a plain zip, as a tf.distribute strategy makes), a
    damaged file is named."""
    tf = pytest.importorskip("tensorflow")
    from dermkit.errors import DermkitDataError

    df, bad = _images_with_a_pixel_corrupt_jpeg(tmp_path)

    def row(exp, data, session):
        ds = g21._cls_dataset(df, {"cls_size": 16, "cls_batch": 2})
        return _tiny_softmax().predict(tf.data.Dataset.zip((ds,)).map(lambda xy: xy[0]), verbose=0)

    monkeypatch.setattr(g21, "_run_row", row)
    with pytest.raises(tf.errors.InvalidArgumentError):
        row(None, None, None)
    with pytest.raises(DermkitDataError, match=f"{bad}: TensorFlow cannot decode this file"):
        g21.run_experiment(None, None, None)
