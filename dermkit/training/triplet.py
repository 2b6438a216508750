"""Trainers with several learning rates over disjoint variable groups, and codella2018's triplet trainer.

Keras 3 optimizers have one learning rate; there is no built-in per-layer rate. The Keras 3 way (the same as
a GAN's two optimizers) is one optimizer per variable group, each ``optimizer.apply(grads, variables)`` on
its own variables inside ``train_step``. :class:`MultiRateModel` does that for any group list
``[(optimizer, layer names), ...]``; the engine (:mod:`dermkit.training.runner`) finds the optimizers (model
attributes) for its crash-safe backups.

* :class:`TripletTrainer` — codella2018 Section 2.1 / Fig. 1a: one embedding shared by the three inputs
  ``(x_a, x_b, x_c)`` (run as one batch of 3B images), Eq. 1 (:class:`dermkit.losses.ChaiTripletLoss`).
  Section 2.3: SGD momentum 0.9, batch 128, "step" policy, lr 1e-5 for the transferred layers and 1e-2 for
  a randomly initialised GAP conv; a transferred GAP conv gets 1e-5 (:func:`chai_param_groups`).
* :class:`MultiRateClassifier` — BaselineFT: AlexNet fine-tuned with softmax cross-entropy, lr 0.01 for fc8,
  0.001 for fc7 and fc6, 1e-5 below (:func:`baseline_ft_param_groups`).
* :func:`step_policy` — Caffe's "step" policy, ``lr · γ^⌊iter / stepsize⌋``. The paper gives neither γ nor the
  step size: dermkit uses γ = 0.1 every third of the training steps (:data:`STEP_GAMMA`,
  :data:`STEP_FRACTIONS`).
"""

from __future__ import annotations

from collections.abc import Sequence

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.training.triplet")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from dermkit.losses.triplet import ChaiTripletLoss, squared_distance  # noqa: E402

__all__ = ["MultiRateModel", "TripletTrainer", "MultiRateClassifier", "step_policy", "chai_param_groups",
           "baseline_ft_param_groups", "CHAI_RATES", "CHAI_TRANSFERRED_GAP_RATES", "BASELINE_FT_RATES",
           "STEP_GAMMA", "STEP_FRACTIONS", "MOMENTUM", "BATCH_SIZE"]

#: Section 2.3 (after the paper's ref. [15]).
MOMENTUM = 0.9
BATCH_SIZE = 128
#: The "step" policy's γ and where it steps (fractions of all training steps) — not given in the paper.
STEP_GAMMA = 0.1
STEP_FRACTIONS = (1 / 3, 2 / 3)
#: Section 2.3's learning rates by parameter group, as the paper words them: "learning rate for transferred
#: weights (0.00001), and learning rate for randomly initialized GAP layer (0.01)". These are the rates of an
#: embedding whose GAP conv is new (Disease, Joint: from Baseline); a row fine-tuned from an embedding whose
#: GAP conv is itself transferred (Hierarchical, Non-Hierarchical: from Disease) gives ``gap_conv`` the
#: transferred rate, 1e-5 (:data:`CHAI_TRANSFERRED_GAP_RATES`).
CHAI_RATES = {"transferred": 1e-5, "gap_conv": 1e-2}
CHAI_TRANSFERRED_GAP_RATES = {"transferred": 1e-5, "gap_conv": 1e-5}
#: BaselineFT (Section 2.3): "0.01 was used for fc8, 0.001 for fc7 and fc6, and 0.00001 for earlier layers".
BASELINE_FT_RATES = {"fc8": 1e-2, "fc7": 1e-3, "fc6": 1e-3, "transferred": 1e-5}


def step_policy(base_lr: float, *, total_steps: int, gamma: float = STEP_GAMMA,
                fractions: Sequence[float] = STEP_FRACTIONS):
    """Caffe's "step" learning-rate policy as a Keras schedule: ``base_lr``, ×γ at each fraction of
    ``total_steps`` (:class:`dermkit.training.schedules.StepDecay`)."""
    from dermkit.training.schedules import step_decay

    return step_decay(base_lr, epochs=max(int(total_steps), 1), steps_per_epoch=1, fractions=fractions, factor=gamma)


def _sgd(rate, total_steps: int | None):
    lr = step_policy(rate, total_steps=total_steps) if total_steps else rate
    return keras.optimizers.SGD(lr, momentum=MOMENTUM)


def _rates(defaults: dict, rates: dict | None, what: str) -> dict:
    """``defaults`` updated by ``rates``; an unknown group or a rate that is not a positive number is an error."""
    rates = dict(rates or {})
    unknown = sorted(set(rates) - set(defaults))
    if unknown:
        raise ValueError(f"{what}: unknown parameter group(s) {unknown}; the groups are {sorted(defaults)}. "
                         f"Received: rates={rates!r}")
    for name, value in rates.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{what}: the rate of {name!r} must be a number > 0. Received: {value!r}")
    return {**defaults, **{k: float(v) for k, v in rates.items()}}


def chai_param_groups(embedding: keras.Model, *, total_steps: int | None = None,
                      rates: dict | None = None) -> list[tuple]:
    """Section 2.3's two groups for a CHAI embedding, SGD (momentum 0.9, :func:`step_policy` over
    ``total_steps`` when given) each: ``"transferred"`` (conv1–conv5; 1e-5) and ``"gap_conv"`` (1e-2 when
    new, the default :data:`CHAI_RATES`; pass :data:`CHAI_TRANSFERRED_GAP_RATES` when it is transferred).

    Args:
        rates: ``{"transferred": lr, "gap_conv": lr}``, either key optional (defaults :data:`CHAI_RATES`).

    Raises:
        ValueError: an unknown group name or a rate ≤ 0.
    """
    rates = _rates(CHAI_RATES, rates, "chai_param_groups")
    transferred = [layer.name for layer in embedding.layers if layer.trainable_weights and layer.name != "gap_conv"]
    return [(_sgd(rates["transferred"], total_steps), transferred),
            (_sgd(rates["gap_conv"], total_steps), ["gap_conv"])]


def baseline_ft_param_groups(model: keras.Model, *, total_steps: int | None = None,
                             rates: dict | None = None) -> list[tuple]:
    """BaselineFT's groups (Section 2.3), one SGD each (momentum 0.9, :func:`step_policy`): ``"fc8"`` 0.01,
    ``"fc7"`` and ``"fc6"`` 0.001, ``"transferred"`` (conv1–conv5) 1e-5 (:data:`BASELINE_FT_RATES`).

    Raises:
        ValueError: an unknown group name or a rate ≤ 0.
    """
    rates = _rates(BASELINE_FT_RATES, rates, "baseline_ft_param_groups")
    below = [layer.name for layer in model.layers if layer.trainable_weights and layer.name not in FC]
    return [(_sgd(rates["fc8"], total_steps), ["fc8"]), (_sgd(rates["fc7"], total_steps), ["fc7"]),
            (_sgd(rates["fc6"], total_steps), ["fc6"]), (_sgd(rates["transferred"], total_steps), below)]


FC = ("fc6", "fc7", "fc8")


class MultiRateModel(keras.Model):
    """Base of trainers that apply one optimizer per disjoint group of the wrapped model's layers.

    ``compile(param_groups=[(optimizer, [layer names]), ...], ...)``: every trainable variable of the wrapped
    model must be in exactly one group (a layer named twice, an unknown name or a trainable layer left out is a
    ``ValueError``). Each optimizer is built on its group's variables and kept as attribute ``optimizer_<i>``.

    Saving (issue 18): a trainer is a Keras model — ``trainer.save("x.keras")`` stores the wrapped model, the
    groups (each optimizer's config and layer names) and every optimizer's state (iteration count, momentum
    slots); ``dermkit.load_model("x.keras")`` returns it compiled with the same groups and state, so
    ``fit(..., initial_epoch=k)`` continues as an uninterrupted run (:meth:`get_compile_config` /
    :meth:`compile_from_config`).
    """

    #: The keyword under which :meth:`get_config` stores the wrapped model.
    _MODEL_KEY = "model"

    def __init__(self, model: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self._groups: list[tuple] = []
        self._group_names: list[list[str]] = []
        self._compile_kwargs: dict = {}
        if getattr(model, "built", False):
            self.built = True  # every variable lives in the wrapped, built model

    def default_param_groups(self) -> list[tuple]:
        """The groups :meth:`compile` uses when given none (subclasses: the paper's)."""
        raise ValueError(f"{type(self).__name__}.compile needs param_groups=[(optimizer, [layer names]), ...]")

    def compile(self, param_groups: Sequence[tuple] | keras.optimizers.Optimizer | None = None, *,
                optimizer: keras.optimizers.Optimizer | None = None, **kwargs):
        """Set the optimizers per layer group.

        Args:
            param_groups: ``[(optimizer, [layer names]), ...]`` covering every trainable layer once; or one
                optimizer for all layers; or None for :meth:`default_param_groups` (the paper's groups).
            optimizer: Keras' spelling of "one optimizer for all layers" (not with ``param_groups``).
            **kwargs: ``keras.Model.compile`` arguments (``jit_compile``, ``steps_per_execution``, ...).

        Example::

            trainer = TripletTrainer(alexnet_gap_embedding((227, 227, 3)))
            trainer.compile()                                   # codella2018 Section 2.3's two rates
            trainer.compile(keras.optimizers.SGD(1e-4))         # one rate everywhere
        """
        if optimizer is not None:
            if param_groups is not None:
                raise ValueError("pass param_groups or optimizer, not both")
            param_groups = optimizer
        if param_groups is None:
            param_groups = self.default_param_groups()
        elif isinstance(param_groups, keras.optimizers.Optimizer):
            param_groups = [(param_groups, [layer.name for layer in self.model.layers if layer.trainable_weights])]
        if not param_groups:
            raise ValueError("param_groups must list at least one (optimizer, layer names) pair")
        layers = {layer.name: layer for layer in self.model.layers}
        seen: dict[str, int] = {}
        groups, names_per_group = [], []
        for i, group in enumerate(param_groups):
            optimizer, names = group
            if not isinstance(optimizer, keras.optimizers.Optimizer):
                raise TypeError(f"param_groups[{i}]: expected a keras optimizer, got {type(optimizer).__name__}")
            variables = []
            for name in names:
                if name not in layers:
                    raise ValueError(f"param_groups[{i}]: {self.model.name} has no layer {name!r}")
                if name in seen:
                    raise ValueError(f"layer {name!r} is in param groups {seen[name]} and {i}; groups must be disjoint")
                seen[name] = i
                variables += list(layers[name].trainable_variables)
            groups.append((optimizer, variables))
            names_per_group.append(list(names))
        left = [layer.name for layer in self.model.layers if layer.trainable_weights and layer.name not in seen]
        if left:
            raise ValueError(f"trainable layers {left} are in no param group (freeze them or add them to a group)")
        super().compile(optimizer=groups[0][0], **kwargs)
        for i, (optimizer, variables) in enumerate(groups):
            optimizer.build(variables)
            setattr(self, f"optimizer_{i}", optimizer)
        self._groups = groups
        self._group_names = names_per_group
        self._compile_kwargs = {k: v for k, v in kwargs.items()
                                if k in ("run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss")}

    def get_compile_config(self) -> dict | None:
        """The groups (each optimizer serialised, with its layer names) and the plain compile options."""
        if not self._groups:
            return None
        return {"param_groups": [{"optimizer": keras.saving.serialize_keras_object(opt), "layers": names}
                                 for (opt, _), names in zip(self._groups, self._group_names)],
                **self._compile_kwargs}

    def compile_from_config(self, config: dict) -> None:
        """Compile as :meth:`get_compile_config` recorded (Keras then restores each optimizer's variables)."""
        config = dict(config)
        groups = [(keras.saving.deserialize_keras_object(g["optimizer"]), list(g["layers"]))
                  for g in config.pop("param_groups")]
        self.compile(groups, **config)

    def build_from_config(self, config) -> None:
        """The wrapped model is built when it is deserialised; nothing else has variables of its own."""
        self.built = True

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable,
                self._MODEL_KEY: keras.saving.serialize_keras_object(self.model)}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config[cls._MODEL_KEY] = keras.saving.deserialize_keras_object(config[cls._MODEL_KEY])
        return cls(**config)

    def _apply(self, tape, loss):
        variables = [v for _, vs in self._groups for v in vs]
        grads = tape.gradient(loss, variables)
        start = 0
        for optimizer, vs in self._groups:
            optimizer.apply(grads[start:start + len(vs)], vs)
            start += len(vs)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, inputs, training=False):
        return self.model(inputs, training=training)


@keras.saving.register_keras_serializable(package="dermkit")
class TripletTrainer(MultiRateModel):
    """Trains ``embedding`` on ``({"anchor", "similar", "dissimilar"}, _)`` batches with Eq. 1
    (:func:`dermkit.data.triplets.triplet_dataset`).

    Args:
        embedding: the shared network; a model returning ``{"embedding": ...}`` (the CHAI embedding) or a
            tensor.
        margin: Eq. 1's ``l`` (1).

    Logs ``loss`` and ``triplet_accuracy`` (the fraction of triplets with D(a, b) < ½ (D(a, c) + D(b, c))).

    Example::

        trainer = TripletTrainer(alexnet_gap_embedding((227, 227, 3), encoder_weights=None))
        trainer.compile()    # the paper's two learning rates (chai_param_groups)
        trainer.fit(triplet_dataset(groups, images, batch_size=128), epochs=10)
        trainer.save("chai.keras"); trainer = dermkit.load_model("chai.keras")   # resumable: same optimizers
    """

    _MODEL_KEY = "embedding"

    def __init__(self, embedding: keras.Model, *, margin: float = 1.0, **kwargs):
        super().__init__(embedding, **kwargs)
        self.margin = float(margin)
        self.triplet_loss = ChaiTripletLoss(margin=margin)
        self.accuracy_tracker = keras.metrics.Mean(name="triplet_accuracy")

    def default_param_groups(self) -> list[tuple]:
        """codella2018 Section 2.3: :func:`chai_param_groups` (1e-5 transferred, 1e-2 the new GAP conv; no
        step schedule — pass ``chai_param_groups(embedding, total_steps=...)`` for the "step" policy)."""
        return chai_param_groups(self.model)

    def get_config(self) -> dict:
        return {**super().get_config(), "margin": self.margin}

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def embed(self, x, training=False):
        out = self.model(x, training=training)
        return out["embedding"] if isinstance(out, dict) else out

    def _triplet(self, data, training):
        x = data[0] if isinstance(data, (tuple, list)) else data
        a, b, c = x["anchor"], x["similar"], x["dissimilar"]
        n = tf.shape(a)[0]
        e = self.embed(tf.concat([a, b, c], axis=0), training=training)
        ea, eb, ec = e[:n], e[n:2 * n], e[2 * n:]
        stacked = tf.stack([ea, eb, ec], axis=1)
        loss = self.triplet_loss(tf.zeros([n]), stacked)
        d_ab = squared_distance(ea, eb)
        d_rest = 0.5 * (squared_distance(ea, ec) + squared_distance(eb, ec))
        return loss, tf.cast(d_ab < d_rest, tf.float32)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, correct = self._triplet(data, True)
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        self._apply(tape, scaled)
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(correct)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        loss, correct = self._triplet(data, False)
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(correct)
        return {m.name: m.result() for m in self.metrics}

    def call(self, inputs, training=False):
        return self.embed(inputs, training=training)


@keras.saving.register_keras_serializable(package="dermkit")
class MultiRateClassifier(MultiRateModel):
    """Softmax cross-entropy fine-tuning of a classifier (``y`` one-hot) with per-group learning rates
    (BaselineFT). Logs ``loss`` and ``accuracy``.

    Example::

        trainer = MultiRateClassifier(alexnet((227, 227, 3), num_classes=2))
        trainer.compile()    # BaselineFT's rates (baseline_ft_param_groups): fc8 1e-2, fc7/fc6 1e-3, 1e-5 below
        trainer.fit(images, one_hot_labels, batch_size=128, epochs=10)
    """

    def default_param_groups(self) -> list[tuple]:
        """codella2018 Section 2.3's BaselineFT groups (:func:`baseline_ft_param_groups`, no step schedule)."""
        return baseline_ft_param_groups(self.model)

    def __init__(self, model: keras.Model, **kwargs):
        super().__init__(model, **kwargs)
        self.ce = keras.losses.CategoricalCrossentropy()
        self.acc = keras.metrics.CategoricalAccuracy(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.acc]

    def train_step(self, data):
        x, y = data[0], data[1]
        with tf.GradientTape() as tape:
            prob = self.model(x, training=True)
            loss = self.ce(y, prob)
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        self._apply(tape, scaled)
        self.loss_tracker.update_state(loss)
        self.acc.update_state(y, prob)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data[0], data[1]
        prob = self.model(x, training=False)
        self.loss_tracker.update_state(self.ce(y, prob))
        self.acc.update_state(y, prob)
        return {m.name: m.result() for m in self.metrics}
