"""codella2018 figures: files written, melanoma framed in red, no overwrite without asking."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from dermkit.plots_chai import plot_activation_pairs, plot_search_results  # noqa: E402

RNG = np.random.default_rng(0)
QUERIES = RNG.integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
ARCHIVE = RNG.integers(0, 255, (10, 16, 16, 3), dtype=np.uint8)


def test_search_results_figure(tmp_path):
    ranked = {"Disease": {"queries": [1], "results": [[3, 0, 7]]},
              "Hierarchical": {"queries": [1], "results": [[0, 3, 2]]}}
    mel = np.zeros(10, bool)
    mel[3] = True
    path = plot_search_results(ranked, QUERIES, ARCHIVE, mel, tmp_path / "fig3.png")
    assert path.stat().st_size > 1000
    with pytest.raises(FileExistsError):
        plot_search_results(ranked, QUERIES, ARCHIVE, mel, tmp_path / "fig3.png")
    with pytest.raises(ValueError, match="no models"):
        plot_search_results({}, QUERIES, ARCHIVE, mel, tmp_path / "x.png")


def test_activation_pairs_figure(tmp_path):
    pairs = {"Hierarchical": {"queries": np.array([0, 2]), "results": np.array([5, 1]),
                              "qam": RNG.random((2, 3, 3)), "ram": RNG.random((2, 3, 3))}}
    path = plot_activation_pairs(pairs, QUERIES, ARCHIVE, tmp_path / "fig4.png")
    assert path.stat().st_size > 1000
    plot_activation_pairs(pairs, QUERIES, ARCHIVE, tmp_path / "fig4.png", overwrite=True)


def test_activation_pairs_are_labelled_with_a_colour_bar(tmp_path):
    """Issue 18: row labels (query / top result), a colour bar and column titles for every embedding."""
    pairs = {name: {"queries": np.array([0, 2]), "results": np.array([5, 1]),
                    "qam": RNG.random((2, 3, 3)) * 40.0, "ram": RNG.random((2, 3, 3))} for name in ("Disease", "Joint")}
    path = plot_activation_pairs(pairs, QUERIES, ARCHIVE, tmp_path / "fig4.svg")
    svg = path.read_text(encoding="utf-8")  # matplotlib writes each text as a comment beside its paths
    for text in ("Disease: image", "Disease: QAM / RAM", "Joint: image", "Joint: QAM / RAM", "query 1", "query 2",
                 "top result", "activation (min–max per map)"):
        assert f"<!-- {text} -->" in svg, text
