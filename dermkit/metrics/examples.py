"""Hard and easy evaluation examples across several models (barata2020 Figs. 3–4).

barata2020 Section 5.2: "All the hard examples (Figure 3) are incorrectly classified by the model in at least
one of the weighting strategies, while only BCC is incorrectly classified once in the easiest examples". So:

* hard — an evaluation image that at least one model (a weighting strategy's flat or hierarchical model)
  classifies wrongly;
* easy — one that every model classifies correctly, or all but one.

:func:`select_examples` picks one image per requested class from a table of per-image predictions. NumPy /
pandas only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["EXAMPLE_KINDS", "count_wrong", "select_examples"]

#: ``kind`` values of :func:`select_examples`.
EXAMPLE_KINDS = ("hard", "easy")


def _model_columns(predictions: pd.DataFrame, models: Sequence[str] | None) -> list[str]:
    if not isinstance(predictions, pd.DataFrame):
        raise TypeError(f"predictions must be a pandas DataFrame. Received: {type(predictions).__name__}")
    missing = [c for c in ("image_id", "label") if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions needs the columns 'image_id' and 'label'; missing {missing}. "
                         f"Received columns: {list(predictions.columns)}")
    columns = [c for c in predictions.columns if c not in ("image_id", "label")] if models is None else list(models)
    absent = [c for c in columns if c not in predictions.columns]
    if absent:
        raise ValueError(f"predictions has no column for the models {absent}. "
                         f"Received columns: {list(predictions.columns)}")
    if not columns:
        raise ValueError("predictions needs at least one model column (a predicted class per image)")
    return columns


def count_wrong(predictions: pd.DataFrame, models: Sequence[str] | None = None) -> np.ndarray:
    """``[N]`` int: how many of the ``models`` columns (default every column but ``image_id`` and ``label``)
    predict another class than ``label`` for each image (row)."""
    columns = _model_columns(predictions, models)
    truth = predictions["label"].astype(str).to_numpy()[:, None]
    return (predictions[columns].astype(str).to_numpy() != truth).sum(axis=1)


def select_examples(
    predictions: pd.DataFrame,
    classes: Sequence[str],
    *,
    kind: str,
    models: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One hard or easy evaluation image per class (barata2020 Figs. 3–4).

    Args:
        predictions: one row per evaluation image: ``image_id``, ``label`` (the true class name) and one column
            per model holding that model's predicted class name.
        classes: the class names wanted, in display order.
        kind: ``"hard"`` — images that at least one model gets wrong; of a class, the one most models get wrong
            (dermkit's choice of "the" hard example), ties by the smallest ``image_id``. ``"easy"`` — images at
            most one model gets wrong (the paper's "all but one"); of a class, one that every model gets right
            when there is one, else one with a single error, ties by the smallest ``image_id``.
        models: the model columns to count (default every column but ``image_id`` and ``label``).

    Returns:
        A frame with the columns ``image_id``, ``label`` and the model columns, one row per class of
        ``classes`` that has a candidate, in the order of ``classes`` (a class without one is left out);
        ``attrs["n_wrong"]`` lists each row's number of wrong models.

    Raises:
        ValueError: unknown ``kind``; missing columns; no model column. TypeError: ``predictions`` is not a
            DataFrame.
    """
    if kind not in EXAMPLE_KINDS:
        raise ValueError(f"kind must be one of {EXAMPLE_KINDS}. Received: kind={kind!r}")
    columns = _model_columns(predictions, models)
    frame = predictions[["image_id", "label", *columns]].copy()
    frame["_wrong"] = count_wrong(frame, columns)
    frame["_id"] = frame["image_id"].astype(str)
    chosen = []
    for name in classes:
        rows = frame[frame["label"].astype(str) == str(name)]
        if kind == "hard":
            rows = rows[rows["_wrong"] >= 1].sort_values(["_wrong", "_id"], ascending=[False, True])
        else:
            rows = rows[rows["_wrong"] <= 1].sort_values(["_wrong", "_id"], ascending=[True, True])
        if len(rows):
            chosen.append(rows.iloc[0])
    out = pd.DataFrame(chosen, columns=frame.columns).reset_index(drop=True)
    n_wrong = out["_wrong"].astype(int).tolist()
    out = out.drop(columns=["_wrong", "_id"])
    out.attrs["n_wrong"] = n_wrong
    return out
