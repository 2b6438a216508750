"""Model builders. Each returns a named, serialisable ``keras.Model``.

Every builder follows one weights rule (kawahara2018 issue): ``encoder_weights`` ∈ {None, "imagenet", path to
a Keras "notop" file}; ``weights`` ∈ {None, registry name, path (Keras 3, legacy Keras 2 or
segmentation-models ``.h5``, detected from the file)}; ``preprocess=True`` makes the model take RGB float32
in [0, 1] and apply its encoder's ImageNet preprocessing inside. Builders take ``input_shape`` first and
every option keyword-only: ``unet((448, 592, 3), num_classes=1)``.

Builders are imported lazily so ``import dermkit.models`` stays cheap (and TensorFlow-free) until one is used;
``dermkit.models.baselines`` is NumPy only.
"""

from __future__ import annotations

import importlib

from dermkit._optional import require_tensorflow

_BUILDERS = {
    "vgg16_fcn": "dermkit.models.fcn_vgg",
    "unet": "dermkit.models.unet",
    "densenet_classifier": "dermkit.models.classifiers",
}

__all__ = sorted(_BUILDERS)


def __getattr__(name: str):
    if name in _BUILDERS:
        require_tensorflow(f"dermkit.models.{name}")
        builder = getattr(importlib.import_module(_BUILDERS[name]), name)
        # Importing ``dermkit.models.unet`` binds the *module* to this package's ``unet`` attribute; store the
        # builder so ``dermkit.models.unet`` is the function whatever was imported before.
        globals()[name] = builder
        return builder
    raise AttributeError(f"module 'dermkit.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_BUILDERS))
