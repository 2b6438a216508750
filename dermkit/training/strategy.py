"""Distribution strategies, mixed precision and determinism for every trainer and example.

dermkit scales out with ``tf.distribute`` (``keras.distribution`` is a prototype on the TF backend): one host,
several GPUs → :class:`tf.distribute.MirroredStrategy`; several hosts → ``MultiWorkerMirroredStrategy``
configured by the ``TF_CONFIG`` environment variable. Global batch = per-replica batch × replicas.
"""

from __future__ import annotations

import os

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.training")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["STRATEGIES", "get_strategy", "set_precision", "set_determinism", "num_replicas"]

#: Names accepted by :func:`get_strategy` and the ``--strategy`` flag.
STRATEGIES = ("default", "mirrored", "multiworker")

#: Names accepted by :func:`set_precision` and the ``--mixed-precision`` flag.
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def get_strategy(strategy: str | tf.distribute.Strategy | None = "default") -> tf.distribute.Strategy:
    """Return a ``tf.distribute`` strategy.

    Args:
        strategy: an existing strategy (returned as is), ``None`` / ``"default"`` (the default strategy: one
            device), ``"mirrored"`` (all local GPUs, or the CPU), or ``"multiworker"`` (reads ``TF_CONFIG``).

    Raises:
        ValueError: unknown name, or ``"multiworker"`` without ``TF_CONFIG``.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy in (None, "default"):
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if strategy == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "strategy='multiworker' needs the TF_CONFIG environment variable (cluster spec and task) on "
                "every worker; see https://www.tensorflow.org/guide/distributed_training"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {STRATEGIES} or a tf.distribute.Strategy. Received: {strategy!r}")


def num_replicas(strategy: tf.distribute.Strategy | None = None) -> int:
    """Replicas in sync of ``strategy`` (the current one when None)."""
    return int((strategy or tf.distribute.get_strategy()).num_replicas_in_sync)


def set_precision(policy: str | bool | None) -> str:
    """Set Keras' global dtype policy; ``True`` means ``"mixed_float16"``. Returns the policy name.

    Every dermkit model keeps its output activation in float32 and every dermkit loss reduces in float32, so
    mixed precision changes speed, not the loss arithmetic.
    """
    if policy is True:
        policy = "mixed_float16"
    if policy in (None, False):
        policy = "float32"
    if policy not in PRECISIONS:
        raise ValueError(f"mixed precision policy must be one of {PRECISIONS}. Received: {policy!r}")
    keras.mixed_precision.set_global_policy(policy)
    return policy


def set_determinism(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and TF (``keras.utils.set_random_seed``); optionally enable op determinism."""
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
