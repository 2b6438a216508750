"""classification_dataset(sample_weight_column=...): (image, label, weight) batches that Keras applies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

tf = pytest.importorskip("tensorflow")

from dermkit.data.imageio import write_png  # noqa: E402
from dermkit.data.pipelines import classification_dataset  # noqa: E402


@pytest.fixture
def frame(tmp_path):
    paths = []
    for i in range(4):
        paths.append(str(write_png(tmp_path / f"im{i}.png", np.full((8, 8, 3), 40 * i, np.uint8))))
    labels = [1, 0, 0, 1]
    class_weights = (1.0, 2.0)  # goel2021 row 11: malignant 2, benign 1
    return pd.DataFrame({"image_path": paths, "label": labels, "weight": [class_weights[k] for k in labels]})


def test_third_element_is_the_row_weight(frame):
    ds = classification_dataset(frame, image_size=8, batch_size=4, num_classes=2, sample_weight_column="weight")
    x, y, w = next(iter(ds))
    assert x.shape == (4, 8, 8, 3) and y.shape == (4, 2) and w.dtype == tf.float32
    np.testing.assert_array_equal(w.numpy(), [2.0, 1.0, 1.0, 2.0])
    shuffled = classification_dataset(frame, image_size=8, batch_size=4, num_classes=2, shuffle=True, seed=3,
                                      sample_weight_column="weight", cache="memory")
    x, y, w = next(iter(shuffled))  # weights travel with their image and label
    np.testing.assert_array_equal(w.numpy(), np.where(y.numpy()[:, 1] == 1, 2.0, 1.0))
    rows = np.round(x.numpy()[:, 0, 0, 0] * 255 / 40).astype(int)  # image i is filled with 40·i
    np.testing.assert_array_equal(w.numpy(), frame["weight"].to_numpy()[rows])
    pairs = classification_dataset(frame, image_size=8, batch_size=4, num_classes=2)
    assert len(next(iter(pairs))) == 2  # without the option: (image, label)


def test_weights_reach_the_loss_in_fit(frame):
    """Row 11's 2:1 loss Σ wᵢ CEᵢ / Σ wᵢ: a model fitted one step with lr 0 reports exactly that loss."""
    import keras

    from dermkit.losses import WeightedCategoricalCrossentropy

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.0), loss=WeightedCategoricalCrossentropy((1.0, 1.0)))
    ds = classification_dataset(frame, image_size=8, batch_size=4, num_classes=2, sample_weight_column="weight")
    logged = model.fit(ds, epochs=1, verbose=0, shuffle=False).history["loss"][0]
    x, y, _ = next(iter(ds))
    p = model.predict(x, verbose=0)
    ce = -np.log(np.sum(p * y.numpy(), axis=1))
    w = np.array([2.0, 1.0, 1.0, 2.0])
    assert logged == pytest.approx(float((w * ce).sum() / w.sum()), rel=1e-5)
    assert logged != pytest.approx(float(ce.mean()), rel=1e-3)  # the weights changed the number


@pytest.mark.parametrize("bad", [-1.0, np.nan, "x"])
def test_bad_weights_are_named(frame, bad):
    frame = frame.astype({"weight": object})
    frame.loc[2, "weight"] = bad
    with pytest.raises(ValueError, match=r"'weight'.*rows \[2\]"):
        classification_dataset(frame, image_size=8, batch_size=2, num_classes=2, sample_weight_column="weight")
    with pytest.raises(ValueError, match="nope"):
        classification_dataset(frame, image_size=8, batch_size=2, num_classes=2, sample_weight_column="nope")
