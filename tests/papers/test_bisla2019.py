"""bisla2019 part 1 (GAN rows): the grid against the paper (values typed from Sections 3.3.2 / 6.3 and
Fig. 5), registration, a TF-free import, and the cheap learning check of the quick recipe."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from dermkit.papers import bisla2019 as paper


def test_gan_rows_follow_the_paper():
    rows = {e.key: e for e in paper.GAN_EXPERIMENTS}
    assert list(rows) == ["gan_melanoma", "gan_sk", "gan_coupled"]
    mel, sk, coupled = rows.values()
    # Section 3.3.2: "generate 350 images of melanoma and 750 images of seborrheic keratosis", latent 10
    assert (mel.params["class"], mel.params["n_generate"], mel.params["latent_dim"]) == ("melanoma", 350, 10)
    assert (sk.params["class"], sk.params["n_generate"], sk.params["latent_dim"]) == ("seborrheic_keratosis", 750, 10)
    # Fig. 5: melanoma 0.088 ± 0.052, SK 0.030 ± 0.015
    assert mel.reported["gan"] == {"mse_mean": 0.088, "mse_std": 0.052}
    assert sk.reported["gan"] == {"mse_mean": 0.030, "mse_std": 0.015}
    # Section 6.3: 7 ISIC 2018 classes, latent vector of length 100
    assert coupled.params["num_classes"] == 7 and coupled.params["latent_dim"] == 100
    assert coupled.params["dataset"] == "isic2018_task3"
    assert all(e.quick and e.tables == ("gan",) and not e.depends_on for e in rows.values())
    assert all(e in paper.EXPERIMENTS for e in paper.GAN_EXPERIMENTS) and "gan" in paper.TABLES


def test_full_settings_are_the_papers():
    full = paper.FULL
    assert full["image_size"] == 256 and full["batch_size"] == 50
    assert (full["learning_rate"], full["beta_1"], full["beta_2"]) == ({"d": 2e-4, "g": 2e-4}, 0.5, 0.999)
    assert (full["extra_every"], full["extra_steps"]) == (10, 2)  # "two rounds ... after every 10th round"
    assert paper.QUICK["image_size"] == 64
    # the authors' main.py: real_label = 1 (no smoothing); issue 16 bumped the rows to VERSION 3
    assert full["label_smoothing"] == 0.0 and paper.QUICK["label_smoothing"] == 0.0
    assert full["joint_batch"] is False  # the authors' separate real / generated discriminator calls
    assert paper.VERSION >= 3


def test_registered_and_dispatching():
    from dermkit.papers import PAPERS, load_paper

    assert PAPERS["bisla2019"] == "dermkit.papers.bisla2019" and load_paper("bisla2019") is paper
    assert set(paper.RECIPES) >= {"dcgan", "coupled"} and set(paper.TABLE_BUILDERS) >= {"gan"}
    bad = paper.Experiment("x", "x", ("gan",), {"kind": "nope"})
    with pytest.raises(ValueError, match="no recipe for kind 'nope'"):
        paper.run_experiment(bad, None, None)


def test_module_imports_without_tensorflow():
    code = ("import sys, dermkit.papers.bisla2019 as p; p.EXPERIMENTS; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_isic2017_labels(tmp_path):
    from dermkit.data.synthetic import make_isic2017

    root = make_isic2017(tmp_path / "i17", n_train=20, n_val=0, n_test=0, image_size=(32, 32))
    frame = paper.isic2017_frame(root, "training")
    want = np.where(frame["melanoma"] == 1, 0, np.where(frame["seborrheic_keratosis"] == 1, 2, 1))
    np.testing.assert_array_equal(frame["label"], want)
    assert frame.attrs["class_names"] == ("melanoma", "nevus", "seborrheic_keratosis")
    assert {0, 1, 2} <= set(frame["label"])


def test_quick_gan_learns(tmp_path, monkeypatch):
    """The cheap learning check: the quick melanoma DCGAN recipe at 32×32 (the quick run is 64×64): at the
    end neither network trivially wins and the colour statistics are at least twice as close to the real
    class's as the untrained generator's; its generated set, novelty material, table and figures exist."""
    pytest.importorskip("tensorflow")
    from dermkit.training.options import RunOptions
    from dermkit.training.runner import reproduce

    monkeypatch.setattr(paper, "QUICK", {**paper.QUICK, "image_size": 32, "epochs": {"dcgan": 10, "coupled": 1}})
    monkeypatch.setattr(paper, "SYNTHETIC", {"isic2017": {"n_train": 300, "n_val": 4, "n_test": 4,
                                                          "image_size": (64, 64)},
                                             "isic2018_task3": {"n_images": 14, "image_size": (32, 32),
                                                                "min_per_class": 2}})
    run = reproduce(paper, RunOptions(output=tmp_path / "run", quick=True, rows=("gan_melanoma",), verbose=0))
    result = run["results"]["gan_melanoma"]
    assert 0.05 < result["d_fake_accuracy"] < 0.95, result
    assert result["stats_distance_final"] <= result["stats_distance_init"] / 2, result
    assert result["fit"]["epochs_total"] == 10 and result["n_generated"] == 350
    art = tmp_path / "run" / "artifacts" / "gan_melanoma.r0"
    generated = pd.read_csv(art / "generated" / "manifest.csv")
    assert len(generated) == 350 and set(generated["label"]) == {0}
    assert (art / "generator.keras").is_file() and (art / "novelty.npz").is_file()
    assert 0 < result["mse_mean"] < 1
    # mse_check.py: every generated image's nearest training image is of its own class (melanoma = 0), and the
    # stored MSE is that of the min–max stretched image, recomputed here in NumPy
    novelty = np.load(art / "novelty.npz")
    assert (novelty["train_labels"][novelty["index"]] == 0).all()
    assert "nearest_same_class" not in result
    g = novelty["generated"].reshape(len(novelty["generated"]), -1).astype(np.float64)
    g = (g - g.min(1, keepdims=True)) / (g.max(1, keepdims=True) - g.min(1, keepdims=True))
    chosen = np.concatenate([novelty["quantile"], novelty["smallest"]])
    want = ((g - novelty["nearest"].reshape(len(g), -1)) ** 2).mean(1)
    np.testing.assert_allclose(novelty["mse"][chosen], want, rtol=1e-5, atol=1e-7)
    names = sorted(p.name for p in run["files"])
    assert "table_gan.md" in names and "fig5_mse_histograms.png" in names and "fig6_nearest_pairs.png" in names


@pytest.mark.slow
def test_a_killed_gan_row_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    """Crash-safe backups carry the two-optimiser trainer: killed at the end of epoch 2 of 4 and resumed, the
    row ends with the uninterrupted run's history (extra generator steps every 2nd epoch, early-stopping state,
    the sampler's epoch)."""
    pytest.importorskip("tensorflow")
    import keras

    from dermkit.training.options import RunOptions
    from dermkit.training.runner import reproduce

    monkeypatch.setattr(paper, "QUICK", {**paper.QUICK, "image_size": 16, "epochs": {"dcgan": 4, "coupled": 1},
                                         "num_batches": 2, "extra_every": 2, "stats_images": 8})
    monkeypatch.setattr(paper, "SYNTHETIC", {"isic2017": {"n_train": 60, "n_val": 4, "n_test": 4,
                                                          "image_size": (32, 32)},
                                             "isic2018_task3": {"n_images": 14, "image_size": (32, 32),
                                                                "min_per_class": 2}})
    original = paper._gan_callbacks

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("simulated kill")

    def crashing(*args, **kwargs):
        return [*original(*args, **kwargs), Crash()]

    def options(name):
        return RunOptions(output=tmp_path / name, quick=True, rows=("gan_melanoma",), verbose=0)

    def stored(name):
        import json

        return json.loads((tmp_path / name / "rows" / "gan_melanoma.r0.json").read_text())["result"]

    reproduce(paper, options("whole"))
    monkeypatch.setattr(paper, "_gan_callbacks", crashing)
    with pytest.raises(KeyboardInterrupt):
        reproduce(paper, options("killed"))
    monkeypatch.setattr(paper, "_gan_callbacks", original)
    reproduce(paper, options("killed"))
    whole, resumed = stored("whole"), stored("killed")
    # killed at the end of epoch 2 before its backup: resumes after epoch 1
    assert resumed["fit"]["initial_epoch"] == 1 and resumed["fit"]["epochs_total"] == 4
    for key in ("d_loss", "g_loss", "stats_distance"):
        np.testing.assert_allclose(resumed["fit"]["history"][key], whole["fit"]["history"][key], rtol=1e-4)
    assert resumed["stats_distance_final"] == pytest.approx(whole["stats_distance_final"], rel=1e-4)
