"""Multi-label metrics (scikit-learn, no hub download), shared by training and evaluation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, precision_recall_fscore_support


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def multilabel_scores(y_true: np.ndarray, y_pred: np.ndarray, label_ids: Sequence[str],
                      y_score: np.ndarray | None = None) -> dict:
    """Per-label precision/recall/F1/support, micro and macro F1, subset accuracy; with scores,
    also average precision, which ranks articles without a threshold: low F1 with high AP means
    the threshold is off, not the model's ordering.

    A label with no gold and no predicted positive gets F1 0 (sklearn's `zero_division=0`), the
    conservative choice: macro-F1 is never inflated by labels the test split lacks. `n_labels_scored`
    says how many labels have test positives at all.
    """
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    present = y_true.sum(axis=0) > 0
    average_precision = [float(average_precision_score(y_true[:, i], y_score[:, i])) if y_score is not None and present[i]
                         else None for i in range(y_true.shape[1])]
    scored = [ap for ap in average_precision if ap is not None]
    return {
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        # the same mean over only the labels that have gold positives here
        "macro_f1_present_labels": float(f1[present].mean()) if present.any() else 0.0,
        "subset_accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_average_precision": float(np.mean(scored)) if scored else None,  # labels with positives
        "n_examples": int(len(y_true)),
        "n_labels_scored": int(present.sum()),
        "per_label": {
            label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                    "support": int(support[i]), "average_precision": average_precision[i]}
            for i, label in enumerate(label_ids)
        },
    }


SUMMARY_METRICS = {
    "micro_f1": lambda t, p: f1_score(t, p, average="micro", zero_division=0),
    "macro_f1": lambda t, p: f1_score(t, p, average="macro", zero_division=0),
    "subset_accuracy": accuracy_score,
}


def bootstrap_intervals(y_true: np.ndarray, predictions: dict[str, np.ndarray], n_resamples: int,
                        confidence: float, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """Percentile bootstrap over articles for each system's summary metrics, and for the paired
    difference of the first system against each other one (the same resamples serve every system).

    Returns {system: {metric: {low, high}}} plus {"<first>_minus_<system>": {metric: {low, high}}}.
    """
    y_true = np.asarray(y_true, dtype=int)
    names = list(predictions)
    rng = np.random.default_rng(seed)
    draws = {name: {metric: np.empty(n_resamples) for metric in SUMMARY_METRICS} for name in names}
    for r in range(n_resamples):
        idx = rng.integers(0, len(y_true), len(y_true))
        for name in names:
            for metric, score in SUMMARY_METRICS.items():
                draws[name][metric][r] = score(y_true[idx], np.asarray(predictions[name], dtype=int)[idx])
    alpha = (1 - confidence) / 2

    def interval(values: np.ndarray) -> dict[str, float]:
        return {"low": float(np.quantile(values, alpha)), "high": float(np.quantile(values, 1 - alpha))}

    result = {name: {metric: interval(values) for metric, values in draws[name].items()} for name in names}
    for name in names[1:]:
        result[f"{names[0]}_minus_{name}"] = {metric: interval(draws[names[0]][metric] - draws[name][metric])
                                             for metric in SUMMARY_METRICS}
    return result
