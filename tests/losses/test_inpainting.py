"""Liu et al.'s inpainting loss: each term on hand-made cases, the weighted total, a training step."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dermkit.losses.inpainting import (
    InpaintingLoss,
    composite,
    gram_matrix,
    hole_loss,
    inpainting_target,
    perceptual_loss,
    style_loss,
    total_variation_loss,
    valid_loss,
)


def _np(x):
    return np.asarray(x)


def test_hole_and_valid_on_a_2x2_image():
    gt = np.zeros((1, 2, 2, 1), "float32")
    pred = np.ones((1, 2, 2, 1), "float32")
    mask = np.array([[[[1.0], [0.0]], [[0.0], [0.0]]]], "float32")  # one valid pixel, three holes
    assert _np(hole_loss(gt, pred, mask)) == pytest.approx([0.75])
    assert _np(valid_loss(gt, pred, mask)) == pytest.approx([0.25])
    # normalised by every element (N_Igt = H·W·C), not by the hole's size: 2 channels halve nothing
    gt2, pred2 = np.zeros((1, 2, 2, 2), "float32"), np.full((1, 2, 2, 2), 2.0, "float32")
    assert _np(hole_loss(gt2, pred2, mask)) == pytest.approx([1.5])


def test_composite_keeps_valid_target_pixels():
    gt = np.full((1, 1, 2, 3), 0.2, "float32")
    pred = np.full((1, 1, 2, 3), 0.9, "float32")
    mask = np.array([[[[1.0], [0.0]]]], "float32")
    np.testing.assert_allclose(_np(composite(gt, pred, mask))[0, 0], [[0.2] * 3, [0.9] * 3])


def test_gram_matrix_by_hand():
    f = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], "float32")  # [1, H=1, W=2, C=2]
    # FᵀF = [[1+9, 2+12], [2+12, 4+16]], divided by C·H·W = 4
    np.testing.assert_allclose(_np(gram_matrix(f))[0], [[2.5, 3.5], [3.5, 5.0]])


def test_style_and_perceptual_by_hand():
    f = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], "float32")
    zero = np.zeros_like(f)
    # mean |gram| = (2.5 + 3.5 + 3.5 + 5) / 4, summed over the two "layers"
    assert _np(style_loss([f, f], [zero, zero])) == pytest.approx([2 * 3.625])
    # mean |out − gt| = 2.5; mean |comp − gt| = 0 (comp equals gt)
    assert _np(perceptual_loss([f], [zero], [zero])) == pytest.approx([2.5])
    assert _np(perceptual_loss([f], [f], [zero])) == pytest.approx([5.0])


def test_total_variation_inside_the_dilated_hole_only():
    comp = np.array([0.0, 1.0, 3.0, 7.0], "float32").reshape(1, 1, 4, 1)
    hole_everywhere = np.zeros((1, 1, 4, 1), "float32")
    assert _np(total_variation_loss(comp, hole_everywhere)) == pytest.approx([(1 + 2 + 4) / 4])
    no_hole = np.ones((1, 1, 4, 1), "float32")
    assert _np(total_variation_loss(comp, no_hole)) == pytest.approx([0.0])
    first_hole = np.array([0.0, 1.0, 1.0, 1.0], "float32").reshape(1, 1, 4, 1)
    # P = {0, 1} (the hole and its neighbour): only the pair (0, 1) counts
    assert _np(total_variation_loss(comp, first_hole)) == pytest.approx([1 / 4])
    # vertical pairs count too
    column = comp.reshape(1, 4, 1, 1)
    assert _np(total_variation_loss(column, hole_everywhere.reshape(1, 4, 1, 1))) == pytest.approx([7 / 4])


@pytest.fixture(scope="module")
def loss():
    return InpaintingLoss(vgg_weights=None)


def _batch(seed=0, size=32):
    rng = np.random.default_rng(seed)
    gt = rng.random((2, size, size, 3)).astype("float32")
    pred = rng.random((2, size, size, 3)).astype("float32")
    mask = np.ones((2, size, size), "float32")
    mask[:, 8:20, 4:24] = 0.0
    return gt, pred, mask


def test_total_is_the_papers_weighted_sum(loss):
    gt, pred, mask = _batch()
    y_true = inpainting_target(gt, mask)
    m = mask[..., None]
    comp = m * gt + (1 - m) * pred
    feats = [[np.asarray(f) for f in loss.feature_extractor(x)] for x in (pred, comp, gt)]
    expected = (valid_loss(gt, pred, m) + 6 * hole_loss(gt, pred, m) + 0.05 * perceptual_loss(*feats)
                + 120 * (style_loss(feats[0], feats[2]) + style_loss(feats[1], feats[2]))
                + 0.1 * total_variation_loss(comp, m))
    np.testing.assert_allclose(_np(loss.call(y_true, pred)), _np(expected), rtol=1e-4)
    assert float(loss(y_true, pred)) == pytest.approx(float(np.mean(_np(expected))), rel=1e-4)
    # a perfect output leaves only the smoothness term of the target itself
    perfect = np.mean(_np(0.1 * total_variation_loss(gt, m)))
    assert float(loss(y_true, gt)) == pytest.approx(float(perfect), rel=1e-4, abs=1e-7)


def test_term_weights_and_config(loss):
    gt, pred, mask = _batch(1)
    y_true = inpainting_target(gt, mask)
    hole_only = InpaintingLoss(vgg_weights=None, weights={"valid": 0, "hole": 1, "perceptual": 0, "style": 0,
                                                          "tv": 0})
    np.testing.assert_allclose(_np(hole_only.call(y_true, pred)), _np(hole_loss(gt, pred, mask[..., None])),
                               rtol=1e-5)
    config = hole_only.get_config()
    assert config["weights"]["hole"] == 1.0 and config["vgg_weights"] is None
    again = InpaintingLoss.from_config(config)
    assert again.term_weights == hole_only.term_weights
    assert keras.saving.get_registered_object("dermkit>InpaintingLoss") is InpaintingLoss
    with pytest.raises(ValueError, match="weights keys"):
        InpaintingLoss(vgg_weights=None, weights={"edges": 1.0})
    with pytest.raises(ValueError, match="layers must be VGG16"):
        InpaintingLoss(vgg_weights=None, layers=("block9_pool",))


def test_trains_the_purification_network_one_step():
    from dermkit.models.partialconv import partialconv_unet

    model = partialconv_unet((32, 32, 3), depth=3, width=0.125)
    model.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.99),
                  loss=InpaintingLoss(vgg_weights=None))
    gt, _, mask = _batch(2)
    history = model.fit({"image": gt, "mask": mask[..., None]}, inpainting_target(gt, mask), epochs=1,
                        batch_size=2, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
