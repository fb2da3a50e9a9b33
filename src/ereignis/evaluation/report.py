"""`eval/report.md`: the evaluation's numbers as tables a reader can check."""

from __future__ import annotations

from typing import Any

from ereignis.labels import LabelSchema

SUMMARY = (("micro_f1", "micro-F1"), ("macro_f1", "macro-F1"), ("subset_accuracy", "subset accuracy"))


def _with_interval(value: float, interval: dict[str, float]) -> str:
    return f"{value:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _verdict(delta: dict[str, float]) -> str:
    if delta["low"] > 0:
        return "the model is better than the baseline (interval above 0)"
    if delta["high"] < 0:
        return "the model is worse than the baseline (interval below 0)"
    return "no clear difference between model and baseline (interval contains 0)"


def _section(title: str, result: dict[str, Any], schema: LabelSchema, confidence: float, threshold: float) -> list[str]:
    systems, intervals = result["systems"], result["intervals"]
    lines = [f"## {title} (n = {result['n']})", "",
             f"| system | {' | '.join(name for _, name in SUMMARY)} | macro AP |", "|---|" + "---|" * (len(SUMMARY) + 1)]
    for system, scores in systems.items():
        cells = [_with_interval(scores[key], intervals[system][key]) for key, _ in SUMMARY]
        lines.append(f"| {system} | {' | '.join(cells)} | {_number(scores['macro_average_precision'])} |")
    delta = intervals.get("model_minus_baseline")
    if delta:
        point = systems["model"]["macro_f1"] - systems["baseline"]["macro_f1"]
        lines += ["", f"Model minus baseline, macro-F1: {_with_interval(point, delta['macro_f1'])} "
                      f"(paired bootstrap): {_verdict(delta['macro_f1'])}."]
    lines += ["", f"Brackets: {confidence:.0%} percentile bootstrap intervals over articles.", "",
              "AP: average precision, threshold-free (mean over labels with positives). High AP with low F1 "
              f"means the {threshold} threshold suits this data badly, not that the ranking is poor.", "",
              "| label | support | model precision | model recall | model F1 | model AP | baseline F1 | baseline AP |",
              "|---|---|---|---|---|---|---|---|"]
    for label in schema.ids:
        m, b = systems["model"]["per_label"][label], systems["baseline"]["per_label"][label]
        lines.append(f"| {label} | {m['support']} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                     f"{_number(m['average_precision'])} | {b['f1']:.3f} | {_number(b['average_precision'])} |")
    missing = [label for label in schema.ids if systems["model"]["per_label"][label]["support"] == 0]
    if missing:
        lines += ["", f"No positive article for {', '.join(missing)}: their F1 counts as 0 in macro-F1."]
    return lines + [""]


def render_report(metrics: dict[str, Any], schema: LabelSchema, manifest: dict[str, Any]) -> str:
    confidence = metrics["bootstrap"]["confidence"]
    lines = [f"# Evaluation: {manifest['experiment']}", "",
             f"- model: `{manifest['model']['config']}` ({manifest['model']['name_or_path'] or 'built offline'}), "
             f"max length {manifest['model']['max_length']} tokens",
             f"- dataset fingerprint: `{manifest['dataset']['fingerprint'][:16]}`, seed {manifest['seed']}",
             f"- decision threshold: {metrics['threshold']} for every label",
             f"- long articles: {metrics['long_articles']} "
             + ("(cut at the max length)" if metrics["long_articles"] == "truncate" else
                "(overlapping windows over the whole text, highest probability per label)"),
             f"- baseline: TF-IDF (word {'-'.join(map(str, metrics['baseline_settings']['ngram_range']))}-grams) + "
             "one logistic regression per label, fitted on the same train split",
             ""]
    truncation = manifest.get("truncation", {}).get("test")
    if truncation and metrics["long_articles"] == "truncate":
        lines += [f"{truncation['share_truncated']:.0%} of test articles are longer than the max length and are "
                  "cut there (title, lead and key points come first, so the body's end is what is lost).", ""]
    elif truncation:
        lines += [f"{truncation['share_truncated']:.0%} of test articles are longer than the max length and are read "
                  "in overlapping windows; training saw only each article's first window.", ""]
    for split, result in metrics["splits"].items():
        lines += _section(f"Split: {split}", result, schema, confidence, metrics["threshold"])
    for name, result in metrics["external"].items():
        lines += _section(f"External test set: {name}", result, schema, confidence, metrics["threshold"])
    return "\n".join(lines)
