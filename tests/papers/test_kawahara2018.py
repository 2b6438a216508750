"""kawahara2018 reproduction: the grid against the paper's tables (typed from the paper), its recipes' wiring
(split, ISIC entry, the Lesion baseline's dependency), evaluation facts on hand cases, and the tables."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dermkit.papers import kawahara2018 as k18
from dermkit.training.experiment import dependency_closure
from dermkit.training.options import RunOptions
from dermkit.training.runner import select_experiments

# ---------------------------------------------------------------------------------------------------------
# The paper's tables, typed from the paper (rows as printed there), and parsed here.
# ---------------------------------------------------------------------------------------------------------
FEATURE = {"pigment network": "PN", "negative network": "NN", "milia-like cysts": "MC", "streaks": "ST",
           "average": "avg", "PN": "PN", "NN": "NN", "MC": "MC", "ST": "ST", "avg": "avg"}

TABLE_I = """
Lee pigment network 0.915 0.828 0.487 0.736 0.921
Lee negative network 0.905 0.762 0.321 0.618 0.906
Lee milia-like cysts 0.843 0.837 0.421 0.832 0.843
Lee streaks 0.961 0.900 0.422 0.839 0.961
Lee average 0.906 0.832 0.413 0.649 0.907
Shen pigment network 0.909 0.835 0.491 0.756 0.914
Shen negative network 0.917 0.762 0.317 0.606 0.919
Shen milia-like cysts 0.852 0.838 0.418 0.824 0.852
Shen streaks 0.978 0.896 0.411 0.815 0.978
Shen average 0.914 0.833 0.409 0.665 0.915
ours pigment network 0.951 0.945 0.582 0.803 0.956
ours negative network 0.982 0.869 0.152 0.428 0.984
ours milia-like cysts 0.988 0.807 0.078 0.303 0.990
ours streaks 0.997 0.960 0.151 0.637 0.997
ours average 0.980 0.895 0.241 0.542 0.981
"""

TABLE_II = """
Lesion PN 0.832 0.913 0.528 0.962 0.827 0.167 0.167
Lesion NN 0.807 0.916 0.502 0.992 0.806 0.012 0.012
Lesion MC 0.805 0.884 0.421 0.915 0.805 0.016 0.016
Lesion ST 0.803 0.894 0.380 0.960 0.803 0.001 0.001
Lesion avg 0.812 0.902 0.458 0.957 0.810 0.049 0.049
Empty PN 0.969 0.500 0.515 0.000 1.000 0.445 0.000
Empty NN 0.996 0.500 0.502 0.000 1.000 0.925 0.000
Empty MC 0.998 0.500 0.501 0.000 1.000 0.755 0.000
Empty ST 1.000 0.500 0.500 0.000 1.000 0.985 0.000
Empty avg 0.991 0.500 0.505 0.000 1.000 0.777 0.000
ours* PN 0.951 0.944 0.585 0.806 0.956 0.319 0.217
ours* NN 0.982 0.870 0.159 0.427 0.984 0.339 0.021
ours* MC 0.988 0.809 0.075 0.294 0.990 0.225 0.031
ours* ST 0.997 0.963 0.154 0.605 0.997 0.532 0.007
ours* avg 0.980 0.896 0.243 0.533 0.982 0.354 0.069
"""

TABLE_III = """
(a) PN 0.963 0.578 0.299 0.209
(a) NN 0.941 0.091 0.066 0.027
(a) MC 0.948 0.077 0.037 0.023
(a) ST 0.966 0.049 0.027 0.009
(a) avg 0.955 0.199 0.107 0.067
(b) PN 0.882 0.591 0.427 0.269
(b) NN 0.502 0.008 0.000 0.000
(b) MC 0.500 0.001 0.000 0.000
(b) ST 0.500 0.000 0.000 0.000
(b) avg 0.596 0.150 0.107 0.067
(c) PN 0.938 0.591 0.380 0.232
(c) NN 0.798 0.113 0.080 0.027
(c) MC 0.793 0.075 0.094 0.045
(c) ST 0.845 0.033 0.046 0.010
(c) avg 0.843 0.203 0.150 0.078
(d) PN 0.910 0.602 0.426 0.282
(d) NN 0.645 0.134 0.079 0.056
(d) MC 0.737 0.103 0.126 0.051
(d) ST 0.641 0.053 0.048 0.039
(d) avg 0.733 0.223 0.170 0.107
"""

# Table IV, top to bottom: loss, computed over, class-augment, α, β, J̄nan ("-" where the paper prints one).
TABLE_IV = """
Cross-entropy - No - - 0.0
Cross-entropy - Yes - - 0.067
Dice-F1 Volume-Batch Yes 0 1 0.067
Dice-F1 Channel-Image Yes 1 1 0.0
Dice-F1 Channel-Image Yes 0 1 0.078
Dice-F1 Channel-Batch No 1 1 0.0
Dice-F1 Channel-Batch No 0 1 0.083
Dice-F1 Channel-Batch Yes 0 1 0.107
"""

TABLE_V = """
InceptionResNetV2 Skip 0.045 0.078 0.082
ResNet50 Skip 0.049 0.083 0.091
VGG UNet 0.072 0.073 0.082
VGG Skip 0.071 0.088 0.107
"""


def _parse(text: str, n_values: int) -> dict[tuple[str, str], list[float]]:
    """``"<entry> <feature words> v1 .. vn"`` lines → ``{(entry, feature abbreviation): [values]}``."""
    out = {}
    for line in text.strip().splitlines():
        words = line.split()
        out[(words[0], FEATURE[" ".join(words[1:-n_values])])] = [float(v) for v in words[-n_values:]]
    return out


def _by_key():
    return {e.key: e for e in k18.EXPERIMENTS}


def test_table_i_numbers_are_the_papers():
    paper = _parse(TABLE_I, 5)
    reported = {"Lee": k18.TABLE1_OTHER_ENTRIES["Lee [28]"], "Shen": k18.TABLE1_OTHER_ENTRIES["Shen [28]"],
                "ours": _by_key()["isic_entry"].reported["I"]}
    for (entry, feature), values in paper.items():
        assert [reported[entry][feature][m] for m in ("ACC", "AUROC", "AP", "SEN", "SPC")] == values, (entry, feature)


def test_table_ii_numbers_are_the_papers():
    paper = _parse(TABLE_II, 7)
    rows = {"Lesion": "baseline_lesion", "Empty": "baseline_empty", "ours*": "isic_entry"}
    for (entry, feature), values in paper.items():
        got = _by_key()[rows[entry]].reported["II"][feature]
        assert [got[m] for m in ("ACC", "AUROC", "AP", "SEN", "SPC", "J1", "Jnan")] == values, (entry, feature)


def test_table_iii_is_table_iv_rows_2_3_5_8_with_the_papers_numbers():
    paper = _parse(TABLE_III, 4)
    assert k18.TABLE3_ROWS == {"a": "t4_row2", "b": "t4_row3", "c": "t4_row5", "d": "t4_row8"}
    assert {e.key for e in k18.EXPERIMENTS if "III" in e.tables} == set(k18.TABLE3_ROWS.values())
    for (letter, feature), values in paper.items():
        got = _by_key()[k18.TABLE3_ROWS[letter.strip("()")]].reported["III"][feature]
        assert [got[m] for m in ("AUROC", "AP", "Jc", "Jnan")] == values, (letter, feature)


def test_table_iv_rows_are_the_papers():
    losses = {"Cross-entropy": "wbce", "Dice-F1": "dice"}
    partitions = {"-": None, "Volume-Batch": "volume", "Channel-Image": "channel_image",
                  "Channel-Batch": "channel_batch"}
    number = {"-": None, "0": 0.0, "1": 1.0}
    assert k18.TABLE4_ORDER == tuple(f"t4_row{i}" for i in range(1, 9))
    assert [e.key for e in k18.EXPERIMENTS if "IV" in e.tables] == list(k18.TABLE4_ORDER)
    for key, line in zip(k18.TABLE4_ORDER, TABLE_IV.strip().splitlines()):
        loss, partition, augment, alpha, beta, jnan = line.split()
        exp = _by_key()[key]
        p = exp.params
        assert (p["loss"], p["partition"], p["class_augment"], p["alpha"], p["beta"]) == (
            losses[loss], partitions[partition], augment == "Yes", number[alpha], number[beta]), key
        assert exp.reported["IV"]["Jnan"] == float(jnan)
        assert exp.quick and p["checkpoint"] == "best"  # "choose the model that achieves the lowest loss"


def test_table_v_rows_are_the_papers():
    backbones = {"InceptionResNetV2": "inception_resnet_v2", "ResNet50": "resnet50", "VGG": "vgg16"}
    assert {e.key for e in k18.EXPERIMENTS if "V" in e.tables} == set(k18.TABLE5_ORDER)
    for key, line in zip(k18.TABLE5_ORDER, TABLE_V.strip().splitlines()):
        backbone, connection, *values = line.split()
        exp = _by_key()[key]
        assert (exp.params["backbone"], exp.params["connection"]) == (backbones[backbone], connection.lower())
        assert [exp.reported["V"][m] for m in ("Direct-Jnan", "Thresh-Jnan", "Jnan")] == [float(v) for v in values]
    assert k18.FIGURE_ROW == "t4_row8"


def test_section_iii_c_lesion_model_and_its_jaccard():
    """"images were resized 224 × 224 ... trained for 12 epochs with a batch size of eight"; "ours 0.752 vs
    first place 0.765"."""
    lesion = _by_key()["lesion_model"]
    assert (lesion.params["input_size"], lesion.params["epochs"], lesion.params["batch_size"]) == (224, 12, 8)
    assert lesion.reported["III-C"] == {"Jaccard": 0.752}
    session = types.SimpleNamespace(options=RunOptions(output=Path("."), quick=True))
    tables = {t.name: t for t in k18.make_tables({}, None, session)}
    assert [r.paper.get("Jaccard") for r in tables["III-C"].rows] == [0.752, 0.765]
    quick = k18.lesion_settings(lesion, session)
    assert quick == {"input_size": k18.QUICK["input_size"], "epochs": k18.QUICK_EPOCHS, "batch_size": 8}


def test_entry_settings_follow_section_ii_e():
    """"For our ISIC-ISBI entry, we did not use data augmentation nor over-sampling, and stopped training after
    only 5 epochs": the 5th epoch is kept, and it trains on the same 1700-image split (no n_val of its own)."""
    entry = _by_key()["isic_entry"]
    assert entry.params["class_augment"] is False and entry.params["epochs"] == 5
    assert entry.params["checkpoint"] == "last" and "n_val" not in entry.params
    assert "1700" in entry.label and "5th epoch" in entry.label
    assert (k18.FULL["learning_rate"], k18.FULL["batch_size"], k18.FULL["input_size"], k18.FULL["epochs"],
            k18.FULL["n_val"]) == (5e-5, 12, 336, 100, 300)


def test_quick_run_holds_table_iv_the_baselines_and_the_lesion_model():
    quick = select_experiments(k18, ["all"], quick=True)
    assert {e.key for e in quick} == ({f"t4_row{i}" for i in range(1, 9)}
                                      | {"baseline_lesion", "baseline_empty", "lesion_model"})
    # Table II alone at full scale pulls the lesion model in first, as a dependency.
    plan = [e.key for e in dependency_closure(select_experiments(k18, ["II"], quick=False), k18.EXPERIMENTS)]
    assert plan.index("lesion_model") < plan.index("baseline_lesion")


def test_module_imports_and_makes_tables_without_tensorflow():
    code = ("import sys, types; from pathlib import Path; from dermkit.papers import kawahara2018 as k; "
            "from dermkit.training.options import RunOptions; "
            "s = types.SimpleNamespace(options=RunOptions(output=Path('.'), quick=True)); "
            "assert len(k.make_tables({}, None, s)) == 6; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------------------
# The train / validation split
# ---------------------------------------------------------------------------------------------------------
def test_split_is_1700_300_random_and_seeded():
    """Section III: "We trained our network over 1700 images ... and used 300 images to monitor"."""
    frame = pd.DataFrame({"image_id": [f"ISIC_{i:07d}" for i in range(2000)]})
    n_val = k18.validation_count(k18.FULL["n_val"], len(frame))
    train, val = k18.split_train_val(frame, n_val, seed=0)
    assert (len(train), len(val)) == (1700, 300)
    assert set(train.image_id).isdisjoint(val.image_id) and len(set(train.image_id) | set(val.image_id)) == 2000
    assert list(val.image_id) == sorted(val.image_id)  # file order kept
    again_train, again_val = k18.split_train_val(frame, n_val, seed=0)
    assert list(again_val.image_id) == list(val.image_id)
    other = k18.split_train_val(frame, n_val, seed=1)[1]
    assert set(other.image_id) != set(val.image_id)
    # not the first or last 300: a random draw over the whole set
    positions = frame.index[frame.image_id.isin(val.image_id)]
    assert positions.min() < 200 and positions.max() > 1800
    assert k18.validation_count(k18.QUICK["n_val"], 120) == 24


# ---------------------------------------------------------------------------------------------------------
# Evaluation facts on hand cases
# ---------------------------------------------------------------------------------------------------------
def _items(root):
    from dermkit.data.isic import load_isic2017
    from dermkit.data.pipelines import iter_isic2017_eval

    df = load_isic2017(root, "test")
    return [{**item, "index": item["superpixels"]} for item in iter_isic2017_eval(df)]


def test_perfect_predictions_score_one(isic2017_root):
    from dermkit.data.superpixels import superpixels_to_mask

    items = _items(isic2017_root)
    result = k18.evaluate_predictions(items, lambda it: superpixels_to_mask(it["index"], it["labels"]))
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
    result = k18.evaluate_predictions(items, lambda it: empty_baseline(it["index"]))
    labels = np.concatenate([it["labels"] for it in items])
    for k, abbrev in enumerate(k18.ABBREV):
        prevalence = labels[:, k].mean()
        without = np.mean([not it["labels"][:, k].any() for it in items])
        assert result[abbrev]["AUROC"] == pytest.approx(0.5)
        assert result[abbrev]["AP"] == pytest.approx((1 + prevalence) / 2)
        assert result[abbrev]["SEN"] == 0.0 and result[abbrev]["SPC"] == 1.0
        assert result[abbrev]["Jnan"] == 0.0
        assert result[abbrev]["J1"] == pytest.approx(without)
        assert "Direct-Jnan" not in result[abbrev]  # Table V needs pixel predictions


def test_thresholded_superpixel_jaccard_drops_weak_predictions(isic2017_root):
    """J̄nan uses superpixel probabilities with values < 0.5 set to 0 (Section III-B): a constant 0.4
    prediction scores like an empty one there, but not in the direct pixel evaluation."""
    items = _items(isic2017_root)
    result = k18.evaluate_predictions(items, lambda it: np.full(it["image"].shape[:2] + (4,), 0.4, np.float32))
    assert result["PN"]["Jnan"] == 0.0
    assert result["PN"]["Thresh-Jnan"] == 0.0
    assert result["PN"]["Direct-Jnan"] > 0.0


# ---------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------
def test_tables_from_results():
    session = types.SimpleNamespace(options=RunOptions(output=Path("."), quick=True))
    fake = {abbrev: {m: 0.5 for m in ("ACC", "AUROC", "AP", "SEN", "SPC", "J1", "Jnan", "Jc", "Direct-Jnan",
                                      "Thresh-Jnan")} for abbrev in k18.ABBREV + ("avg",)}
    results = {"t4_row8": fake, "baseline_empty": fake, "baseline_lesion": fake,
               "lesion_model": {"jaccard": 0.61, "threshold_jaccard": 0.4}}
    tables = {t.name: t for t in k18.make_tables(results, None, session)}
    assert list(tables) == ["I", "II", "III", "IV", "V", "III-C"]
    assert all(t.synthetic for t in tables.values())
    iv = tables["IV"]
    assert [r.dermkit["Jnan"] for r in iv.rows] == [None] * 7 + [0.5]
    assert iv.rows[-1].paper["Jnan"] == 0.107
    assert len(tables["II"].rows) == 15  # 3 experiments × (4 features + avg)
    # the quick Table II's "ours*" rows are all "—": a note says why, as in Table I
    assert all(r.dermkit == {} for r in tables["II"].rows[10:])
    for name in ("I", "II"):
        assert any("ISIC entry" in note and "not part of --quick" in note for note in tables[name].notes), name
    v = tables["V"]
    assert v.rows[-1].dermkit == {"Direct-Jnan": 0.5, "Thresh-Jnan": 0.5, "Jnan": 0.5}
    assert tables["III-C"].rows[0].dermkit == {"Jaccard": 0.61, "Thresh-Jaccard": 0.4}


# ---------------------------------------------------------------------------------------------------------
# Recipes, with a recording session (no engine): what they call
# ---------------------------------------------------------------------------------------------------------
class _Stop(Exception):
    pass


class _RecordingSession:
    """The parts of RunSession the recipes use; ``fit`` records its arguments and stops the row."""

    def __init__(self, key, *, quick, artifacts=None):
        self.options = RunOptions(output=Path("."), quick=quick, verbose=0)
        self.key, self.seed = key, 0
        self.artifacts = artifacts or {}
        self.artifact_calls, self.fit_calls = [], []

    def log(self, message):
        pass

    def compile(self, model, **kwargs):
        model.compile(**kwargs)

    def epochs(self, default):  # RunSession.epochs: --epochs (unset here) or the row's default
        return default if self.options.epochs is None else self.options.epochs

    def fit(self, model, train, **kwargs):
        self.fit_calls.append({"train": train, **kwargs})
        raise _Stop

    def artifact(self, key, name):
        self.artifact_calls.append((key, name))
        return self.artifacts[(key, name)]


def _data(root, n_val=4):
    from dermkit.data.isic import load_isic2017

    train, val = k18.split_train_val(load_isic2017(root, "training"), n_val, seed=0)
    return k18.Data(Path(root), train, val, load_isic2017(root, "test"), synthetic=True)


def test_isic_entry_keeps_its_5th_epoch_and_only_monitors_the_validation_split(isic2017_root, monkeypatch):
    monkeypatch.setitem(k18.FULL, "input_size", 32)
    monkeypatch.setitem(k18.FULL, "encoder_weights", None)
    data = _data(isic2017_root)
    session = _RecordingSession("isic_entry", quick=False)
    with pytest.raises(_Stop):
        k18.run_experiment(_by_key()["isic_entry"], data, session)
    (call,) = session.fit_calls
    assert (call["epochs"], call["checkpoint"]) == (5, "last")
    assert call["validation_data"] is not None  # the 300 are monitored, not used to pick the epoch
    images = sum(int(x.shape[0]) for x, _ in call["train"])
    assert images == len(data.train) == 20  # the training split, the validation images left out


def test_lesion_baseline_declares_and_reads_the_lesion_model_artifact(isic2017_root, tmp_path):
    """Table II "Lesion" uses the lesion_model row's trained model, through session.artifact only."""
    import keras

    from dermkit.models import vgg16_fcn

    lesion = _by_key()["baseline_lesion"]
    assert lesion.depends_on == ("lesion_model",)
    keras.utils.set_random_seed(0)
    model = vgg16_fcn(input_shape=(32, 32, 3), num_classes=1, encoder_weights=None, reduce_deep=False, extra_conv=True)
    saved = tmp_path / "lesion_model.keras"
    model.save(saved)
    session = _RecordingSession("baseline_lesion", quick=True,
                                artifacts={("lesion_model", k18.LESION_MODEL_FILE): saved})
    result = k18.run_experiment(lesion, _data(isic2017_root), session)
    assert session.artifact_calls == [("lesion_model", k18.LESION_MODEL_FILE)]
    assert result["n_images"] == 8 and 0.0 <= result["avg"]["AUROC"] <= 1.0
    # without the artifact the row fails (the engine's FileNotFoundError), it does not fall back to anything
    with pytest.raises(KeyError):
        k18.run_experiment(lesion, _data(isic2017_root), _RecordingSession("baseline_lesion", quick=True))


# ---------------------------------------------------------------------------------------------------------
# Through the engine
# ---------------------------------------------------------------------------------------------------------
def test_channel_batch_dice_model_learns_pigment_network(tmp_path):
    """The cheap version of --quick's learning check: Table IV's last row (channel-batch Dice-F1 with
    over-sampling and augmentation) trained for 3 epochs on the synthetic set, scored on its test split; its
    Fig. 1 / Fig. 4 predictions are an artifact the figures read."""
    from dermkit.training.runner import reproduce

    run = reproduce(k18, RunOptions(output=tmp_path, quick=True, epochs=3, rows=("t4_row8",), verbose=0))
    result = run["results"]["t4_row8"]
    assert result["fit"]["epochs_run"] == 3
    assert result["PN"]["AUROC"] >= 0.7, result["PN"]
    assert result["PN"]["Jnan"] >= 0.05, result["PN"]
    assert (tmp_path / "artifacts" / "t4_row8.r0" / k18.FIGURE_FILE).is_file()
    names = {p.name for p in run["files"]}
    assert {"fig1_superpixels.png", "fig3_label_combinations.png", "fig4_overlays.png"} <= names


@pytest.mark.slow
def test_quick_reproduction_end_to_end(tmp_path):
    """The whole --quick run (what `make demo` runs): every table written, the learning bar met, the Lesion
    baseline built on the trained lesion model."""
    from dermkit.training.runner import reproduce

    run = reproduce(k18, RunOptions(output=tmp_path, quick=True, verbose=0))
    names = {p.name for p in run["files"]}
    assert {f"table_{t}.md" for t in k18.TABLES} <= names
    assert {"fig1_superpixels.png", "fig3_label_combinations.png", "fig4_overlays.png",
            "fig5_lesion_contours.png"} <= names
    best = run["results"]["t4_row8"]
    assert best["PN"]["AUROC"] >= 0.7 and best["PN"]["Jnan"] >= 0.05
    assert (tmp_path / "artifacts" / "lesion_model.r0" / k18.LESION_MODEL_FILE).is_file()
    assert 0.0 < run["results"]["lesion_model"]["jaccard"] <= 1.0
    assert "baseline_lesion" in run["results"]


@pytest.mark.slow
def test_full_scale_grid_runs_at_toy_size(tmp_path, monkeypatch):
    """Every full-scale row (ISIC entry, lesion model + Lesion baseline, Table IV, Table V's ResNet50 /
    InceptionResNetV2 / U-Net variants) runs through the non-quick code path: paper settings shrunk to 96×96,
    1 epoch, no ImageNet download."""
    from dermkit.training.runner import reproduce

    monkeypatch.setitem(k18.FULL, "input_size", 96)
    monkeypatch.setitem(k18.FULL, "encoder_weights", None)
    monkeypatch.setitem(_by_key()["lesion_model"].params, "input_size", 96)
    run = reproduce(k18, RunOptions(output=tmp_path, quick=False, epochs=1, verbose=0))
    assert set(run["results"]) == {e.key for e in k18.EXPERIMENTS}
    rows = tmp_path / "rows"
    assert (rows / "baseline_lesion.r0.json").is_file()
    table1 = next(t for t in run["tables"] if t.name == "I")
    assert table1.rows[0].dermkit["AUROC"] is not None
    table5 = next(t for t in run["tables"] if t.name == "V")
    assert all(row.dermkit["Jnan"] is not None for row in table5.rows)
    entry = run["results"]["isic_entry"]["fit"]
    assert entry["checkpoint"] == "last" and entry["restored_best"] is False


# ----------------------------------------------------------------------------------------------------------
# Issue 17: a pixel-corrupt JPEG inside a reproduction fails naming the file (CLI, every path of a row)
# ----------------------------------------------------------------------------------------------------------
def _pixel_corrupt(path: Path) -> Path:
    """Headers and end marker kept, the pixel data replaced by random bytes: passes the header checks."""
    tf = pytest.importorskip("tensorflow")
    data = bytearray(path.read_bytes())
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    data[start:-2] = np.random.default_rng(1).integers(0, 256, len(data) - 2 - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(tf.errors.InvalidArgumentError, match="jpeg::Uncompress failed"):
        tf.io.decode_jpeg(bytes(data), channels=3)
    return path


@pytest.fixture()
def small_isic2017(tmp_path):
    from dermkit.data.synthetic import make_isic2017

    return make_isic2017(tmp_path / "isic2017", n_train=10, n_val=0, n_test=3, image_size=(32, 32), seed=0)


@pytest.mark.parametrize("split, row", [("Training", "t4_row1"), ("Test_v2", "baseline_empty")])
def test_reproduce_names_a_pixel_corrupt_jpeg(small_isic2017, tmp_path, capsys, split, row):
    """t4_row1 meets it in the median-frequency mask batches built by the recipe (before training);
    baseline_empty in the evaluation iterator over the test images."""
    from dermkit.cli import main

    bad = _pixel_corrupt(sorted((small_isic2017 / f"ISIC-2017_{split}_Data").glob("ISIC_*.jpg"))[1])
    argv = ["reproduce", "kawahara2018", "--data", str(small_isic2017), "--quick", "--rows", row,
            "--output", str(tmp_path / "run")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("dermkit reproduce: error: ") and f"{bad}: " in err, err
    assert "jpeg::Uncompress failed" in err


def test_every_dataset_of_a_training_row_names_a_pixel_corrupt_jpeg(small_isic2017, tmp_path, monkeypatch):
    """The row runs inside named_data_errors: a dataset the recipe hands on in a form that reads in a graph
    (here: fit's data zipped into a plain dataset, as a tf.distribute strategy would) still names the file."""
    tf = pytest.importorskip("tensorflow")
    from dermkit.errors import DermkitDataError

    data = _data(small_isic2017, n_val=2)
    bad = _pixel_corrupt(Path(data.train.loc[3, "image_path"]))

    class Session:
        options = types.SimpleNamespace(quick=True)
        key, seed = "t4_row7", 0

        def log(self, message):
            pass

        def compile(self, model, **kwargs):
            model.compile(**kwargs)

        def epochs(self, n):
            return 1

        def fit(self, model, train, validation_data=None, **kwargs):
            plain = tf.data.Dataset.zip((train,)).map(lambda xy: xy)  # nameless outside the block
            model.fit(plain, epochs=1, verbose=0)

    monkeypatch.setitem(k18.QUICK, "input_size", 32)
    exp = next(e for e in k18.EXPERIMENTS if e.key == "t4_row7")
    with pytest.raises(DermkitDataError, match=f"{bad}: TensorFlow cannot decode this file"):
        k18.run_experiment(exp, data, Session())
