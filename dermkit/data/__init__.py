"""Data layer: ISIC readers, superpixel conversion, synthetic data (NumPy only) and tf.data pipelines.

Everything public is importable from here (``from dermkit.data import segmentation_dataset, Augment,
load_isic2017``) and resolved on first access, so ``import dermkit.data`` stays TensorFlow-free; the
pipelines (:mod:`dermkit.data.pipelines`, :mod:`dermkit.data.triplets`' ``triplet_dataset``,
:mod:`dermkit.data.gan_data`' ``gan_dataset``) and :mod:`dermkit.data.resize` need TensorFlow, and the
first of them used registers every dermkit serialisable (:mod:`dermkit._lazy`).
"""

from __future__ import annotations

from dermkit._lazy import lazy_exports, register_if_keras_loaded

_EXPORTS = {
    **dict.fromkeys(["Augment", "AugmentConfig", "feature_dataset", "segmentation_dataset",
                     "classification_dataset", "iter_isic2017_eval", "named_data_errors", "explain_data_error"],
                    "dermkit.data.pipelines"),
    **dict.fromkeys(["load_similarity_groups", "TripletSampler", "triplet_dataset", "load_images",
                     "validation_split"], "dermkit.data.triplets"),
    **dict.fromkeys(["ClassBlockSampler", "gan_dataset", "read_generated_manifest"], "dermkit.data.gan_data"),
    **dict.fromkeys(["MultiLabelBatchSampler", "ClassBalancedBatchSampler", "random_upsample"],
                    "dermkit.data.sampling"),
    **dict.fromkeys(["ISIC2017_FEATURES", "ISIC2018_TASK3_CLASSES", "HAM10000_CLASSES", "ISIC2020_CLASSES",
                     "load_isic2017", "load_isic2018_task3", "read_superpixels", "read_image_and_superpixels"],
                    "dermkit.data.isic"),
    **dict.fromkeys(["load_ph2", "load_dermofit", "find_extra_datasets"], "dermkit.data.extra_datasets"),
    **dict.fromkeys(["read_image", "read_mask", "image_info", "write_png", "write_jpeg"], "dermkit.data.imageio"),
    **dict.fromkeys(["make_isic2017", "make_ham10000", "make_isic2018_task3", "make_isic2020", "is_synthetic"],
                    "dermkit.data.synthetic"),
    "grouped_split": "dermkit.data.splits",
    "resize_image": "dermkit.data.resize",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

register_if_keras_loaded()
