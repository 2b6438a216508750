"""Training: trainers, schedules, callbacks, strategies and the shared experiment runner.

Everything public is importable from here (``from dermkit.training import GANTrainer, CurriculumSchedule``)
and resolved on first access: ``import dermkit.training`` stays TensorFlow-free (the paper grids import
``dermkit.training.experiment``); the first export that needs TensorFlow registers every dermkit
serialisable (:mod:`dermkit._lazy`).

* Trainers (``keras.Model`` subclasses): :class:`GANTrainer` (bisla2019), :class:`TripletTrainer`,
  :class:`MultiRateModel`, :class:`MultiRateClassifier` (codella2018).
* Callbacks: :class:`CurriculumSchedule` (barata2020 Eq. 9), :class:`ExtraGeneratorSteps`,
  :class:`SampleGrid`, :class:`ChannelStatsDistance` (bisla2019), :class:`BestBalancedAccuracy`,
  :class:`ValidationClassScores`, :class:`LearningRateLogger`, :class:`TerminateOnNonFinite`.
* Schedules and optimisers: :func:`step_decay` / :class:`StepDecay`, :func:`step_policy`,
  :func:`reset_optimizer`; strategies: :func:`get_strategy`, :func:`set_precision`.
* Reproduction engine: :class:`Experiment`, :class:`RunSession`, :func:`reproduce`, :func:`report`.
"""

from __future__ import annotations

from dermkit._lazy import lazy_exports, register_if_keras_loaded

_EXPORTS = {
    **dict.fromkeys(["GANTrainer", "ExtraGeneratorSteps", "SampleGrid", "ChannelStatsDistance",
                     "ResumableEarlyStopping", "latent_noise", "generate_images", "sample_grid"],
                    "dermkit.training.gan"),
    **dict.fromkeys(["TripletTrainer", "MultiRateModel", "MultiRateClassifier", "step_policy",
                     "chai_param_groups", "baseline_ft_param_groups"], "dermkit.training.triplet"),
    **dict.fromkeys(["CurriculumSchedule", "curriculum_fraction"], "dermkit.training.curriculum"),
    **dict.fromkeys(["BestBalancedAccuracy", "LearningRateLogger", "ValidationClassScores"],
                    "dermkit.training.callbacks"),
    **dict.fromkeys(["TerminateOnNonFinite", "save_weights_atomically"], "dermkit.training.checkpoints"),
    **dict.fromkeys(["StepDecay", "step_decay"], "dermkit.training.schedules"),
    "reset_optimizer": "dermkit.training.optim",
    **dict.fromkeys(["get_strategy", "set_precision", "set_determinism", "num_replicas"],
                    "dermkit.training.strategy"),
    "Experiment": "dermkit.training.experiment",
    **dict.fromkeys(["RunSession", "reproduce", "report"], "dermkit.training.runner"),
    "RunOptions": "dermkit.training.options",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

register_if_keras_loaded()
