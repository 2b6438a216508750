"""goel2021 DenseNet121 classifier: train modes, parameter counts, frozen batch norm, L2, serialisation.

DenseNet121 builds slowly on CPU: two models per module (32×32 inputs), shared by every test.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dermkit.models.classifiers import (  # noqa: E402
    HEAD_LAYERS,
    densenet_classifier,
    set_train_mode,
)

DENSENET121_NOTOP_PARAMS = 7_037_504  # keras.applications.DenseNet121(include_top=False).count_params()
L2 = 1e-3


@pytest.fixture(scope="module")
def model():
    """Plain head (GAP → Dense 2), with L2, built in 'finetune' mode."""
    return densenet_classifier(input_shape=(32, 32, 3), num_classes=2, l2=L2)


@pytest.fixture(scope="module")
def fc_model():
    """'fc' mode: GAP → Dense 1024 relu → Dense 2, 3 classes to vary the head."""
    return densenet_classifier(input_shape=(32, 32, 3), num_classes=3, train_mode="fc")


def _is_moving_stat(variable) -> bool:
    return "moving_mean" in variable.path or "moving_variance" in variable.path


def _expected_trainable(model, mode):
    """(number of variables, number of scalars) that should train, from the layer list alone."""
    names = [layer.name for layer in model.layers]
    start = names.index("conv5_block1_0_bn")
    selected = []
    for index, layer in enumerate(model.layers):
        if layer.name in HEAD_LAYERS:
            take = True
        elif mode == "frozen":
            take = False
        elif mode == "last_block":
            take = index >= start
        else:
            take = True
        if take:
            selected += [v for v in layer.weights if not _is_moving_stat(v)]
    return len(selected), int(sum(np.prod(v.shape) for v in selected))


def _trainable(model):
    return len(model.trainable_weights), int(sum(np.prod(v.shape) for v in model.trainable_weights))


def test_parameter_counts(model, fc_model):
    assert model.count_params() == DENSENET121_NOTOP_PARAMS + 1024 * 2 + 2
    assert fc_model.count_params() == DENSENET121_NOTOP_PARAMS + (1024 * 1024 + 1024) + (1024 * 3 + 3)
    assert model.output_shape == (None, 2) and fc_model.output_shape == (None, 3)
    assert model.get_layer("predictions").dtype_policy.compute_dtype == "float32"


@pytest.mark.parametrize("mode", ["frozen", "last_block", "finetune"])
def test_trainable_weights_per_mode(model, mode):
    set_train_mode(model, mode)
    assert _trainable(model) == _expected_trainable(model, mode)


def test_trainable_weights_known_values(model):
    set_train_mode(model, "frozen")
    assert _trainable(model) == (2, 1024 * 2 + 2)
    set_train_mode(model, "last_block")
    conv5 = [
        v
        for layer in model.layers
        if layer.name.startswith("conv5_") or layer.name == "bn"
        for v in layer.weights
        if not _is_moving_stat(v)
    ]
    assert _trainable(model)[1] == sum(int(np.prod(v.shape)) for v in conv5) + 1024 * 2 + 2
    set_train_mode(model, "finetune")
    non_trainable = sum(int(np.prod(v.shape)) for v in model.weights if _is_moving_stat(v))
    assert _trainable(model)[1] == model.count_params() - non_trainable


def test_fc_mode(fc_model):
    assert fc_model.get_layer("fc1").units == 1024
    assert fc_model.get_layer("fc1").activation.__name__ == "relu"
    set_train_mode(fc_model, "fc")
    assert _trainable(fc_model) == _expected_trainable(fc_model, "fc")
    set_train_mode(fc_model, "frozen")  # fc1 stays and trains
    assert _trainable(fc_model) == (4, 1024 * 1024 + 1024 + 1024 * 3 + 3)
    set_train_mode(fc_model, "fc")


def test_fc_mode_needs_fc_layer(model):
    with pytest.raises(ValueError, match="needs the extra fc1 layer"):
        set_train_mode(model, "fc")


def test_l2_on_trainable_kernels(model):
    conv_dense = [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))]
    set_train_mode(model, "finetune")
    assert len(model.losses) == len(conv_dense) == 121  # 120 convolutions + the head
    head = model.get_layer("predictions").kernel
    expected = L2 * sum(float(np.sum(np.square(keras.ops.convert_to_numpy(l.kernel)))) for l in conv_dense)
    assert float(sum(keras.ops.convert_to_numpy(x) for x in model.losses)) == pytest.approx(expected, rel=1e-4)
    set_train_mode(model, "frozen")
    assert len(model.losses) == 1  # frozen kernels are not regularised
    assert head.regularizer is not None
    # The layer attribute is set too, so the regulariser is in the config and survives a .keras reload.
    assert model.get_layer("conv1_conv").get_config()["kernel_regularizer"] is not None
    set_train_mode(model, "finetune")


def _one_step(model, mode, seed=0):
    """Compile and run one SGD step; return (moving mean of conv1_bn, conv1 kernel, head kernel) before/after."""
    set_train_mode(model, mode)
    # Eager: tracing DenseNet's train step costs tens of seconds on CPU; the trainable semantics are the same.
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy", run_eagerly=True)
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(4, 32, 32, 3)).astype("float32")
    y = np.eye(model.output_shape[-1], dtype="float32")[[0, 1, 0, 1]]

    def snapshot():
        return [
            keras.ops.convert_to_numpy(v).copy()
            for v in (
                model.get_layer("conv1_bn").moving_mean,
                model.get_layer("conv5_block16_1_bn").moving_mean,
                model.get_layer("conv1_conv").kernel,
                model.get_layer("predictions").kernel,
            )
        ]

    before = snapshot()
    model.train_on_batch(x, y)
    return before, snapshot()


def test_frozen_batchnorm_statistics_do_not_move(model):
    before, after = _one_step(model, "frozen")
    for index in range(3):  # BN stats (early and late) and an encoder kernel
        np.testing.assert_array_equal(before[index], after[index])
    assert not np.allclose(before[3], after[3])  # the head trained


def test_last_block_trains_only_conv5_and_head(model):
    before, after = _one_step(model, "last_block")
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[2], after[2])
    assert not np.allclose(before[1], after[1])  # conv5 BN in training mode updates its statistics


def test_finetune_batchnorm_statistics_move(model):
    before, after = _one_step(model, "finetune")
    assert not np.allclose(before[0], after[0])
    assert not np.allclose(before[2], after[2])


def test_keras_round_trip(fc_model, tmp_path):
    path = tmp_path / "clf.keras"
    fc_model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(1).uniform(size=(2, 32, 32, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(fc_model(x, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x, training=False)), expected, atol=1e-5)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=1e-5)


# (kwargs, message) — validation happens before anything is built
BAD_ARGS = [
    ({"input_shape": (32, 32)}, "input_shape must be"),
    ({"input_shape": (32, 32, 1)}, "input_shape must be"),
    ({"num_classes": 1}, "num_classes must be"),
    ({"train_mode": "all"}, "train_mode must be one of"),
    ({"l2": -1.0}, "l2 must be"),
    ({"preprocess": "yes"}, "preprocess must be"),
]


@pytest.mark.parametrize("kwargs, message", BAD_ARGS)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        densenet_classifier(**kwargs)


def test_set_train_mode_rejects_unknown_mode(model):
    with pytest.raises(ValueError, match="train_mode must be one of"):
        set_train_mode(model, "partial")
