"""Pretrained weights: registry, encoder ImageNet weights, loading of Keras 3 / Keras 2 / segmentation-models files.

Every builder follows the same rules (see ``dermkit.models``): ``encoder_weights`` ∈ {None, "imagenet", path
to a notop file} goes through :func:`build_encoder`; ``weights`` ∈ {None, registry name, path} goes through
:func:`load_weights`. ``weights/README.md`` lists the registered files. Nothing downloads at import, and this
package imports neither TensorFlow nor Keras until a function needs them.
"""

from dermkit.weights.legacy import assign_layer_weights, legacy_layer_names, read_legacy_h5, write_legacy_h5
from dermkit.weights.loading import (
    ENCODERS,
    WEIGHTS_FORMATS,
    WeightsUnavailableError,
    build_encoder,
    detect_weights_format,
    fetch_weights,
    keras_cache_dir,
    load_weights,
    resolve_encoder_weights,
    sha256sum,
    weights_info,
)
from dermkit.weights.pretrained import pretrained_model
from dermkit.weights.registry import REGISTRY, WeightsEntry


def import_segmentation_models(model, h5_path):
    """Load a segmentation-models (qubvel, tf-keras) ``.h5`` into a dermkit U-Net; see
    :func:`dermkit.weights.segmentation_models.import_segmentation_models`."""
    from dermkit.weights.segmentation_models import import_segmentation_models as _import

    return _import(model, h5_path)


__all__ = [
    "ENCODERS",
    "REGISTRY",
    "WEIGHTS_FORMATS",
    "WeightsEntry",
    "WeightsUnavailableError",
    "assign_layer_weights",
    "build_encoder",
    "detect_weights_format",
    "fetch_weights",
    "import_segmentation_models",
    "keras_cache_dir",
    "legacy_layer_names",
    "load_weights",
    "pretrained_model",
    "read_legacy_h5",
    "resolve_encoder_weights",
    "sha256sum",
    "weights_info",
    "write_legacy_h5",
]
