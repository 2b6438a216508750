"""barata2020 grid against the paper's Tables 1–5 (values typed from the paper), and its splits."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.papers import barata2020 as paper

# Tables 2–5 of the paper, rows in print order (CEL -, CB, ES, SPL, OHEM, FL -, CB, ES, SPL, OHEM):
# Acc, BAcc, mPR, mF1 in percent.
PRINTED = {
    "2": [(87.5, 72.5, 80.0, 75.5), (82.0, 78.8, 73.0, 75.0), (83.5, 78.0, 77.5, 77.0), (87.0, 74.5, 80.0, 77.0),
          (84.5, 74.0, 77.0, 74.5), (87.0, 73.5, 79.5, 75.5), (81.0, 78.8, 73.0, 75.0), (82.0, 78.7, 74.0, 75.5),
          (86.0, 71.9, 80.0, 75.0), (87.0, 75.6, 80.5, 77.5)],
    "3": [(87.5, 75.5, 80.0, 77.0), (84.0, 78.4, 76.0, 76.5), (84.5, 76.7, 77.0, 76.0), (85.5, 68.8, 76.5, 72.0),
          (87.0, 76.4, 79.0, 76.5), (87.0, 74.5, 79.0, 76.0), (83.0, 76.9, 73.0, 75.0), (83.5, 78.0, 74.0, 75.5),
          (84.5, 65.3, 71.5, 67.5), (88.0, 75.7, 80.5, 77.5)],
    "4": [(78.5, 46.1, 57.0, 49.0), (70.5, 69.6, 55.5, 60.0), (71.5, 68.9, 54.5, 59.5), (78.0, 45.4, 55.0, 48.0),
          (78.0, 44.0, 61.0, 47.0), (76.0, 42.4, 56.5, 44.5), (71.0, 69.0, 53.5, 59.0), (71.5, 68.0, 54.0, 58.5),
          (77.0, 39.0, 60.0, 44.0), (78.0, 46.1, 59.5, 50.0)],
    "5": [(80.5, 51.8, 56.0, 52.5), (75.0, 74.4, 60.5, 65.5), (77.0, 73.8, 62.5, 66.5), (80.5, 52.1, 57.0, 53.0),
          (82.5, 55.3, 75.0, 52.5), (78.0, 49.0, 55.0, 51.0), (70.5, 69.8, 55.0, 60.0), (72.5, 70.2, 55.5, 60.5),
          (77.0, 41.5, 52.0, 43.0), (79.5, 49.2, 57.5, 52.0)],
}
ROW_LABELS = ["CEL", "CEL CB", "CEL ES", "CEL SPL", "CEL OHEM", "FL", "FL CB", "FL ES", "FL SPL", "FL OHEM"]
SETTING = {"2": ("flat", "adam"), "3": ("hierarchical", "adam"), "4": ("flat", "sgd"), "5": ("hierarchical", "sgd")}


@pytest.mark.parametrize("table", ["2", "3", "4", "5"])
def test_each_table_walks_the_paper_row_by_row(table):
    rows = [e for e in paper.EXPERIMENTS if table in e.tables]
    assert [e.label for e in rows] == ROW_LABELS
    for exp, printed in zip(rows, PRINTED[table]):
        assert exp.reported[table] == dict(zip(("Acc", "BAcc", "mPR", "mF1"), printed))
        assert (exp.params["model"], exp.params["optimizer"]) == SETTING[table]
        assert exp.repeats == 2  # the mean of two splits
        assert exp.params["gamma"] == (1.0 if exp.params["loss"] == "fl" else None)


def test_grid_size_keys_and_quick_rows():
    assert len(paper.EXPERIMENTS) == 40 and len({e.key for e in paper.EXPERIMENTS}) == 40
    quick = sorted(e.key for e in paper.EXPERIMENTS if e.quick)
    assert quick == sorted(f"{m}_adam_cel_{w}" for m in ("flat", "hierarchical") for w in ("none", "es", "ohem"))
    assert all(not e.depends_on for e in paper.EXPERIMENTS)


def test_table1_counts():
    assert sum(paper.TABLE1_COUNTS.values()) == 10068  # the text says 10,015 images
    assert paper.TABLE1_COUNTS["NV"] == 6741 and paper.TABLE1_COUNTS["DF"] == 116


def test_paper_settings():
    assert paper.FULL["input_size"] == 299 and paper.FULL["batch_size"] == 20
    assert paper.FULL["epochs"] == {"flat": 150, "hierarchical": 250}
    assert paper.FULL["learning_rate"] == {"adam": 1e-5, "sgd": 1e-4}
    assert paper.AUGMENT["crop_area"] == (0.5, 1.0) and paper.EVAL_CENTRAL_CROP == 0.875
    assert paper.SHADES_OF_GRAY_P == 6


def test_splits_keep_lesions_apart_and_depend_on_the_repeat_seed(tmp_path):
    from dermkit.data.isic import load_isic2018_task3
    from dermkit.data.synthetic import make_isic2018_task3

    root = make_isic2018_task3(tmp_path / "t3", n_images=210, image_size=(32, 32), min_per_class=25)
    data = paper.Data(load_isic2018_task3(root), root, True)
    train, val = paper.split(data, seed=0)
    assert not set(train["group"]) & set(val["group"])
    assert len(train) + len(val) == 210 and 0.15 <= len(val) / 210 <= 0.25
    assert np.bincount(val["label"], minlength=7).min() >= 3
    again, _ = paper.split(data, seed=0)
    other, _ = paper.split(data, seed=1)
    assert list(again["image_id"]) == list(train["image_id"]) and set(other["image_id"]) != set(train["image_id"])


# ---------------------------------------------------------------------------------------------------------
# Through the engine
# ---------------------------------------------------------------------------------------------------------
CHANCE_BACC = 100 / 7  # balanced accuracy of any constant prediction over the 7 diagnoses, in percent


def test_quick_cel_rows_of_both_models_learn(tmp_path):
    """The cheap version of --quick's learning check (the issue's bar: balanced accuracy clearly above chance
    for the flat and the hierarchical CEL rows, fixed seed): both rows trained by the engine on the synthetic
    set, scored on their 20 % lesion-grouped split; the hierarchical row also writes Figs. 3–4's attention."""
    from dermkit.training.options import RunOptions
    from dermkit.training.runner import reproduce

    rows = ("flat_adam_cel_none", "hierarchical_adam_cel_none")
    run = reproduce(paper, RunOptions(output=tmp_path, quick=True, rows=rows, verbose=0))
    for key in rows:
        result = run["results"][key]
        assert result["fit"]["epochs_run"] == paper.QUICK["epochs"][key.split("_")[0]]
        assert result["BAcc"] >= 1.75 * CHANCE_BACC, (key, result["BAcc"], result["recall"])
        # every class of the evaluation split has >= 5 images (the synthetic set's min_per_class)
        assert result["n_val"] >= 35
    names = {p.name for p in run["files"]}
    assert {"table_2.md", "table_3.md", "fig1_recall_non-melanocytic.png", "fig2_recall_melanocytic.png",
            "fig3_hard_examples.csv", "fig4_easy_examples.csv"} <= names
    table3 = (tmp_path / "table_3.md").read_text()
    assert "SYNTHETIC" in table3 and "| CEL | " in table3 and "75.500" in table3  # the paper's BAcc beside
    # Each Adam row's evaluation predictions: scikit-learn's balanced accuracy on them is the row's BAcc.
    import pandas as pd
    from sklearn.metrics import balanced_accuracy_score

    for key in rows:
        predictions = pd.read_csv(tmp_path / "artifacts" / f"{key}.r0" / "predictions.csv", dtype=str)
        assert list(predictions.columns) == ["image_id", "label", "predicted"]
        assert len(predictions) == run["results"][key]["n_val"]
        bacc = 100 * balanced_accuracy_score(predictions["label"], predictions["predicted"])
        assert bacc == pytest.approx(run["results"][key]["BAcc"], abs=1e-9)
        maps = np.load(tmp_path / "artifacts" / f"{key}.r0" / "attention.npz")
        side = maps["spatial"].shape[1:]
        # hierarchical: block5_conv3 at 64² (4×4); flat: CBAM on block5_pool at 32² (1×1)
        assert side == ((4, 4) if key.startswith("hierarchical") else (1, 1))
        assert len(maps["image_ids"]) == len(predictions)
    # Figs. 3–4: hard = some row wrong; easy = at most one row wrong (Section 5.2).
    for name, classes, ok in (("fig3_hard_examples.csv", paper.FIG3_CLASSES, lambda n: n >= 1),
                              ("fig4_easy_examples.csv", paper.FIG4_CLASSES, lambda n: n <= 1)):
        chosen = pd.read_csv(tmp_path / "figures" / name, dtype=str)
        assert list(chosen.columns) == ["image_id", "label", *rows]
        assert len(set(chosen["label"])) == len(chosen) and set(chosen["label"]) <= set(classes)
        for _, row in chosen.iterrows():
            assert ok(sum(row[k] != row["label"] for k in rows)), (name, row.tolist())
    if (tmp_path / "figures" / "fig3_hard_examples.csv").read_text().count("\n") > 1:
        assert {"fig3_attention_hardest.png", "fig3_attention_hardest_flat.png"} <= names


@pytest.mark.slow
def test_quick_reproduction_end_to_end(tmp_path):
    """The whole --quick run (what `make demo` runs): its six rows, every table and figure, the learning bar."""
    from dermkit.training.options import RunOptions
    from dermkit.training.runner import reproduce

    run = reproduce(paper, RunOptions(output=tmp_path, quick=True, verbose=0))
    assert set(run["results"]) == {e.key for e in paper.EXPERIMENTS if e.quick}
    for key in ("flat_adam_cel_none", "hierarchical_adam_cel_none"):
        assert run["results"][key]["BAcc"] >= 1.75 * CHANCE_BACC, key
    names = {p.name for p in run["files"]}
    assert {f"table_{t}.md" for t in paper.TABLES} <= names
    assert {"fig1_recall_non-melanocytic.png", "fig3_attention_hardest.png"} <= names
