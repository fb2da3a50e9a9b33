"""Hand-made evaluated runs in the eval dir format that the report, the card and ereignis-compare
read (documented in ereignis.evaluation.run): decision.json, eval/metrics.json with four systems,
eval/predictions.jsonl with calibrated scores, evidence and excerpts, plus the run files the card
needs. Numbers are computed with ereignis.metrics from synthetic scores, as the evaluation would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from ereignis.labels import Label, LabelSchema
from ereignis.metrics import bootstrap_intervals, multilabel_scores

PLAIN_LABELS = (
    Label("protest", "Protest", "Demonstrationen, Streiks, Kundgebungen.", "Online-Petitionen."),
    Label("summit", "Gipfel", "Treffen von Staats- und Regierungschefs.", "Fachministertreffen."),
    Label("sanctions", "Sanktionen", "Verhängte oder verschärfte Sanktionen.", "Bloße Drohungen."),
    Label("rare_event", "Seltenes", "Kommt kaum vor.", ""),
)
# what a careless or malicious labels file can carry into every document that shows labels
HOSTILE_LABELS = (
    Label("pro|test", "Protest <script>alert('name')</script>", "Demos | Streiks\n\n# Überschrift",
          "![pixel](http://evil.example/p.png) [click](javascript:alert(1))"),
    Label("<b>summit</b>", "Gipfel & Co", "<img src=x onerror=alert(1)> Treffen", "`code` *fett* _kursiv_"),
    Label("sanctions $\\oops{$", "Sanktionen $x$", "Normal.", "| | |"),
    Label("rare_event", "Seltenes\r\nZeile", "- Liste\n1. Punkt", "</td></tr></table>"),
)
PREVALENCE = (0.3, 0.25, 0.2, 0.04)
SKILL = {"model": 3.0, "tfidf_word": 2.0, "tfidf_char": 1.6}
TEMPERATURE = 1.5


def _ece_brier(gold: np.ndarray, p: np.ndarray) -> dict:
    def one(g: np.ndarray, s: np.ndarray) -> dict:
        which = np.minimum((s * 10).astype(int), 9)
        ece = sum(abs(s[which == b].mean() - g[which == b].mean()) * (which == b).mean()
                  for b in range(10) if (which == b).any())
        return {"ece": float(ece), "brier": float(((s - g) ** 2).mean())}
    return one(gold.ravel(), p.ravel())


def _calibration(gold: np.ndarray, raw: np.ndarray, calibrated: np.ndarray, labels) -> dict:
    return {stage: {**_ece_brier(gold, p), "per_label": {label: _ece_brier(gold[:, j], p[:, j])
                                                          for j, label in enumerate(labels)}}
            for stage, p in (("before", raw), ("after", calibrated))}


def _scores(rng, gold: np.ndarray, task: str, skill: float) -> dict[str, np.ndarray]:
    """Calibrated scores of the model and the baselines, and the model's raw scores."""
    def squash(logits):
        if task == "single_label":
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return 1 / (1 + np.exp(-logits))
    out = {}
    for system, system_skill in {**SKILL, "model": skill}.items():
        logits = (2 * gold - 1) * system_skill + rng.normal(0, 1.5, gold.shape) - 1.0
        out[system] = squash(logits)
        if system == "model":  # the raw model is overconfident: its logits are T times too large
            out["model_raw"] = squash(logits * TEMPERATURE)
    out["prior"] = np.tile(gold.mean(axis=0), (len(gold), 1))
    return out


def _decide(scores: np.ndarray, thresholds: np.ndarray, task: str) -> np.ndarray:
    if task == "single_label":
        return np.eye(scores.shape[1], dtype=int)[scores.argmax(axis=1)]
    return (scores >= thresholds).astype(int)


def _section(rng, score_rng, n: int, labels, task: str, thresholds: np.ndarray, prefix: str, split: str,
             skill: float):
    if task == "single_label":
        gold = np.eye(len(labels), dtype=int)[rng.choice(len(labels), n, p=np.array(PREVALENCE) / sum(PREVALENCE))]
    else:
        gold = (rng.random((n, len(labels))) < PREVALENCE).astype(int)
    scores = _scores(score_rng, gold, task, skill)
    systems = ("model", "tfidf_word", "tfidf_char", "prior")
    predicted = {s: _decide(scores[s], thresholds if s == "model" else 0.5, task) for s in systems}
    result = {}
    for s in systems:
        result[s] = multilabel_scores(gold, predicted[s], labels, scores[s])
        if task == "single_label":
            result[s]["accuracy"] = result[s]["subset_accuracy"]
    intervals = bootstrap_intervals(gold, predicted, 200, 0.95, 0)
    if task == "single_label":
        for name in list(intervals):
            intervals[name]["accuracy"] = intervals[name]["subset_accuracy"]
    support = gold.sum(axis=0)
    section = {"n": n, "systems": result, "intervals": intervals,
               "calibration": _calibration(gold, scores["model_raw"], scores["model"], labels),
               "unreliable_labels": [label for label, c in zip(labels, support, strict=True) if c < 10]}
    rows = []
    for i in range(n):
        chosen = [label for label, flag in zip(labels, predicted["model"][i], strict=True) if flag]
        rows.append({
            "id": f"{prefix}{i:03d}", "split": split,
            "gold": [label for label, flag in zip(labels, gold[i], strict=True) if flag], "predicted": chosen,
            "scores": {label: round(float(p), 4) for label, p in zip(labels, scores["model"][i], strict=True)},
            "baseline_scores": {s: {label: round(float(p), 4) for label, p in zip(labels, scores[s][i], strict=True)}
                                for s in systems[1:]},
            "evidence": {label: {"window": 0, "sentence": f"Satz über {label} in Artikel {i}."} for label in chosen},
            "excerpt": f"Artikel {prefix}{i:03d}: Die Lage am Montag | <em>Meldung</em> mit Text.",
        })
    return section, rows


def make_run(root: Path, *, task: str = "multi_label", labels=PLAIN_LABELS, n_test: int = 150,
             n_validation: int = 80, external: dict[str, int] | None = None, seed: int = 0,
             id_prefix: str = "a", experiment: str = "fixture", model_seed: int = 0,
             skill: float = SKILL["model"]) -> Path:
    """An evaluated run dir at `root`: the same `seed`, sizes and `id_prefix` give the same articles and
    gold labels; `model_seed` and `skill` vary the model's scores on them."""
    rng, score_rng = np.random.default_rng(seed), np.random.default_rng([seed, model_seed])
    run = root
    (run / "eval").mkdir(parents=True)
    schema = LabelSchema("fixture", tuple(labels), rule="Ein Artikel bekommt jeden Typ, über den er berichtet.")
    schema.save(run / "labels.json")
    ids = list(schema.ids)
    thresholds = np.array([0.4, 0.55, 0.5, 0.5])
    decision = {
        "task": task, "labels": ids, "default_threshold": 0.5, "temperature": TEMPERATURE,
        "thresholds": dict(zip(ids, thresholds.tolist(), strict=True)), "fitted_on": "validation", "objective": "f1",
        "per_label": {label: {"n_positives": 30 - 25 * (j == 3), "threshold": float(t),
                              "fitted_threshold": None if j == 3 else float(t), "f1_at_default": 0.6,
                              "f1_at_threshold": 0.6 if j == 3 else 0.64,
                              "reason": "too few positives" if j == 3 else "fitted"}
                      for j, (label, t) in enumerate(zip(ids, thresholds, strict=True))}}
    (run / "decision.json").write_text(json.dumps(decision), encoding="utf-8")
    sets = {"validation": n_validation, "test": n_test, **{f"external:{k}": v for k, v in (external or {}).items()}}
    metrics = {"run_dir": str(run), "task": task, "labels": ids, "decision": {**decision, "override": None},
               "long_articles": "windows", "window_pooling": "max",
               "systems": {"model": "the fine-tuned model, calibrated",
                           "tfidf_word": "TF-IDF word 1-2-grams + logistic regression",
                           "tfidf_char": "TF-IDF character 2-5-grams + logistic regression",
                           "prior": "every article gets each label's training frequency"},
               "reference_baseline": "tfidf_word", "bootstrap": {"n_resamples": 200, "confidence": 0.95, "seed": 0},
               "splits": {}, "external": {}}
    rows = []
    for key, n in sets.items():
        section, section_rows = _section(rng, score_rng, n, ids, task, thresholds, f"{id_prefix}-{key}-", key, skill)
        if key.startswith("external:"):
            metrics["external"][key.removeprefix("external:")] = section
        else:
            metrics["splits"][key] = section
        rows += section_rows
    (run / "eval" / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (run / "eval" / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _run_files(run, schema, experiment, metrics)
    return run


def _run_files(run: Path, schema: LabelSchema, experiment: str, metrics: dict) -> None:
    """manifest.json, config.yaml and dataset_stats.json as training writes them (what the card reads)."""
    (run / "manifest.json").write_text(json.dumps({
        "experiment": experiment, "created": "2026-01-01T00:00:00+00:00", "seed": 42,
        "dataset": {"dir": "data/processed/x", "fingerprint": "f" * 64, "n_articles": {"train": 500}},
        "model": {"config": "tiny", "name_or_path": None, "max_length": 256, "n_parameters": 12345},
        "truncation": {"test": {"n_truncated": 3, "share_truncated": 0.02}}, "validation_macro_f1": 0.61,
        "task": metrics["task"], "method": "fine_tune", "epochs_run": 4.0, "git": {"commit": "0" * 40, "dirty": False},
        "training_arguments": {"learning_rate": 5e-05, "lr_scheduler_type": "linear", "warmup_ratio": 0.1,
                               "per_device_train_batch_size": 16, "gradient_accumulation_steps": 1,
                               "num_train_epochs": 5, "bf16": False, "fp16": False, "torch_compile": False},
        "packages": {"ereignis": "0.1.0", "transformers": "5.0.0", "torch": "2.13.0"},
        "hardware": {"gpus": [], "cpu_count": 2}, "wall_time_s": 12.5}), encoding="utf-8")
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"name": "fixture_data"}, "seed": 42}), encoding="utf-8")
    splits = {split: {"n_articles": result["n"], "n_without_label": 0, "n_multi_label": 0, "words": {"p50": 300},
                      "label_counts": {label: s["support"] for label, s in
                                       result["systems"]["model"]["per_label"].items()}}
              for split, result in metrics["splits"].items()}
    (run / "dataset_stats.json").write_text(json.dumps({"n_articles": sum(s["n_articles"] for s in splits.values()),
                                                        "n_exact_duplicates_dropped": 0, "splits": splits}),
                                            encoding="utf-8")
