"""Issue 18: every public class and function is importable from its package's top."""

from __future__ import annotations

import importlib

import pytest

pytest.importorskip("tensorflow")

PACKAGES = ("dermkit.models", "dermkit.losses", "dermkit.training", "dermkit.data", "dermkit.explain",
            "dermkit.metrics")

# the names issue 18 lists, typed from its text
REQUIRED = {
    "dermkit.models": ["CBAM", "ClassHierarchy", "ISIC2018_HIERARCHY", "HierarchicalClassifier", "PartialConv2D",
                       "LocalResponseNormalization", "unet", "vgg16_fcn", "alexnet", "dcgan_generator"],
    "dermkit.losses": ["HierarchicalLoss", "ChaiTripletLoss", "InpaintingLoss", "DiceF1Loss", "SampleWeightingLoss"],
    "dermkit.training": ["GANTrainer", "TripletTrainer", "CurriculumSchedule", "ExtraGeneratorSteps", "SampleGrid"],
    "dermkit.data": ["Augment", "segmentation_dataset", "classification_dataset", "feature_dataset",
                     "triplet_dataset", "gan_dataset"],
    "dermkit.explain": ["grad_cam", "visual_backprop", "query_result_activation_maps", "cbam_attention_maps"],
    "dermkit.metrics": ["binary_classification_scores", "isic_classification_scores", "knn_auc",
                        "nearest_training_mse", "select_examples"],
}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves_to_its_defining_object(package):
    module = importlib.import_module(package)
    missing = [name for name in REQUIRED[package] if name not in module.__all__]
    assert not missing, f"{package} does not export {missing}"
    for name in module.__all__:
        value = getattr(module, name)
        defining = getattr(value, "__module__", None)
        if defining and defining.startswith("dermkit.") and hasattr(value, "__qualname__"):
            # the package hands out the very object its module defines (no copies, no wrappers)
            assert getattr(importlib.import_module(defining), value.__qualname__.split(".")[0]) is value, name
    assert set(module.__all__) <= set(dir(module))


def test_from_import_of_every_name():
    for package in PACKAGES:
        module = importlib.import_module(package)
        namespace: dict = {}
        exec(f"from {package} import {', '.join(module.__all__)}", namespace)  # noqa: S102
        assert all(name in namespace for name in module.__all__)
