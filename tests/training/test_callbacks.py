"""BestBalancedAccuracy: logs val_balanced_accuracy, keeps and restores the best epoch's weights."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dermkit.training.callbacks import BestBalancedAccuracy, class_labels  # noqa: E402

# Validation set: 6 benign (x = −1), 2 malignant (x = +1). One input feature, 2-unit softmax head.
X_VAL = np.array([[-1.0]] * 6 + [[1.0]] * 2, dtype=np.float32)
Y_VAL = np.eye(2, dtype=np.float32)[[0] * 6 + [1] * 2]

# Weights (kernel [1, 2], bias [2]) and the balanced accuracy each gives on the set above.
GOOD = [np.array([[-1.0, 1.0]], np.float32), np.zeros(2, np.float32)]  # perfect: 1.0
ALL_BENIGN = [np.zeros((1, 2), np.float32), np.array([1.0, 0.0], np.float32)]  # 0.5
ALL_MALIGNANT = [np.zeros((1, 2), np.float32), np.array([0.0, 1.0], np.float32)]  # 0.5
INVERTED = [np.array([[1.0, -1.0]], np.float32), np.zeros(2, np.float32)]  # 0.0
TIED = [np.zeros((1, 2), np.float32), np.zeros(2, np.float32)]  # softmax [0.5, 0.5]: undecided, wrong → 0.0


class ScriptWeights(keras.callbacks.Callback):
    """Sets the model's weights at each epoch end from a script (training itself uses lr = 0)."""

    def __init__(self, script):
        super().__init__()
        self.script = script

    def on_epoch_end(self, epoch, logs=None):
        self.model.set_weights(self.script[epoch])


def _model():
    inputs = keras.Input((1,), name="x")
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="categorical_crossentropy")
    return model


def _fit(model, callback, script):
    return model.fit(
        X_VAL, Y_VAL, epochs=len(script), batch_size=8, verbose=0, callbacks=[ScriptWeights(script), callback]
    )


def test_logs_and_restores_best(tmp_path):
    model = _model()
    callback = BestBalancedAccuracy((X_VAL, Y_VAL), filepath=tmp_path / "best.weights.h5")
    history = _fit(model, callback, [ALL_BENIGN, GOOD, INVERTED, ALL_MALIGNANT])
    assert history.history["val_balanced_accuracy"] == pytest.approx([0.5, 1.0, 0.0, 0.5])
    assert callback.best == 1.0 and callback.best_epoch == 1
    for restored, expected in zip(model.get_weights(), GOOD):
        np.testing.assert_array_equal(restored, expected)

    saved = _model()
    saved.load_weights(tmp_path / "best.weights.h5")
    for loaded, expected in zip(saved.get_weights(), GOOD):
        np.testing.assert_array_equal(loaded, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.weights.h5"]  # no temporary left


def test_tied_outputs_count_as_wrong_like_the_isic_scorer():
    # every row [0.5, 0.5]: no class decided, so both recalls are 0 (an argmax would say "all benign": 0.5)
    model = _model()
    history = _fit(model, BestBalancedAccuracy((X_VAL, Y_VAL)), [TIED, GOOD])
    assert history.history["val_balanced_accuracy"] == pytest.approx([0.0, 1.0])


def test_ties_keep_the_earliest_and_no_restore():
    model = _model()
    callback = BestBalancedAccuracy((X_VAL, Y_VAL), restore_best_weights=False)
    _fit(model, callback, [ALL_BENIGN, ALL_MALIGNANT, INVERTED])
    assert callback.best_epoch == 0 and callback.best == 0.5
    for final, expected in zip(model.get_weights(), INVERTED):
        np.testing.assert_array_equal(final, expected)


def test_dataset_and_integer_labels_and_keras_file(tmp_path):
    labels = Y_VAL.argmax(axis=1)
    dataset = tf.data.Dataset.from_tensor_slices((X_VAL, labels)).shuffle(8, seed=0).batch(3)
    model = _model()
    callback = BestBalancedAccuracy(dataset, filepath=tmp_path / "best.keras")
    history = _fit(model, callback, [INVERTED, GOOD])
    assert history.history["val_balanced_accuracy"] == pytest.approx([0.0, 1.0])
    reloaded = keras.saving.load_model(tmp_path / "best.keras")
    for loaded, expected in zip(reloaded.get_weights(), GOOD):
        np.testing.assert_array_equal(loaded, expected)


def test_checkpoint_after_it_sees_the_metric(tmp_path):
    model = _model()
    checkpoint = keras.callbacks.ModelCheckpoint(
        tmp_path / "ckpt.weights.h5",
        monitor="val_balanced_accuracy",
        mode="max",
        save_best_only=True,
        save_weights_only=True,
    )
    history = model.fit(
        X_VAL,
        Y_VAL,
        epochs=2,
        verbose=0,
        callbacks=[ScriptWeights([ALL_BENIGN, GOOD]), BestBalancedAccuracy((X_VAL, Y_VAL)), checkpoint],
    )
    assert (tmp_path / "ckpt.weights.h5").exists()
    assert len(history.history["val_balanced_accuracy"]) == 2


# (y, expected labels)
LABEL_CASES = [
    (np.array([[0.9, 0.1], [0.4, 0.6]]), [0, 1]),  # probabilities / one-hot → argmax
    (np.array([0, 1, 1]), [0, 1, 1]),  # integer labels
    (np.array([[1.0], [0.0]]), [1, 0]),  # float labels [N, 1]
    (np.array([[0.7], [0.2]]), [1, 0]),  # sigmoid probabilities → > 0.5
]


@pytest.mark.parametrize("y, expected", LABEL_CASES)
def test_class_labels(y, expected):
    np.testing.assert_array_equal(class_labels(y), expected)


def test_bad_arguments():
    with pytest.raises(ValueError, match="validation_data is required"):
        BestBalancedAccuracy(None)
    with pytest.raises(ValueError, match=r"\(x, y\) or \(x, y, sample_weight\)"):
        BestBalancedAccuracy((X_VAL,))
    with pytest.raises(ValueError, match="filepath must end in"):
        BestBalancedAccuracy((X_VAL, Y_VAL), filepath="best.h5")


# --- ValidationClassScores -----------------------------------------------------------------------------------
def test_validation_class_scores_logs_per_class_and_balanced(tmp_path):
    from dermkit.training.callbacks import ValidationClassScores

    model = _model()
    scores = ValidationClassScores((X_VAL, Y_VAL), class_names=("benign", "malignant"))
    # epoch 1 GOOD: 6/6 benign, 2/2 malignant; epoch 2 ALL_BENIGN: 6/6, 0/2; epoch 3 TIED: 0/6, 0/2
    history = _fit(model, scores, [GOOD, ALL_BENIGN, TIED]).history
    assert scores.keys == ("val_benign_acc", "val_malignant_acc", "val_balanced_accuracy")
    assert history["val_benign_acc"] == [1.0, 1.0, 0.0]
    assert history["val_malignant_acc"] == [1.0, 0.0, 0.0]
    assert history["val_balanced_accuracy"] == [1.0, 0.5, 0.0]


def test_validation_class_scores_dataset_and_absent_class():
    from dermkit.training.callbacks import ValidationClassScores

    model = _model()
    benign_only = tf.data.Dataset.from_tensor_slices((X_VAL[:6], Y_VAL[:6])).batch(4)
    scores = ValidationClassScores(benign_only, class_names=("benign", "malignant"), prefix="v_")
    history = _fit(model, scores, [ALL_MALIGNANT]).history
    assert history["v_benign_acc"] == [0.0] and np.isnan(history["v_malignant_acc"][0])
    assert history["v_balanced_accuracy"] == [0.0]
    with pytest.raises(ValueError, match="distinct"):
        ValidationClassScores(benign_only, class_names=("a", "a"))
    with pytest.raises(ValueError, match="required"):
        ValidationClassScores(None, class_names=("a", "b"))
