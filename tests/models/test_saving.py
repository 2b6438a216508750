"""Saved ``.keras`` models reload with ``dermkit.load_model`` after only ``import dermkit`` (issue 8 item 13).

Models are built and saved here, then loaded in a fresh interpreter that imports nothing but ``dermkit``;
its predictions (and, for the compiled model, ``evaluate``) must equal the originals.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

import dermkit  # noqa: E402
from dermkit._register import REGISTERED_MODULES  # noqa: E402

REGISTERED_NAMES = ("ImageNetPreprocess", "BilinearResizeTF1", "DiceF1Loss", "WeightedBinaryCrossentropy",
                    "WeightedCategoricalCrossentropy", "ChannelDice", "CBAM", "DynamicChannelAttention",
                    "DynamicSpatialAttention", "HierarchicalAttentionDecoder", "HierarchicalLoss",
                    "HierarchicalClassifier", "PartialConv2D",
                    "InpaintingLoss", "SevenChannelInput")
PACKAGE = Path(dermkit.__file__).parent
RNG = np.random.default_rng(13)


def run_fresh(*codes: str, timeout: int = 600) -> None:
    """Run each code string in its own new interpreter, failing the test with its stderr."""
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    for code in codes:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                                env=env)
        assert result.returncode == 0, f"{code}\n{result.stderr[-4000:]}"


def test_registered_modules_are_every_module_that_registers():
    registering = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "register_keras_serializable":
                module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
                registering.add(module.removesuffix(".__init__"))
    assert registering == set(REGISTERED_MODULES)


def _registers_everything(first_use: str) -> str:
    return (
        f"{first_use}\n"
        "import keras\n"
        f"missing = [n for n in {json.dumps(REGISTERED_NAMES)} if keras.saving.get_registered_object('dermkit>' + n) "
        "is None]\n"
        f"assert not missing, ({first_use!r}, missing)\n"
    )


def test_imports_stay_tensorflow_free_and_first_use_registers_everything():
    """Issue 18: ``import dermkit`` and the packages the paper grids read stay TensorFlow-free; a bare
    ``import dermkit.models`` registers every dermkit serialisable (keras.saving.load_model works after it)."""
    run_fresh(
        "import sys\n"
        "import dermkit, dermkit.metrics, dermkit.data, dermkit.training, dermkit.papers\n"
        "from dermkit.papers import load_paper\n"
        "[load_paper(name) for name in ('kawahara2018', 'goel2021', 'barata2020', 'bisla2019', 'codella2018')]\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'\n",
        _registers_everything("import dermkit.models"),
    )


@pytest.mark.slow
@pytest.mark.parametrize("first_use", ["import dermkit.losses.dice", "from dermkit.metrics import ChannelDice",
                                       "import dermkit.models.unet", "import dermkit.models.layers",
                                       "import dermkit.explain", "import keras, dermkit.training",
                                       "import keras, dermkit.data", "from dermkit.training import GANTrainer",
                                       "from dermkit.data import segmentation_dataset"])
def test_any_first_use_registers_everything(first_use):
    run_fresh(_registers_everything(first_use))


def _as_list(y) -> list[np.ndarray]:
    return [np.asarray(a) for a in y] if isinstance(y, (list, tuple)) else [np.asarray(y)]


def _save(model, folder: Path, name: str, x: np.ndarray, outputs: dict) -> None:
    model.save(folder / f"{name}.keras")
    np.save(folder / f"{name}_x.npy", x)
    outputs[name] = _as_list(model.predict(x, verbose=0))


def _check_in_fresh_interpreter(folder: Path, outputs: dict, evaluate: dict | None = None) -> None:
    """Load every saved model in a new interpreter that imports only dermkit; compare its outputs."""
    names = sorted(outputs)
    code = (
        "import sys, json\n"
        "import numpy as np\n"
        "import dermkit\n"
        "assert 'dermkit.models.layers' not in sys.modules and 'dermkit.losses' not in sys.modules\n"
        f"folder = {str(folder)!r}\n"
        f"for name in {names!r}:\n"
        "    model = dermkit.load_model(f'{folder}/{name}.keras')\n"
        "    x = np.load(f'{folder}/{name}_x.npy')\n"
        "    y = model.predict(x, verbose=0)\n"
        "    y = list(y) if isinstance(y, (list, tuple)) else [y]\n"
        "    np.savez(f'{folder}/{name}_reloaded.npz', *y)\n"
        "    if name == 'compiled':\n"
        "        y_true = [np.load(f'{folder}/compiled_y{i}.npy') for i in range(3)]\n"
        "        values = model.evaluate(x, y_true, verbose=0, return_dict=True)\n"
        "        losses = {k: type(v).__name__ for k, v in model.loss.items()}\n"
        "        json.dump({'values': values, 'losses': losses}, open(f'{folder}/compiled.json', 'w'))\n"
    )
    run_fresh(code)
    for name in names:
        with np.load(folder / f"{name}_reloaded.npz") as reloaded:
            got = [reloaded[f"arr_{i}"] for i in range(len(reloaded.files))]
        assert len(got) == len(outputs[name]), name
        for a, b in zip(got, outputs[name]):
            np.testing.assert_array_equal(a, b, err_msg=name)
    if evaluate is not None:
        reloaded = json.loads((folder / "compiled.json").read_text())
        assert reloaded["losses"] == {"features": "DiceF1Loss", "weighted": "WeightedBinaryCrossentropy",
                                      "label": "WeightedCategoricalCrossentropy"}
        assert reloaded["values"].keys() == evaluate.keys()
        for key, value in evaluate.items():
            assert reloaded["values"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def _compiled_model_with_every_dermkit_object():
    """Every dermkit layer, loss and metric in one compiled model (three outputs)."""
    from dermkit.losses import DiceF1Loss, WeightedBinaryCrossentropy, WeightedCategoricalCrossentropy
    from dermkit.metrics.keras_metrics import ChannelDice
    from dermkit.models.layers import BilinearResizeTF1, ImageNetPreprocess

    inputs = keras.Input((16, 16, 3), name="image")
    x = ImageNetPreprocess(mode="torch", name="preprocess")(inputs)
    small = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="conv")(x)
    up = BilinearResizeTF1(name="resize")([small, inputs])
    fixed = BilinearResizeTF1(size=(16, 16), name="resize_fixed")(small)
    merged = keras.layers.Concatenate(name="concat")([up, fixed])
    features = keras.layers.Conv2D(2, 1, activation="sigmoid", name="features")(merged)
    weighted = keras.layers.Conv2D(2, 1, activation="sigmoid", name="weighted")(merged)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(merged)
    label = keras.layers.Dense(2, activation="softmax", name="label")(pooled)
    model = keras.Model(inputs, [features, weighted, label], name="every_dermkit_object")
    model.compile(
        optimizer="adam",
        loss={
            "features": DiceF1Loss(partition="channel_batch"),
            "weighted": WeightedBinaryCrossentropy(pos_weights=[2.0, 3.0], neg_weights=[0.5, 0.75]),
            "label": WeightedCategoricalCrossentropy(class_weights=(1.0, 2.0)),
        },
        metrics={"features": [ChannelDice(channel=0, name="dice_0"), ChannelDice(name="dice")]},
    )
    return model


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_compiled_model_and_fcn_reload_in_a_fresh_interpreter(tmp_path):
    from dermkit.models import vgg16_fcn

    keras.utils.set_random_seed(0)
    outputs: dict = {}
    model = _compiled_model_with_every_dermkit_object()
    x = RNG.random((4, 16, 16, 3), dtype=np.float32)
    y_true = [(RNG.random((4, 16, 16, 2)) > 0.5).astype(np.float32),
              (RNG.random((4, 16, 16, 2)) > 0.7).astype(np.float32),
              np.eye(2, dtype=np.float32)[[0, 1, 1, 0]]]
    model.fit(x, y_true, epochs=1, verbose=0)
    for i, y in enumerate(y_true):
        np.save(tmp_path / f"compiled_y{i}.npy", y)
    evaluate = model.evaluate(x, y_true, verbose=0, return_dict=True)
    _save(model, tmp_path, "compiled", x, outputs)
    _save(vgg16_fcn((32, 32, 3)), tmp_path, "vgg16_fcn", RNG.random((2, 32, 32, 3), dtype=np.float32), outputs)
    _check_in_fresh_interpreter(tmp_path, outputs, evaluate)


@pytest.mark.slow
def test_unets_and_classifier_reload_in_a_fresh_interpreter(tmp_path):
    from dermkit.models import densenet_classifier, unet

    keras.utils.set_random_seed(1)
    outputs: dict = {}
    x = RNG.random((2, 32, 32, 3), dtype=np.float32)
    _save(unet((32, 32, 3)), tmp_path, "unet_plain", x, outputs)
    _save(unet((32, 32, 3), backbone="densenet121"), tmp_path, "unet_densenet121", x, outputs)
    _save(densenet_classifier((32, 32, 3)), tmp_path, "densenet_classifier", x, outputs)
    _check_in_fresh_interpreter(tmp_path, outputs)


def test_load_model_errors(tmp_path):
    with pytest.raises(dermkit.DermkitFileNotFoundError, match=r"missing.keras: no saved model file there"):
        dermkit.load_model(tmp_path / "missing.keras")
    weights = tmp_path / "m.weights.h5"
    weights.write_bytes(b"")
    with pytest.raises(ValueError, match=r"m.weights.h5: a weights-only file, not a saved model.*weights="):
        dermkit.load_model(weights)
