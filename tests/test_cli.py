"""The ``dermkit`` command line: synth and demo, run in-process (and once in a fresh interpreter)."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from dermkit.cli import SUBCOMMANDS, build_parser, main
from dermkit.data.synthetic import MANIFEST_NAME, read_manifest


def test_subcommands_registered():
    assert {"synth", "demo"} <= set(SUBCOMMANDS)
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


def test_demo_generates_then_reuses(tmp_path, capsys):
    # (--overwrite is passed straight to make_isic2017, tested with `synth` above and in test_synthetic.py)
    assert main(["demo", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    data = tmp_path / "data" / "isic2017"
    assert out.splitlines()[0].startswith("ISIC 2017 — SYNTHETIC")
    assert f"(generated): {data.resolve()}" in out
    for split, n in [("Training", 120), ("Validation", 30), ("Test_v2", 40)]:
        assert len(list((data / f"ISIC-2017_{split}_Data").glob("ISIC_???????.jpg"))) == n
    stamp = (data / MANIFEST_NAME).stat().st_mtime_ns
    assert main(["demo", "--output", str(tmp_path)]) == 0
    assert "(reused)" in capsys.readouterr().out
    assert (data / MANIFEST_NAME).stat().st_mtime_ns == stamp


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
