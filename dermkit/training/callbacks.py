"""Keras callbacks shared by the papers' training runs.

- :class:`BestBalancedAccuracy` — model selection by validation balanced accuracy (goel2021 Section 5.2:
  "we select the best models based on the balanced accuracy"; the best epoch is usually an early one).
- :class:`LearningRateLogger` — the optimizers' learning rates at the end of each epoch in the epoch logs
  (so ``history.csv`` shows the step decay or step policy a row actually trained with).
- :class:`ValidationClassScores` — per-class validation accuracy and balanced accuracy in the epoch logs
  (goel2021 Figures 7–8: benign, malignant and balanced accuracy per epoch), for the engine's history and
  its ``monitor="val_balanced_accuracy"`` checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.training.callbacks")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from dermkit.metrics.classification import (  # noqa: E402
    balanced_multiclass_accuracy,
    class_labels,
    per_class_recall,
)

# ``class_labels`` lives in dermkit.metrics.classification (one label rule); re-exported here for old imports.

__all__ = ["BestBalancedAccuracy", "LearningRateLogger", "ValidationClassScores", "class_labels"]


def _predict_with_labels(model, validation_data, batch_size):
    """``(y_true, y_pred)`` over the validation data, read once so shuffled datasets stay aligned."""
    if isinstance(validation_data, (tuple, list)):
        if len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data as a tuple must be (x, y) or (x, y, sample_weight). "
                f"Received a tuple of length {len(validation_data)}"
            )
        x, y = validation_data[0], validation_data[1]
        return np.asarray(y), model.predict(x, batch_size=batch_size, verbose=0)
    truths, preds = [], []
    for batch in validation_data:  # tf.data.Dataset or any iterable of (x, y[, w]) batches
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError("validation_data batches must be (x, y) or (x, y, sample_weight) tuples")
        truths.append(keras.ops.convert_to_numpy(batch[1]))
        preds.append(keras.ops.convert_to_numpy(model.predict_on_batch(batch[0])))
    if not truths:
        raise ValueError("validation_data is empty")
    return np.concatenate(truths), np.concatenate(preds)


def _save_atomically(model, filepath: Path) -> None:
    """``model.save_weights`` (``.weights.h5``) or ``model.save`` (``.keras``) via a temporary file + rename."""
    from dermkit._io import atomic_path
    from dermkit.training.checkpoints import save_weights_atomically

    if filepath.name.endswith(".weights.h5"):
        save_weights_atomically(model, filepath)
        return
    with atomic_path(filepath, overwrite=True) as tmp:
        tmp.unlink()  # Keras refuses to write onto some existing files
        model.save(tmp)


class BestBalancedAccuracy(keras.callbacks.Callback):
    """Compute validation balanced accuracy every epoch, log it, keep (and restore) the best epoch's weights.

    Balanced accuracy is :func:`dermkit.metrics.balanced_multiclass_accuracy` (``sklearn.metrics.
    balanced_accuracy_score`` of the argmax labels, a prediction row tied between classes counting as wrong,
    as in the ISIC scorer): the mean over classes of per-class recall (goel2021: the mean of malignant and
    benign accuracy; 1 is best, chance is ``1/K``). It is written into the epoch's ``logs`` as
    ``val_balanced_accuracy`` (so ``History`` and callbacks placed *after* this one in the list —
    ``ModelCheckpoint(monitor="val_balanced_accuracy", mode="max")``, ``CSVLogger`` — see it).

    On improvement (strictly greater than the best so far) the weights are copied in memory and, when
    ``filepath`` is given, saved there atomically (temporary file + rename: an interrupted save never leaves
    a broken file). At the end of training the best weights are restored (``restore_best_weights``).
    The best value and epoch are in :attr:`best` and :attr:`best_epoch` (0-based).

    The in-memory copy does not survive a process restart: with ``BackupAndRestore`` a resumed run starts
    the comparison afresh (use ``filepath`` to keep the best weights on disk).
    """

    def __init__(
        self,
        validation_data,
        filepath: str | os.PathLike | None = None,
        *,
        batch_size: int | None = None,
        restore_best_weights: bool = True,
        log_name: str = "val_balanced_accuracy",
        verbose: int = 0,
    ):
        """Args:
            validation_data: ``(x, y)`` / ``(x, y, sample_weight)`` arrays, or a ``tf.data.Dataset`` (or any
                re-iterable) of such batches. ``y`` is one-hot ``[N, K]`` or integer labels ``[N]``.
                Sample weights are ignored (balanced accuracy weighs classes, not samples).
            filepath: where to save the best weights: a ``.weights.h5`` name (``save_weights``) or ``.keras``
                (whole model). None (default) keeps them in memory only.
            batch_size: ``predict`` batch size for array inputs. Default None (Keras' 32).
            restore_best_weights: load the best epoch's weights into the model at the end of training.
                Default True.
            log_name: the key written into ``logs``. Default ``"val_balanced_accuracy"``.
            verbose: 1 prints the value each epoch. Default 0.

        Raises:
            ValueError: ``filepath`` does not end in ``.weights.h5`` or ``.keras``; bad ``validation_data``.
        """
        super().__init__()
        if validation_data is None:
            raise ValueError("validation_data is required. Received: validation_data=None")
        if isinstance(validation_data, (tuple, list)) and len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data as a tuple must be (x, y) or (x, y, sample_weight). "
                f"Received a tuple of length {len(validation_data)}"
            )
        if filepath is not None:
            filepath = Path(filepath)
            if not (filepath.name.endswith(".weights.h5") or filepath.suffix == ".keras"):
                raise ValueError(
                    "filepath must end in '.weights.h5' (weights) or '.keras' (whole model). "
                    f"Received: filepath={str(filepath)!r}"
                )
        self.validation_data = validation_data
        self.filepath = filepath
        self.batch_size = batch_size
        self.restore_best_weights = bool(restore_best_weights)
        self.log_name = log_name
        self.verbose = int(verbose)
        self.best = -np.inf
        self.best_epoch = None
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.best = -np.inf
        self.best_epoch = None
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        y_true, y_pred = _predict_with_labels(self.model, self.validation_data, self.batch_size)
        score = balanced_multiclass_accuracy(y_true, y_score=y_pred)  # the model's class scores
        if logs is not None:
            logs[self.log_name] = score
        if self.verbose:
            print(f"Epoch {epoch + 1}: {self.log_name}={score:.4f} (best {max(score, self.best):.4f})")
        if score > self.best:
            self.best, self.best_epoch = score, epoch
            self.best_weights = self.model.get_weights()
            if self.filepath is not None:
                _save_atomically(self.model, self.filepath)

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            if self.verbose:
                print(f"Restored the weights of epoch {self.best_epoch + 1} ({self.log_name}={self.best:.4f})")


class ValidationClassScores(keras.callbacks.Callback):
    """Write each class's validation accuracy (recall) and the balanced accuracy into every epoch's logs.

    At each epoch end the model predicts ``validation_data`` once; the logs get ``{prefix}{name}_acc`` per
    class (:func:`dermkit.metrics.classification.per_class_recall`: the share of that class's samples
    predicted as it, tied rows counting as wrong, NaN for a class absent from the data) and
    ``{prefix}balanced_accuracy`` (:func:`dermkit.metrics.balanced_multiclass_accuracy`). Place it before
    the callbacks that read them — the engine's ``session.fit(..., callbacks=[this], monitor=
    "val_balanced_accuracy", mode="max")`` does (its best checkpoint, ``CSVLogger`` and the fit summary's
    ``history``, which goel2021 Figures 7–8 are drawn from).

    goel2021: ``class_names=("benign", "malignant")`` gives ``val_benign_acc``, ``val_malignant_acc`` and
    ``val_balanced_accuracy`` ("benign acc.", "malignant acc." and "balanced acc." of Table 2, per epoch).
    """

    def __init__(self, validation_data, *, class_names, prefix: str = "val_", batch_size: int | None = None):
        """Args:
            validation_data: ``(x, y)`` / ``(x, y, sample_weight)`` arrays, or a ``tf.data.Dataset`` (any
                re-iterable) of such batches; ``y`` one-hot ``[N, K]`` or integer labels ``[N]``. Sample
                weights are ignored.
            class_names: the ``K`` class names, in label order (log keys ``{prefix}{name}_acc``).
            prefix: prefix of the log keys. Default ``"val_"``.
            batch_size: ``predict`` batch size for array inputs. Default None (Keras' 32).

        Raises:
            ValueError: no ``validation_data``, fewer than two or repeated class names.
        """
        super().__init__()
        if validation_data is None:
            raise ValueError("validation_data is required. Received: validation_data=None")
        names = [str(n) for n in class_names]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"class_names must be two or more distinct names. Received: {list(class_names)!r}")
        self.validation_data = validation_data
        self.class_names = tuple(names)
        self.prefix = str(prefix)
        self.batch_size = batch_size

    @property
    def keys(self) -> tuple[str, ...]:
        """The log keys written, in order."""
        return (*(f"{self.prefix}{n}_acc" for n in self.class_names), f"{self.prefix}balanced_accuracy")

    def on_epoch_end(self, epoch, logs=None):
        y_true, y_pred = _predict_with_labels(self.model, self.validation_data, self.batch_size)
        recall = per_class_recall(y_true, y_score=y_pred, num_classes=len(self.class_names))
        values = [float(v) for v in recall] + [balanced_multiclass_accuracy(y_true, y_score=y_pred)]
        if logs is not None:
            logs.update(dict(zip(self.keys, values)))


class LearningRateLogger(keras.callbacks.Callback):
    """Add the learning rate in force at the end of each epoch to the epoch logs.

    ``learning_rate`` is ``model.optimizer``'s (a schedule evaluated at the optimizer's current iteration); a
    trainer with several optimizers held as attributes (``GANTrainer.d_optimizer`` / ``g_optimizer``, the
    multi-rate trainers' ``optimizer_<i>``) also gets one column per optimizer, ``learning_rate_<name>`` with
    ``<name>`` the attribute less ``optimizer`` (``learning_rate_d``, ``learning_rate_g``, ``learning_rate_0``),
    and ``learning_rate`` is then the first of them when the model has no ``optimizer`` of its own.
    Run it before ``CSVLogger`` so the columns reach ``history.csv``.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        named = {}
        for attr, value in vars(self.model).items():
            if attr != "optimizer" and isinstance(value, keras.optimizers.Optimizer):
                named.setdefault(attr.replace("optimizer", "").strip("_") or attr, value)
        main = getattr(self.model, "optimizer", None)
        if not isinstance(main, keras.optimizers.Optimizer):
            main = next(iter(named.values()), None)
        if main is not None:
            logs["learning_rate"] = _current_rate(main)
        if len({id(o) for o in named.values()} | ({id(main)} if main is not None else set())) > 1:
            for suffix, optimizer in named.items():
                logs[f"learning_rate_{suffix}"] = _current_rate(optimizer)


def _current_rate(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
