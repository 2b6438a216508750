"""Whole-test-set segmentation scores of goel2021 Table 3 (top): Dice loss, Dice coefficient, pixel accuracy.

Calling :func:`segmentation_summary` needs TensorFlow (the soft Dice is
:func:`dermkit.losses.dice_f1_coefficient`, the one place the equation lives); importing this module does not.
"""

from __future__ import annotations

import numpy as np

__all__ = ["segmentation_summary"]


def segmentation_summary(
    y_true, y_pred, *, alpha: float = 1e-5, beta: float = 1e-5, threshold: float = 0.5
) -> dict:
    """goel2021 Table 3's segmentation numbers over a whole test set, plus the ISIC 2018 Task 1 means.

    * ``soft_dice``: the Dice coefficient of the probability maps against the masks, with every test pixel in
      one sum, ``D = (2·Σ p·t + alpha) / (Σ p + Σ t + beta)`` (:func:`dermkit.losses.dice_f1_coefficient`,
      one channel; the report trains with segmentation-models' ``DiceLoss``, whose smoothing is 1e-5, the
      defaults here). ``dice_loss = 1 − soft_dice`` (report §3.1: "the dice loss as 1 minus the dice
      coefficient"; Table 3 "dice loss" and "dice coeff.").
    * ``pixel_accuracy``: share of all pixels whose thresholded prediction equals the mask (Table 3 "pixelw.
      acc.").
    * ``jaccard``, ``dice``: per-image means of the thresholded masks
      (:func:`dermkit.metrics.isic.isic_segmentation_scores`).

    Args:
        y_true: ``[N, H, W]`` or ``[N, H, W, 1]`` masks with values 0/1 (bool or float).
        y_pred: the same shape, lesion probabilities in [0, 1].
        alpha, beta: smoothing terms of the soft Dice (numerator, denominator).
        threshold: a pixel is lesion when its probability is above this. Default 0.5.

    Returns:
        ``{"soft_dice", "dice_loss", "pixel_accuracy", "jaccard", "dice"}`` (floats).

    Raises:
        ValueError: shapes that differ, values outside [0, 1], a mask that is not 0/1.
    """
    from dermkit.losses.dice import dice_f1_coefficient
    from dermkit.metrics.isic import isic_segmentation_scores

    truth = np.asarray(y_true)
    prob = np.asarray(y_pred, dtype=np.float32)
    if truth.ndim == 4 and truth.shape[-1] == 1:
        truth = truth[..., 0]
    if prob.ndim == 4 and prob.shape[-1] == 1:
        prob = prob[..., 0]
    if truth.ndim != 3 or truth.shape != prob.shape:
        raise ValueError(f"y_true and y_pred must both be [N, H, W] (or [N, H, W, 1]); got {truth.shape} and "
                         f"{prob.shape}")
    if not np.isin(truth, (0, 1)).all():
        raise ValueError(f"y_true must hold 0/1 masks; found values {np.unique(truth)[:10]}")
    if not np.all(np.isfinite(prob)) or prob.min() < 0 or prob.max() > 1:
        raise ValueError("y_pred must hold probabilities in [0, 1]")
    truth = truth.astype(np.float32)
    soft = float(dice_f1_coefficient(truth[..., None], prob[..., None], partition="channel_batch", alpha=alpha,
                                     beta=beta))
    truth_bool, pred_bool = truth > 0.5, prob > threshold
    isic = isic_segmentation_scores(list(truth_bool), list(pred_bool))
    return {
        "soft_dice": soft,
        "dice_loss": 1.0 - soft,
        "pixel_accuracy": float(np.mean(pred_bool == truth_bool)),
        "jaccard": float(isic["jaccard"]),
        "dice": float(isic["dice"]),
    }
