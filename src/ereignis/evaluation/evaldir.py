"""Reading an evaluated run: `eval/metrics.json`, `eval/predictions.jsonl`, the run's
`manifest.json` and `labels.json`, interpreted in one place for the report, the model card,
`ereignis-compare` and the prevalence estimate (the eval dir contract is documented in
`ereignis.evaluation.run`).

Evaluations written before the learned decision rule (one threshold for all labels, one
baseline called "baseline") are read into the same shape, so older runs still get a card.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ereignis.io import read_json
from ereignis.labels import LabelSchema

EXTERNAL_PREFIX = "external:"
MIN_POSITIVES = 10  # fewer gold positives than this: a per-label interval says little


@dataclass(frozen=True)
class Evaluation:
    run_dir: Path
    eval_dir: Path
    metrics: dict[str, Any]
    schema: LabelSchema
    manifest: dict[str, Any]
    predictions: dict[str, list[dict]]  # split key ("test", "external:<name>") -> rows

    @property
    def task(self) -> str:
        return self.metrics["task"]

    @property
    def decision(self) -> dict[str, Any]:
        return self.metrics["decision"]

    @property
    def baselines(self) -> list[str]:
        return [system for system in self.metrics["systems"] if system != "model"]

    def sections(self) -> list[tuple[str, dict[str, Any]]]:
        """(split key, SECTION) for every split, then every external set."""
        return ([(split, result) for split, result in self.metrics["splits"].items()]
                + [(EXTERNAL_PREFIX + name, result) for name, result in self.metrics["external"].items()])


def read_predictions(eval_dir: str | Path) -> dict[str, list[dict]]:
    """predictions.jsonl grouped by its "split" field, in file order."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    with open(Path(eval_dir) / "predictions.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                grouped[row["split"]].append(row)
    return dict(grouped)


def effective_thresholds(decision: dict[str, Any]) -> dict[str, float]:
    """The thresholds the evaluation applied: an override's single threshold, else the fitted ones."""
    override = decision.get("override")
    if override:
        return {label: override["threshold"] for label in decision["labels"]}
    return dict(decision["thresholds"])


def label_matrix(rows: Sequence[dict], field: str, labels: Sequence[str]) -> np.ndarray:
    """0/1 matrix (rows, labels) of the label lists in `field` ("gold" or "predicted")."""
    column = {label: j for j, label in enumerate(labels)}
    matrix = np.zeros((len(rows), len(labels)), dtype=np.int8)
    for i, row in enumerate(rows):
        matrix[i, [column[label] for label in row[field]]] = 1
    return matrix


def score_matrix(rows: Sequence[dict], labels: Sequence[str], system: str = "model") -> np.ndarray:
    """(rows, labels) calibrated scores of the model, or of a baseline from `baseline_scores`."""
    if system == "model":
        return np.array([[row["scores"][label] for label in labels] for row in rows], dtype=np.float64)
    return np.array([[row["baseline_scores"][system][label] for label in labels] for row in rows], dtype=np.float64)


def upgrade_legacy_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """A pre-decision-rule metrics.json in the current shape (nothing is invented: no calibration)."""
    labels, threshold = metrics["labels"], metrics["threshold"]
    sections = list(metrics["splits"].values()) + list(metrics["external"].values())
    for section in sections:
        support = section["systems"]["model"]["per_label"]
        section["unreliable_labels"] = [label for label in labels if support[label]["support"] < MIN_POSITIVES]
    return {**metrics, "task": "multi_label", "reference_baseline": "baseline",
            "systems": {"model": "the fine-tuned model",
                        "baseline": "TF-IDF word n-grams + one logistic regression per label"},
            "decision": {"task": "multi_label", "labels": labels, "default_threshold": threshold,
                         "thresholds": {label: threshold for label in labels}, "temperature": 1.0, "fitted_on": "none",
                         "objective": None, "per_label": {}, "override": None}}


def _upgrade_legacy_row(row: dict) -> dict:
    """Old rows carry one baseline's scores directly under baseline_scores."""
    return {**row, "baseline_scores": {"baseline": row["baseline_scores"]}}


def load_evaluation(eval_dir: str | Path, run_dir: str | Path | None = None) -> Evaluation:
    """Read an eval dir (possibly the evaluation's temporary folder, hence `run_dir` apart)."""
    eval_dir = Path(eval_dir)
    metrics = read_json(eval_dir / "metrics.json")
    run_dir = Path(run_dir or metrics["run_dir"])
    predictions = read_predictions(eval_dir)
    if "decision" not in metrics:
        metrics = upgrade_legacy_metrics(metrics)
        predictions = {split: [_upgrade_legacy_row(row) for row in rows] for split, rows in predictions.items()}
    return Evaluation(run_dir=run_dir, eval_dir=eval_dir, metrics=metrics,
                      schema=LabelSchema.load(run_dir / "labels.json"), manifest=read_json(run_dir / "manifest.json"),
                      predictions=predictions)
