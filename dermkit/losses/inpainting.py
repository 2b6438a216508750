"""The inpainting loss of Liu et al. 2018 ("Image Inpainting for Irregular Holes Using Partial Convolutions",
ECCV, Section 3.4, Eq. 3–8), which trains bisla2019's purification network (supplement Section 6.1: "the
loss proposed for training networks with partial convolutions [22]").

With ``I_in`` the input, ``M`` the mask (1 = valid, 0 = hole), ``I_out`` the network output, ``I_gt`` the
target, ``I_comp = M ⊙ I_gt + (1 − M) ⊙ I_out`` (the output with the valid pixels set to the target), ``Ψ_p``
the VGG16 (ImageNet) activations at ``pool1``, ``pool2``, ``pool3`` (Keras names ``block{1,2,3}_pool``) and
``N_x`` the number of elements of ``x``:

* ``L_hole = ‖(1 − M) ⊙ (I_out − I_gt)‖₁ / N_Igt``, ``L_valid = ‖M ⊙ (I_out − I_gt)‖₁ / N_Igt`` (Eq. 3–4);
* ``L_perceptual = Σ_p ‖Ψ_p(I_out) − Ψ_p(I_gt)‖₁ / N_Ψp + Σ_p ‖Ψ_p(I_comp) − Ψ_p(I_gt)‖₁ / N_Ψp`` (Eq. 5);
* ``L_style_out = Σ_p ‖K_p(Ψ_p(I_out)ᵀΨ_p(I_out) − Ψ_p(I_gt)ᵀΨ_p(I_gt))‖₁ / C_p²`` with
  ``K_p = 1 / (C_p H_p W_p)`` (Eq. 6), ``L_style_comp`` the same with ``I_comp`` (Eq. 7) — :func:`gram_matrix`
  is ``K_p ΨᵀΨ``;
* ``L_tv = Σ_{(i,j),(i,j+1) ∈ P} ‖I_comp^{i,j+1} − I_comp^{i,j}‖₁ / N_Icomp + Σ_{(i,j),(i+1,j) ∈ P} … / N_Icomp``
  with ``P`` the hole region dilated by one pixel (Eq. 8; the 3×3 square);
* ``L_total = L_valid + 6 L_hole + 0.05 L_perceptual + 120 (L_style_out + L_style_comp) + 0.1 L_tv``.

Each term is a function returning one value per sample (``[B]``); :class:`InpaintingLoss` combines them for
``model.compile``. Keras passes a loss two tensors, so the mask travels with the target:
``y_true = concat([I_gt, M], axis=-1)`` (``[B, H, W, 4]``, :func:`inpainting_target`). Images are RGB in
[0, 1]; the VGG16 gets them through its own ImageNet ("caffe") preprocessing.
"""

from __future__ import annotations

import numpy as np

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.losses.inpainting")

import keras  # noqa: E402
from keras import ops  # noqa: E402

__all__ = [
    "InpaintingLoss",
    "inpainting_target",
    "composite",
    "hole_loss",
    "valid_loss",
    "gram_matrix",
    "perceptual_loss",
    "style_loss",
    "total_variation_loss",
    "LOSS_WEIGHTS",
    "VGG_LAYERS",
]

#: Liu et al.'s term weights (Section 3.4, chosen by hyper-parameter search on 100 validation images).
LOSS_WEIGHTS = {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style": 120.0, "tv": 0.1}
#: VGG16 layers of the perceptual and style terms (pool1, pool2, pool3).
VGG_LAYERS = ("block1_pool", "block2_pool", "block3_pool")


def inpainting_target(images, valid_masks) -> np.ndarray:
    """``y_true`` for :class:`InpaintingLoss`: ``concat([images, masks], -1)`` → ``float32 [N, H, W, 4]``.

    Args:
        images: targets ``I_gt``, RGB ``[N, H, W, 3]`` in [0, 1].
        valid_masks: ``[N, H, W]`` or ``[N, H, W, 1]``, 1 = valid, 0 = hole.
    """
    images = np.asarray(images, np.float32)
    masks = np.asarray(valid_masks, np.float32)
    if masks.ndim == 3:
        masks = masks[..., None]
    if images.ndim != 4 or images.shape[-1] != 3 or masks.shape != images.shape[:3] + (1,):
        raise ValueError(f"images must be [N, H, W, 3] and valid_masks [N, H, W(, 1)]. Received: {images.shape}, "
                         f"{np.shape(valid_masks)}")
    return np.concatenate([images, masks], axis=-1)


def _per_sample_mean(x):
    return ops.mean(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)


def composite(y_true, y_pred, mask):
    """``I_comp = M ⊙ I_gt + (1 − M) ⊙ I_out`` (``mask`` ``[B, H, W, 1]`` broadcast over channels)."""
    return mask * y_true + (1.0 - mask) * y_pred


def hole_loss(y_true, y_pred, mask):
    """``L_hole`` (Eq. 3): mean over ``H·W·C`` of ``|(1 − M) ⊙ (I_out − I_gt)|``, per sample ``[B]``."""
    return _per_sample_mean((1.0 - mask) * ops.abs(y_pred - y_true))


def valid_loss(y_true, y_pred, mask):
    """``L_valid`` (Eq. 4): mean over ``H·W·C`` of ``|M ⊙ (I_out − I_gt)|``, per sample ``[B]``."""
    return _per_sample_mean(mask * ops.abs(y_pred - y_true))


def gram_matrix(features):
    """``K_p Ψᵀ Ψ`` with ``K_p = 1/(C H W)``: ``[B, H, W, C]`` → ``[B, C, C]`` (Eq. 6)."""
    shape = ops.shape(features)
    c = features.shape[-1]
    flat = ops.reshape(features, (shape[0], -1, c))
    size = ops.cast(shape[1] * shape[2] * c, features.dtype)
    return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / size


def perceptual_loss(features_out, features_comp, features_gt):
    """``L_perceptual`` (Eq. 5): ``Σ_p mean|Ψ_p(out) − Ψ_p(gt)| + mean|Ψ_p(comp) − Ψ_p(gt)|`` per sample ``[B]``.

    Args: lists of ``[B, H_p, W_p, C_p]`` feature maps, one per layer ``p``, in the same order.
    """
    total = 0.0
    for out, comp, gt in zip(features_out, features_comp, features_gt, strict=True):
        total = total + _per_sample_mean(ops.abs(out - gt)) + _per_sample_mean(ops.abs(comp - gt))
    return total


def style_loss(features, features_gt):
    """``L_style`` (Eq. 6 / 7): ``Σ_p mean over C_p² of |gram(Ψ_p) − gram(Ψ_p^gt)|`` per sample ``[B]``."""
    total = 0.0
    for x, gt in zip(features, features_gt, strict=True):
        total = total + _per_sample_mean(ops.abs(gram_matrix(x) - gram_matrix(gt)))
    return total


def total_variation_loss(image_comp, mask):
    """``L_tv`` (Eq. 8): absolute differences of horizontally and vertically adjacent pixels of ``I_comp``
    both inside ``P`` (the hole region dilated by one pixel, 3×3), summed and divided by ``N_Icomp = H·W·C``;
    per sample ``[B]``. 0 when there is no hole."""
    hole = 1.0 - mask
    region = ops.max_pool(hole, pool_size=3, strides=1, padding="same")  # the 1-pixel dilation
    dx = ops.abs(image_comp[:, :, 1:] - image_comp[:, :, :-1]) * (region[:, :, 1:] * region[:, :, :-1])
    dy = ops.abs(image_comp[:, 1:] - image_comp[:, :-1]) * (region[:, 1:] * region[:, :-1])
    size = ops.cast(ops.size(image_comp[0]), image_comp.dtype)

    def per_sample_sum(x):
        return ops.sum(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)

    return (per_sample_sum(dx) + per_sample_sum(dy)) / size


@keras.saving.register_keras_serializable(package="dermkit")
class InpaintingLoss(keras.losses.Loss):
    """Liu et al.'s inpainting loss (module docstring): ``y_true = [I_gt, M]`` ``[B, H, W, 4]``, ``y_pred``
    ``= I_out`` ``[B, H, W, 3]``, RGB in [0, 1]; per-sample totals, reduced by Keras (mean by default)."""

    def __init__(
        self,
        *,
        vgg_weights="imagenet",
        weights: dict | None = None,
        layers=VGG_LAYERS,
        name: str = "inpainting_loss",
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        """Args:
            vgg_weights: the VGG16 feature network's weights: ``"imagenet"`` (Liu et al.; downloaded by Keras
                or taken from its cache, :func:`dermkit.weights.build_encoder`), a path to the Keras VGG16
                notop file, or None (random; for tests). The network is frozen. Default ``"imagenet"``.
            weights: term weights, any of ``valid``, ``hole``, ``perceptual``, ``style``, ``tv`` overriding
                :data:`LOSS_WEIGHTS` (1, 6, 0.05, 120, 0.1). Default None.
            layers: VGG16 layer names of the perceptual and style terms. Default pool1–pool3.
            name, reduction, dtype: ``keras.losses.Loss`` arguments.

        Raises:
            ValueError: an unknown term weight name, a negative weight, or a layer VGG16 does not have.
        """
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(LOSS_WEIGHTS))
        if unknown:
            raise ValueError(f"weights keys must be among {sorted(LOSS_WEIGHTS)}. Received: {unknown}")
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 for v in weights.values()):
            raise ValueError(f"weights must be numbers >= 0. Received: weights={weights!r}")
        self.term_weights = {**LOSS_WEIGHTS, **{k: float(v) for k, v in weights.items()}}
        self.vgg_weights = vgg_weights
        self.layers = tuple(layers)
        self.feature_extractor = self._build_features(vgg_weights, self.layers)

    @staticmethod
    def _build_features(vgg_weights, layers) -> keras.Model:
        from dermkit.models.layers import ImageNetPreprocess
        from dermkit.weights import build_encoder

        inputs = keras.Input((None, None, 3), name="vgg_input")
        x = ImageNetPreprocess(mode="caffe", name="vgg_preprocess")(inputs)
        vgg = build_encoder("vgg16", encoder_weights=vgg_weights, input_tensor=x)
        names = [layer.name for layer in vgg.layers]
        missing = [n for n in layers if n not in names]
        if missing:
            raise ValueError(f"layers must be VGG16 layer names such as {VGG_LAYERS}. Received: {missing}")
        model = keras.Model(inputs, [vgg.get_layer(n).output for n in layers], name="inpainting_vgg16_features")
        model.trainable = False
        return model

    def terms(self, y_true, y_pred) -> dict:
        """Every term per sample (``{"valid", "hole", "perceptual", "style_out", "style_comp", "tv"}`` → ``[B]``)."""
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        gt, mask = y_true[..., :3], y_true[..., 3:4]
        comp = composite(gt, y_pred, mask)
        n = ops.shape(gt)[0]
        features = self.feature_extractor(ops.concatenate([y_pred, comp, gt], axis=0), training=False)
        features = features if isinstance(features, (list, tuple)) else [features]
        f_out = [ops.cast(f[:n], "float32") for f in features]
        f_comp = [ops.cast(f[n:2 * n], "float32") for f in features]
        f_gt = [ops.cast(f[2 * n:], "float32") for f in features]
        return {
            "valid": valid_loss(gt, y_pred, mask),
            "hole": hole_loss(gt, y_pred, mask),
            "perceptual": perceptual_loss(f_out, f_comp, f_gt),
            "style_out": style_loss(f_out, f_gt),
            "style_comp": style_loss(f_comp, f_gt),
            "tv": total_variation_loss(comp, mask),
        }

    def call(self, y_true, y_pred):
        t = self.terms(y_true, y_pred)
        w = self.term_weights
        return (w["valid"] * t["valid"] + w["hole"] * t["hole"] + w["perceptual"] * t["perceptual"]
                + w["style"] * (t["style_out"] + t["style_comp"]) + w["tv"] * t["tv"])

    def get_config(self):
        config = super().get_config()
        vgg = self.vgg_weights if self.vgg_weights is None or isinstance(self.vgg_weights, str) else str(
            self.vgg_weights)
        config.update({"vgg_weights": vgg, "weights": dict(self.term_weights), "layers": list(self.layers)})
        return config


import dermkit._register  # noqa: E402, F401  (every dermkit serialisable registered with Keras)
