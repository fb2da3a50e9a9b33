"""`make eval RUN=<run dir>`: score the run's model and a TF-IDF baseline on the same articles.

Eval dir contract (`<run dir>/eval/`, read by the card):
    metrics.json       {"threshold", "splits": {split: {"n", "systems": {model|baseline: scores}, "intervals"}}}
                       with the same keys for every system; external test sets under "external"
    predictions.jsonl  one row per article and split: id, split, gold, predicted, scores, baseline_scores
    report.md          the same numbers for people
    config.yaml        the resolved eval config
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict
from omegaconf import DictConfig, OmegaConf

from ereignis.evaluation.baseline import TfidfBaseline
from ereignis.evaluation.report import render_report
from ereignis.inference import load_classifier, predict_proba
from ereignis.io import atomic_directory, atomic_write_json, atomic_write_jsonl, atomic_write_text, read_json
from ereignis.labels import LabelSchema
from ereignis.metrics import bootstrap_intervals, multilabel_scores

log = logging.getLogger(__name__)


def _load_dataset(dataset_dir: Path, schema: LabelSchema, expected_fingerprint: str | None) -> DatasetDict:
    if not (dataset_dir / "labels.json").exists():
        raise FileNotFoundError(f"{dataset_dir}: no dataset dir here (labels.json missing)")
    other = LabelSchema.load(dataset_dir / "labels.json")
    if other.ids != schema.ids:
        raise ValueError(f"{dataset_dir}/labels.json: labels {list(other.ids)} differ from the run's {list(schema.ids)}")
    if expected_fingerprint is not None:
        found = read_json(dataset_dir / "fingerprint.json")["sha256"]
        if found != expected_fingerprint:
            raise ValueError(
                f"{dataset_dir}: dataset changed since training (fingerprint {found[:12]} != {expected_fingerprint[:12]} "
                "in the run's manifest.json); its test split may overlap the model's training data. Rebuild it with "
                "the run's build settings or train again.")
    return DatasetDict.load_from_disk(str(dataset_dir))


def _score(split: Dataset, probabilities: dict[str, np.ndarray], schema: LabelSchema, settings: DictConfig) -> dict[str, Any]:
    y_true = np.array([schema.multi_hot(labels) for labels in split["labels"]], dtype=int)
    predicted = {name: (p >= settings.threshold).astype(int) for name, p in probabilities.items()}
    return {
        "n": len(split),
        "systems": {name: multilabel_scores(y_true, predicted[name], schema.ids, probabilities[name])
                    for name in probabilities},
        "intervals": bootstrap_intervals(y_true, predicted, settings.bootstrap.n_resamples, settings.bootstrap.confidence,
                                         settings.bootstrap.seed),
    }


def _prediction_rows(split_name: str, split: Dataset, probabilities: dict[str, np.ndarray], schema: LabelSchema,
                     threshold: float) -> list[dict]:
    rows = []
    for i, (article_id, gold) in enumerate(zip(split["id"], split["labels"])):
        model_p, baseline_p = probabilities["model"][i], probabilities["baseline"][i]
        rows.append({"id": article_id, "split": split_name, "gold": list(gold),
                     "predicted": [label for label, p in zip(schema.ids, model_p) if p >= threshold],
                     "scores": {label: round(float(p), 4) for label, p in zip(schema.ids, model_p)},
                     "baseline_scores": {label: round(float(p), 4) for label, p in zip(schema.ids, baseline_p)}})
    return rows


def evaluate_run(cfg: DictConfig) -> Path:
    """Evaluate `cfg.run_dir`'s model and the baseline; write `<run dir>/eval/` atomically."""
    run_dir, settings = Path(cfg.run_dir), cfg.eval
    manifest = read_json(run_dir / "manifest.json")
    schema = LabelSchema.load(run_dir / "labels.json")
    run_cfg = OmegaConf.load(run_dir / "config.yaml")
    dataset = _load_dataset(Path(run_cfg.dataset_dir), schema, manifest["dataset"]["fingerprint"])
    model, tokenizer, model_labels = load_classifier(run_dir / "model")
    if tuple(model_labels) != schema.ids:
        raise ValueError(f"{run_dir}/model/config.json: id2label {model_labels} differs from labels.json {list(schema.ids)}")

    train = dataset["train"]
    baseline = TfidfBaseline(settings.baseline, seed=run_cfg.seed).fit(
        train["text"], np.array([schema.multi_hot(labels) for labels in train["labels"]]))

    evaluation_sets = {name: dataset[name] for name in settings.splits}
    for name, external_dir in settings.external.items():
        evaluation_sets[f"external:{name}"] = _load_dataset(Path(external_dir), schema, None)["test"]

    metrics: dict[str, Any] = {"run_dir": str(run_dir), "threshold": settings.threshold, "labels": list(schema.ids),
                               "long_articles": settings.long_articles, "baseline": "tfidf_logreg",
                               "baseline_settings": OmegaConf.to_container(settings.baseline),
                               "bootstrap": OmegaConf.to_container(settings.bootstrap), "splits": {}, "external": {}}
    predictions: list[dict] = []
    for name, split in evaluation_sets.items():
        texts = split["text"]
        probabilities = {"model": predict_proba(model, tokenizer, texts, settings.batch_size, settings.long_articles,
                                                settings.window_stride, settings.max_windows),
                         "baseline": baseline.predict_proba(texts)}
        section = "external" if name.startswith("external:") else "splits"
        metrics[section][name.removeprefix("external:")] = _score(split, probabilities, schema, settings)
        predictions += _prediction_rows(name, split, probabilities, schema, settings.threshold)
        scores = metrics[section][name.removeprefix("external:")]["systems"]
        log.info("%s: model macro-F1 %.3f, baseline macro-F1 %.3f (n=%d)", name, scores["model"]["macro_f1"],
                 scores["baseline"]["macro_f1"], len(split))

    with atomic_directory(run_dir / "eval") as tmp:
        atomic_write_json(tmp / "metrics.json", metrics)
        atomic_write_jsonl(tmp / "predictions.jsonl", predictions)
        atomic_write_text(tmp / "report.md", render_report(metrics, schema, manifest))
        atomic_write_text(tmp / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    return run_dir / "eval"
