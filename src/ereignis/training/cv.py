"""`ereignis-cv` / `make cv`: k-fold cross-validation for the small data sets users have.

The dataset dir is built with `data.split.mode=kfold` (folds `fold_0` ... stored with the data,
near-duplicate groups inside one fold). Fold k is tested on `fold_k`, selects epochs and fits its
own decision rule on `fold_{k+1}`, and trains on the rest. Every article is then scored once, by a
model that never saw it: the pooled out-of-fold scores.

CV dir contract (`<run dir>/`):
    folds/<k>/         a complete run dir per fold (its manifest names the fold)
    cv.json            {"folds", "labels", "task", "headline_labels", "systems": {name: description},
                        "per_fold": {system: [{metric: value}]}, "summary": {system: {metric: {mean, sd}}},
                        "pooled": {system: {"default": scores, "fitted": scores}}, "calibration": {before, after},
                        "decision": the rule fitted on all out-of-fold scores}
    decision.json      that rule (`fitted_on: out_of_fold`), for a model trained later on all articles
    cv.md              the same numbers for people
    config.yaml        the resolved config

"fitted" thresholds in the pooled scores are honest: the rule applied to fold k is fitted on the
out-of-fold scores of the other folds only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict, concatenate_datasets
from omegaconf import DictConfig, OmegaConf

from ereignis import distributed
from ereignis.evaluation.baseline import fit_baseline
from ereignis.io import atomic_write_json, atomic_write_text
from ereignis.labels import LabelSchema
from ereignis.metrics import multilabel_scores
from ereignis.task import Decision, ThresholdSettings, calibration_errors, fit_decision, label_matrix
from ereignis.training.train import train_on

log = logging.getLogger(__name__)

SUMMARY_METRICS = ("macro_f1", "micro_f1", "subset_accuracy", "macro_average_precision")


def _scores(y: np.ndarray, scores: np.ndarray, decided: np.ndarray, labels: tuple[str, ...],
            headline: list[str]) -> dict[str, Any]:
    result = multilabel_scores(y, decided, labels, scores)
    if headline:
        result["macro_f1_headline"] = float(np.mean([result["per_label"][label]["f1"] for label in headline]))
    return result


def _nested_fitted(task: str, labels: tuple[str, ...], logits: np.ndarray, y: np.ndarray, fold_of: np.ndarray,
                   settings: ThresholdSettings) -> tuple[np.ndarray, np.ndarray]:
    """Scores and decisions where fold k's rule is fitted on the other folds' out-of-fold logits."""
    scores = np.zeros_like(logits, dtype=np.float64)
    decided = np.zeros(logits.shape, dtype=bool)
    for k in np.unique(fold_of):
        held = fold_of == k
        rule = fit_decision(task, labels, logits[~held], y[~held], settings, "out_of_fold")
        scores[held] = rule.probabilities(logits[held])
        decided[held] = rule.decide(scores[held])
    return scores, decided


def cross_validate(cfg: DictConfig) -> Path:
    if distributed.process_count(cfg.train.get("processes", 1)) > 1:
        raise ValueError("ereignis-cv trains its folds in one process; set train.processes=1 (distributed training "
                         "is for ereignis-train)")
    dataset_dir, run_dir = Path(cfg.dataset_dir), Path(cfg.run_dir)
    if not (dataset_dir / "labels.json").exists():
        raise FileNotFoundError(f"{dataset_dir}: no dataset here (labels.json missing); build one with "
                                "`ereignis-data data.split.mode=kfold ...` first")
    dataset = DatasetDict.load_from_disk(str(dataset_dir))
    folds = sorted((name for name in dataset if name.startswith("fold_")), key=lambda name: int(name[5:]))
    if len(folds) < 2:
        raise ValueError(f"{dataset_dir}: has splits {sorted(dataset)}, no folds; rebuild it with "
                         "data.split.mode=kfold (and data.split.folds=5)")
    schema = LabelSchema.load(dataset_dir / "labels.json")
    labels, task = schema.ids, schema.task
    headline = list(cfg.cv.headline_labels or [])
    unknown = sorted(set(headline) - set(labels))
    if unknown:
        raise ValueError(f"cv.headline_labels: unknown labels {unknown}; known: {list(labels)}")
    settings = ThresholdSettings.from_mapping({**cfg.decision, "seed": cfg.seed})

    all_articles = concatenate_datasets([dataset[name] for name in folds])
    y = label_matrix(all_articles["labels"], labels)
    fold_of = np.concatenate([np.full(len(dataset[name]), k) for k, name in enumerate(folds)])
    baselines = cfg.eval.baselines if cfg.cv.baselines else {}
    systems = ["model", *baselines]
    oof = {system: np.zeros(y.shape) for system in systems}
    per_fold: dict[str, list[dict]] = {system: [] for system in systems}
    descriptions: dict[str, str] = {"model": f"{cfg.model.name} ({cfg.train.method})"}
    for k, test_fold in enumerate(folds):
        validation_fold = folds[(k + 1) % len(folds)]
        train_part = concatenate_datasets([dataset[name] for name in folds if name not in (test_fold, validation_fold)])
        parts = DatasetDict(train=train_part, validation=dataset[validation_fold], test=dataset[test_fold])
        log.info("fold %d/%d: train %d, validation %s, test %s", k + 1, len(folds), len(train_part),
                 validation_fold, test_fold)
        trained = train_on(cfg, parts, dataset_dir, run_dir / "folds" / str(k),
                           {"fold": k, "test_fold": test_fold, "validation_fold": validation_fold})
        held = fold_of == k
        oof["model"][held] = trained.logits["test"]
        scores = trained.decision.probabilities(trained.logits["test"])
        per_fold["model"].append(_scores(y[held], scores, trained.decision.decide(scores), labels, headline))
        # baselines learn from train and validation together: they select nothing on validation
        seen = concatenate_datasets([train_part, dataset[validation_fold]])
        for name, baseline_settings in baselines.items():
            baseline, rule = fit_baseline(name, OmegaConf.to_container(baseline_settings), task, labels, seen["text"],
                                          label_matrix(seen["labels"], labels), settings, cfg.eval.baseline_folds,
                                          cfg.seed)
            descriptions[name] = baseline.description
            oof[name][held] = baseline.logits(dataset[test_fold]["text"])
            scores = rule.probabilities(oof[name][held])
            per_fold[name].append(_scores(y[held], scores, rule.decide(scores), labels, headline))

    pooled, calibration = {}, {}
    for system in systems:
        default = Decision.default(task, labels, settings.default)
        default_scores = default.probabilities(oof[system])
        fitted_scores, fitted_decided = _nested_fitted(task, labels, oof[system], y, fold_of, settings)
        pooled[system] = {"default": _scores(y, default_scores, default.decide(default_scores), labels, headline),
                          "fitted": _scores(y, fitted_scores, fitted_decided, labels, headline)}
        if system == "model":
            calibration = {"before": calibration_errors(y, default_scores, labels),
                           "after": calibration_errors(y, fitted_scores, labels)}
    decision = fit_decision(task, labels, oof["model"], y, settings, "out_of_fold")
    metrics = [m for m in (*SUMMARY_METRICS, "macro_f1_headline" if headline else None) if m]
    summary = {system: {metric: {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1))}
                        for metric in metrics
                        if (values := [fold[metric] for fold in per_fold[system] if fold.get(metric) is not None])}
               for system in systems}
    result = {"folds": folds, "labels": list(labels), "task": task, "headline_labels": headline,
              "systems": descriptions, "per_fold": per_fold, "summary": summary, "pooled": pooled,
              "calibration": calibration, "decision": decision.to_dict()}
    atomic_write_json(run_dir / "cv.json", result)
    decision.save(run_dir / "decision.json")
    atomic_write_text(run_dir / "cv.md", render_cv(result))
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    return run_dir


def render_cv(result: dict[str, Any]) -> str:
    headline = result["headline_labels"]
    key = "macro_f1_headline" if headline else "macro_f1"
    title = f"macro-F1 over {', '.join(headline)}" if headline else "macro-F1"
    lines = [f"# Cross-validation: {len(result['folds'])} folds, {result['task'].replace('_', '-')}", "",
             f"Headline: {title}. Each fold's model is scored on articles it never saw; "
             "\"pooled\" scores every article once.", "",
             "| system | mean ± sd over folds (own rule) | pooled, threshold 0.5 "
             "| pooled, thresholds fitted out-of-fold |",
             "|---|---|---|---|"]
    for system, description in result["systems"].items():
        fold = result["summary"][system].get(key, {"mean": float("nan"), "sd": float("nan")})
        pooled = result["pooled"][system]
        lines.append(f"| {system}: {description} | {fold['mean']:.3f} ± {fold['sd']:.3f} | "
                     f"{pooled['default'][key]:.3f} | {pooled['fitted'][key]:.3f} |")
    calibration = result["calibration"]
    lines += ["", f"Model calibration over the pooled scores: expected calibration error "
                  f"{calibration['before']['ece']:.3f} before, {calibration['after']['ece']:.3f} after temperature "
                  f"scaling; Brier score {calibration['before']['brier']:.3f} before, "
                  f"{calibration['after']['brier']:.3f} after.", ""]
    return "\n".join(lines)
