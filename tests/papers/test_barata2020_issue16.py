"""barata2020 after issue 16: one loss scale for CB and ES, schedules from the epochs a row trains, hard / easy
examples for Figs. 3–4. Expected values are typed from the paper (Eq. 7, Eq. 8, Eq. 9, Section 4.3, Section
5.2) or computed here with NumPy."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from dermkit.papers import barata2020 as paper

pytest.importorskip("tensorflow")


def _table1_counts() -> np.ndarray:
    return np.array([paper.TABLE1_COUNTS[c] for c in paper.CLASS_NAMES])


# ---------------------------------------------------------------------------------------------------------
# Item 1: one loss scale
# ---------------------------------------------------------------------------------------------------------
def test_cb_and_es_rows_carry_one_normalisation():
    weighted = [e for e in paper.EXPERIMENTS if e.params["weighting"] in ("cb", "es")]
    assert len(weighted) == 16  # {flat, hier} × {Adam, SGD} × {CEL, FL} × {CB, ES}
    assert {e.params["normalize"] for e in weighted} == {"num_classes"}
    assert all("normalize" not in e.params for e in paper.EXPERIMENTS if e not in weighted)


def test_cb_and_es_mean_sample_weights_agree_on_table1():
    counts = _table1_counts().astype(np.float64)
    n, c = counts.sum(), len(counts)
    cb = n / counts                                      # Eq. 7
    beta = (n - 1) / n
    es = (1 - beta) / (1 - beta ** counts)               # Eq. 8
    cb_n, es_n = cb * c / cb.sum(), es * c / es.sum()    # normalised to sum to C (Cui et al.)

    def mean(w):  # the mean weight of a training sample: Σ_c N_c w_c / N
        return float((counts * w).sum() / n)

    assert mean(cb) == pytest.approx(7.0)                 # raw: C
    assert mean(es) == pytest.approx(7.49e-4, rel=1e-2)   # raw: ≈ C / N
    assert mean(cb_n) == pytest.approx(0.216, abs=1e-3) and mean(es_n) == pytest.approx(0.229, abs=1e-3)
    assert abs(mean(cb_n) / mean(es_n) - 1) < 0.06
    for exp in paper.EXPERIMENTS:
        if exp.params["weighting"] not in ("cb", "es"):
            continue
        loss = paper._loss(exp.params, counts.astype(np.int64))
        expected = cb_n if exp.params["weighting"] == "cb" else es_n
        np.testing.assert_allclose(np.asarray(loss.class_weights), expected, rtol=1e-6, err_msg=exp.key)


def test_table_notes_name_the_normalisation():
    session = SimpleNamespace(options=SimpleNamespace(tables=("all",), synthetic=False, quick=False))
    for table in paper.make_tables({}, None, session):
        text = " ".join(table.notes)
        assert "CB and ES rows" in text and "sum to the number of classes" in text, table.name


# ---------------------------------------------------------------------------------------------------------
# Item 2: epochs drive the schedules
# ---------------------------------------------------------------------------------------------------------
class _FourEpochs:
    """A session whose rows train 4 epochs (as ``--epochs 4``)."""

    options = SimpleNamespace(quick=True, epochs=4)

    def epochs(self, default):
        return 4


def _eq9_fractions(total_epochs: int, batch: int) -> list[float]:
    # Eq. 9: m / M = exp(αe) / (1 + exp(αe)), e = 0 the first epoch; "all sample weights are set to 1 for the
    # second half of training": α such that M·σ(α·E/2) rounds to M (α = ln(2M − 1)/(E/2)), 1 from e = E/2 on.
    alpha = math.log(2 * batch - 1) / (total_epochs / 2)
    return [1.0 if e >= total_epochs / 2 else math.exp(alpha * e) / (1 + math.exp(alpha * e))
            for e in range(total_epochs)]


def test_session_epochs_drive_step_decay_and_eq9():
    import keras

    from dermkit.losses import SampleWeightingLoss
    from dermkit.training.callbacks import LearningRateLogger

    exp = next(e for e in paper.EXPERIMENTS if e.key == "flat_adam_cel_ohem")
    cfg = paper.settings(_FourEpochs())
    steps = 3
    epochs, optimizer, callbacks = paper.schedules(exp.params, cfg, steps, _FourEpochs())
    assert epochs == 4
    r = 1e-4  # QUICK's flat Adam rate
    # Section 4.3: ÷10 at 50 % and 75 % of the epochs: in force during epochs 0..3
    during = []
    for e in range(4):
        optimizer.iterations.assign(e * steps)  # the first update of epoch e
        during.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
    optimizer.iterations.assign(0)
    np.testing.assert_allclose(during, [r, r, r / 10, r / 100], rtol=1e-6)
    fractions = _eq9_fractions(4, 20)
    np.testing.assert_allclose(fractions, [0.5, math.sqrt(39) / (1 + math.sqrt(39)), 1.0, 1.0])
    (schedule,) = callbacks
    np.testing.assert_allclose([schedule.fraction(e) for e in range(4)], fractions, rtol=1e-12)

    # What a 4-epoch fit logs with these objects (history.csv's columns).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * 20, 5)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 7, steps * 20), 7)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, activation="softmax", name="probe")])
    model.compile(optimizer=optimizer, loss=SampleWeightingLoss(keras.losses.CategoricalCrossentropy(),
                                                                curriculum="ohem"))
    history = model.fit(x, y, batch_size=20, epochs=epochs, verbose=0, shuffle=False,
                        callbacks=[*callbacks, LearningRateLogger()]).history
    np.testing.assert_allclose(history["keep_fraction"], fractions, rtol=1e-6)
    # LearningRateLogger records the rate in force at each epoch's end (the next step's): r/10 after epoch 1.
    np.testing.assert_allclose(history["learning_rate"], [r, r / 10, r / 100, r / 100], rtol=1e-6)


def test_run_experiment_builds_its_schedules_from_session_epochs():
    import inspect

    source = inspect.getsource(paper.run_experiment)
    assert "schedules(p, cfg, steps, session)" in source and "epochs=epochs" in source
    assert "session.epochs(" in inspect.getsource(paper.schedules)


# ---------------------------------------------------------------------------------------------------------
# Item 3: Figs. 3–4 as the paper defines hard / easy
# ---------------------------------------------------------------------------------------------------------
def test_quick_input_size_gives_4x4_block5_conv3():
    size = paper.QUICK["input_size"]["hierarchical"]
    for _ in range(4):  # VGG16's block1..block4 pools (2×2, stride 2) precede block5_conv3
        size //= 2
    assert size >= 4
    assert paper.FIG4_CLASSES == ("NV", "BCC", "VASC")  # the text's easy classes
    assert paper.FIG3_CLASSES == ("MEL", "DF", "BKL", "AKIEC")  # Fig. 3's caption
    assert "smaller than 4×4" in paper._map_note((2, 2), "flat")
    assert "smaller" not in paper._map_note((4, 4), "hierarchical")


class _FigureSession:
    def __init__(self, root):
        self.output = root
        self.figures_dir = root / "figures"
        self.options = SimpleNamespace(quick=True, synthetic=True, tables=("all",), epochs=None)
        self.logs: list[str] = []

    def artifact(self, key, name, *, repeat=None):
        path = self.output / "artifacts" / f"{key}.r0" / name
        if not path.exists():
            raise FileNotFoundError(path)
        return path

    def log(self, message):
        self.logs.append(message)


def test_figures_pick_hard_and_easy_images_from_every_adam_row(tmp_path):
    from dermkit.data.isic import load_isic2018_task3
    from dermkit.data.synthetic import make_isic2018_task3

    root = make_isic2018_task3(tmp_path / "t3", n_images=70, image_size=(32, 32), min_per_class=8)
    frame = load_isic2018_task3(root)
    data = paper.Data(frame, root, True)
    val = frame.sort_values("image_id").reset_index(drop=True)
    names = np.asarray(paper.CLASS_NAMES)
    truth = names[val["label"].to_numpy()]
    ids = np.asarray(val["image_id"].astype(str).tolist(), dtype=str)
    of = {c: ids[truth == c] for c in paper.CLASS_NAMES}
    rows = ["flat_adam_cel_none", "hierarchical_adam_cel_none", "hierarchical_adam_cel_es"]
    wrong = {r: set() for r in rows}
    # MEL: of[MEL][1] wrong in two rows, of[MEL][0] in one → the hard MEL is of[MEL][1] (most wrong).
    wrong[rows[0]] |= {of["MEL"][0], of["MEL"][1]}
    wrong[rows[1]] |= {of["MEL"][1]}
    # NV: the first nevus wrong in two rows (not easy) → the easy NV is the second (no error).
    wrong[rows[1]] |= {of["NV"][0]}
    wrong[rows[2]] |= {of["NV"][0]}
    # BCC: every image wrong once, the first twice → the easy BCC is the second (one error: "all but one").
    for k, image in enumerate(of["BCC"]):
        wrong[rows[k % 3]].add(image)
    wrong[rows[1]].add(of["BCC"][0])
    # VASC: every image wrong in two rows → no easy VASC. DF, BKL, AKIEC: never wrong → no hard ones.
    for image in of["VASC"]:
        wrong[rows[0]].add(image)
        wrong[rows[2]].add(image)
    rng = np.random.default_rng(0)
    results = {}
    for row in rows:
        predicted = np.array([("NV" if t != "NV" else "MEL") if i in wrong[row] else t for i, t in zip(ids, truth)])
        folder = tmp_path / "artifacts" / f"{row}.r0"
        folder.mkdir(parents=True)
        pd.DataFrame({"image_id": ids, "label": truth, "predicted": predicted}).to_csv(folder / "predictions.csv",
                                                                                       index=False)
        side = 2 if row.startswith("flat") else 4
        order = rng.permutation(len(ids))  # the maps' own image order
        np.savez(folder / "attention.npz", image_ids=ids[order], spatial=rng.random((len(ids), side, side)),
                 channel=rng.random((len(ids), side, side)), best_channel=np.zeros(len(ids), int))
        results[row] = {}
    session = _FigureSession(tmp_path)
    files = paper._attention_figures(results, data, session, "")
    got = {p.name for p in files}
    assert {"fig3_hard_examples.csv", "fig4_easy_examples.csv", "fig3_attention_hardest.png",
            "fig4_attention_easiest.png", "fig3_attention_hardest_flat.png", "fig4_attention_easiest_flat.png"} == got
    hard = pd.read_csv(tmp_path / "figures" / "fig3_hard_examples.csv", dtype=str)
    easy = pd.read_csv(tmp_path / "figures" / "fig4_easy_examples.csv", dtype=str)
    assert list(hard.columns) == ["image_id", "label", *rows] and list(easy.columns) == ["image_id", "label", *rows]
    assert hard[["image_id", "label"]].values.tolist() == [[of["MEL"][1], "MEL"]]
    assert hard.loc[0, rows].tolist() == ["NV", "NV", "MEL"]
    assert easy[["image_id", "label"]].values.tolist() == [[of["NV"][1], "NV"], [of["BCC"][1], "BCC"]]
    assert (easy.loc[1, rows] != "BCC").sum() == 1  # BCC wrong once, as in the paper


@pytest.mark.slow
def test_epochs_option_shortens_the_schedules_of_a_real_row(tmp_path):
    """Through the engine: ``--epochs 4`` on an OHEM row — history.csv's keep_fraction follows Eq. 9 for E = 4
    and learning_rate decays within the 4 epochs."""
    from dermkit.training.options import RunOptions
    from dermkit.training.runner import reproduce

    run = reproduce(paper, RunOptions(output=tmp_path, quick=True, rows=("flat_adam_cel_ohem",), epochs=4,
                                      verbose=0))
    assert run["results"]["flat_adam_cel_ohem"]["fit"]["epochs_run"] == 4
    (history,) = list((tmp_path / "work").rglob("history.csv"))
    logged = pd.read_csv(history)
    np.testing.assert_allclose(logged["keep_fraction"], _eq9_fractions(4, 20), rtol=1e-6)
    np.testing.assert_allclose(logged["learning_rate"], [1e-4, 1e-5, 1e-6, 1e-6], rtol=1e-5)
