"""segmentation-models (tf-keras) → dermkit ``unet`` weight import, checked against the legacy stack itself.

A subprocess in legacy mode (``TF_USE_LEGACY_KERAS=1 SM_FRAMEWORK=tf.keras``) runs ``_sm_export.py``: it builds
``sm.Unet('densenet121')`` and ``sm.Unet('vgg16')`` at 64×64×3 with random weights and saves the ``.h5``
files, every weight, one input batch and the predictions. Here (Keras 3) the same architectures are rebuilt
with ``unet(..., preprocess=False)``, the files imported, and every variable and the predictions compared.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.legacy

EXPORT_SCRIPT = Path(__file__).with_name("_sm_export.py")
MISSING_STACK = 77  # _sm_export.py's exit status when tf-keras / segmentation-models is not installed
BACKBONES = ("densenet121", "vgg16")


@pytest.fixture(scope="module")
def sm_export(tmp_path_factory):
    """Run the legacy export once for both backbones; skip when the legacy stack is missing."""
    out = tmp_path_factory.mktemp("sm_export")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", SM_FRAMEWORK="tf.keras", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, str(EXPORT_SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    if proc.returncode == MISSING_STACK:
        pytest.skip(f"legacy stack not importable (`make legacy` installs it): {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, f"_sm_export.py failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return out


@pytest.fixture(scope="module", params=BACKBONES)
def imported(request, sm_export):
    """(backbone, dermkit model with the file imported, export folder)."""
    from dermkit.models.unet import unet
    from dermkit.weights.segmentation_models import import_segmentation_models

    backbone = request.param
    model = unet((64, 64, 3), backbone=backbone, preprocess=False)
    assert import_segmentation_models(model, sm_export / f"{backbone}.h5") is model
    return backbone, model, sm_export


def test_every_variable_equals_the_legacy_weights(imported):
    backbone, model, out = imported
    with np.load(out / f"{backbone}_weights.npz") as saved:
        expected = {key: saved[key] for key in saved.files}
    # Keras 3 forbids '/' in layer names: keras-applications 1.0.8's `conv1/conv` is `conv1_conv` here.
    actual = {
        f"{layer.name}:{i}": np.asarray(w) for layer in model.layers for i, w in enumerate(layer.get_weights())
    }
    assert sorted(actual) == sorted(key.replace("/", "_") for key in expected)
    assert sum(a.size for a in actual.values()) == model.count_params()
    for key, value in expected.items():
        np.testing.assert_array_equal(actual[key.replace("/", "_")], value, err_msg=key)


def test_predictions_match_the_legacy_model(imported):
    backbone, model, out = imported
    batch = np.load(out / "input.npy")
    expected = np.load(out / f"{backbone}_pred.npy")
    got = model.predict(batch, verbose=0)
    assert got.shape == expected.shape == (2, 64, 64, 1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert expected.std() > 1e-3  # the random weights keep the outputs informative (not saturated)


def test_load_weights_dispatches_sm_files(sm_export):
    """``unet(weights=path)`` recognises a segmentation-models file and imports it (full-model save here)."""
    from dermkit.models.unet import unet

    model = unet((64, 64, 3), backbone="vgg16", preprocess=False, weights=sm_export / "vgg16.h5")
    batch = np.load(sm_export / "input.npy")
    np.testing.assert_allclose(
        model.predict(batch, verbose=0), np.load(sm_export / "vgg16_pred.npy"), atol=1e-4, rtol=0
    )


def test_wrong_backbone_fails_listing_the_differences(sm_export):
    from dermkit import DermkitDataError
    from dermkit.models.unet import unet
    from dermkit.weights.segmentation_models import import_segmentation_models

    model = unet((64, 64, 3), backbone="vgg16", preprocess=False)
    before = [np.asarray(w).copy() for w in model.weights[:3]]
    with pytest.raises(DermkitDataError, match=r"densenet121\.h5: the weights do not fit the model") as info:
        import_segmentation_models(model, sm_export / "densenet121.h5")
    message = str(info.value)
    assert "conv1/conv (→ conv1_conv) has no layer of that name" in message
    assert "model layer block1_conv1 has weights but nothing in the file maps onto it" in message
    assert "layer decoder_stage0a_conv: shapes differ" in message
    for old, new in zip(before, model.weights[:3]):  # all or nothing: nothing was set
        np.testing.assert_array_equal(old, np.asarray(new))


def test_transpose_decoder_files_are_refused(tmp_path):
    import h5py

    from dermkit import DermkitDataError
    from dermkit.weights.segmentation_models import import_segmentation_models

    path = tmp_path / "transpose.h5"
    with h5py.File(path, "w") as f:  # the legacy layout, reduced to the layer that tells the decoder type
        f.attrs["layer_names"] = [b"decoder_stage0a_transpose"]
        group = f.create_group("decoder_stage0a_transpose")
        group.attrs["weight_names"] = [b"decoder_stage0a_transpose/kernel:0"]
        group.create_dataset("decoder_stage0a_transpose/kernel:0", data=np.zeros((4, 4, 8, 8), "float32"))
    with pytest.raises(DermkitDataError, match="decoder_block_type='transpose'"):
        import_segmentation_models(None, path)


def test_name_map_replaces_only_slashes():
    from dermkit.weights.segmentation_models import segmentation_models_name_map

    names = ["input_1", "conv1/conv", "conv1/bn", "conv2_block1_0_bn", "decoder_stage0a_conv", "final_conv"]
    assert segmentation_models_name_map(names) == {"conv1/conv": "conv1_conv", "conv1/bn": "conv1_bn"}
