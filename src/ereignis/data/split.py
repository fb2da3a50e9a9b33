"""Deterministic multi-label stratified train/validation/test splits and cross-validation folds."""

from __future__ import annotations

import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold, MultilabelStratifiedShuffleSplit


def _carve(y: np.ndarray, indices: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `indices` into (rest, carved) with `share` of them carved out, stratified on `y`."""
    if share <= 0:
        return indices, indices[:0]
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=share, random_state=seed)
    rest, carved = next(splitter.split(np.zeros(len(indices)), y[indices]))
    return indices[np.sort(rest)], indices[np.sort(carved)]


def stratified_split(label_matrix: np.ndarray, validation: float, test: float, seed: int) -> dict[str, np.ndarray]:
    """Return row indices per split, stratified over every label and over "no label".

    The extra "no label" column keeps the share of negatives equal across splits, which a
    multi-label stratifier would otherwise ignore. The same matrix and seed give the same split.
    """
    if not 0 <= validation < 1 or not 0 <= test < 1 or validation + test >= 1:
        raise ValueError(f"split shares must be in [0, 1) and sum below 1, got validation={validation}, test={test}")
    y = np.asarray(label_matrix, dtype=int)
    y = np.hstack([y, (y.sum(axis=1) == 0).astype(int)[:, None]])
    everything = np.arange(len(y))
    rest, test_idx = _carve(y, everything, test, seed)
    # validation's share of what is left, so it is `validation` of the whole
    train_idx, val_idx = _carve(y, rest, validation / (1 - test) if test < 1 else 0, seed + 1)
    return {"train": train_idx, "validation": val_idx, "test": test_idx}


def stratified_folds(label_matrix: np.ndarray, folds: int, seed: int) -> dict[str, np.ndarray]:
    """Row indices of `folds` cross-validation folds (`fold_0` ...), stratified like `stratified_split`."""
    if folds < 2:
        raise ValueError(f"data.split.folds must be at least 2, got {folds}")
    y = np.asarray(label_matrix, dtype=int)
    y = np.hstack([y, (y.sum(axis=1) == 0).astype(int)[:, None]])
    splitter = MultilabelStratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return {f"fold_{k}": np.sort(held) for k, (_, held) in enumerate(splitter.split(np.zeros(len(y)), y))}
