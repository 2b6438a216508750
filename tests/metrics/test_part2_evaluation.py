"""Part2Evaluation / isic2017_part2_evaluation: the 2017 Part 2 scores plus kawahara2018's Jaccard evaluations,
accumulated one image at a time — checked on a hand case and against plain NumPy written here."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dermkit.metrics.isic import PART2_COLUMNS, PART2_JACCARD_COLUMNS, Part2Evaluation, isic2017_part2_evaluation
from dermkit.metrics.jaccard import table5_evaluations


def _hand_case():
    """One 2×2 image, two superpixels (top row 0, bottom row 1). Truth: superpixel 0 has all four features."""
    index = np.array([[0, 0], [1, 1]])
    labels = np.array([[1, 1, 1, 1], [0, 0, 0, 0]], dtype=np.float64)
    # Channel 0 as Table V's hand case: [[0.9, 0.3], [0.4, 0.0]]; the other channels 0.8 on top, 0.6 below.
    pred = np.empty((2, 2, 4))
    pred[..., 0] = [[0.9, 0.3], [0.4, 0.0]]
    pred[..., 1:] = np.array([[0.8, 0.8], [0.6, 0.6]])[..., None]
    return labels, pred, index


def test_hand_case_pixel_predictions():
    labels, pred, index = _hand_case()
    table = isic2017_part2_evaluation([labels], [pred], [index])
    assert list(table.columns) == list(PART2_COLUMNS + PART2_JACCARD_COLUMNS)
    pn = table.loc["pigment_network"]
    # Eq. 2 superpixel means: 0.6 and 0.2. > 0.5 rule: superpixel 0 positive, 1 negative → all correct.
    assert pn["accuracy"] == 1.0 and pn["sensitivity"] == 1.0 and pn["specificity"] == 1.0
    assert pn["auc"] == 1.0
    # thresholded superpixels 0.6, 0 against truth 1, 0 (2 pixels each): Σmin = 1.2, Σmax = 2
    assert pn["jnan"] == pytest.approx(0.6) and pn["j1"] == pytest.approx(0.6) and pn["jc"] == pytest.approx(0.6)
    # Table V: direct Σmin 0.9 + 0.3 over Σmax 1 + 1 + 0.4 = 0.5; thresholded pixels 0.9 / 2
    assert pn["direct_jnan"] == pytest.approx(0.5)
    assert pn["thresholded_jnan"] == pytest.approx(0.45)
    # other channels: superpixel means 0.8 and 0.6 → thresholding keeps both: Σmin 2·0.8, Σmax 2·1 + 2·0.6
    nn = table.loc["negative_network"]
    assert nn["jnan"] == pytest.approx(1.6 / 3.2)
    assert nn["specificity"] == 0.0  # 0.6 > 0.5 predicted positive where the truth is negative
    assert table.loc["average", "jnan"] == pytest.approx((0.6 + 3 * 0.5) / 4)


def test_superpixel_predictions_score_like_their_pixel_painting():
    """A superpixel prediction equals the pixel map painted with it (Eq. 1 then Eq. 2 is the identity), except
    that there are no Table V columns."""
    labels, pred, index = _hand_case()
    sp = np.array([[0.6, 0.8, 0.8, 0.8], [0.2, 0.6, 0.6, 0.6]])
    from_sp = isic2017_part2_evaluation([labels], [sp], [index])
    from_pixels = isic2017_part2_evaluation([labels], [pred], [index])
    assert "direct_jnan" not in from_sp.columns
    np.testing.assert_allclose(from_sp.to_numpy(), from_pixels[from_sp.columns].to_numpy())


def test_matches_plain_numpy_on_random_images():
    rng = np.random.default_rng(7)
    truths, preds, indexes = [], [], []
    for h, w, n in [(12, 10, 7), (9, 14, 5), (8, 8, 4)]:
        index = rng.permutation(np.arange(h * w) % n).reshape(h, w)
        indexes.append(index)
        truths.append((rng.random((n, 4)) > 0.6).astype(np.float64))
        preds.append(rng.random((h, w, 4)))
    truths[2][:] = 0  # an image without any feature: J is NaN there when nothing survives the threshold
    preds[2][:] = 0.1
    evaluation = Part2Evaluation()
    for t, p, i in zip(truths, preds, indexes):
        evaluation.update(t, p, i)
    table = evaluation.result()
    assert evaluation.n_images == 3

    # Plain NumPy: Eq. 2 means, threshold at 0.5, Eq. 8 weighted by pixel counts, Eq. 9 / 10 over images.
    sp = [np.stack([np.bincount(i.ravel(), weights=p[..., c].ravel()) / np.bincount(i.ravel())
                    for c in range(4)], axis=1) for p, i in zip(preds, indexes)]
    sizes = [np.bincount(i.ravel()) for i in indexes]
    cut = [np.where(s < 0.5, 0.0, s) for s in sp]
    per_image = np.array([[np.nan if (u := (w * np.maximum(c[:, k], t[:, k])).sum()) == 0
                           else (w * np.minimum(c[:, k], t[:, k])).sum() / u for k in range(4)]
                          for c, t, w in zip(cut, truths, sizes)])
    jnan = np.nanmean(per_image, axis=0)
    j1 = np.where(np.isnan(per_image), 1.0, per_image).mean(axis=0)
    jc = [sum((w * np.minimum(c[:, k], t[:, k])).sum() for c, t, w in zip(cut, truths, sizes))
          / sum((w * np.maximum(c[:, k], t[:, k])).sum() for c, t, w in zip(cut, truths, sizes)) for k in range(4)]
    features = list(table.index[:4])
    np.testing.assert_allclose(table.loc[features, "jnan"], jnan)
    np.testing.assert_allclose(table.loc[features, "j1"], j1)
    np.testing.assert_allclose(table.loc[features, "jc"], jc)
    pooled_t, pooled_s = np.concatenate(truths), np.concatenate(sp)
    np.testing.assert_allclose(table.loc[features, "auc"], [roc_auc_score(pooled_t[:, k], pooled_s[:, k])
                                                            for k in range(4)])
    # Table V streamed one image at a time = table5_evaluations on the whole list at once.
    whole = table5_evaluations(truths, preds, indexes)
    np.testing.assert_allclose(table.loc[features, "direct_jnan"], whole["direct"])
    np.testing.assert_allclose(table.loc[features, "thresholded_jnan"], whole["thresholded"])
    np.testing.assert_allclose(table.loc[features, "jnan"], whole["superpixel"])
    np.testing.assert_allclose(table.loc["average"], table.loc[features].mean(axis=0))


def test_bad_input_names_the_image():
    labels, pred, index = _hand_case()
    evaluation = Part2Evaluation()
    evaluation.update(labels, pred, index, where="ISIC_0000001")
    with pytest.raises(ValueError, match=r"ISIC_0000002: y_pred pixel map is \(3, 2, 4\) but the index map is"):
        evaluation.update(labels, np.zeros((3, 2, 4)), index, where="ISIC_0000002")
    with pytest.raises(ValueError, match=r"image 1: y_pred is a superpixel array but earlier images gave pixel"):
        evaluation.update(labels, np.zeros((2, 4)), index)
    with pytest.raises(ValueError, match=r"image 1: y_pred must hold finite probabilities in \[0, 1\]"):
        evaluation.update(labels, pred * 2, index)
    with pytest.raises(ValueError, match=r"image 1: y_true_sp must be \[2, 4\]"):
        evaluation.update(labels[:1], pred, index)
    with pytest.raises(ValueError, match="image 1: y_true_sp labels must be 0 or 1"):
        evaluation.update(labels * 0.5, pred, index)
    with pytest.raises(ValueError, match="no images to score"):
        Part2Evaluation().result()
    with pytest.raises(ValueError, match="must hold the same number of images"):
        isic2017_part2_evaluation([labels, labels], [pred], [index, index])
