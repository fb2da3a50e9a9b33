"""`make eval RUN=<run dir>`: score the run's model and the baselines on the same articles, each
under its own fitted decision rule.

Eval dir contract (`<run dir>/eval/`, read by the card and the comparison):
    metrics.json       {"run_dir", "task", "labels", "decision" (the run's rule, plus "override"),
                        "long_articles", "window_pooling", "systems": {name: description},
                        "reference_baseline", "bootstrap", "splits": {split: SECTION}, "external": {name: SECTION}}
                       SECTION = {"n", "systems": {system: scores, same keys for every system},
                        "intervals": {system: {metric: {low, high}}, "model_minus_<baseline>": ...},
                        "calibration": {"before"|"after": {"ece", "brier", "per_label"}}, "unreliable_labels"}
    predictions.jsonl  one row per article and set: id, split, gold, predicted, scores (calibrated),
                       baseline_scores {baseline: {label: p}}, evidence {label: {window, sentence}}, excerpt
    report.md, report.html   the same numbers for people (`ereignis.evaluation.report`)
    config.yaml        the resolved eval config
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict
from omegaconf import DictConfig, OmegaConf

from ereignis.evaluation.baseline import fit_baseline
from ereignis.evaluation.report import write_reports
from ereignis.inference import Classifier
from ereignis.io import atomic_directory, atomic_write_json, atomic_write_jsonl, atomic_write_text, read_json
from ereignis.labels import LabelSchema
from ereignis.metrics import bootstrap_intervals, multilabel_scores
from ereignis.runs import RunDir
from ereignis.task import Decision, ThresholdSettings, calibration_errors, label_matrix

log = logging.getLogger(__name__)

UNRELIABLE_BELOW = 10  # gold positives: fewer give intervals too wide to support a verdict
EXCERPT_CHARS = 300


def _load_dataset(dataset_dir: Path, schema: LabelSchema, expected_fingerprint: str | None) -> DatasetDict:
    if not (dataset_dir / "labels.json").exists():
        raise FileNotFoundError(f"{dataset_dir}: no dataset dir here (labels.json missing)")
    other = LabelSchema.load(dataset_dir / "labels.json")
    if other.ids != schema.ids:
        raise ValueError(f"{dataset_dir}/labels.json: labels {list(other.ids)} differ from the run's "
                         f"{list(schema.ids)}")
    if expected_fingerprint is not None:
        found = read_json(dataset_dir / "fingerprint.json")["sha256"]
        if found != expected_fingerprint:
            raise ValueError(
                f"{dataset_dir}: dataset changed since training (fingerprint {found[:12]} != "
                f"{expected_fingerprint[:12]} "
                "in the run's manifest.json); its test split may overlap the model's training data. Rebuild it with "
                "the run's build settings or train again.")
    return DatasetDict.load_from_disk(str(dataset_dir))


def _section(y: np.ndarray, logits: dict[str, np.ndarray], decisions: dict[str, Decision], labels: tuple[str, ...],
             settings: DictConfig) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    scores = {name: decisions[name].probabilities(values) for name, values in logits.items()}
    predicted = {name: decisions[name].decide(values) for name, values in scores.items()}
    systems = {name: multilabel_scores(y, predicted[name], labels, scores[name]) for name in logits}
    intervals = bootstrap_intervals(y, predicted, settings.bootstrap.n_resamples, settings.bootstrap.confidence,
                                    settings.bootstrap.seed)
    if decisions["model"].task == "single_label":  # one class per article: accuracy is the subset accuracy
        for values in (*systems.values(), *intervals.values()):
            values["accuracy"] = values["subset_accuracy"]
    model = decisions["model"]
    raw = Decision(model.task, model.labels).probabilities(logits["model"])
    section = {
        "n": len(y),
        "systems": systems,
        "intervals": intervals,
        "calibration": {"before": calibration_errors(y, raw, labels),
                        "after": calibration_errors(y, scores["model"], labels)},
        "unreliable_labels": [label for label, count in zip(labels, y.sum(axis=0), strict=True)
                              if count < UNRELIABLE_BELOW],
    }
    return section, scores, predicted


def _rows(name: str, split: Dataset, texts: Sequence[str], labels: tuple[str, ...], scores: dict[str, np.ndarray],
          predicted: np.ndarray, evidence: list[dict]) -> list[dict]:
    """One predictions.jsonl row per article; each score matrix is rounded in one pass over its
    Python floats (the values `round(float(p), 4)` of each element gives)."""
    rounded = {system: [dict(zip(labels, (round(p, 4) for p in row), strict=True)) for row in values.tolist()]
               for system, values in scores.items()}
    baselines = [system for system in scores if system != "model"]
    return [{"id": article_id, "split": name, "gold": list(gold),
             "predicted": [label for label, chosen in zip(labels, decided, strict=True) if chosen],
             "scores": rounded["model"][i],
             "baseline_scores": {system: rounded[system][i] for system in baselines},
             "evidence": evidence[i], "excerpt": text[:EXCERPT_CHARS]}
            for i, (article_id, gold, text, decided) in enumerate(
                zip(split["id"], split["labels"], texts, predicted.tolist(), strict=True))]


def evaluate_run(cfg: DictConfig) -> Path:
    """Evaluate `cfg.run_dir`'s model and the baselines; write `<run dir>/eval/` atomically."""
    run_dir, settings = Path(cfg.run_dir), cfg.eval
    run = RunDir(run_dir)
    manifest = run.manifest()
    schema = LabelSchema.load(run_dir / "labels.json")
    # the manifest is the seam: its dataset path resolves from any working folder, or after a move
    dataset = _load_dataset(run.dataset().path, schema, run.dataset_fingerprint())
    classifier = Classifier.load(run_dir, long_articles=settings.long_articles, stride=settings.window_stride,
                                 max_windows=settings.max_windows, pooling=settings.window_pooling)
    classifier.decision = classifier.decision.with_threshold(settings.threshold)
    labels, task = schema.ids, schema.task

    train = dataset["train"]
    threshold_settings = ThresholdSettings.from_mapping({**classifier.decision.settings, "seed": manifest["seed"]})
    baselines, decisions = {}, {"model": classifier.decision}
    for name, baseline_settings in settings.baselines.items():
        baselines[name], decisions[name] = fit_baseline(
            name, OmegaConf.to_container(baseline_settings), task, labels, train["text"],
            label_matrix(train["labels"], labels), threshold_settings, settings.baseline_folds, manifest["seed"])

    evaluation_sets = {name: dataset[name] for name in settings.splits}
    for name, external_dir in settings.external.items():
        evaluation_sets[f"external:{name}"] = _load_dataset(Path(external_dir), schema, None)["test"]

    metrics: dict[str, Any] = {
        "run_dir": str(run_dir), "task": task, "labels": list(labels),
        "decision": classifier.decision.to_dict(), "long_articles": classifier.encoding.long_articles,
        "window_pooling": classifier.encoding.pooling,
        "systems": {"model": f"{manifest['model']['config']} ({manifest.get('method', 'finetune')})",
                    **{name: baseline.description for name, baseline in baselines.items()}},
        "bootstrap": OmegaConf.to_container(settings.bootstrap), "splits": {}, "external": {}}
    predictions: list[dict] = []
    for name, split in evaluation_sets.items():
        texts = split["text"]  # a lazy column: the baselines, the evidence and the rows read what they need
        scored = classifier.score(list(split), settings.batch_size)
        logits = {"model": scored.logits, **{b: baseline.logits(texts) for b, baseline in baselines.items()}}
        y = label_matrix(split["labels"], labels)
        section, scores, predicted = _section(y, logits, decisions, labels, settings)
        metrics["external" if name.startswith("external:") else "splits"][name.removeprefix("external:")] = section
        evidence = classifier.evidence(scored, texts, settings.batch_size)
        predictions += _rows(name, split, texts, labels, scores, predicted["model"], evidence)
        log.info("%s: macro-F1 %s (n=%d)", name, ", ".join(f"{system} {values['macro_f1']:.3f}"
                                                         for system, values in section["systems"].items()), len(split))
    reference_split = metrics["splits"].get("validation") or \
        next(iter({**metrics["splits"], **metrics["external"]}.values()))
    metrics["reference_baseline"] = max(baselines, key=lambda b: reference_split["systems"][b]["macro_f1"]) \
        if baselines else None

    with atomic_directory(run_dir / "eval") as tmp:
        atomic_write_json(tmp / "metrics.json", metrics)
        atomic_write_jsonl(tmp / "predictions.jsonl", predictions)
        atomic_write_text(tmp / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        write_reports(tmp, run_dir)
    return run_dir / "eval"
