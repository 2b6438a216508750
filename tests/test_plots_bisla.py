"""bisla2019 figures (Figs. 5, 6, 12): files written, no overwrite without asking, clear refusals."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from dermkit import plots_gan  # noqa: E402


def test_mse_histograms(tmp_path):
    rng = np.random.default_rng(0)
    path = plots_gan.plot_mse_histograms({"melanoma": rng.random(50), "seborrheic_keratosis": rng.random(30)},
                                         tmp_path / "fig5.png", paper={"melanoma": (0.088, 0.052)})
    assert path.stat().st_size > 0
    with pytest.raises(FileExistsError):
        plots_gan.plot_mse_histograms({"melanoma": rng.random(5)}, path)
    with pytest.raises(ValueError, match="at least one class"):
        plots_gan.plot_mse_histograms({"melanoma": []}, tmp_path / "x.png")


def test_nearest_pairs_and_coupled_grid(tmp_path):
    rng = np.random.default_rng(0)
    panel = {"mse": rng.random(20), "quantile": np.array([1, 2]), "smallest": np.array([3]),
             "generated": rng.random((3, 8, 8, 3)), "nearest": rng.random((3, 8, 8, 3))}
    assert plots_gan.plot_nearest_pairs({"melanoma": panel}, tmp_path / "f6.png", quantiles=(0.1, 0.9)).exists()
    bad = {**panel, "nearest": panel["nearest"][:2]}
    with pytest.raises(ValueError, match="one image per pick"):
        plots_gan.plot_nearest_pairs({"melanoma": bad}, tmp_path / "f6b.png")
    grid = plots_gan.plot_coupled_grid(rng.random((3, 2, 8, 8, 3)), rng.random((2, 8, 8, 3)), ["A", "B"],
                                       tmp_path / "f12.png")
    assert grid.exists()
    with pytest.raises(ValueError, match="C = 3"):
        plots_gan.plot_coupled_grid(rng.random((3, 2, 8, 8, 3)), rng.random((2, 8, 8, 3)), ["A", "B", "C"],
                                    tmp_path / "f12b.png")
    assert not (tmp_path / "f6b.png").exists() and not (tmp_path / "f12b.png").exists()
