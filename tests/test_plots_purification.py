"""bisla2019 part-2 figures: files written, no overwrite without asking, clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dermkit.data.growth import PAPER_GROWTH
from dermkit.plots_purification import plot_class_sizes, plot_growth_stages, plot_image_pairs, plot_visual_backprop


def test_image_pairs_and_visual_backprop(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((3, 16, 16, 3))
    path = plot_image_pairs(images, images * 0.5, tmp_path / "fig3_hair_removal.png", masks=images[..., 0] > 0.5,
                            titles=["a", "b", "c"])
    assert Image.open(path).size[0] > 200
    with pytest.raises(FileExistsError):
        plot_image_pairs(images, images, path)
    with pytest.raises(ValueError, match="same number"):
        plot_image_pairs(images, images[:2], tmp_path / "x.png")
    path = plot_visual_backprop((images * 255).astype(np.uint8), rng.random((3, 16, 16)), tmp_path / "fig2.png")
    assert path.exists()
    with pytest.raises(ValueError, match="masks must be"):
        plot_visual_backprop(images, rng.random((3, 8, 8)), tmp_path / "y.png")


def test_growth_and_class_sizes(tmp_path):
    path = plot_growth_stages(PAPER_GROWTH, tmp_path / "fig7_data_growth.png", paper=PAPER_GROWTH, title="t")
    assert path.exists()
    with pytest.raises(ValueError, match="class columns"):
        plot_growth_stages(pd.DataFrame({"x": [1]}), tmp_path / "z.png")
    sizes = {"AK": 452, "BCC": 825, "BK": 1833, "DF": 187, "M": 2285, "N": 9786, "VL": 142}  # Fig. 11's numbers
    path = plot_class_sizes(sizes, tmp_path / "fig11_class_sizes.png")
    assert path.exists() and [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []
    with pytest.raises(ValueError, match="no class sizes"):
        plot_class_sizes({}, tmp_path / "w.png")
