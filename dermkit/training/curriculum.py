"""barata2020's curriculum schedule (Eq. 9): how many samples of each batch SPL / OHEM keep at each epoch.

barata2020 Section 3.3 starts by giving weight 1 to ``m = M/2`` samples of each mini-batch of size ``M`` and
grows ``m`` with the epoch ``e`` (``e = 0`` the first)::

    m = M · exp(α e) / (1 + exp(α e))                                                      (Eq. 9)

with "α defined so that all sample weights are set to 1 for the second half of training". dermkit takes
``α = ln(2M − 1) / (E/2)`` for ``E`` epochs: then ``M · σ(α · E/2) = M − ½``, so the rounded count
``⌊m + ½⌋`` stays below ``M`` for every epoch before ``E/2`` and first reaches ``M`` at ``e = E/2``; from
``e ≥ E/2`` on every sample is kept. The count used is ``min(M, ⌊m + ½⌋)``
(:func:`dermkit.losses.sample_weighting.curriculum_keep_count`).

:class:`CurriculumSchedule` stores ``m / M`` (not ``m``) on the model's
:class:`~dermkit.losses.SampleWeightingLoss`, so the loss applies it to whatever batch it gets — a smaller
last batch keeps proportionally fewer samples, and under ``tf.distribute`` ``M`` is the global batch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.training.curriculum")

import keras  # noqa: E402

from dermkit.losses.sample_weighting import SampleWeightingLoss, curriculum_keep_count  # noqa: E402

__all__ = ["PAPER_BATCH_SIZE", "CurriculumSchedule", "curriculum_fraction", "curriculum_losses"]

#: barata2020's mini-batch size M (Section 4.3).
PAPER_BATCH_SIZE = 20


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; received {name}={value!r}")
    return int(value)


def curriculum_fraction(epoch: int, *, total_epochs: int, batch_size: int = PAPER_BATCH_SIZE) -> float:
    """``m / M`` of barata2020 Eq. 9 at ``epoch`` (0-based): ``σ(α·e)`` before ``E/2``, 1 from ``E/2`` on.

    ``α = ln(2M − 1) / (E/2)`` with ``M = batch_size`` and ``E = total_epochs`` (see the module docstring).
    At ``e = 0`` the fraction is ½.

    Raises:
        ValueError: ``epoch`` negative or not an integer; ``total_epochs`` or ``batch_size`` not an
            integer ≥ 1.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
        raise ValueError(f"epoch must be an integer >= 0; received epoch={epoch!r}")
    total_epochs = _positive_int(total_epochs, "total_epochs")
    batch_size = _positive_int(batch_size, "batch_size")
    half = total_epochs / 2
    if epoch >= half:
        return 1.0  # "all sample weights are set to 1 for the second half of training"
    alpha = math.log(2 * batch_size - 1) / half
    return 1.0 / (1.0 + math.exp(-alpha * epoch))


def curriculum_losses(loss) -> list[SampleWeightingLoss]:
    """Every :class:`SampleWeightingLoss` with a curriculum in ``loss`` (a loss, or a dict/list of them, as
    ``model.loss`` holds after ``compile``)."""
    if isinstance(loss, SampleWeightingLoss):
        return [loss] if loss.curriculum is not None else []
    if isinstance(loss, Mapping):
        return [found for value in loss.values() for found in curriculum_losses(value)]
    if isinstance(loss, (list, tuple)):
        return [found for value in loss for found in curriculum_losses(value)]
    return []


class CurriculumSchedule(keras.callbacks.Callback):
    """Set SPL / OHEM's kept fraction ``m / M`` each epoch by barata2020 Eq. 9.

    At the start of every epoch ``e`` (0-based, as Keras counts, so a resumed run continues the schedule)
    the fraction :func:`curriculum_fraction` ``(e)`` is assigned to ``keep_fraction`` of every
    :class:`~dermkit.losses.SampleWeightingLoss` with ``curriculum="spl"`` or ``"ohem"`` in
    ``model.loss`` (also inside a dict or list of losses). The loss keeps ``min(M, ⌊f · M + ½⌋)`` samples of
    each batch of (global) size ``M``: ``M/2`` at ``e = 0``, rising to ``M`` at ``e = E/2`` and after. The
    epoch's fraction is logged as ``keep_fraction``.

    Usage::

        loss = SampleWeightingLoss(keras.losses.CategoricalCrossentropy(), curriculum="ohem")
        model.compile(optimizer=..., loss=loss)
        model.fit(..., batch_size=20, epochs=150, callbacks=[CurriculumSchedule(150)])
    """

    def __init__(self, total_epochs: int, *, batch_size: int = PAPER_BATCH_SIZE, verbose: int = 0):
        """Args:
            total_epochs: ``E``, the number of training epochs (barata2020: 150 flat, 250 hierarchical).
            batch_size: the nominal (global) batch size ``M`` in ``α = ln(2M − 1)/(E/2)``. Default 20,
                barata2020's; pass the ``fit`` batch size when it differs. The loss applies the fraction to
                the size of each actual batch.
            verbose: 1 prints the fraction and the count for ``batch_size`` at each epoch. Default 0.

        Raises:
            ValueError: ``total_epochs`` or ``batch_size`` not an integer ≥ 1.
        """
        super().__init__()
        self.total_epochs = _positive_int(total_epochs, "total_epochs")
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.verbose = int(verbose)
        self._losses: list[SampleWeightingLoss] = []

    @property
    def alpha(self) -> float:
        """``α = ln(2M − 1) / (E/2)`` of Eq. 9."""
        return math.log(2 * self.batch_size - 1) / (self.total_epochs / 2)

    def fraction(self, epoch: int) -> float:
        """``m / M`` at ``epoch`` (0-based); see :func:`curriculum_fraction`."""
        return curriculum_fraction(epoch, total_epochs=self.total_epochs, batch_size=self.batch_size)

    def keep_count(self, epoch: int, batch_size: int | None = None) -> int:
        """How many samples a batch of ``batch_size`` (default the nominal ``M``) keeps at ``epoch``:
        ``min(M, ⌊f · M + ½⌋)``, the count the loss uses."""
        size = self.batch_size if batch_size is None else _positive_int(batch_size, "batch_size")
        return int(curriculum_keep_count(self.fraction(epoch), size))

    def on_train_begin(self, logs=None):
        self._losses = curriculum_losses(getattr(self.model, "loss", None))
        if not self._losses:
            raise ValueError(
                "CurriculumSchedule found no SampleWeightingLoss with curriculum='spl' or 'ohem' in model.loss; "
                f"compile the model with one. Received: model.loss={getattr(self.model, 'loss', None)!r}"
            )

    def on_epoch_begin(self, epoch, logs=None):
        fraction = self.fraction(epoch)
        for loss in self._losses:
            loss.keep_fraction.assign(fraction)
        if self.verbose:
            print(
                f"Epoch {epoch + 1}: curriculum keeps {self.keep_count(epoch)} of {self.batch_size} samples "
                f"(m/M = {fraction:.4f})"
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["keep_fraction"] = self.fraction(epoch)
