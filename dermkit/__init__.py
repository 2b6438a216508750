"""dermkit: faithful Keras 3 reimplementations of five dermoscopy deep-learning papers.

The top level is light: it imports neither TensorFlow nor Keras. Readers (``dermkit.data.isic``),
superpixel conversion (``dermkit.data.superpixels``) and NumPy metrics work without TensorFlow; models,
losses and pipelines import it on first use and say which extra to install when it is missing.
:func:`load_model` reloads a saved ``.keras`` model holding dermkit layers, losses and metrics.
"""

from __future__ import annotations

import os

from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__version__ = "0.1.0"

__all__ = ["__version__", "DermkitDataError", "DermkitFileNotFoundError", "load_model"]


def load_model(path: str | os.PathLike, **kwargs):
    """Load a whole saved Keras model (``model.save("x.keras")``) that uses dermkit layers, losses or metrics.

    Registers every dermkit serialisable with Keras first (:mod:`dermkit._register`: ``ImageNetPreprocess``,
    ``BilinearResizeTF1``, ``DiceF1Loss``, ``WeightedBinaryCrossentropy``, ``WeightedCategoricalCrossentropy``,
    ``ChannelDice``), then calls ``keras.saving.load_model(path, safe_mode=True, **kwargs)`` — so no
    ``custom_objects`` are needed, and safe mode stays on (dermkit uses no ``Lambda`` layers). TensorFlow is
    imported here, not by ``import dermkit``.

    Args:
        path: a ``.keras`` file (or a legacy Keras ``.h5`` full-model file, which Keras also reads).
        **kwargs: passed to ``keras.saving.load_model`` (``compile``, ``custom_objects``, ``safe_mode``:
            default True).

    Returns:
        The ``keras.Model``, compiled as saved unless ``compile=False``.

    Raises:
        DermkitFileNotFoundError: no file at ``path``.
        ValueError: ``path`` is a weights-only file (``.weights.h5``: build the model with its dermkit
            builder and pass ``weights=path``), or what Keras raises for a file it cannot read.
        ImportError: TensorFlow is not installed (the message names the extra to install).
    """
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise DermkitFileNotFoundError(f"{file}: no saved model file there.")
    if file.name.endswith(".weights.h5"):
        raise ValueError(
            f"{file}: a weights-only file, not a saved model. Build the model with its dermkit builder and "
            "pass weights=<this file> (e.g. dermkit.models.vgg16_fcn(weights=...)), or save the whole model "
            "with model.save('name.keras')."
        )
    import keras

    import dermkit._register  # noqa: F401  (registers every dermkit layer, loss and metric)

    kwargs.setdefault("safe_mode", True)
    return keras.saving.load_model(file, **kwargs)
