"""`ereignis-compare runs=[...]` (`make compare RUNS=...`): one table and one plot of the headline
metrics of several evaluated runs, with intervals, sorted, and the paired difference to a reference run.

`runs` takes run dirs, globs, sweep folders (their trials), runs with folds (the folds) and
experiment folders (their runs). Headline scores and their intervals are read from each run's
eval/metrics.json. The difference to the reference run is bootstrapped over articles only where
it is paired: both runs scored the same article ids with the same gold labels on `split`; the
same resamples then serve both, which cancels the articles' own difficulty. Runs on different
articles (folds, other datasets) are listed without a difference, since an unpaired difference
of two noisy scores says much less.

Output folder (`output_dir`), written atomically:
    comparison.json   {"split", "metric", "reference", "confidence", "runs": [{"name", "run_dir", "settings", "n",
                      "scores", "intervals", "baseline", "difference": null (the reference) or {"point", "paired",
                      "low", "high"}}, ...], "not_evaluated": [run dirs]}
    comparison.md, comparison.html   the table and the plot (HTML self-contained)
    comparison.png    the plot
"""

from __future__ import annotations

import base64
import glob
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from omegaconf import DictConfig, OmegaConf

from ereignis import runs
from ereignis.evaluation import plots
from ereignis.evaluation.evaldir import Evaluation, label_matrix, load_evaluation
from ereignis.evaluation.report import HEADLINE
from ereignis.evaluation.resampling import f1_from_counts, percentile_interval, resampled_sums
from ereignis.io import atomic_directory, atomic_write_json, atomic_write_text
from ereignis.templates import render

log = logging.getLogger(__name__)


def _runs_below(path: Path) -> list[runs.RunDir]:
    """A run (with its folds), a sweep folder's trials, or an experiment folder's runs and sweeps."""
    run = runs.RunDir(path)
    if run.manifest_json.exists() or run.run_json.exists():
        return [run, *run.folds()]
    trials = runs.sweep_trials(path)
    if trials:
        return trials
    found = runs.find_runs(path.parent, path.name) if path.is_dir() else []
    for sweep in runs.find_sweeps(path.parent, path.name) if path.is_dir() else []:
        found += runs.sweep_trials(sweep)
    return found


def discover_runs(patterns: Sequence[str]) -> tuple[list[runs.RunDir], list[runs.RunDir]]:
    """(evaluated runs, runs without an evaluation), each once, in the order given. Raises one
    FileNotFoundError naming every pattern that matched no run."""
    evaluated, not_evaluated, seen, unmatched = [], [], set(), []
    for pattern in patterns:
        found = [run for path in sorted(glob.glob(str(pattern))) or [pattern] for run in _runs_below(Path(path))]
        if not found:
            unmatched.append(str(pattern))
        for run in found:
            key = run.path.resolve()
            if key not in seen:
                seen.add(key)
                (evaluated if run.eval.metrics_json.exists() else not_evaluated).append(run)
    if unmatched:
        raise FileNotFoundError("no run dir found for " + ", ".join(unmatched)
                                + ": give run dirs, globs, sweep folders or experiment folders")
    if not evaluated:
        raise FileNotFoundError("none of the runs is evaluated: " + ", ".join(str(r.path) for r in not_evaluated)
                                + "; evaluate them first (make eval RUN=<run dir>)")
    return evaluated, not_evaluated


def _names(paths: Sequence[Path]) -> list[str]:
    """Each run's path relative to the folder all of them share (its own name when alone)."""
    resolved = [path.resolve() for path in paths]
    if len(resolved) == 1:
        return [resolved[0].name]
    common = Path(os.path.commonpath(resolved))
    return [str(path.relative_to(common)) or path.name for path in resolved]


def _settings(run_list: Sequence[runs.RunDir]) -> list[str]:
    """The command-line overrides (Hydra's record) in which the runs differ, e.g. a sweep's parameters."""
    overrides = [set(yaml.safe_load(run.overrides_yaml.read_text(encoding="utf-8")) or [])
                 if run.overrides_yaml.exists() else None for run in run_list]
    recorded = [own for own in overrides if own is not None]  # runs started from Python record none
    shared = set.intersection(*recorded) if recorded else set()
    return [", ".join(sorted(own - shared)) if own is not None else "" for own in overrides]


def _headline_sums(rows: Sequence[dict], labels: Sequence[str]) -> np.ndarray:
    """Per article: [tp, fp, fn] per label, gold per label, and 1 where every label is right."""
    gold = label_matrix(rows, "gold", labels).astype(bool)
    predicted = label_matrix(rows, "predicted", labels).astype(bool)
    exact = (gold == predicted).all(axis=1, keepdims=True)
    return np.concatenate([gold & predicted, ~gold & predicted, gold & ~predicted, gold, exact], axis=1)


def _scores_from_sums(sums: np.ndarray, n_labels: int, n_articles: int, scale: float) -> dict[str, np.ndarray]:
    """Headline metrics per resample from `_headline_sums` summed over resampled articles. Macro-F1
    averages the labels with a gold positive in the resample, scaled by the share of labels with
    positives in the full set (as `ereignis.metrics.bootstrap_intervals` does)."""
    tp, fp, fn, gold = (sums[..., k * n_labels:(k + 1) * n_labels] for k in range(4))
    per_label = f1_from_counts(tp, fp, fn)
    present = gold > 0
    macro = np.where(present, per_label, 0).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1) * scale
    micro = f1_from_counts(tp.sum(axis=-1), fp.sum(axis=-1), fn.sum(axis=-1))
    exact = sums[..., -1] / n_articles
    return {"macro_f1": macro, "micro_f1": micro, "subset_accuracy": exact, "accuracy": exact}


def paired_difference(run: Evaluation, reference: Evaluation, split: str, metric: str,
                      bootstrap: dict[str, Any]) -> dict[str, float] | None:
    """Bootstrap interval of run minus reference on `metric`, resampling article ids shared by both;
    None unless both scored the same ids with the same gold labels and label set."""
    rows, reference_rows = run.predictions.get(split, []), reference.predictions.get(split, [])
    labels = list(run.schema.ids)
    if not rows or labels != list(reference.schema.ids):
        return None
    by_id = {row["id"]: row for row in reference_rows}
    if len(by_id) != len(rows) or any(row["id"] not in by_id or sorted(by_id[row["id"]]["gold"]) != sorted(row["gold"])
                                      for row in rows):
        return None
    paired = [by_id[row["id"]] for row in rows]
    stacked = np.stack([_headline_sums(rows, labels), _headline_sums(paired, labels)], axis=1)
    sums = resampled_sums(stacked, bootstrap["n_resamples"], np.random.default_rng(bootstrap["seed"]))
    scale = float((label_matrix(rows, "gold", labels).sum(axis=0) > 0).mean())
    scores = _scores_from_sums(sums, len(labels), len(rows), scale)[metric]  # (resamples, 2)
    return percentile_interval(scores[:, 0] - scores[:, 1], bootstrap["confidence"])


def _difference(run: Evaluation, reference: Evaluation, split: str, metric: str,
                bootstrap: dict[str, Any]) -> dict[str, Any]:
    """{"point", "paired", "low", "high"}: the interval only where the runs are paired."""
    point = (run.metrics["splits"][split]["systems"]["model"][metric]
             - reference.metrics["splits"][split]["systems"]["model"][metric])
    interval = paired_difference(run, reference, split, metric, bootstrap)
    return {"point": point, "paired": interval is not None, **(interval or {"low": None, "high": None})}


def compare_runs(run_list: Sequence[runs.RunDir], split: str = "test", metric: str = "macro_f1",
                 reference: str | None = None, bootstrap: dict[str, Any] | None = None) -> dict[str, Any]:
    """The comparison's rows, best first by `metric` on `split`. `reference` names the run the others
    are compared with (its path or its name in the table); default: the best."""
    bootstrap = bootstrap or {"n_resamples": 1000, "confidence": 0.95, "seed": 0}
    evaluations = [load_evaluation(run.eval.path, run.path) for run in run_list]
    missing = [str(run.path) for run, e in zip(run_list, evaluations, strict=True) if split not in e.metrics["splits"]]
    if missing:
        raise ValueError(f"no '{split}' split in the evaluation of {', '.join(missing)}")
    tasks = {e.task for e in evaluations}
    if len(tasks) > 1:
        raise ValueError(f"the runs solve different tasks ({', '.join(sorted(tasks))}); compare like with like")
    task = tasks.pop()
    if metric not in dict(HEADLINE[task]):
        raise ValueError(f"metric must be one of {', '.join(dict(HEADLINE[task]))} for a {task} task, got {metric!r}")
    names, settings = _names([run.path for run in run_list]), _settings(run_list)
    order = sorted(range(len(evaluations)),
                   key=lambda i: -evaluations[i].metrics["splits"][split]["systems"]["model"][metric])
    if reference is None:
        chosen = order[0]
    else:
        matches = [i for i, (run, name) in enumerate(zip(run_list, names, strict=True))
                   if name == reference or run.path.resolve() == Path(reference).resolve()]
        if not matches:
            raise ValueError(f"reference {reference!r} is none of the compared runs: {', '.join(names)}")
        chosen = matches[0]
    rows = []
    for i in order:
        evaluation, result = evaluations[i], evaluations[i].metrics["splits"][split]
        baseline = evaluation.metrics["reference_baseline"]
        rows.append({
            "name": names[i], "run_dir": str(run_list[i].path), "settings": settings[i],
            "experiment": evaluation.manifest["experiment"], "n": result["n"], "is_reference": i == chosen,
            "scores": {key: result["systems"]["model"][key] for key, _ in HEADLINE[task]},
            "intervals": {key: result["intervals"]["model"][key] for key, _ in HEADLINE[task]},
            "baseline": {"name": baseline, metric: result["systems"][baseline][metric]},
            "difference": None if i == chosen else _difference(evaluation, evaluations[chosen], split, metric,
                                                               bootstrap)})
    return {"split": split, "metric": metric, "metric_words": dict(HEADLINE[task])[metric], "task": task,
            "headline": HEADLINE[task], "reference": names[chosen], "confidence": bootstrap["confidence"],
            "runs": rows}


def write_comparison(comparison: dict[str, Any], not_evaluated: Sequence[runs.RunDir], output_dir: str | Path) -> Path:
    metric = comparison["metric"]
    png = plots.comparison([row["name"] for row in comparison["runs"]],
                           [row["scores"][metric] for row in comparison["runs"]],
                           [row["intervals"][metric] for row in comparison["runs"]],
                           [row["is_reference"] for row in comparison["runs"]],
                           [row["baseline"][metric] for row in comparison["runs"]], comparison["metric_words"])
    figure = {"path": "comparison.png", "data_uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
              "title": f"{comparison['metric_words']} per run",
              "caption": f"Each run's {comparison['metric_words']} on the {comparison['split']} split with its "
                         "interval (best first); the open marker is the run's own reference baseline, the "
                         "reference run is drawn in black."}
    context = {**comparison, "comparison": comparison, "figure": figure,
               "not_evaluated": [str(run.path) for run in not_evaluated]}
    output_dir = Path(output_dir)
    with atomic_directory(output_dir) as tmp:
        (tmp / "comparison.png").write_bytes(png)
        atomic_write_json(tmp / "comparison.json", {**comparison, "not_evaluated": context["not_evaluated"]})
        atomic_write_text(tmp / "comparison.md", render("compare.j2", html=False, **context))
        atomic_write_text(tmp / "comparison.html", render("page.html.j2", html=True, body="compare.j2",
                                                          title="Comparison of runs", **context))
    return output_dir


def compare(cfg: DictConfig) -> Path:
    """The `ereignis-compare` stage: discover, compare, write `cfg.output_dir`."""
    patterns = [cfg.runs] if isinstance(cfg.runs, str) else list(cfg.runs)
    evaluated, not_evaluated = discover_runs(patterns)
    for run in not_evaluated:
        log.warning("%s is not evaluated and left out (make eval RUN=%s)", run.path, run.path)
    comparison = compare_runs(evaluated, cfg.split, cfg.metric, cfg.reference,
                              OmegaConf.to_container(cfg.bootstrap))
    return write_comparison(comparison, not_evaluated, cfg.output_dir)
