"""kawahara2018 reproduction: the experiment grid is the paper's, evaluation facts on hand cases, tables."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from dermkit.data.isic import load_isic2017  # noqa: E402
from dermkit.data.pipelines import iter_isic2017_eval  # noqa: E402
from dermkit.data.superpixels import superpixels_to_mask  # noqa: E402
from dermkit.papers import kawahara2018 as k18  # noqa: E402
from dermkit.training.options import RunOptions  # noqa: E402
from dermkit.training.runner import select_experiments  # noqa: E402

# Table IV of the paper, row by row: (loss, partition, class-augment, alpha, beta, reported J̄nan).
TABLE_IV = [
    ("wbce", None, False, None, None, 0.0),
    ("wbce", None, True, None, None, 0.067),
    ("dice", "volume", True, 0.0, 1.0, 0.067),
    ("dice", "channel_image", True, 1.0, 1.0, 0.0),
    ("dice", "channel_image", True, 0.0, 1.0, 0.078),
    ("dice", "channel_batch", False, 1.0, 1.0, 0.0),
    ("dice", "channel_batch", False, 0.0, 1.0, 0.083),
    ("dice", "channel_batch", True, 0.0, 1.0, 0.107),
]


def test_table_iv_rows_are_the_papers():
    rows = [e for e in k18.EXPERIMENTS if "IV" in e.tables]
    assert len(rows) == 8
    for exp, (loss, partition, augment, alpha, beta, jnan) in zip(rows, TABLE_IV):
        p = exp.params
        assert (p["loss"], p["partition"], p["class_augment"], p["alpha"], p["beta"]) == (
            loss, partition, augment, alpha, beta)
        assert exp.reported["IV"]["Jnan"] == jnan


def test_table_iii_is_table_iv_rows_2_3_5_8_with_matching_averages():
    iii = [e for e in k18.EXPERIMENTS if "III" in e.tables]
    assert [e.key for e in iii] == ["t4_row2", "t4_row3", "t4_row5", "t4_row8"]
    for exp in iii:  # the paper's Table III averages are Table IV's J̄nan column
        assert exp.reported["III"]["avg"]["Jnan"] == exp.reported["IV"]["Jnan"]


def test_quick_run_holds_table_iv_baselines_and_the_vgg_skip_model():
    quick = select_experiments(k18, ["all"], quick=True)
    assert {e.key for e in quick} == {f"t4_row{i}" for i in range(1, 9)} | {"baseline_lesion", "baseline_empty"}
    by_key = {e.key: e for e in k18.EXPERIMENTS}
    v_rows = [by_key[key] for key in k18.TABLE5_ORDER]
    assert {e.key for e in k18.EXPERIMENTS if "V" in e.tables} == set(k18.TABLE5_ORDER)
    assert [(e.params["backbone"], e.params["connection"]) for e in v_rows] == [
        ("inception_resnet_v2", "skip"), ("resnet50", "skip"), ("vgg16", "unet"), ("vgg16", "skip")]
    assert [e.reported["V"]["Jnan"] for e in v_rows] == [0.082, 0.091, 0.082, 0.107]
    assert k18.FIGURE_ROW == "t4_row8"


def test_entry_settings_follow_section_ii_e():
    entry = next(e for e in k18.EXPERIMENTS if e.key == "isic_entry")
    assert entry.params["class_augment"] is False and entry.params["epochs"] == 5
    assert k18.FULL["learning_rate"] == 5e-5 and k18.FULL["batch_size"] == 12 and k18.FULL["input_size"] == 336


def _items(root):
    df = load_isic2017(root, "test")
    return [{**item, "index": item["superpixels"]} for item in iter_isic2017_eval(df)]


def test_perfect_predictions_score_one(isic2017_root):
    items = _items(isic2017_root)
    result = k18.evaluate_predictions(items, lambda it: (superpixels_to_mask(it["index"], it["labels"]), None))
    for abbrev in k18.ABBREV:
        assert result[abbrev]["Jnan"] == pytest.approx(1.0)
        assert result[abbrev]["Direct-Jnan"] == pytest.approx(1.0)
        assert result[abbrev]["ACC"] == pytest.approx(1.0)
        assert result[abbrev]["AUROC"] == pytest.approx(1.0)
    assert result["n_images"] == len(items)


def test_empty_baseline_facts_of_table_ii(isic2017_root):
    """Empty: AUROC 0.5, AP = (1 + prevalence) / 2 (the 2017 scorer), J̄nan 0, J̄1 = share of images without
    the feature (their J is 0/0 → 1)."""
    from dermkit.models.baselines import empty_baseline

    items = _items(isic2017_root)
    result = k18.evaluate_predictions(items, lambda it: (None, empty_baseline(it["index"])))
    labels = np.concatenate([it["labels"] for it in items])
    for k, abbrev in enumerate(k18.ABBREV):
        prevalence = labels[:, k].mean()
        without = np.mean([not it["labels"][:, k].any() for it in items])
        assert result[abbrev]["AUROC"] == pytest.approx(0.5)
        assert result[abbrev]["AP"] == pytest.approx((1 + prevalence) / 2)
        assert result[abbrev]["SEN"] == 0.0 and result[abbrev]["SPC"] == 1.0
        assert result[abbrev]["Jnan"] == 0.0
        assert result[abbrev]["J1"] == pytest.approx(without)


def test_thresholded_superpixel_jaccard_drops_weak_predictions(isic2017_root):
    """J̄nan uses superpixel probabilities with values < 0.5 set to 0 (Section III-B): a constant 0.4
    prediction scores like an empty one there, but not in the direct pixel evaluation."""
    items = _items(isic2017_root)
    result = k18.evaluate_predictions(items, lambda it: (np.full(it["image"].shape[:2] + (4,), 0.4, np.float32),
                                                         None))
    assert result["PN"]["Jnan"] == 0.0
    assert result["PN"]["Thresh-Jnan"] == 0.0
    assert result["PN"]["Direct-Jnan"] > 0.0


def test_tables_from_results():
    session = types.SimpleNamespace(options=RunOptions(output=Path("."), quick=True))
    fake = {abbrev: {m: 0.5 for m in ("ACC", "AUROC", "AP", "SEN", "SPC", "J1", "Jnan", "Jc", "Direct-Jnan",
                                      "Thresh-Jnan")} for abbrev in k18.ABBREV + ("avg",)}
    results = {"t4_row8": fake, "baseline_empty": fake, "baseline_lesion": {**fake, "lesion_source": "ground_truth"}}
    tables = {t.name: t for t in k18.make_tables(results, None, session)}
    assert list(tables) == ["I", "II", "III", "IV", "V"]
    assert all(t.synthetic for t in tables.values())
    iv = tables["IV"]
    assert [r.dermkit["Jnan"] for r in iv.rows] == [None] * 7 + [0.5]
    assert iv.rows[-1].paper["Jnan"] == 0.107
    assert any("ground-truth lesion masks" in note for note in tables["II"].notes)
    assert len(tables["II"].rows) == 15  # 3 experiments × (4 features + avg)
    v = tables["V"]
    assert v.rows[-1].dermkit == {"Direct-Jnan": 0.5, "Thresh-Jnan": 0.5, "Jnan": 0.5}


def _session(tmp_path, **kwargs):
    from dermkit.training.runner import RunSession

    return RunSession(k18, RunOptions(output=tmp_path, quick=True, verbose=0, **kwargs))


def test_channel_batch_dice_model_learns_pigment_network(tmp_path):
    """The cheap version of --quick's learning check: Table IV's last row (channel-batch Dice-F1 with
    over-sampling and augmentation) trained for 3 epochs on the synthetic set, scored on its test split."""
    import keras

    session = _session(tmp_path, epochs=3)
    data = k18.prepare("synthetic", session)
    keras.utils.set_random_seed(0)
    exp = next(e for e in k18.EXPERIMENTS if e.key == "t4_row8")
    with session.scope():
        result = k18.run_experiment(exp, data, session)
    assert result["fit"]["epochs_run"] == 3
    assert result["PN"]["AUROC"] >= 0.7, result["PN"]
    assert result["PN"]["Jnan"] >= 0.05, result["PN"]


@pytest.mark.slow
def test_quick_reproduction_end_to_end(tmp_path):
    """The whole --quick run (what `make demo` runs): every table written, the learning bar met."""
    from dermkit.training.runner import reproduce

    run = reproduce(k18, RunOptions(output=tmp_path, quick=True, verbose=0))
    names = {p.name for p in run["files"]}
    assert {f"table_{t}.md" for t in k18.TABLES} <= names
    assert {"fig1_superpixels.png", "fig4_overlays.png"} <= names
    best = run["results"]["t4_row8"]
    assert best["PN"]["AUROC"] >= 0.7 and best["PN"]["Jnan"] >= 0.05


@pytest.mark.slow
def test_full_scale_grid_runs_at_toy_size(tmp_path, monkeypatch):
    """Every full-scale row (ISIC entry, lesion model + Lesion baseline, Table IV, Table V's ResNet50 /
    InceptionResNetV2 / U-Net variants) runs through the non-quick code path: paper settings shrunk to 96×96,
    1 epoch, no ImageNet download."""
    from dermkit.training.runner import reproduce

    monkeypatch.setitem(k18.FULL, "input_size", 96)
    monkeypatch.setitem(k18.FULL, "encoder_weights", None)
    lesion = next(e for e in k18.EXPERIMENTS if e.key == "lesion_model")
    monkeypatch.setitem(lesion.params, "input_size", 96)
    run = reproduce(k18, RunOptions(output=tmp_path, quick=False, epochs=1, verbose=0))
    assert set(run["results"]) == {e.key for e in k18.EXPERIMENTS}
    assert run["results"]["baseline_lesion"]["lesion_source"] == "lesion_model"
    table1 = next(t for t in run["tables"] if t.name == "I")
    assert table1.rows[0].dermkit["AUROC"] is not None
    table5 = next(t for t in run["tables"] if t.name == "V")
    assert all(row.dermkit["Jnan"] is not None for row in table5.rows)
