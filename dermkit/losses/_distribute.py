"""Exact batch-spanning losses under ``tf.distribute``: shared by every loss that is a ratio of batch sums.

Keras 3 (TF backend) leaves a *scalar* loss unscaled per replica, sums the replicas' gradients and reports the
loss multiplied by the number of replicas R. A loss that is a ratio of sums over the batch (Dice-F1's partitions,
a weighted mean normalised by the batch's total weight) must therefore (1) all-reduce its sums across replicas
before taking the ratio — ``all_reduce`` is differentiable, its gradient is again a sum — and (2) return 1/R of
the global value on each replica. Then update and logged loss equal those of one device on the global batch.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["replica_context", "all_reduce_sum", "replica_share"]


def replica_context() -> tf.distribute.ReplicaContext | None:
    """The replica context when more than one replica runs in sync (inside ``strategy.run``), else None.

    In the cross-replica context and under the default strategy this is None: values are then computed on
    exactly the tensors given.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return None
    return context


def all_reduce_sum(tensors: list, context: tf.distribute.ReplicaContext | None = None) -> list:
    """Sum ``tensors`` over all replicas (identity outside a multi-replica context)."""
    context = context if context is not None else replica_context()
    if context is None:
        return list(tensors)
    return list(context.all_reduce(tf.distribute.ReduceOp.SUM, list(tensors)))


def replica_share(loss):
    """``loss / R`` inside a multi-replica context (Keras sums the replicas' gradients), else ``loss``."""
    context = replica_context()
    if context is None:
        return loss
    return loss / float(context.num_replicas_in_sync)
