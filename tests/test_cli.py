"""The ``dermkit`` command line: synth and demo, run in-process (and once in a fresh interpreter)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dermkit.cli import SUBCOMMANDS, build_parser, main
from dermkit.data.synthetic import MANIFEST_NAME, read_manifest


def test_subcommands_registered():
    assert {"synth", "demo", "reproduce", "predict", "score"} <= set(SUBCOMMANDS)
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([])
    assert exc.value.code == 2


def test_synth_isic2017(tmp_path, capsys):
    root = tmp_path / "isic2017"
    argv = ["synth", "isic2017", str(root), "--n-train", "3", "--n-val", "1", "--n-test", "1",
            "--image-size", "32", "40", "--seed", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"SYNTHETIC isic2017 data: {root}" in out and "SYNTHETIC" in out.splitlines()[1]
    assert len(list((root / "ISIC-2017_Training_Data").glob("ISIC_???????.jpg"))) == 3
    assert read_manifest(root)["datasets"]["isic2017"]["params"] == {
        "dataset": "isic2017", "n_train": 3, "n_val": 1, "n_test": 1, "image_size": [32, 40], "seed": 4,
        "version": 1,
    }
    # Different sizes without --overwrite: a clear error, exit code 1; with it: regenerated.
    assert main(argv[:4] + ["2"] + argv[5:]) == 1
    assert "different parameters" in capsys.readouterr().err
    assert main(argv[:4] + ["2"] + argv[5:] + ["--overwrite"]) == 0
    assert len(list((root / "ISIC-2017_Training_Data").glob("ISIC_???????.jpg"))) == 2


@pytest.mark.parametrize(
    "dataset, csv_name",
    [
        ("ham10000", "HAM10000_metadata.csv"),
        ("isic2018-task3", "ISIC2018_Task3_Training_GroundTruth.csv"),
        ("isic2020", "train.csv"),
    ],
)
def test_synth_classification_sets(tmp_path, capsys, dataset, csv_name):
    assert main(["synth", dataset, str(tmp_path), "--n-images", "14", "--image-size", "32", "32"]) == 0
    assert f"SYNTHETIC {dataset} data" in capsys.readouterr().out
    with (tmp_path / csv_name).open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 14
    assert (tmp_path / MANIFEST_NAME).is_file()


def test_synth_rejects_options_of_other_datasets(tmp_path, capsys):
    assert main(["synth", "ham10000", str(tmp_path), "--n-train", "5"]) == 2
    assert "--n-train does not apply to ham10000 (use --n-images)" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    assert main(["synth", "isic2017", str(tmp_path), "--image-size", "8", "8"]) == 1
    assert "image_size must be at least (32, 32)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["synth", "isic2019", str(tmp_path)])


def test_demo_runs_every_quick_reproduction(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tensorflow")
    import dermkit.training.runner as runner

    calls = []

    def fake_reproduce(paper, options):
        calls.append((paper, options))
        table = options.output / "table_X.md"
        return {"files": [table], "results": {}, "tables": []}

    monkeypatch.setattr(runner, "reproduce", fake_reproduce)
    assert main(["demo", "--output", str(tmp_path), "--quiet"]) == 0
    assert [paper for paper, _ in calls] == ["kawahara2018", "goel2021", "barata2020", "bisla2019", "codella2018"]
    for paper, options in calls:
        assert options.quick and options.data == "synthetic" and options.output == tmp_path / paper
        assert options.verbose == 0 and not options.overwrite
    out = capsys.readouterr().out
    assert "SYNTHETIC demo finished. Tables and figures:" in out
    assert str(tmp_path / "kawahara2018" / "table_X.md") in out


def test_reproduce_command_line_reaches_the_runner(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    import dermkit.training.runner as runner

    calls = []
    monkeypatch.setattr(runner, "reproduce", lambda paper, options: calls.append((paper, options)))
    assert main(["reproduce", "kawahara2018", "--data", "/data/isic2017", "--table", "IV", "V", "--output",
                 str(tmp_path), "--strategy", "mirrored", "--mixed-precision", "--jit", "--epochs", "3"]) == 0
    paper, options = calls[0]
    assert paper == "kawahara2018" and options.data == "/data/isic2017" and options.tables == ("IV", "V")
    assert options.strategy == "mirrored" and options.mixed_precision == "mixed_float16" and options.jit
    assert options.epochs == 3 and not options.quick


@pytest.mark.filterwarnings("ignore:.*undefined when the truth holds a single class:RuntimeWarning")
def test_predict_then_score_a_folder(isic2017_root, tmp_path, capsys):
    keras = pytest.importorskip("keras")
    from dermkit.data.isic import load_isic2017
    from dermkit.models import vgg16_fcn

    df = load_isic2017(isic2017_root, "test")
    images = tmp_path / "images"
    images.mkdir()
    for row in df.head(2).itertuples():  # two images are enough: keep the test cheap
        for src in (Path(row.image_path), Path(row.superpixels_path)):
            (images / src.name).write_bytes(src.read_bytes())
    keras.utils.set_random_seed(0)
    weights = tmp_path / "fcn.weights.h5"
    # Saved after compile + fit, as a training checkpoint is: the file holds the optimizer's variables too.
    model = vgg16_fcn(input_shape=(32, 32, 3))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(np.zeros((1, 32, 32, 3), np.float32), np.zeros((1, 32, 32, 4), np.float32), epochs=1, verbose=0)
    model.save_weights(weights)
    out = tmp_path / "pred"
    assert main(["predict", "isic2017-part2", str(images), str(out), "--weights", str(weights),
                 "--input-size", "32", "32"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.name != "dermkit_predictions.json") == sorted(
        f"{i}_features.json" for i in df.image_id.head(2))
    truth = tmp_path / "truth"
    truth.mkdir()
    for row in df.head(2).itertuples():
        (truth / Path(row.features_path).name).write_bytes(Path(row.features_path).read_bytes())
    capsys.readouterr()
    assert main(["score", "isic2017-part2", str(truth), str(out), "--csv", str(tmp_path / "scores.csv")]) == 0
    printed = capsys.readouterr().out
    assert "pigment_network" in printed and "average" in printed and "average_precision_2017" in printed
    assert (tmp_path / "scores.csv").exists()
    assert main(["predict", "isic2017-part2", str(images), str(out), "--weights", "isic2017-part2_vgg_f1_aug"]) == 1
    assert "Did you mean 'isic2017-part2_vgg_f1-batch_aug'" in capsys.readouterr().err


def test_synth_and_demo_do_not_import_tensorflow(tmp_path):
    code = (
        "import sys\n"
        "from dermkit.cli import main\n"
        f"assert main(['synth', 'isic2020', {str(tmp_path / 'z')!r}, '--n-images', '6',"
        " '--image-size', '32', '32']) == 0\n"
        f"assert main(['synth', 'isic2017', {str(tmp_path / 'a')!r}, '--n-train', '2', '--n-val', '0',"
        " '--n-test', '0', '--image-size', '32', '32']) == 0\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_python_dash_m_dermkit(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dermkit", "synth", "ham10000", str(tmp_path), "--n-images", "7",
         "--image-size", "32", "32"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "SYNTHETIC ham10000 data" in result.stdout


def _score_inputs(isic2017_root, tmp_path):
    """Two ground-truth _features.json files, and the same files as predictions."""
    from dermkit.data.isic import load_isic2017

    df = load_isic2017(isic2017_root, "test").head(2)
    truth = tmp_path / "truth"
    truth.mkdir()
    for row in df.itertuples():
        (truth / Path(row.features_path).name).write_bytes(Path(row.features_path).read_bytes())
    return truth, truth


@pytest.mark.filterwarnings("ignore:.*undefined when the truth holds a single class:RuntimeWarning")
def test_score_csv_overwrite(isic2017_root, tmp_path, capsys):
    truth, pred = _score_inputs(isic2017_root, tmp_path)
    table = tmp_path / "scores.csv"
    table.write_text("earlier table\n")
    argv = ["score", "isic2017-part2", str(truth), str(pred), "--csv", str(table)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("dermkit score: error: ") and str(table) in err and "--overwrite" in err
    assert table.read_text() == "earlier table\n"
    assert main([*argv, "--overwrite"]) == 0  # the option the message names exists
    assert table.read_text() != "earlier table\n" and "pigment_network" in table.read_text()


def test_predict_out_dir_that_is_a_file(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    out = tmp_path / "out.txt"
    out.write_text("not a folder")
    for target in (out, out / "sub"):
        assert main(["predict", "isic2017-part2", str(images), str(target), "--weights", "x.weights.h5"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("dermkit predict: error: ") and str(out) in err and "not a folder" in err
        assert "Traceback" not in err
    assert out.read_text() == "not a folder"


def test_predict_registry_weights_offline_is_a_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    keras = pytest.importorskip("keras")

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid: None -- [Errno -3] Temporary failure")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("dermkit.weights.loading._cache_candidates",
                        lambda name: [tmp_path / "keras_home" / "models" / name])
    images = tmp_path / "images"
    images.mkdir()
    argv = ["predict", "isic2017-part2", str(images), str(tmp_path / "out"), "--weights",
            "isic2017-part2_vgg_f1-batch_aug", "--input-size", "32", "32"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("dermkit predict: error: Could not download the weights 'isic2017-part2_vgg_f1-batch_aug'")
    assert str(tmp_path / "keras_home" / "models" / "isic2017-part2_vgg_f1-batch_aug.h5") in err
    assert "Traceback" not in err


# ----------------------------------------------------------------------------------------------------------
# Issue 17 (dataerr): `dermkit predict` with other weights into the same folder
# ----------------------------------------------------------------------------------------------------------
def _two_weight_files(tmp_path):
    keras = pytest.importorskip("keras")
    from dermkit.models import vgg16_fcn

    files = []
    for seed in (0, 1):
        keras.utils.set_random_seed(seed)
        path = tmp_path / f"fcn{seed}.weights.h5"
        vgg16_fcn(input_shape=(32, 32, 3)).save_weights(path)
        files.append(path)
    return files


def _features(folder):
    return {p.name: p.read_text() for p in sorted(Path(folder).glob("*_features.json"))}


def test_predict_with_other_weights_refuses_then_overwrite_replaces_all(isic2017_root, tmp_path, capsys):
    from dermkit.data.isic import load_isic2017

    df = load_isic2017(isic2017_root, "test").head(2)
    images = tmp_path / "images"
    images.mkdir()
    for row in df.itertuples():
        for src in (Path(row.image_path), Path(row.superpixels_path)):
            (images / src.name).write_bytes(src.read_bytes())
    first, second = _two_weight_files(tmp_path)
    out, fresh = tmp_path / "pred", tmp_path / "fresh"

    def predict(weights, folder, *extra):
        return main(["predict", "isic2017-part2", str(images), str(folder), "--weights", str(weights),
                     "--input-size", "32", "32", *extra])

    assert predict(first, out) == 0
    old = _features(out)
    assert predict(first, out) == 0 and _features(out) == old  # same weights: resumes, nothing redone
    capsys.readouterr()
    assert predict(second, out) == 1
    err = capsys.readouterr().err
    assert err.startswith("dermkit predict: error: ") and str(out) in err and "another model" in err
    assert str(first) in err and "--overwrite" in err and "Traceback" not in err
    assert _features(out) == old  # the old predictions stay, untouched
    assert predict(second, out, "--overwrite") == 0
    assert predict(second, fresh) == 0
    assert _features(out) == _features(fresh) and set(_features(out)) == set(old)
    assert all(_features(out)[name] != old[name] for name in old)  # none of the first weights' files left
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pred")]  # no staging folder left


@pytest.mark.parametrize("value", ["-1", "0", "1.5", "ten"])
def test_reproduce_refuses_epochs_that_are_not_integers_of_at_least_one(tmp_path, capsys, value):
    """Issue 17: ``--epochs -1`` trained nothing and stored the untrained network's scores as a finished row."""
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "kawahara2018", "--epochs", value, "--output", str(tmp_path / "run")])
    assert exc.value.code == 2
    assert f"argument --epochs: must be an integer ≥ 1. Received: {value!r}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert build_parser().parse_args(["reproduce", "kawahara2018", "--epochs", "1", "--output", "x"]).epochs == 1
