"""Model builders. Each returns a named, serialisable ``keras.Model``.

Every builder follows one weights rule (kawahara2018 issue): ``encoder_weights`` ∈ {None, "imagenet", path to
a Keras "notop" file}; ``weights`` ∈ {None, registry name, path (Keras 3, legacy Keras 2 or
segmentation-models ``.h5``, detected from the file)}; ``preprocess=True`` makes the model take RGB float32
in [0, 1] and apply its encoder's ImageNet preprocessing inside. Builders take ``input_shape`` first and
every option keyword-only: ``unet((448, 592, 3), num_classes=1)``.

Importing the package imports TensorFlow and registers every dermkit serialisable (layers, losses, metrics,
trainers), so ``keras.saving.load_model`` reads any saved dermkit model after ``import dermkit.models``
(issue 18). The builders and classes (``CBAM``, ``ClassHierarchy``, ``ISIC2018_HIERARCHY``,
``HierarchicalClassifier``, ``PartialConv2D``, ``LocalResponseNormalization``, ...) are importable from here.
``dermkit.models.baselines`` computes with NumPy only (it is reached through this package, so its import
loads TensorFlow too).
"""

from __future__ import annotations

import importlib
import sys
import types

from dermkit._optional import require_tensorflow

_BUILDERS = {
    "vgg16_fcn": "dermkit.models.fcn_vgg",
    "unet": "dermkit.models.unet",
    "densenet_classifier": "dermkit.models.classifiers",
    "vgg16_cbam_classifier": "dermkit.models.attention",
    "hierarchical_classifier": "dermkit.models.attention",
    "alexnet": "dermkit.models.alexnet",
    "alexnet_gap_embedding": "dermkit.models.alexnet",
    "dilated_unet": "dermkit.models.dilated_unet",
    "partialconv_unet": "dermkit.models.partialconv",
    "resnet50_classifier": "dermkit.models.classifiers",
    "dcgan_generator": "dermkit.models.dcgan",
    "dcgan_discriminator": "dermkit.models.dcgan",
    "coupled_dcgan": "dermkit.models.dcgan",
}

#: Layers, models and constants exported beside the builders (issue 18: every public class from the top).
_CLASSES = {
    **dict.fromkeys(["CBAM", "ClassHierarchy", "ISIC2018_HIERARCHY", "ISIC2018_CLASSES", "HierarchicalClassifier",
                     "HierarchicalAttentionDecoder", "DynamicChannelAttention", "DynamicSpatialAttention",
                     "cbam_attention_maps"], "dermkit.models.attention"),
    "PartialConv2D": "dermkit.models.partialconv",
    "LocalResponseNormalization": "dermkit.models.alexnet",
    **dict.fromkeys(["ImageNetPreprocess", "BilinearResizeTF1"], "dermkit.models.layers"),
}

__all__ = sorted(_BUILDERS) + sorted(_CLASSES)


def __getattr__(name: str):
    if name in _BUILDERS:
        require_tensorflow(f"dermkit.models.{name}")
        builder = getattr(importlib.import_module(_BUILDERS[name]), name)
        globals()[name] = builder
        return builder
    if name in _CLASSES:
        value = getattr(importlib.import_module(_CLASSES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dermkit.models' has no attribute {name!r}")


class _ModelsPackage(types.ModuleType):
    """``dermkit.models.unet`` is the builder function whatever was imported before.

    The builder ``unet`` lives in the submodule of the same name, and ``import dermkit.models.unet`` (also
    ``from dermkit.models.unet import ...``) makes Python bind the *submodule* to this package's ``unet``
    attribute, after which ``from dermkit.models import unet`` would give a module. A property on the
    package's class takes precedence over that binding. The submodule's names import as usual
    (``from dermkit.models.unet import BACKBONES``); ``import dermkit.models.unet as m`` gives the builder
    too, so reach the module itself with ``importlib.import_module("dermkit.models.unet")``.
    """

    @property
    def unet(self):
        builder = globals().get("unet")
        return builder if builder is not None else __getattr__("unet")

    @unet.setter
    def unet(self, value) -> None:
        if isinstance(value, types.ModuleType) and value.__name__ == _BUILDERS["unet"]:
            return  # the import system binding the submodule: keep the name for the builder
        globals()["unet"] = value  # e.g. a test's monkeypatch

    @property
    def alexnet(self):  # the same rule for the builder ``alexnet`` of the submodule ``alexnet``
        builder = globals().get("alexnet")
        return builder if builder is not None else __getattr__("alexnet")

    @alexnet.setter
    def alexnet(self, value) -> None:
        if isinstance(value, types.ModuleType) and value.__name__ == _BUILDERS["alexnet"]:
            return
        globals()["alexnet"] = value


sys.modules[__name__].__class__ = _ModelsPackage


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_BUILDERS) | set(_CLASSES))


def _builder_named_like_its_module(name: str) -> property:
    """The :class:`_ModelsPackage` property of ``unet`` for another builder living in a submodule of its own name
    (``dilated_unet`` in ``dermkit.models.dilated_unet``): the package attribute stays the builder."""

    def get(self):
        builder = globals().get(name)
        return builder if builder is not None and not isinstance(builder, types.ModuleType) else __getattr__(name)

    def set(self, value) -> None:
        if isinstance(value, types.ModuleType) and value.__name__ == _BUILDERS[name]:
            return
        globals()[name] = value

    return property(get, set)


_ModelsPackage.dilated_unet = _builder_named_like_its_module("dilated_unet")


require_tensorflow("dermkit.models")
import dermkit._register  # noqa: E402, F401  (every dermkit serialisable registered: keras.saving.load_model works)
