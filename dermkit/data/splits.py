"""Lesion/patient-grouped, label-stratified train/val/test splits (NumPy + scikit-learn, no TensorFlow).

HAM10000 holds several images per ``lesion_id`` and ISIC 2020 several per ``patient_id``: a split that puts
one lesion's images on two sides leaks. :func:`grouped_split` keeps every group on one side, stratifies by
label as far as grouping allows, and makes sure a rare class reaches every split when it can (goel2021's
70/15/15 split of HAM10000; the ISIC 2020 patient split).

How it works: scikit-learn's :class:`~sklearn.model_selection.StratifiedGroupKFold` cuts the groups into
``K`` small folds of similar label make-up (``K`` ≤ 20, the fewest folds that express the fractions within
1.25 points, e.g. 13 folds dealt 9/2/2 for 70/15/15, 10 folds for 80/10/10); whole folds are dealt to the
splits to match the fractions (counted in images); a repair pass moves groups holding a rare class into any
split that lacks it (swapping back a group of similar size), and a polishing pass moves small groups of
over-represented classes from over-full to under-full splits until the image counts match the fractions.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["SPLIT_NAMES", "grouped_split"]

#: Values of the ``split`` column, in the order of ``fractions``.
SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")

_MAX_FOLDS = 20
_FOLD_TOLERANCE = 0.0125  # largest |share - fraction| accepted from whole folds before trying more folds


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    try:
        frac = np.asarray(fractions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"fractions must be three numbers (train, val, test). Received: {fractions!r}") from exc
    if frac.shape != (3,):
        raise ValueError(f"fractions must be three numbers (train, val, test). Received: {fractions!r}")
    if not np.all(np.isfinite(frac)) or np.any(frac < 0) or frac[0] <= 0:
        raise ValueError(
            f"fractions must be finite, non-negative, with a positive train fraction. Received: {fractions!r}"
        )
    if abs(frac.sum() - 1.0) > 1e-6:
        raise ValueError(f"fractions must sum to 1. Received: {fractions!r} (sum {frac.sum():.6g})")
    return frac


def _choose_folds(frac: np.ndarray, n_groups: int) -> tuple[int, np.ndarray]:
    """Fold count K (≤ 20, ≤ n_groups) and whole folds per split that best match ``frac``."""
    nonzero = frac > 0
    best = None
    for k in range(max(int(nonzero.sum()), 2), min(_MAX_FOLDS, n_groups) + 1):
        counts = np.where(nonzero, np.maximum(np.round(frac * k), 1), 0).astype(int)
        counts[0] = k - counts[1:].sum()
        if counts[0] < 1:
            continue
        err = np.abs(counts / k - frac).max()
        if best is None or err < best[0] - 1e-12:
            best = (err, k, counts)
        if err <= _FOLD_TOLERANCE:  # fewest folds that are close enough: StratifiedGroupKFold is O(G·K)
            break
    if best is None:
        raise ValueError(
            f"cannot split {n_groups} group(s) into {int(nonzero.sum())} non-empty split(s): need at least "
            "one group per split"
        )
    return best[1], best[2]


def _strata(df: pd.DataFrame, stratify: str | Sequence[str] | None) -> np.ndarray:
    if stratify is None:
        return np.zeros(len(df), dtype=np.int64)
    cols = [stratify] if isinstance(stratify, str) else list(stratify)
    keys = df[cols].astype(str).agg("|".join, axis=1) if len(cols) > 1 else df[cols[0]].astype(str)
    return pd.factorize(keys, sort=True)[0].astype(np.int64)


def _repair_rare_classes(
    split: np.ndarray,
    group_ids: np.ndarray,
    strata: np.ndarray,
    active: np.ndarray,
    frac: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Move groups so that every active split holds each class that has ≥ (active splits) groups.

    ``split`` (per image, 0..2) is edited in place. For a class missing from split ``s``, a group holding it
    moves from the split holding most such groups; a group of similar image count that holds no class
    unique to ``s`` moves back, so image fractions barely change. Then :func:`_polish_fractions` brings the
    image counts to ``frac``.
    """
    n_groups = group_ids.max() + 1
    group_size = np.bincount(group_ids, minlength=n_groups)
    # Class make-up per group: [G, C] image counts.
    n_classes = strata.max() + 1
    make_up = np.zeros((n_groups, n_classes), dtype=np.int64)
    np.add.at(make_up, (group_ids, strata), 1)
    group_split = np.zeros(n_groups, dtype=np.int64)
    group_split[group_ids] = split
    active_ids = np.flatnonzero(active)
    # Rarest classes first: they have the fewest groups to move.
    groups_per_class = (make_up > 0).sum(axis=0)
    for c in np.argsort(groups_per_class, kind="stable"):
        if groups_per_class[c] < len(active_ids):
            continue
        for s in active_ids:
            holders = np.flatnonzero(make_up[:, c] > 0)
            per_split = np.bincount(group_split[holders], minlength=3)
            if per_split[s] > 0:
                continue
            donor = int(np.argmax(np.where(active, per_split, -1)))
            if per_split[donor] < 2:
                continue
            # Smallest holder group of the donor: least disturbance of the fractions.
            cands = holders[group_split[holders] == donor]
            g = cands[np.argmin(group_size[cands] + rng.random(len(cands)) * 0.5)]
            group_split[g] = s
            # Swap back a group of s of similar size that holds neither c nor a class s would then lose.
            in_s = np.flatnonzero(group_split == s)
            counts_s = make_up[in_s].sum(axis=0)
            ok = [
                h for h in in_s
                if h != g and make_up[h, c] == 0 and not np.any((make_up[h] > 0) & (counts_s == make_up[h]))
            ]
            if ok:
                ok = np.asarray(ok)
                h = ok[np.argmin(np.abs(group_size[ok] - group_size[g]) + rng.random(len(ok)) * 0.5)]
                group_split[h] = donor
    _polish_fractions(group_split, group_size, make_up, frac)
    split[:] = group_split[group_ids]


def _sole_holders(members: np.ndarray, make_up: np.ndarray) -> np.ndarray:
    """For groups ``members`` of one split: True where a group holds the split's last images of some class."""
    counts = make_up[members].sum(axis=0)
    return np.any((make_up[members] > 0) & (make_up[members] == counts), axis=1)


def _polish_fractions(
    group_split: np.ndarray, group_size: np.ndarray, make_up: np.ndarray, frac: np.ndarray
) -> None:
    """Move groups from the most over-full split to the most under-full one while that brings the image
    counts closer to ``frac`` — choosing groups of the classes the donor has too many of (stratification
    improves or holds) and never a split's last group of a class. Edits ``group_split`` in place."""
    n = group_size.sum()
    target = frac * n
    for _ in range(len(group_size)):
        sizes = np.bincount(group_split, weights=group_size, minlength=3)
        excess = sizes - target
        donor, receiver = int(np.argmax(excess)), int(np.argmin(excess))
        gap = min(excess[donor], -excess[receiver])
        members = np.flatnonzero(group_split == donor)
        # A move of s images helps while s < 2·gap; keep the steps small (s <= gap) to not overshoot.
        ok = (group_size[members] <= gap) & ~_sole_holders(members, make_up)
        cands = members[ok]
        if gap < 1 or len(cands) == 0:
            return
        in_receiver = group_split == receiver
        share_donor = make_up[members].sum(axis=0) / max(sizes[donor], 1)
        share_receiver = make_up[in_receiver].sum(axis=0) / max(sizes[receiver], 1)
        score = make_up[cands] @ (share_donor - share_receiver) / group_size[cands]
        best = cands[np.lexsort((group_size[cands], -score))[0]]
        group_split[best] = receiver


def grouped_split(
    df: pd.DataFrame,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    *,
    group: str = "group",
    stratify: str | Sequence[str] | None = "label",
    seed: int = 0,
    column: str = "split",
) -> pd.DataFrame:
    """Add a ``split`` column ("train" / "val" / "test"), keeping each group on one side.

    Args:
        df: one row per image; needs the ``group`` column (lesion or patient id) and the ``stratify``
            column(s). Not modified.
        fractions: (train, val, test) shares of the *images*, non-negative, summing to 1; train > 0. A zero
            share leaves that split empty. Default (0.7, 0.15, 0.15) as in goel2021.
        group: column whose value ties images together (``lesion_id``, ``patient_id``); default "group"
            as written by the dermkit loaders. Rows with a missing group each count as their own group.
        stratify: label column (or list of columns, combined) to stratify by; ``None`` for no stratification.
        seed: seed for the fold shuffling and the repair pass; the same seed gives the same split.
        column: name of the added column (default "split").

    Returns:
        A copy of ``df`` with ``column`` added (pandas string values from :data:`SPLIT_NAMES`).

    Guarantees: no group on two sides; every class holding at least as many groups as there are non-empty
    splits appears in every non-empty split; image fractions match ``fractions`` within a fold's worth
    (typically within 0.5 points) on data with many small groups.

    Raises:
        ValueError: bad ``fractions`` (not three, negative, not summing to 1), a missing column, an empty
            frame, or fewer groups than non-empty splits.
    """
    frac = _check_fractions(fractions)
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame. Received: {type(df).__name__}")
    needed = [group] + ([] if stratify is None else [stratify] if isinstance(stratify, str) else list(stratify))
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(
            f"grouped_split: column(s) {missing} not found; the frame has columns {list(df.columns)}. "
            "Pass group=/stratify= to name the right ones (stratify=None to not stratify)."
        )
    if len(df) == 0:
        raise ValueError("grouped_split: the frame is empty")

    groups = df[group]
    fill = pd.Series([f"__row{i}" for i in range(len(df))], index=df.index)
    groups = groups.astype(object).where(groups.notna(), fill)
    group_ids = pd.factorize(groups.astype(str), sort=True)[0]
    n_groups = int(group_ids.max()) + 1
    strata = _strata(df, stratify)
    active = frac > 0

    from sklearn.model_selection import StratifiedGroupKFold

    k, folds_per_split = _choose_folds(frac, n_groups)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        fold = np.empty(len(df), dtype=np.int64)
        for f, (_, test_idx) in enumerate(cv.split(np.zeros(len(df)), strata, group_ids)):
            fold[test_idx] = f
    # Deal whole folds to the splits in a seeded order: val and test first, train takes the rest.
    rng = np.random.default_rng(seed)
    order = rng.permutation(k)
    fold_to_split = np.zeros(k, dtype=np.int64)
    start = 0
    for s in (1, 2, 0):
        fold_to_split[order[start:start + folds_per_split[s]]] = s
        start += folds_per_split[s]
    split = fold_to_split[fold]
    _repair_rare_classes(split, group_ids, strata, active, frac, rng)

    out = df.copy()
    out[column] = np.asarray(SPLIT_NAMES, dtype=object)[split]
    return out
