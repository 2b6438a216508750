"""``dermkit plan`` on one full-scale row of each paper, ``--steps 1``, synthetic data (slow: the full-scale
models at the papers' input sizes, on CPU). Steps per epoch are typed from the papers' training-set sizes."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pandas as pd
import pytest

pytest.importorskip("tensorflow")

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

#: paper → (row planned, its fit, input size, batch, steps per epoch typed from the paper's training set:
#: None where the recipe's own count is used).
CASES = [
    # kawahara2018: 2,000 ISIC 2017 training images less 300 monitored, batch 12, 336² (Section II-E, III)
    ("kawahara2018", "t4_row1", "fit", "336×336×3", 12, math.ceil(1700 / 12)),
    # goel2021: ISIC 2020 32,701 × 70 %, malignant up-sampled; DenseNet121 at 224², batch 32
    ("goel2021", "t2_row01", "fit", "224×224×3", 32, math.ceil(44976 / 32)),
    # barata2020: ISIC 2018 10,015 × 80 %, batch 20, 299²
    ("barata2020", "flat_adam_cel_none", "fit", "299×299×3", 20, math.ceil(8012 / 20)),
    # bisla2019: the SK DCGAN on ISIC 2017's 254 training SK images, batch 50, 256²
    ("bisla2019", "gan_sk", "gan", "256×256×3", 50, math.ceil(254 / 50)),
    # codella2018: BaselineFT on the 2,000 ISIC 2017 training images, batch 128, 227²
    ("codella2018", "baseline_ft", "softmax", "227×227×3", 128, math.ceil(2000 / 128)),
]


@pytest.mark.slow
@pytest.mark.parametrize(("paper", "row", "fit", "size", "batch", "steps"), CASES, ids=[c[0] for c in CASES])
def test_plan_one_full_scale_row(tmp_path, paper, row, fit, size, batch, steps):
    out = tmp_path / paper
    proc = subprocess.run([sys.executable, "-m", "dermkit.cli", "plan", paper, "--rows", row, "--steps", "1",
                           "--output", str(out)], capture_output=True, text=True, env=ENV, timeout=3000)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    frame = pd.read_csv(out / "plan.csv")
    line = frame[(frame["row"] == row) & (frame["fit"] == fit)].iloc[0]
    assert line["input_size"] == size and line["batch"] == batch
    assert line["s_per_step"] > 0 and line["parameters"] > 0 and line["steps_measured"] == 1
    assert line["steps_per_epoch"] == steps
    assert line["row_hours"] > 0
    assert not (out / "rows").exists()
