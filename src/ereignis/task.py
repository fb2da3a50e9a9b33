"""The task and its decision rule: everything that differs between multi-label and single-label.

- `multi_label`: an article reports any number of event types. Sigmoid per label, BCE with
  `pos_weight`, one threshold per label.
- `single_label`: an article has exactly one class (topic, genre). Softmax, cross-entropy, argmax.

Calibration fits a temperature T (scores become sigmoid(logit / T) or softmax(logit / T)) and,
for multi-label, one threshold per label on those calibrated scores, and writes the result as
`decision.json` in the run dir. Evaluation, prediction, the Python API and the card read it;
`model/config.json` carries a copy, so a plain transformers user can apply the same rule.

decision.json contract:
    {"task", "labels", "temperature", "default_threshold", "thresholds": {label: t},
     "fitted_on": "validation" | "out_of_fold" | "train_out_of_fold" | "none", "objective",
     "settings": {...}, "per_label": {label: {"n_positives", "threshold", "fitted_threshold",
     "f1_at_default", "f1_at_threshold", "out_of_fold_gain", "reason"}}, "override": null | {...}}

Fitting a threshold on a handful of positives chases noise (a label with 3 to 20 positives has a
noisy F1 optimum), so a threshold moves away from the default only when (1) the label has at
least `min_positives` positives, (2) thresholds chosen on some folds of the calibration set beat
the default on the held-out folds, and (3) then it is shrunk toward the default by
n / (n + shrinkage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit

from ereignis.io import atomic_write_json, read_json

TASKS = ("multi_label", "single_label")
PROBLEM_TYPES = {"multi_label": "multi_label_classification", "single_label": "single_label_classification"}
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be 'multi_label' or 'single_label', got {task!r}")
    return task


def label_matrix(label_lists: Sequence[Sequence[str]], label_ids: Sequence[str]) -> np.ndarray:
    """Multi-hot (n, n_labels) int matrix; for single-label tasks one-hot, one 1 per row."""
    column = {label: j for j, label in enumerate(label_ids)}
    matrix = np.zeros((len(label_lists), len(label_ids)), dtype=int)
    for i, labels in enumerate(label_lists):
        for label in labels:
            matrix[i, column[label]] = 1
    return matrix


def probabilities(task: str, logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Sigmoid per label (multi-label) or softmax over classes (single-label) of logits / T."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    if task == "multi_label":
        return expit(scaled)  # no overflow warning for the very negative logit of a label never seen in training
    shifted = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def f1_by_threshold(y: np.ndarray, scores: np.ndarray, thresholds: np.ndarray = THRESHOLD_GRID) -> np.ndarray:
    """F1 of one label at each threshold, vectorised over the grid."""
    predicted = scores[None, :] >= thresholds[:, None]
    tp = (predicted & (y[None, :] == 1)).sum(axis=1)
    fp = predicted.sum(axis=1) - tp
    fn = (y == 1).sum() - tp
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(len(thresholds)), where=denominator > 0)


def precision_by_threshold(y: np.ndarray, scores: np.ndarray, thresholds: np.ndarray = THRESHOLD_GRID) -> np.ndarray:
    predicted = scores[None, :] >= thresholds[:, None]
    tp = (predicted & (y[None, :] == 1)).sum(axis=1)
    n_predicted = predicted.sum(axis=1)
    return np.divide(tp, n_predicted, out=np.zeros(len(thresholds)), where=n_predicted > 0)


@dataclass(frozen=True)
class ThresholdSettings:
    objective: str = "f1"              # f1 | precision_floor
    precision_floor: float = 0.8       # with objective precision_floor: the most recall at this precision
    min_positives: int = 10
    shrinkage: float = 10.0
    folds: int = 5
    default: float = 0.5
    seed: int = 0

    @classmethod
    def from_mapping(cls, values: Mapping) -> ThresholdSettings:
        settings = cls(**{key: values[key] for key in cls.__dataclass_fields__ if key in values})
        if settings.objective not in ("f1", "precision_floor"):
            raise ValueError(f"decision.objective must be 'f1' or 'precision_floor', got {settings.objective!r}")
        return settings


def _best_threshold(y: np.ndarray, scores: np.ndarray, settings: ThresholdSettings) -> float:
    if settings.objective == "f1":
        f1 = f1_by_threshold(y, scores)
        # ties: the threshold nearest the default, so flat stretches do not drift to an edge
        best = np.flatnonzero(f1 >= f1.max() - 1e-12)
        return float(THRESHOLD_GRID[best[np.argmin(np.abs(THRESHOLD_GRID[best] - settings.default))]])
    precise = np.flatnonzero(precision_by_threshold(y, scores) >= settings.precision_floor)
    return float(THRESHOLD_GRID[precise[0]]) if len(precise) else float(THRESHOLD_GRID[-1])


def _objective(y: np.ndarray, predicted: np.ndarray, settings: ThresholdSettings) -> float:
    """The objective for a fixed set of decisions: F1, or recall where precision meets the floor."""
    tp = int((predicted & (y == 1)).sum())
    fp, fn = int(predicted.sum()) - tp, int((y == 1).sum()) - tp
    if settings.objective == "f1":
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    return tp / (tp + fn) if precision >= settings.precision_floor and tp + fn else 0.0


def _out_of_fold_gain(y: np.ndarray, scores: np.ndarray, settings: ThresholdSettings) -> float:
    """Objective of thresholds chosen on the other folds minus that of the default, on held-out folds
    (positives spread evenly over folds)."""
    rng = np.random.default_rng(settings.seed)
    fold = np.empty(len(y), dtype=int)
    for value in (0, 1):
        members = rng.permutation(np.flatnonzero(y == value))
        fold[members] = np.arange(len(members)) % settings.folds
    fitted = np.zeros(len(y), dtype=bool)
    for k in range(settings.folds):
        held = fold == k
        fitted[held] = scores[held] >= _best_threshold(y[~held], scores[~held], settings)
    return _objective(y, fitted, settings) - _objective(y, scores >= settings.default, settings)


def fit_temperature(task: str, logits: np.ndarray, y: np.ndarray) -> float:
    """The T minimising the negative log-likelihood of y under logits / T (one scalar for all labels)."""
    logits = np.asarray(logits, dtype=np.float64)
    if len(logits) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        p = np.clip(probabilities(task, logits, float(np.exp(log_t))), 1e-12, 1 - 1e-12)
        if task == "multi_label":
            return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
        return float(-np.log(p[y == 1]).mean())

    return round(float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x)), 4)


@dataclass(frozen=True)
class Decision:
    task: str
    labels: tuple[str, ...]
    temperature: float = 1.0
    default_threshold: float = 0.5
    thresholds: dict[str, float] = field(default_factory=dict)
    fitted_on: str = "none"
    objective: str = "f1"
    settings: dict[str, Any] = field(default_factory=dict)
    per_label: dict[str, dict[str, Any]] = field(default_factory=dict)
    override: dict[str, Any] | None = None

    @classmethod
    def default(cls, task: str, labels: Sequence[str], threshold: float = 0.5) -> Decision:
        return cls(check_task(task), tuple(labels), default_threshold=threshold,
                   thresholds=dict.fromkeys(labels, threshold) if task == "multi_label" else {})

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return probabilities(self.task, logits, self.temperature)

    def decide(self, scores: np.ndarray) -> np.ndarray:
        """(n, n_labels) bool: thresholds per label (multi-label) or the argmax (single-label)."""
        scores = np.asarray(scores)
        if self.task == "single_label":
            return np.eye(len(self.labels), dtype=bool)[scores.argmax(axis=1)] if len(scores) else scores.astype(bool)
        return scores >= np.array([self.thresholds[label] for label in self.labels])

    def with_threshold(self, threshold: float | None) -> Decision:
        """The same rule with every threshold set to `threshold` (an explicit override, recorded)."""
        if threshold is None:
            return self
        return replace(self, thresholds=dict.fromkeys(self.labels, float(threshold)),
                       override={"threshold": float(threshold)})

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        return cls(**{**data, "labels": tuple(data["labels"])})

    def save(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Decision:
        return cls.from_dict(read_json(path))


def fit_decision(task: str, labels: Sequence[str], logits: np.ndarray, y: np.ndarray, settings: ThresholdSettings,
                 fitted_on: str) -> Decision:
    """Temperature and (multi-label) guarded per-label thresholds fitted on held-out predictions."""
    y = np.asarray(y, dtype=int)
    temperature = fit_temperature(task, logits, y)
    decision = replace(Decision.default(task, labels, settings.default), temperature=temperature, fitted_on=fitted_on,
                       objective=settings.objective, settings=asdict(settings))
    if task == "single_label":
        return decision
    scores = probabilities(task, logits, temperature)
    thresholds, per_label = {}, {}
    for j, label in enumerate(labels):
        n_positives = int(y[:, j].sum())
        entry: dict[str, Any] = {"n_positives": n_positives, "fitted_threshold": None, "out_of_fold_gain": None}
        threshold = settings.default
        if n_positives < settings.min_positives:
            entry["reason"] = f"too few positives ({n_positives} < {settings.min_positives}): default kept"
        else:
            fitted = _best_threshold(y[:, j], scores[:, j], settings)
            gain = _out_of_fold_gain(y[:, j], scores[:, j], settings)
            entry.update(fitted_threshold=fitted, out_of_fold_gain=round(gain, 4))
            if gain <= 0:
                entry["reason"] = "no out-of-fold gain over the default: default kept"
            else:
                weight = n_positives / (n_positives + settings.shrinkage)
                threshold = round(settings.default + weight * (fitted - settings.default), 3)
                entry["reason"] = f"fitted, shrunk toward the default by {weight:.2f}"
        entry.update(threshold=threshold,
                     f1_at_default=round(_objective(y[:, j], scores[:, j] >= settings.default, settings), 4),
                     f1_at_threshold=round(_objective(y[:, j], scores[:, j] >= threshold, settings), 4))
        thresholds[label], per_label[label] = threshold, entry
    return replace(decision, thresholds=thresholds, per_label=per_label)


def calibration_errors(y: np.ndarray, scores: np.ndarray, labels: Sequence[str], n_bins: int = 15) -> dict[str, Any]:
    """Expected calibration error (equal-width bins, one-vs-rest per label) and Brier score, per label
    and over all (article, label) pairs."""
    y, scores = np.asarray(y, dtype=float), np.asarray(scores, dtype=float)

    def ece(truth: np.ndarray, p: np.ndarray) -> float:
        if len(p) == 0:
            return 0.0
        bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
        total = np.bincount(bins, minlength=n_bins)
        observed = np.bincount(bins, weights=truth, minlength=n_bins)
        gap = np.abs(observed - np.bincount(bins, weights=p, minlength=n_bins))
        return float(gap.sum() / total.sum())

    return {"ece": round(ece(y.ravel(), scores.ravel()), 4), "brier": round(float(((scores - y) ** 2).mean()), 4)
            if y.size else 0.0,
            "per_label": {label: {"ece": round(ece(y[:, j], scores[:, j]), 4),
                                  "brier": round(float(((scores[:, j] - y[:, j]) ** 2).mean()), 4) if len(y) else 0.0}
                          for j, label in enumerate(labels)}}
