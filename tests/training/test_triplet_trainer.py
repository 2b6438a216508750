"""codella2018 trainers: two (three) learning rates over disjoint variable groups, applied exactly as SGD
(first momentum step Δw = −lr·g), the step policy, group validation, and Eq. 1 as the trained loss."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dermkit.losses.triplet import chai_triplet_loss  # noqa: E402
from dermkit.models import alexnet, alexnet_gap_embedding  # noqa: E402
from dermkit.training.triplet import (  # noqa: E402
    MultiRateClassifier,
    TripletTrainer,
    baseline_ft_param_groups,
    chai_param_groups,
    step_policy,
)


def test_step_policy_thirds():
    lr = step_policy(1e-2, total_steps=9)
    got = [float(lr(s)) for s in (0, 2, 3, 5, 6, 8)]
    np.testing.assert_allclose(got, [1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4], rtol=1e-5)


def test_triplet_trainer_two_rates_exact():
    keras.utils.set_random_seed(0)
    emb = alexnet_gap_embedding((67, 67, 3), embedding_dim=8)
    rng = np.random.default_rng(0)
    x = {k: rng.random((4, 67, 67, 3)).astype(np.float32) for k in ("anchor", "similar", "dissimilar")}
    before = {v.path: v.numpy().copy() for v in emb.trainable_variables}
    with tf.GradientTape() as tape:  # the gradient of Eq. 1, computed here independently
        e = [emb(x[k])["embedding"] for k in ("anchor", "similar", "dissimilar")]
        loss = tf.reduce_mean(chai_triplet_loss(*e))
    grads = dict(zip([v.path for v in emb.trainable_variables], tape.gradient(loss, emb.trainable_variables)))
    trainer = TripletTrainer(emb)
    trainer.compile(chai_param_groups(emb, rates={"transferred": 1e-3, "gap_conv": 0.5}))
    logs = trainer.train_on_batch(x, np.zeros(4), return_dict=True)
    assert logs["loss"] == pytest.approx(float(loss), rel=1e-4)
    for v in emb.trainable_variables:
        rate = 0.5 if "gap_conv" in v.path else 1e-3
        want = before[v.path] - rate * grads[v.path].numpy()
        np.testing.assert_allclose(v.numpy(), want, rtol=1e-4, atol=1e-6, err_msg=v.path)
    assert float(np.abs(grads[emb.get_layer("gap_conv").kernel.path]).max()) > 0


def test_param_group_validation():
    emb = alexnet_gap_embedding((67, 67, 3), embedding_dim=4)
    groups = chai_param_groups(emb)
    with pytest.raises(ValueError, match="in no param group"):
        TripletTrainer(emb).compile(groups[:1])
    with pytest.raises(ValueError, match="disjoint"):
        TripletTrainer(emb).compile([groups[0], (keras.optimizers.SGD(), ["gap_conv", "conv1"])])
    with pytest.raises(ValueError, match="no layer"):
        TripletTrainer(emb).compile([(keras.optimizers.SGD(), ["fc9"])])


def test_baseline_ft_three_rates():
    keras.utils.set_random_seed(1)
    model = alexnet((67, 67, 3), num_classes=3, dropout=0.0)
    groups = baseline_ft_param_groups(model)
    rates = {tuple(names): float(opt.learning_rate) for opt, names in groups}
    # Section 2.3: "0.01 was used for fc8, 0.001 for fc7 and fc6, and 0.00001 for earlier layers"
    assert rates[("fc8",)] == pytest.approx(0.01) and rates[("fc7",)] == pytest.approx(0.001)
    assert rates[("fc6",)] == pytest.approx(0.001)
    below = [names for names in rates if "conv1" in names][0]
    assert rates[below] == pytest.approx(1e-5) and set(below) == {"conv1", "conv2", "conv3", "conv4", "conv5"}
    rng = np.random.default_rng(1)
    x, y = rng.random((4, 67, 67, 3)).astype(np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    with tf.GradientTape() as tape:
        loss = keras.losses.CategoricalCrossentropy()(y, model(x, training=True))
    grads = dict(zip([v.path for v in model.trainable_variables], tape.gradient(loss, model.trainable_variables)))
    trainer = MultiRateClassifier(model)
    trainer.compile(groups)
    trainer.train_on_batch(x, y)
    for v in model.trainable_variables:
        layer = v.path.split("/")[0]
        rate = {"fc8": 0.01, "fc7": 0.001, "fc6": 0.001}.get(layer, 1e-5)
        np.testing.assert_allclose(v.numpy(), before[v.path] - rate * grads[v.path].numpy(), rtol=1e-4, atol=1e-7,
                                   err_msg=v.path)


def test_chai_rates_as_the_paper_words_them():
    from dermkit.training.triplet import BASELINE_FT_RATES, CHAI_RATES, CHAI_TRANSFERRED_GAP_RATES

    # "learning rate for transferred weights (0.00001), and learning rate for randomly initialized GAP layer
    # (0.01)"; a GAP layer fine-tuned from Disease is transferred: 1e-5
    assert CHAI_RATES == {"transferred": 1e-5, "gap_conv": 1e-2}
    assert CHAI_TRANSFERRED_GAP_RATES == {"transferred": 1e-5, "gap_conv": 1e-5}
    assert BASELINE_FT_RATES == {"fc8": 1e-2, "fc7": 1e-3, "fc6": 1e-3, "transferred": 1e-5}
    emb = alexnet_gap_embedding((67, 67, 3), embedding_dim=4)
    groups = chai_param_groups(emb, rates=CHAI_TRANSFERRED_GAP_RATES)
    assert [float(opt.learning_rate) for opt, _ in groups] == pytest.approx([1e-5, 1e-5])
    with pytest.raises(ValueError, match=r"unknown parameter group\(s\) \['gap'\]"):
        chai_param_groups(emb, rates={"gap": 1e-3})
    with pytest.raises(ValueError, match=r"'fc8' must be a number > 0"):
        baseline_ft_param_groups(alexnet((67, 67, 3)), rates={"fc8": 0})


def _tiny_embedding():
    inputs = keras.Input((6, 6, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv1")(inputs)
    x = keras.layers.Conv2D(5, 1, name="gap_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, {"embedding": x}, name="tiny_embedding")


def test_triplet_trainer_saves_and_resumes_exactly(tmp_path):
    """Issue 18: 2 epochs + save + dermkit.load_model + 2 epochs = 4 uninterrupted epochs (weights to 1e-6);
    compile() alone gives the paper's two groups; momentum slots and iteration counts survive the file."""
    import dermkit

    rng = np.random.default_rng(2)
    x = {k: rng.random((12, 6, 6, 3)).astype(np.float32) for k in ("anchor", "similar", "dissimilar")}
    y = np.zeros(12, np.float32)

    def fresh():
        keras.utils.set_random_seed(3)
        trainer = TripletTrainer(_tiny_embedding(), margin=0.5)
        trainer.compile()
        return trainer

    straight = fresh()
    straight.fit(x, y, batch_size=4, epochs=4, shuffle=False, verbose=0)
    first = fresh()
    assert [float(o.learning_rate) for o in (first.optimizer_0, first.optimizer_1)] == pytest.approx([1e-5, 1e-2])
    first.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    first.save(tmp_path / "chai.keras")
    resumed = dermkit.load_model(tmp_path / "chai.keras")
    assert isinstance(resumed, TripletTrainer) and resumed.margin == 0.5
    assert int(resumed.optimizer_1.iterations) == 6
    resumed.fit(x, y, batch_size=4, epochs=4, initial_epoch=2, shuffle=False, verbose=0)
    for a, b in zip(straight.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert int(resumed.optimizer_0.iterations) == int(straight.optimizer_0.iterations) == 12


def test_multi_rate_classifier_saves_and_compiles_with_one_optimizer(tmp_path):
    import dermkit

    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(3, name="fc6")(inputs)
    h = keras.layers.Dense(3, name="fc7")(h)
    out = keras.layers.Dense(2, activation="softmax", name="fc8")(h)
    model = keras.Model(inputs, out, name="mlp")
    trainer = MultiRateClassifier(model)
    trainer.compile(keras.optimizers.SGD(0.1, momentum=0.9))  # one optimizer for every layer
    x = np.random.default_rng(0).random((8, 4)).astype(np.float32)
    yy = np.eye(2, dtype=np.float32)[[0, 1] * 4]
    trainer.fit(x, yy, batch_size=4, epochs=1, verbose=0)
    trainer.save(tmp_path / "ft.keras")
    back = dermkit.load_model(tmp_path / "ft.keras")
    assert isinstance(back, MultiRateClassifier) and int(back.optimizer_0.iterations) == 2
    slots = [v.numpy() for v in trainer.optimizer_0.variables]
    for a, b in zip(slots, [v.numpy() for v in back.optimizer_0.variables]):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="not both"):
        MultiRateClassifier(model).compile(keras.optimizers.SGD(), optimizer=keras.optimizers.SGD())
