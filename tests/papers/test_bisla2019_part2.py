"""bisla2019 part 2 (purification and classification rows): the rows and tables against the paper (values
typed from Sections 3.2.2, 3.2.3, 4.2, 6.2 and Tables 3, 4, 6), the Fig. 7 growth counts, the segmentation
post-processing geometry, the hook into the paper module, the cheap learning check (segmentation + hair
removal) and the whole quick run (slow)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from dermkit.papers import _bisla2019_part2 as part2
from dermkit.papers import bisla2019 as paper


def test_rows_and_paper_numbers():
    rows = {e.key: e for e in part2.EXPERIMENTS_PART2}
    assert list(rows) == ["segmentation", "hair_removal", "purification_net", "classifier_baseline",
                          "classifier_proposed", "isic2018_classifier"]
    assert rows["segmentation"].reported["segmentation"] == {"jaccard": 0.77}  # Section 3.2.3
    assert part2.WINNER_JACCARD == 0.765
    # Table 3
    assert rows["classifier_baseline"].reported["3"] == {"auc_melanoma": 0.805, "auc_mean": 0.873}
    assert rows["classifier_proposed"].reported["3"] == {"auc_melanoma": 0.880, "auc_mean": 0.915}
    assert part2.TABLE3["winners"] == {"auc_melanoma": 0.874, "auc_mean": 0.911}
    # Table 4 and Fig. 9's 81.6 %
    assert rows["classifier_proposed"].reported["4"] == {"spec_at_82": 0.697, "spec_at_89": 0.648, "spec_at_95": 0.492}
    assert part2.TABLE4["Top AVG [24]"] == (0.729, 0.588, 0.366)
    assert part2.TABLE4["Top SK [14]"] == (0.727, 0.555, 0.404)
    assert part2.TABLE4["Top M [27]"] == (0.747, 0.590, 0.395)
    assert rows["classifier_proposed"].reported["fig9"] == {"accuracy": 0.816}
    # Table 6
    assert rows["isic2018_classifier"].reported["6"] == {
        "accuracy_raw": 0.675, "sensitivity_raw": 0.561, "specificity_raw": 0.954,
        "accuracy_purified": 0.717, "sensitivity_purified": 0.754, "specificity_purified": 0.837}
    # Section 3.2.2: 147 melanoma, 470 nevus, 182 SK purified
    assert rows["hair_removal"].reported["purification"] == {
        "purified_melanoma": 147, "purified_nevus": 470, "purified_seborrheic_keratosis": 182}
    # the classifier reads part 1's generated sets and the purified copies
    assert set(rows["classifier_proposed"].depends_on) == {"gan_melanoma", "gan_sk", "hair_removal"}
    assert rows["isic2018_classifier"].depends_on == ("segmentation", "purification_net")
    assert rows["hair_removal"].depends_on == ("segmentation",)
    assert all(e.quick for e in rows.values())


def test_hooked_into_the_paper_module():
    keys = [e.key for e in paper.EXPERIMENTS]
    assert keys[:3] == ["gan_melanoma", "gan_sk", "gan_coupled"]  # part 1 first, dependencies before users
    assert all(any(e is f for f in paper.EXPERIMENTS) for e in part2.EXPERIMENTS_PART2)
    assert set(part2.TABLES_PART2) <= set(paper.TABLES) and set(paper.TABLES) <= set(paper.TABLE_BUILDERS)
    for e in paper.EXPERIMENTS:
        assert e.params["kind"] in paper.RECIPES
        assert set(e.depends_on) <= set(keys[:keys.index(e.key)])
        assert set(e.tables) <= set(paper.TABLES)
    assert paper.SYNTHETIC["isic2017"]["occlusion_masks"] is True


def test_full_settings_are_the_papers():
    seg, cls = part2.FULL["segmentation"], part2.FULL["classifier"]
    # reference notes: resize 400, centre crop 380, batch 15, Adam 1e-4, ×0.1 every 30 epochs, threshold 0.4
    assert (seg["load_size"], seg["input_size"], seg["batch_size"]) == (400, 380, 15)
    assert (seg["learning_rate"], seg["decay_every"], seg["threshold"], seg["width"]) == (1e-4, 30, 0.4, 1.0)
    # SGD 1e-3, momentum 0.9, batch 50, scale 400, crop 224, ImageNet
    assert (cls["learning_rate"], cls["momentum"], cls["batch_size"]) == (1e-3, 0.9, 50)
    assert (cls["scale"], cls["input_size"], cls["encoder_weights"]) == (400, 224, "imagenet")
    pur = part2.FULL["purification"]
    assert (pur["size"], pur["depth"], pur["vgg_weights"], pur["loss_weights"]) == (256, 7, "imagenet", None)
    # the authors' final main.m / my_function.m: 400×400, strel('sphere', 3), th = 0.1 in L* units of [0, 100]
    assert part2.FULL["hair"]["size"] == 400 and part2.FULL["hair"]["radius"] == 3
    assert part2.FULL["hair"]["threshold"] == 0.1 and part2.QUICK["hair"]["threshold"] == 0.1
    q = part2.QUICK
    assert (q["segmentation"]["input_size"], q["segmentation"]["width"]) == (228, 0.125)
    assert (q["purification"]["size"], q["purification"]["depth"]) == (64, 6)
    assert q["classifier"]["input_size"] == 64


def test_grown_items_reproduce_fig7_counts():
    """Section 3.3 / Fig. 7: 919 / 2518 / 545 sources, 350 + 750 GAN, 147 / 470 / 182 purified →
    2685 / 2988 / 2772, ×6 = 16110 / 17928 / 16632, 26 % generated."""
    from dermkit.data.growth import growth_counts

    def frame(counts):
        labels = np.concatenate([[k] * n for k, n in enumerate(counts)]).astype(int)
        return pd.DataFrame({"image_path": [f"x{i}.png" for i in range(len(labels))], "label": labels})

    items = part2.grown_items(frame((919, 2518, 545)), frame((350, 0, 750)), frame((147, 470, 182)), seed=0)
    assert set(items["label"]) == {0, 1, 2}
    counts = growth_counts(part2.grown_items_named(items))
    assert counts.loc["purified", ["melanoma", "nevus", "seborrheic_keratosis"]].tolist() == [2685, 2988, 2772]
    assert counts.loc["x6", ["melanoma", "nevus", "seborrheic_keratosis"]].tolist() == [16110, 17928, 16632]
    assert round(counts.loc["x6", "generated_share"], 2) == 0.26
    assert len(items) == 16110 + 17928 + 16632


class _OnesModel:
    """Stands in for the segmentation network: probability 1 everywhere."""

    def predict_on_batch(self, x):
        return np.ones((*x.shape[:3], 1), np.float32)


def test_predicted_masks_are_padded_back_to_the_load_frame(tmp_path):
    """A 20×40 image, resized to 10×10, centre 6×6 predicted as lesion: back at 20×40 the lesion covers rows
    4..15 and columns 8..31 (the 2-px border of the 10-px frame is background), by hand."""
    from dermkit.data.imageio import write_png

    write_png(tmp_path / "a.png", np.full((20, 40, 3), 128, np.uint8))
    frame = pd.DataFrame({"image_path": [str(tmp_path / "a.png")]})
    (mask,) = part2.predict_lesion_masks(_OnesModel(), frame, {"load_size": 10, "input_size": 6, "threshold": 0.4})
    want = np.zeros((20, 40), bool)
    want[4:16, 8:32] = True
    np.testing.assert_array_equal(mask, want)


def test_occlusion_path(tmp_path):
    from dermkit.data.synthetic import make_isic2017

    with_masks = make_isic2017(tmp_path / "a", n_train=3, n_val=0, n_test=0, image_size=(32, 32), occlusion_masks=True)
    frame = paper.isic2017_frame(with_masks, "training")
    path = part2.occlusion_path(frame["image_path"][0])
    assert path is not None and path.name == f"{frame['image_id'][0]}_occlusions.png"
    without = make_isic2017(tmp_path / "b", n_train=3, n_val=0, n_test=0, image_size=(32, 32))
    assert part2.occlusion_path(paper.isic2017_frame(without, "training")["image_path"][0]) is None


def _session(quick=True, synthetic=True, tables=("all",)):
    return SimpleNamespace(options=SimpleNamespace(quick=quick, synthetic=synthetic, tables=tables))


def test_tables_put_dermkit_beside_the_paper():
    results = {"classifier_baseline": {"auc_melanoma": 0.7, "auc_mean": 0.75, "accuracy": 0.6},
               "classifier_proposed": {"auc_melanoma": 0.8, "auc_mean": 0.85, "spec_at_82": 0.5, "accuracy": 0.7}}
    t3 = part2.table_3(results, None, _session())
    assert [r.label for r in t3.rows] == ["Traditional Baseline", "Proposed Model", "ISIC Challenge winners [24, 27]"]
    assert t3.rows[1].dermkit == {"auc_melanoma": 0.8, "auc_mean": 0.85} and t3.rows[1].paper["auc_mean"] == 0.915
    assert t3.rows[2].dermkit == {} and t3.synthetic
    t4 = part2.table_4(results, None, _session())
    assert [r.paper.get("spec_at_95") for r in t4.rows] == [0.366, 0.404, 0.395, 0.492, None]
    t6 = part2.table_6({}, None, _session(synthetic=False))
    assert "held out" in t6.data and t6.rows[1].paper == {"accuracy": 0.717, "sensitivity": 0.754, "specificity": 0.837}
    assert t6.rows[0].paper == {"accuracy": 0.675, "sensitivity": 0.561, "specificity": 0.954}
    assert tuple(t6.metrics) == ("accuracy", "sensitivity", "specificity", "overall_accuracy", "balanced_accuracy")
    notes = " ".join(t6.notes)
    assert "macro_average" in notes and "mutually inconsistent" in notes and "only reading" not in notes
    f7 = part2.table_fig7({}, None, _session())
    assert f7.rows[-1].paper["total"] == 16110 + 17928 + 16632 and f7.rows[-1].paper["generated_share"] == 0.26
    assert part2.table_fig9(results, None, _session()).rows[1].paper == {"accuracy": 0.816}
    seg = part2.table_segmentation({"segmentation": {"jaccard": 0.5}}, None, _session())
    assert seg.rows[0].dermkit["jaccard"] == 0.5 and seg.rows[-1].paper == {"jaccard": 0.765}


def test_fig9_plot(tmp_path):
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 2] * 10)
    prob = rng.dirichlet(np.ones(3), size=30)
    from dermkit.plots_purification import plot_roc_confusion

    out = plot_roc_confusion({"a": {"y_true": y, "prob": prob}}, tmp_path / "f.png", class_names=part2.ISIC2017_CLASSES)
    assert out.stat().st_size > 0
    with pytest.raises(FileExistsError):
        plot_roc_confusion({"a": {"y_true": y, "prob": prob}}, tmp_path / "f.png", class_names=part2.ISIC2017_CLASSES)


def _quick_options(tmp_path, tables, rows):
    from dermkit.training.options import RunOptions

    return RunOptions(data="synthetic", quick=True, output=tmp_path / "run", tables=tables, rows=rows, verbose=0)


def test_quick_segmentation_and_hair_removal_learn(tmp_path, monkeypatch):
    """The cheap learning check (make test): the quick segmentation recipe (228², width 1/8, 32 images, 4
    epochs) scores a test Jaccard well above the all-background (0) and all-lesion predictions, and hair
    removal on its lesion masks finds ≥ 70 % of the drawn hair / ruler pixels."""
    pytest.importorskip("tensorflow")
    from dermkit.training.runner import reproduce

    quick = {**part2.QUICK, "segmentation": {**part2.QUICK["segmentation"], "max_train": 32, "max_test": 12,
                                             "epochs": 4}}
    monkeypatch.setattr(part2, "QUICK", quick)
    monkeypatch.setitem(paper.SYNTHETIC, "isic2017", {**paper.SYNTHETIC["isic2017"], "n_train": 40, "n_val": 0,
                                                      "n_test": 12})
    monkeypatch.setitem(paper.SYNTHETIC, "isic2018_task3", {"n_images": 14, "image_size": (32, 32),
                                                            "min_per_class": 2})
    opts = _quick_options(tmp_path, ("segmentation", "purification"), ("segmentation", "hair_removal"))
    results = reproduce(paper, opts)["results"]
    seg, hair = results["segmentation"], results["hair_removal"]
    assert seg["jaccard_all_background"] == 0.0
    assert seg["jaccard"] > 0.5 and seg["jaccard"] > seg["jaccard_all_lesion"] + 0.2
    assert hair["hair_recall"] >= 0.7
    assert (tmp_path / "run" / "table_segmentation.md").exists()
    assert (tmp_path / "run" / "figures" / "fig4_segmentation.png").exists()
    assert (tmp_path / "run" / "figures" / "fig3_hair_removal.png").exists()


@pytest.mark.slow
def test_whole_quick_run(tmp_path):
    """The whole --quick run (parts 1 and 2): every part-2 table and figure is written, numbers finite."""
    pytest.importorskip("tensorflow")
    from dermkit.training.runner import reproduce

    results = reproduce(paper, _quick_options(tmp_path, ("all",), None))["results"]
    out = tmp_path / "run"
    for name in part2.TABLES_PART2:
        assert (out / f"table_{name}.md").exists(), name
    for fig in ("fig2_visualbackprop_baseline", "fig3_hair_removal", "fig4_segmentation", "fig7_data_growth",
                "fig8_visualbackprop_proposed", "fig9_roc_confusion", "fig10_purification_network",
                "fig11_isic2018_class_sizes"):
        assert (out / "figures" / f"{fig}.png").exists(), fig
    for key in ("classifier_baseline", "classifier_proposed"):
        assert math.isfinite(results[key]["auc_mean"])
    assert math.isfinite(results["isic2018_classifier"]["accuracy_purified"])
    assert results["purification_net"]["hole_l1"] < results["purification_net"]["hole_l1_mean_fill"] * 2


class _SkinNet:
    """Stands in for the purification network: predicts the skin colour 0.8 everywhere."""

    def predict(self, inputs, batch_size=None, verbose=0):
        return np.full_like(inputs["image"], 0.8)


def test_purify_at_scale_changes_only_the_found_occlusions():
    """A 0.8-grey 48×48 image with one dark (0.1) 2-px line: only the pixels remove_hair marks change, the
    line is gone (its pixels now near the network's 0.8), every other pixel keeps its value."""
    from dermkit.preprocessing.hair import remove_hair

    image = np.full((1, 48, 48, 3), 0.8, np.float32)
    image[0, 20:22, 4:44] = 0.1
    holes = remove_hair(image[0], method="closing")[1]
    out = part2.purify_at_scale(_SkinNet(), image, 16, np.zeros((1, 48, 48), bool))
    changed = np.any(out != image, axis=-1)[0]
    assert holes[20:22, 6:42].all() and not holes[:17].any() and not holes[25:].any()
    assert not (changed & ~holes).any()
    np.testing.assert_array_equal(out[0][~holes], image[0][~holes])
    assert out[0, 20:22, 6:42].mean() > 0.6


@pytest.mark.slow
def test_full_scale_code_path_at_toy_size(tmp_path, monkeypatch):
    """The full-scale settings' code path (resize to ``load_size`` then centre crop, hair removal after a
    resize, the classifier's scale + crop, depth-7 purification network), at toy sizes and without ImageNet
    weights, on the rows that do not need the GANs."""
    pytest.importorskip("tensorflow")
    from dermkit.training.options import RunOptions
    from dermkit.training.runner import reproduce

    full = part2.FULL
    toy = {
        "segmentation": {**full["segmentation"], "load_size": 236, "input_size": 228, "width": 0.125, "batch_size": 4,
                         "epochs": 1, "max_train": 8, "max_test": 4},
        "hair": {**full["hair"], "size": 96},
        "purification": {**full["purification"], "size": 128, "width": 0.125, "epochs_adam": 1, "epochs_sgd": 1,
                         "vgg_weights": None, "max_train": 8, "max_eval": 4},
        "classifier": {**full["classifier"], "scale": 72, "input_size": 64, "batch_size": 8, "epochs": 1,
                       "steps_per_epoch": 2, "encoder_weights": None},
        "isic2018": {**full["isic2018"], "epochs": 1},
    }
    monkeypatch.setattr(part2, "FULL", toy)
    monkeypatch.setitem(paper.SYNTHETIC, "isic2017", {**paper.SYNTHETIC["isic2017"], "n_train": 24, "n_val": 0,
                                                      "n_test": 9})
    monkeypatch.setitem(paper.SYNTHETIC, "isic2018_task3", {"n_images": 35, "image_size": (64, 64),
                                                            "min_per_class": 5})
    rows = ("segmentation", "hair_removal", "purification_net", "classifier_baseline", "isic2018_classifier")
    run = reproduce(paper, RunOptions(output=tmp_path / "run", rows=rows, verbose=0))
    results = run["results"]
    assert set(rows) <= set(results) and not run["missing"]
    assert 0.0 <= results["segmentation"]["jaccard"] <= 1.0
    assert results["purification_net"]["switch_epoch"] == 1
    assert math.isfinite(results["isic2018_classifier"]["accuracy_raw"])


def test_gan_images_at_the_papers_ratio():
    """350 / 919 melanoma and 750 / 545 SK generated per source image: the paper's sources keep 350 and 750;
    57 melanoma and 39 SK sources keep round(21.7) = 22 and round(53.7) = 54."""
    gen = pd.DataFrame({"image_path": [f"g{i}" for i in range(1200)], "label": [0] * 400 + [2] * 800})

    def sources(mel, nev, sk):
        return pd.DataFrame({"label": [0] * mel + [1] * nev + [2] * sk})

    kept = part2._gan_at_paper_ratio(gen, sources(919, 2518, 545))
    assert np.bincount(kept["label"], minlength=3).tolist() == [350, 0, 750]
    kept = part2._gan_at_paper_ratio(gen, sources(57, 204, 39))
    assert np.bincount(kept["label"], minlength=3).tolist() == [22, 0, 54]
    assert kept["image_path"].iloc[0] == "g0"


def test_purify_at_scale_never_repaints_the_segmented_lesion():
    """Table 6 / Fig. 10: the line crosses a lesion (columns 16..31); with the segmented lesion passed, the lesion
    pixels (line included) come back unchanged, the line outside the lesion is filled."""
    image = np.full((1, 48, 48, 3), 0.8, np.float32)
    lesion = np.zeros((1, 48, 48), bool)
    lesion[0, 12:36, 16:32] = True
    image[lesion] = 0.35
    image[0, 20:22, 4:44] = 0.1
    out = part2.purify_at_scale(_SkinNet(), image, 16, lesion)
    np.testing.assert_array_equal(out[lesion], image[lesion])
    assert out[0, 20:22, 6:12].mean() > 0.6 and out[0, 20:22, 36:42].mean() > 0.6


def test_baseline_batches_have_no_flips():
    """"without any purification/augmentation": with the scale equal to the input size the baseline's random
    crop is the whole image, so every drawn image must equal its source exactly (a vertical flip would not)."""
    pytest.importorskip("tensorflow")
    side = 8
    image = np.zeros((side, side, 3), np.float32)
    image[:3] = 1.0  # top rows bright: a vertical flip moves them

    class _Fixed:
        def get(self, path):
            return image.copy()

    items = pd.DataFrame({"image_path": ["a"] * 4, "label": [0, 1, 0, 1], "hflip": False, "vflip": False,
                          "crop_seed": 0})
    cfg = {"input_size": side, "batch_size": 4}
    ds = part2._train_batches(items, _Fixed(), cfg, 2, seed=0, resample_crops=True)
    for x, _ in ds.take(8):
        np.testing.assert_array_equal(np.asarray(x), np.broadcast_to(image, (4, side, side, 3)))
