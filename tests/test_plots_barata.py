"""barata2020 figures: files written atomically, no overwrite without asking, clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dermkit.plots import plot_attention_maps, plot_per_class_recall


def test_per_class_recall_bars(tmp_path):
    bars = {"flat": {"CEL": {"MEL": 60.0, "NV": 90.0}, "CEL ES": {"MEL": 70.0, "NV": 80.0}},
            "hierarchical": {"CEL": {"MEL": 65.0, "NV": 88.0}}}
    path = plot_per_class_recall(bars, tmp_path / "fig2.png", title="t")
    assert Image.open(path).size[0] > 400
    with pytest.raises(FileExistsError):
        plot_per_class_recall(bars, path)
    with pytest.raises(ValueError, match="no bars"):
        plot_per_class_recall({"flat": {}}, tmp_path / "empty.png")


def test_attention_maps_grid(tmp_path):
    rng = np.random.default_rng(0)
    saved = {"images": rng.random((2, 16, 16, 3)), "classes": np.array(["MEL", "NV"]),
             "spatial": rng.random((2, 4, 4)), "channel": rng.random((2, 4, 4))}
    path = plot_attention_maps({"CEL": saved, "CEL OHEM": saved}, ("MEL", "DF", "NV"), tmp_path / "fig3.png")
    assert path.exists() and [p.name for p in tmp_path.iterdir()] == ["fig3.png"]
    with pytest.raises(ValueError, match=r"none of \['DF'\] among the saved images"):
        plot_attention_maps({"CEL": saved}, ("DF",), tmp_path / "x.png")


def test_attention_maps_accept_coarse_maps(tmp_path):
    """The --quick flat model's CBAM map is 1×1 (block5_pool at 32²): still drawn, over the whole image."""
    rng = np.random.default_rng(1)
    saved = {"images": rng.random((1, 32, 32, 3)), "classes": np.array(["NV"]),
             "spatial": rng.random((1, 1, 1)), "channel": rng.random((1, 1, 1))}
    path = plot_attention_maps({"CEL": saved}, ("NV",), tmp_path / "fig4_flat.png", title="maps 1×1")
    assert Image.open(path).size[0] > 100
