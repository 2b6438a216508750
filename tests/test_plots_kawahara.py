"""kawahara2018 Fig. 3 (label combinations) and Fig. 5 (lesion contours): counts and Jaccard titles checked on
hand cases, through the figure that is drawn and the file that is written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import dermkit.plots as plots
from dermkit.plots import label_combination_counts, plot_label_combinations, plot_lesion_contours


@pytest.fixture
def drawn(monkeypatch):
    """Keep the Matplotlib figure each plot function saves, to inspect what it drew."""
    figures = []
    save = plots._save

    def keep(figure, path, overwrite, dpi):
        figures.append(figure)
        return save(figure, path, overwrite, dpi)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


# 3 superpixels without a label, 2 with PN only, 1 with NN and MC, 1 with PN and ST.
LABELS = np.array([[0, 0, 0, 0]] * 3 + [[1, 0, 0, 0]] * 2 + [[0, 1, 1, 0], [1, 0, 0, 1]])


def test_label_combination_counts_hand_case():
    counts = label_combination_counts(LABELS)
    assert counts.to_dict() == {"None": 3, "PN": 2, "NN + MC": 1, "PN + ST": 1}
    assert list(counts.index) == ["None", "PN", "NN + MC", "PN + ST"]  # largest first, ties by name
    # a list of per-image arrays is pooled
    assert label_combination_counts([LABELS[:4], LABELS[4:]]).to_dict() == counts.to_dict()


@pytest.mark.parametrize("bad, message", [
    (np.array([[0, 2, 0, 0]]), "labels must be 0 or 1"),
    (np.zeros((3, 3)), r"labels must be \[N, 4\]"),
    (np.zeros((0, 4)), "no rows"),
])
def test_label_combination_counts_refuses_bad_labels(bad, message):
    with pytest.raises(ValueError, match=message):
        label_combination_counts(bad)


def test_fig3_bars_are_the_counts_on_a_log_axis(tmp_path, drawn):
    path = plot_label_combinations(LABELS, tmp_path / "fig3.png", title="SYNTHETIC DATA — Fig. 3")
    assert Image.open(path).size[0] > 100
    axes = drawn[0].axes[0]
    assert axes.get_xscale() == "log"
    assert axes.get_title() == "SYNTHETIC DATA — Fig. 3"
    bars = sorted(axes.patches, key=lambda bar: -bar.get_y())  # top bar first
    assert [bar.get_width() for bar in bars] == [3, 2, 1, 1]
    ticks = dict(zip(axes.get_yticks(), (t.get_text() for t in axes.get_yticklabels())))
    assert [ticks[round(bar.get_y() + bar.get_height() / 2)] for bar in bars] == ["None", "PN", "NN + MC", "PN + ST"]
    with pytest.raises(FileExistsError):
        plot_label_combinations(LABELS, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig3.png"]  # no temporary file left behind


def test_fig5_titles_carry_each_pairs_jaccard(tmp_path, drawn):
    image = np.full((8, 8, 3), 0.5, np.float32)
    truth = np.zeros((8, 8), np.uint8)
    truth[2:6, 2:6] = 255  # 16 pixels, 0/255 as ISIC stores masks
    pred = np.zeros((8, 8), np.float32)
    pred[2:6, 2:4] = 0.9  # 8 of them predicted: J = 8 / 16
    pred_2 = np.zeros((8, 8), bool)
    pred_2[2:6, 2:7] = True  # 20 pixels, 16 shared: J = 16 / 20
    path = plot_lesion_contours([image, image], [truth, truth], [pred, pred_2], tmp_path / "fig5.png",
                                names=["ISIC_1", "ISIC_2"], title="SYNTHETIC DATA — Fig. 5")
    assert Image.open(path).size[0] > 100
    figure = drawn[0]
    assert figure.get_suptitle() == "SYNTHETIC DATA — Fig. 5"
    assert [a.get_title() for a in figure.axes] == ["ISIC_1\nJaccard 0.500", "ISIC_2\nJaccard 0.800"]
    # two contour sets per image: ground truth green, then prediction blue
    from matplotlib.colors import to_hex

    colours = [to_hex(c.get_edgecolor()[0]) for c in figure.axes[0].collections]
    assert colours == ["#1ca01c", "#1f4fd6"]


def test_fig5_refuses_mismatched_inputs(tmp_path):
    image = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="need equally many images"):
        plot_lesion_contours([image], [np.zeros((8, 8), bool)] * 2, [np.zeros((8, 8), bool)], tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"ISIC_9: image is \(8, 8\) but the truth mask is \(4, 4\)"):
        plot_lesion_contours([image], [np.zeros((4, 4), bool)], [np.zeros((8, 8), bool)], tmp_path / "a.png",
                             names=["ISIC_9"])
    assert not (tmp_path / "a.png").exists()
