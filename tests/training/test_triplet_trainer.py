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
