"""How many articles of an unlabelled set report each event type, with intervals.

Counting the model's predictions is biased: with recall 0.8 a fifth of the true reports is
missed, and a false positive rate of 2 % over 10,000 articles without the event adds 200 false
reports, so a rare event is overcounted and a frequent one undercounted. Four estimates per
label, each with a percentile bootstrap interval:

- `classify_and_count`: the number of articles the model labels (the biased raw count).
- `probabilistic_count`: the sum of the calibrated probabilities; unbiased only when the new
  articles resemble the labelled ones (same share of each event), since calibration was fitted there.
- `adjusted_count`: adjusted classify-and-count. With the true and false positive rates (tpr, fpr)
  measured on labelled articles (the test split), the share q of articles labelled is
  q = tpr * p + fpr * (1 - p), so the prevalence is p = (q - fpr) / (tpr - fpr), clipped to [0, 1].
  This stays unbiased when the share of the event changes, as long as tpr and fpr carry over.
- `probabilistic_adjusted_count`: the same correction with mean probabilities in place of
  hard decisions (tpr = mean score of labelled positives, fpr = that of labelled negatives).

The intervals resample both the unlabelled articles and the labelled reference articles, so the
uncertainty of the measured error rates is part of them; with few labelled positives that part
dominates, and the label is marked unreliable. A label whose classifier is not clearly better than
chance on the reference (the interval of tpr - fpr reaches 0) gets no adjusted estimate: dividing
by a gap that may be 0 gives any count at all.

For single-label tasks the same holds per class (one class against the rest); the per-class
estimates then need not add up to the number of articles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ereignis.evaluation.evaldir import MIN_POSITIVES, label_matrix, read_predictions, score_matrix
from ereignis.evaluation.resampling import percentile_interval, resampled_sums
from ereignis.labels import LabelSchema

ADJUSTED = ("adjusted_count", "probabilistic_adjusted_count")
METHODS = ("classify_and_count", "probabilistic_count", *ADJUSTED)


def _adjust(share: np.ndarray, tpr: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    """(share - fpr) / (tpr - fpr) clipped to [0, 1]; NaN where tpr <= fpr (no signal to invert)."""
    gap = tpr - fpr
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap > 0, np.clip((share - fpr) / gap, 0.0, 1.0), np.nan)


def _shares(unlabelled: np.ndarray, reference: np.ndarray, n_unlabelled: float, n_reference: float) -> dict:
    """Each method's prevalence share per label from article sums (last axis: labels).

    `unlabelled` stacks the sums of [predicted, scores]; `reference` those of
    [gold, gold & predicted, predicted, gold * scores, scores] over the labelled articles.
    """
    predicted, scores = unlabelled
    gold, hits, reference_predicted, gold_scores, reference_scores = reference
    with np.errstate(divide="ignore", invalid="ignore"):
        negatives = n_reference - gold
        tpr, fpr = hits / gold, (reference_predicted - hits) / negatives
        soft_tpr, soft_fpr = gold_scores / gold, (reference_scores - gold_scores) / negatives
    q, mean_score = predicted / n_unlabelled, scores / n_unlabelled
    return {"classify_and_count": q, "probabilistic_count": mean_score,
            "adjusted_count": _adjust(q, tpr, fpr),
            "probabilistic_adjusted_count": _adjust(mean_score, soft_tpr, soft_fpr),
            "true_positive_rate": tpr, "false_positive_rate": fpr,
            # how far the classifier separates positives from negatives, which the adjustment divides by
            "adjusted_count_signal": tpr - fpr, "probabilistic_adjusted_count_signal": soft_tpr - soft_fpr}


def estimate_prevalence(predicted: np.ndarray, scores: np.ndarray, reference_gold: np.ndarray,
                        reference_predicted: np.ndarray, reference_scores: np.ndarray, labels: Sequence[str],
                        n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Counts per label for the unlabelled articles (`predicted` 0/1 and calibrated `scores`, shape
    (articles, labels)), corrected with error rates measured on labelled reference articles.

    Returns {"n_articles", "n_reference_articles", "confidence", "n_resamples", "labels": {label: {
    method: {"count", "low", "high"} or None, "true_positive_rate", "false_positive_rate",
    "reference_positives", "reliable"}}}.
    """
    predicted, scores = np.asarray(predicted, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    gold = np.asarray(reference_gold, dtype=np.float64)
    reference_predicted = np.asarray(reference_predicted, dtype=np.float64)
    reference_scores = np.asarray(reference_scores, dtype=np.float64)
    n, n_reference = len(predicted), len(gold)
    unlabelled = np.stack([predicted, scores], axis=1)  # (articles, 2, labels)
    reference = np.stack([gold, gold * reference_predicted, reference_predicted, gold * reference_scores,
                          reference_scores], axis=1)
    point = _shares(unlabelled.sum(axis=0), reference.sum(axis=0), n, n_reference)
    rng = np.random.default_rng(seed)
    # (labels-last) sums per resample, moved so the stacked statistic comes first as in the point estimate
    draws = _shares(np.moveaxis(resampled_sums(unlabelled, n_resamples, rng), 1, 0),
                    np.moveaxis(resampled_sums(reference, n_resamples, rng), 1, 0), n, n_reference)

    result = {}
    for j, label in enumerate(labels):
        positives = int(gold[:, j].sum())
        entry: dict[str, Any] = {}
        for method in METHODS:
            share, interval = point[method][j], percentile_interval(draws[method][:, j] * n, confidence)
            entry[method] = (None if not np.isfinite(share) or interval is None else
                             {"count": round(float(share * n), 1), "low": round(interval["low"], 1),
                              "high": round(interval["high"], 1)})
        for method in ADJUSTED:
            signal = percentile_interval(draws[f"{method}_signal"][:, j], confidence)
            if signal is None or signal["low"] <= 0:
                entry[method] = None
        entry.update({"true_positive_rate": _rate(point["true_positive_rate"][j]),
                      "false_positive_rate": _rate(point["false_positive_rate"][j]),
                      "reference_positives": positives,
                      "reliable": positives >= MIN_POSITIVES and entry["adjusted_count"] is not None})
        result[label] = entry
    return {"n_articles": n, "n_reference_articles": n_reference, "confidence": confidence,
            "n_resamples": n_resamples, "labels": result}


def _rate(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def prevalence_for_run(run_dir: str | Path, predicted: np.ndarray, scores: np.ndarray, split: str = "test",
                       n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """`estimate_prevalence` with the reference taken from the run's evaluation: the rows of
    `<run>/eval/predictions.jsonl` for `split`. Columns of `predicted`/`scores` follow labels.json."""
    run_dir = Path(run_dir)
    labels = LabelSchema.load(run_dir / "labels.json").ids
    rows = read_predictions(run_dir / "eval").get(split)
    if not rows:
        raise ValueError(f"{run_dir}/eval/predictions.jsonl: no rows for split {split!r}; evaluate the run first "
                         f"(make eval RUN={run_dir})")
    gold, reference_predicted = label_matrix(rows, "gold", labels), label_matrix(rows, "predicted", labels)
    reference_scores = score_matrix(rows, labels)
    result = estimate_prevalence(predicted, scores, gold, reference_predicted, reference_scores, labels,
                                 n_resamples, confidence, seed)
    return {"reference_split": split, **result}
