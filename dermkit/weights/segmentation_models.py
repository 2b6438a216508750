"""Import weights saved by qubvel segmentation-models (Keras 2 / tf-keras) into dermkit's :func:`~dermkit.models.unet`.

segmentation-models 1.0.1 runs only under legacy Keras 2 (``TF_USE_LEGACY_KERAS=1 SM_FRAMEWORK=tf.keras``;
reference/keras3.md). A ``Unet`` trained there and saved with ``model.save_weights("x.h5")`` or
``model.save("x.h5")`` is an HDF5 file in the legacy layout (weights under ``model_weights`` for a full
save). dermkit's :func:`dermkit.models.unet.unet` with the same backbone rebuilds that model layer for layer, so
the file loads by layer name once the names are mapped:

* keras-applications 1.0.8 names DenseNet's stem ``conv1/conv``, ``conv1/bn``, ``conv1/relu``; Keras 3
  forbids '/' in layer names and keras.applications calls them ``conv1_conv``, ``conv1_bn``,
  ``conv1_relu``. Every other encoder name (``conv2_block1_0_bn``, ``pool4_conv``, ``block5_conv3``, ...)
  is the same in both.
* segmentation-models' own layers (``center_block1_conv``, ``decoder_stage0a_conv``, ``decoder_stage0a_bn``,
  ``final_conv``, ...) already are legal Keras 3 names and dermkit uses them unchanged. (The head activation,
  which segmentation-models names after the activation, holds no weights.)

So the map is: '/' → '_', applied to each of the file's layer names (:func:`segmentation_models_name_map`
builds it as an explicit dict). Matching is by name and all-or-nothing
(:func:`dermkit.weights.legacy.assign_layer_weights`): a file layer with no counterpart, a model layer the
file does not fill, or a shape that differs fails with one error listing every difference.
:func:`dermkit.weights.load_weights` recognises these files (:func:`dermkit.weights.detect_weights_format`)
and calls :func:`import_segmentation_models`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from dermkit.errors import DermkitDataError
from dermkit.weights.legacy import assign_layer_weights, read_legacy_h5

__all__ = ["import_segmentation_models", "segmentation_models_name_map"]

#: Present when the file's Unet was built with ``decoder_block_type='transpose'``.
_TRANSPOSE_DECODER_LAYER = "decoder_stage0a_transpose"


def segmentation_models_name_map(file_layer_names: Iterable[str]) -> dict[str, str]:
    """File layer name → dermkit layer name, for every file layer whose name differs ('/' → '_').

    Layers missing from the result keep their name (the mapping convention of ``assign_layer_weights``,
    which also refuses two file layers landing on one model layer).
    """
    return {name: name.replace("/", "_") for name in file_layer_names if "/" in name}


def import_segmentation_models(model, h5_path: str | os.PathLike):
    """Load a segmentation-models ``Unet`` ``.h5`` (``save_weights`` or full ``save``) into ``model``.

    Args:
        model: the matching dermkit model, e.g. ``unet(input_shape, backbone="densenet121",
            num_classes=...)`` for ``sm.Unet("densenet121", classes=...)``. Its ``preprocess`` setting
            does not matter (the preprocessing layer has no weights); segmentation-models applies none
            inside its models, so ``preprocess=False`` reproduces its outputs on the same input.
        h5_path: the ``.h5`` file written under tf-keras.

    Returns:
        ``model``, with every weight set.

    Raises:
        DermkitFileNotFoundError: the file does not exist.
        DermkitDataError: not a legacy HDF5 weights file; a Unet with the transposed-convolution decoder
            (not rebuilt by dermkit); or the weights do not fit the model (every unmatched layer and shape
            difference is listed; nothing is loaded then).
    """
    weights_by_layer = read_legacy_h5(h5_path)
    if _TRANSPOSE_DECODER_LAYER in weights_by_layer:
        raise DermkitDataError(
            f"{h5_path}: this segmentation-models Unet uses decoder_block_type='transpose'; dermkit's unet "
            "rebuilds the 'upsampling' decoder (the one goel2021 used) only."
        )
    assign_layer_weights(
        model,
        weights_by_layer,
        name_map=segmentation_models_name_map(weights_by_layer),
        source=str(h5_path),
    )
    return model
