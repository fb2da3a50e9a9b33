"""Multi-label metrics, shared by training and evaluation (no hub download).

F1 counts are computed per label column with numpy, so one label or one trainable label behaves
like eight (scikit-learn reads a single indicator column as a binary task); the tests check them
against scikit-learn on multi-column data. Average precision comes from scikit-learn.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.metrics import average_precision_score


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def _counts(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives, false negatives per label column."""
    return ((y_true & y_pred).sum(axis=0), (~y_true & y_pred).sum(axis=0), (y_true & ~y_pred).sum(axis=0))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator/denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    numerator, denominator = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _summary(y_true: np.ndarray, y_pred: np.ndarray, counts: tuple[np.ndarray, np.ndarray, np.ndarray],
             per_label_f1: np.ndarray) -> dict[str, float]:
    """Micro-F1, macro-F1 and subset accuracy from the already computed counts and per-label F1."""
    tp, fp, fn = counts
    return {"micro_f1": float(_ratio(2 * tp.sum(), 2 * tp.sum() + fp.sum() + fn.sum())),
            "macro_f1": float(per_label_f1.mean()),
            "subset_accuracy": float((y_true == y_pred).all(axis=1).mean())}


def multilabel_scores(y_true: np.ndarray, y_pred: np.ndarray, label_ids: Sequence[str],
                      y_score: np.ndarray | None = None) -> dict:
    """Per-label precision/recall/F1/support, micro and macro F1, subset accuracy; with scores,
    also average precision, which ranks articles without a threshold: low F1 with high AP means
    the threshold is off, not the model's ordering.

    A label with no gold and no predicted positive gets F1 0 (sklearn's `zero_division=0`), the
    conservative choice: macro-F1 is never inflated by labels the test split lacks. `n_labels_scored`
    says how many labels have test positives at all.
    """
    y_true, y_pred = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    counts = tp, fp, fn = _counts(y_true, y_pred)
    precision, recall, f1 = _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)
    support = y_true.sum(axis=0)
    present = support > 0
    average_precision = [float(average_precision_score(y_true[:, i], y_score[:, i]))
                         if y_score is not None and present[i] else None for i in range(y_true.shape[1])]
    scored = [ap for ap in average_precision if ap is not None]
    return {
        **_summary(y_true, y_pred, counts, f1),
        # the same mean over only the labels that have gold positives here
        "macro_f1_present_labels": float(f1[present].mean()) if present.any() else 0.0,
        "macro_average_precision": float(np.mean(scored)) if scored else None,  # labels with positives
        "n_examples": int(len(y_true)),
        "n_labels_scored": int(present.sum()),
        "per_label": {
            label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                    "support": int(support[i]), "average_precision": average_precision[i]}
            for i, label in enumerate(label_ids)
        },
    }


_CHUNK_CELLS = 4_000_000  # resamples x articles of draw counts held at once (32 MB of float64)


def _resample_counts(n_articles: int, n_resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Chunks of (resamples, n_articles) draw counts.

    Each resample is still one `rng.integers(0, n, n)` call, so the same seed draws the same
    articles as a loop over resamples would.
    """
    chunk = max(1, _CHUNK_CELLS // n_articles)
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        counts = np.empty((rows, n_articles))
        for row in counts:
            row[:] = np.bincount(rng.integers(0, n_articles, n_articles), minlength=n_articles)
        yield counts


def _mean_over_present(per_label: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Row-wise mean of `per_label` over the columns `present` marks, 0 for a row without any.

    Rows are grouped by their pattern, and each group's values are laid out row after row (C order)
    as `row[mask]` would be, so numpy adds them in the same order (pairwise from 8 values on) and
    every mean equals `row[mask].mean()` to the last bit.
    """
    means = np.zeros(len(per_label))
    patterns, which = np.unique(present, axis=0, return_inverse=True)
    for index, pattern in enumerate(patterns):
        if pattern.any():
            rows = which.ravel() == index
            means[rows] = np.ascontiguousarray(per_label[rows][:, pattern]).mean(axis=1)
    return means


def bootstrap_intervals(y_true: np.ndarray, predictions: dict[str, np.ndarray], n_resamples: int,
                        confidence: float, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """Percentile bootstrap over articles for each system's summary metrics, and for the paired
    difference of the first system against each other one (the same resamples serve every system).

    Macro-F1 in a resample averages over the labels that have a gold positive in it, scaled by the
    share of labels with positives in the full set: a rare label that a resample happens to miss is
    left out rather than counted as F1 0, which would drag the interval below the point estimate.

    Returns {system: {metric: {low, high}}} plus {"<first>_minus_<system>": {metric: {low, high}}}.
    """
    y_true = np.asarray(y_true, dtype=bool)
    predictions = {name: np.asarray(pred, dtype=bool) for name, pred in predictions.items()}
    names = list(predictions)
    n_articles, n_labels = y_true.shape
    scale = (y_true.sum(axis=0) > 0).mean()
    # One row per article: its gold labels, then per system its true positives, false positives and
    # false negatives per label and whether every label is right. A resample's counts are the draw
    # counts times these rows, one matrix product per chunk of resamples.
    per_article = np.hstack([y_true] + [block for pred in predictions.values() for block in (
        y_true & pred, ~y_true & pred, y_true & ~pred, (y_true == pred).all(axis=1, keepdims=True))]).astype(np.float64)
    sums = np.concatenate([counts @ per_article for counts in
                           _resample_counts(n_articles, n_resamples, np.random.default_rng(seed))])
    present = sums[:, :n_labels] > 0
    width = 3 * n_labels + 1
    draws = {}
    for position, name in enumerate(names):
        block = sums[:, n_labels + position * width:n_labels + (position + 1) * width]
        tp, fp, fn = block[:, :n_labels], block[:, n_labels:2 * n_labels], block[:, 2 * n_labels:3 * n_labels]
        per_label = _ratio(2 * tp, 2 * tp + fp + fn)
        total_tp = tp.sum(axis=1)  # whole numbers, so the order of summing changes nothing
        draws[name] = {"micro_f1": _ratio(2 * total_tp, 2 * total_tp + fp.sum(axis=1) + fn.sum(axis=1)),
                       "macro_f1": _mean_over_present(per_label, present) * scale,
                       "subset_accuracy": block[:, 3 * n_labels] / n_articles}
    metrics = ("micro_f1", "macro_f1", "subset_accuracy")
    alpha = (1 - confidence) / 2

    def interval(values: np.ndarray) -> dict[str, float]:
        return {"low": float(np.quantile(values, alpha)), "high": float(np.quantile(values, 1 - alpha))}

    result = {name: {metric: interval(values) for metric, values in draws[name].items()} for name in names}
    for name in names[1:]:
        result[f"{names[0]}_minus_{name}"] = {metric: interval(draws[names[0]][metric] - draws[name][metric])
                                             for metric in metrics}
    return result
