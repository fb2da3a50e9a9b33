"""`eval/report.md` and `eval/report.html`: what a reviewer reads to decide whether to trust a run.

Both are rendered from `ereignis/templates/report.j2` (the tables shared with the model card
live in `blocks.j2`); report.html is one self-contained page (figures embedded as data URIs,
a Content-Security-Policy that allows no network access and no script), report.md shows the
same figures from `eval/figures/`.

Inputs: only the eval dir (metrics.json, predictions.jsonl) and the run's manifest.json and
labels.json, read by `ereignis.evaluation.evaldir`. The figures need the predictions; the
per-label F1 intervals of the model are bootstrapped here from predictions.jsonl with the
evaluation's own bootstrap settings (metrics.json carries intervals only for whole-set metrics).

No verdict from few articles: per-label intervals from fewer than 10 gold positives are marked
unreliable, and the model-versus-baseline verdict (paired bootstrap interval of the macro-F1
difference to `reference_baseline`) is withheld when any event type has fewer than 10 here.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ereignis.evaluation import plots
from ereignis.evaluation.evaldir import (
    EXTERNAL_PREFIX,
    MIN_POSITIVES,
    Evaluation,
    effective_thresholds,
    label_matrix,
    load_evaluation,
    score_matrix,
)
from ereignis.evaluation.resampling import f1_from_counts, percentile_interval, resampled_sums
from ereignis.io import atomic_write_text
from ereignis.templates import render

HEADLINE = {
    "multi_label": (("micro_f1", "micro-F1"), ("macro_f1", "macro-F1"), ("subset_accuracy", "all labels right")),
    "single_label": (("accuracy", "accuracy"), ("macro_f1", "macro-F1")),
}
VERDICT_METRIC = "macro_f1"
N_ERROR_EXAMPLES = 3
FIGURES = "figures"

ALL_TASKS = ("multi_label", "single_label")
GLOSSARY = (
    {"term": "precision", "begriff": "Präzision", "tasks": ALL_TASKS,
     "english": "Of the articles the system gave an event type, the share that really report it.",
     "deutsch": "Von den Artikeln, denen das System einen Ereignistyp gibt, der Anteil, der ihn wirklich meldet."},
    {"term": "recall", "begriff": "Trefferquote (Recall)", "tasks": ALL_TASKS,
     "english": "Of the articles that report an event type, the share the system finds.",
     "deutsch": "Von den Artikeln, die einen Ereignistyp melden, der Anteil, den das System findet."},
    {"term": "F1", "begriff": "F1-Wert", "tasks": ALL_TASKS,
     "english": "Precision and recall in one number (their harmonic mean): high only when both are high. "
                "0 means nothing right, 1 means every article found and none wrongly flagged.",
     "deutsch": "Präzision und Trefferquote in einer Zahl (harmonisches Mittel): nur hoch, wenn beide hoch sind. "
                "0 heißt nichts richtig, 1 heißt alle Artikel gefunden und keiner fälschlich markiert."},
    {"term": "micro-F1", "begriff": "Mikro-F1", "tasks": ("multi_label",),
     "english": "F1 over all article-and-event-type decisions pooled: frequent event types weigh more.",
     "deutsch": "F1 über alle Entscheidungen zu Artikel und Ereignistyp zusammen: häufige Ereignistypen zählen mehr."},
    {"term": "macro-F1", "begriff": "Makro-F1", "tasks": ALL_TASKS,
     "english": "The mean of the F1 values of all event types: each type counts the same, rare ones included.",
     "deutsch": "Der Mittelwert der F1-Werte aller Ereignistypen: jeder Typ zählt gleich, auch seltene."},
    {"term": "all labels right (subset accuracy)", "begriff": "alles richtig (Exact Match)", "tasks": ("multi_label",),
     "english": "Share of articles whose set of event types is exactly right: nothing missing, nothing extra.",
     "deutsch": "Anteil der Artikel, deren Menge an Ereignistypen genau stimmt: nichts fehlt, nichts zu viel."},
    {"term": "accuracy", "begriff": "Genauigkeit (Accuracy)", "tasks": ("single_label",),
     "english": "Share of articles that get the right class.",
     "deutsch": "Anteil der Artikel, die die richtige Klasse bekommen."},
    {"term": "average precision", "begriff": "mittlere Präzision (Average Precision)", "tasks": ALL_TASKS,
     "english": "How well the system ranks articles with an event type above those without, whatever the "
                "threshold; 1 is a perfect ranking. High average precision with low F1 means the threshold is off, "
                "not the ranking.",
     "deutsch": "Wie gut das System Artikel mit einem Ereignistyp vor Artikel ohne ihn reiht, unabhängig vom "
                "Schwellenwert; 1 ist eine perfekte Reihung. Hohe mittlere Präzision bei niedrigem F1 heißt: der "
                "Schwellenwert passt nicht, die Reihung schon."},
    {"term": "articles with it (support)", "begriff": "Artikel mit Typ (Support)", "tasks": ALL_TASKS,
     "english": "How many articles in this set the annotators gave the event type.",
     "deutsch": "Wie viele Artikel dieses Satzes die Annotierenden dem Ereignistyp zugeordnet haben."},
    {"term": "interval", "begriff": "Intervall", "tasks": ALL_TASKS,
     "english": "The range of plausible values: the scoring is repeated on many random redraws of the same "
                "articles (bootstrap), and the bracket holds the middle 95 % of the results. Wide means uncertain.",
     "deutsch": "Der Bereich plausibler Werte: die Bewertung wird auf vielen zufälligen Neuziehungen derselben "
                "Artikel wiederholt (Bootstrap); die Klammer enthält die mittleren 95 % der Ergebnisse. Breit heißt "
                "unsicher."},
    {"term": "paired difference", "begriff": "gepaarte Differenz", "tasks": ALL_TASKS,
     "english": "The model's score minus the baseline's, both computed on the same redrawn articles each time. "
                "An interval entirely above 0 means the model is better on articles like these.",
     "deutsch": "Der Wert des Modells minus der des Vergleichsverfahrens, beide jeweils auf denselben neu gezogenen "
                "Artikeln berechnet. Liegt das Intervall ganz über 0, ist das Modell auf solchen Artikeln besser."},
    {"term": "baseline", "begriff": "Vergleichsverfahren (Baseline)", "tasks": ALL_TASKS,
     "english": "A simple method fitted on the same training articles (word or character counts with logistic "
                "regression, or always the label frequencies). The model has to beat it to be worth its cost.",
     "deutsch": "Ein einfaches Verfahren, auf denselben Trainingsartikeln angepasst (Wort- oder Zeichenzählungen mit "
                "logistischer Regression oder stets die Häufigkeiten). Das Modell muss es schlagen, um seinen Aufwand "
                "zu lohnen."},
    {"term": "unreliable (†)", "begriff": "unzuverlässig (†)", "tasks": ALL_TASKS,
     "english": f"Fewer than {MIN_POSITIVES} articles with the event type in this set: its scores swing widely by "
                "chance, so no verdict is drawn from them.",
     "deutsch": f"Weniger als {MIN_POSITIVES} Artikel mit dem Ereignistyp in diesem Satz: die Werte schwanken stark "
                "zufällig, daher wird kein Urteil daraus gezogen."},
    {"term": "threshold", "begriff": "Schwellenwert", "tasks": ("multi_label",),
     "english": "The probability from which an article gets an event type; each type has its own.",
     "deutsch": "Die Wahrscheinlichkeit, ab der ein Artikel einen Ereignistyp bekommt; jeder Typ hat einen eigenen."},
    {"term": "calibration, temperature", "begriff": "Kalibrierung, Temperatur", "tasks": ALL_TASKS,
     "english": "Adjusting the probabilities so that, of all articles given 0.8, about 80 % really report the "
                "event. It is done by dividing the model's raw outputs by one number, the temperature.",
     "deutsch": "Anpassen der Wahrscheinlichkeiten, so dass von allen Artikeln mit 0,8 etwa 80 % das Ereignis "
                "wirklich melden. Dazu werden die Rohwerte des Modells durch eine Zahl geteilt, die Temperatur."},
    {"term": "calibration error", "begriff": "Kalibrierungsfehler", "tasks": ALL_TASKS,
     "english": "The average gap between the probability given and the share of such articles that really report "
                "the event (expected calibration error); 0 means the probabilities can be taken at face value.",
     "deutsch": "Die mittlere Lücke zwischen angegebener Wahrscheinlichkeit und dem Anteil solcher Artikel, die das "
                "Ereignis wirklich melden (Expected Calibration Error); 0 heißt, die Wahrscheinlichkeiten stimmen."},
    {"term": "Brier score", "begriff": "Brier-Score", "tasks": ALL_TASKS,
     "english": "The mean squared difference between probability and truth (1 or 0); lower is better.",
     "deutsch": "Die mittlere quadrierte Differenz zwischen Wahrscheinlichkeit und Wahrheit (1 oder 0); kleiner ist "
                "besser."},
    {"term": "wrongly flagged (false positive)", "begriff": "Fehlalarm (falsch positiv)", "tasks": ALL_TASKS,
     "english": "An article given an event type it does not report.",
     "deutsch": "Ein Artikel, der einen Ereignistyp bekommt, den er nicht meldet."},
    {"term": "missed (false negative)", "begriff": "übersehen (falsch negativ)", "tasks": ALL_TASKS,
     "english": "An article that reports an event type the system did not give it.",
     "deutsch": "Ein Artikel, der einen Ereignistyp meldet, den das System ihm nicht gibt."},
    {"term": "co-occurrence", "begriff": "gemeinsames Auftreten", "tasks": ("multi_label",),
     "english": "How many articles carry both event types of a pair, as annotated and as predicted.",
     "deutsch": "Wie viele Artikel beide Ereignistypen eines Paares tragen, laut Annotation und laut Vorhersage."},
    {"term": "confusion matrix", "begriff": "Verwechslungsmatrix", "tasks": ("single_label",),
     "english": "For each annotated class, how many articles the model put in each class.",
     "deutsch": "Für jede annotierte Klasse, wie viele Artikel das Modell welcher Klasse zuordnet."},
)


def glossary(task: str) -> list[dict[str, str]]:
    return [entry for entry in GLOSSARY if task in entry["tasks"]]


def section_title(key: str) -> str:
    if key.startswith(EXTERNAL_PREFIX):
        return f"External test set: {key.removeprefix(EXTERNAL_PREFIX)}"
    return f"{key.capitalize()} split"


def per_label_f1_intervals(gold: np.ndarray, predicted: np.ndarray, labels: Sequence[str],
                           bootstrap: dict[str, Any]) -> dict[str, dict[str, float] | None]:
    """Percentile bootstrap interval of each label's F1 over articles; None for a label without positives."""
    gold, predicted = gold.astype(bool), predicted.astype(bool)
    counts = np.stack([gold & predicted, ~gold & predicted, gold & ~predicted], axis=1)  # tp, fp, fn per article
    sums = resampled_sums(counts, bootstrap["n_resamples"], np.random.default_rng(bootstrap["seed"]))
    f1 = f1_from_counts(sums[:, 0], sums[:, 1], sums[:, 2])
    return {label: percentile_interval(f1[:, j], bootstrap["confidence"]) if gold[:, j].any() else None
            for j, label in enumerate(labels)}


def verdict(result: dict[str, Any], reference: str) -> str | None:
    """The model against the reference baseline on macro-F1, or why there is no verdict."""
    delta = result["intervals"].get(f"model_minus_{reference}", {}).get(VERDICT_METRIC)
    if not delta:
        return None
    systems = result["systems"]
    point = systems["model"][VERDICT_METRIC] - systems[reference][VERDICT_METRIC]
    text = (f"Model minus {reference}, macro-F1: {point:+.3f} (paired bootstrap interval {delta['low']:+.3f} "
            f"to {delta['high']:+.3f})")
    if result["unreliable_labels"]:
        return (f"{text}. No verdict: {', '.join(result['unreliable_labels'])} "
                f"{'has' if len(result['unreliable_labels']) == 1 else 'have'} fewer than {MIN_POSITIVES} "
                "articles here, too few to tell the two apart.")
    if delta["low"] > 0:
        return f"{text}: the model is better than {reference} (the whole interval is above 0)."
    if delta["high"] < 0:
        return f"{text}: the model is worse than {reference} (the whole interval is below 0)."
    return f"{text}: no clear difference (the interval contains 0)."


def error_examples(rows: Sequence[dict], labels: Sequence[str], scores: np.ndarray, gold: np.ndarray,
                   predicted: np.ndarray, k: int = N_ERROR_EXAMPLES) -> dict[str, list[dict[str, Any]]]:
    """Per label the k most confident mistakes: wrongly flagged articles with the highest probability,
    missed articles with the lowest, each with its excerpt and the evidence the model pointed to."""
    examples: dict[str, list[dict[str, Any]]] = {}
    for j, label in enumerate(labels):
        wrongly_flagged = np.flatnonzero((predicted[:, j] == 1) & (gold[:, j] == 0))
        missed = np.flatnonzero((predicted[:, j] == 0) & (gold[:, j] == 1))
        chosen = ([("wrongly flagged", i) for i in wrongly_flagged[np.argsort(-scores[wrongly_flagged, j])][:k]]
                  + [("missed", i) for i in missed[np.argsort(scores[missed, j])][:k]])
        if chosen:
            examples[label] = [_example(kind, rows[i], label, scores[i, j]) for kind, i in chosen]
    return examples


def _example(kind: str, row: dict, label: str, score: float) -> dict[str, Any]:
    evidence = row.get("evidence", {}).get(label)
    if evidence:
        where = f"window {evidence['window'] + 1}: " if evidence.get("window") is not None else ""
        relied_on = f"{where}{evidence['sentence']}"
    else:
        relied_on = "(none recorded: the model did not give this label)" if kind == "missed" else "(none recorded)"
    return {"kind": kind, "id": row["id"], "score": float(score), "excerpt": row.get("excerpt", ""),
            "evidence": relied_on}


def _figure(figures_dir: Path, name: str, png: bytes, title: str, caption: str) -> dict[str, str]:
    (figures_dir / name).write_bytes(png)
    return {"path": f"{FIGURES}/{name}", "data_uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            "title": title, "caption": caption}


def _figures(evaluation: Evaluation, key: str, view: dict[str, Any], figures_dir: Path, slug: str) -> list[dict]:
    """The section's figures, written to `figures_dir` and returned for embedding."""
    rows, labels, task = evaluation.predictions[key], list(evaluation.schema.ids), evaluation.task
    decision, result = evaluation.decision, view["result"]
    reference = evaluation.metrics["reference_baseline"]
    gold, predicted, scores = view["arrays"]
    multi = task == "multi_label"
    thresholds = [effective_thresholds(decision)[label] for label in labels] if multi else None
    default = decision["default_threshold"] if multi else None
    model = result["systems"]["model"]["per_label"]
    figures = [_figure(
        figures_dir, f"{slug}_f1.png", plots.f1_by_label(
            labels, [model[label]["f1"] for label in labels], [view["f1_intervals"][label] for label in labels],
            {name: [result["systems"][name]["per_label"][label]["f1"] for label in labels]
             for name in evaluation.baselines}, [label in view["unreliable"] for label in labels]),
        "F1 per event type", "The model's F1 per event type (bars, with intervals) beside each baseline (markers). "
                             "Grey bars: fewer than 10 articles with the type here; their intervals say little.")]
    figures.append(_figure(
        figures_dir, f"{slug}_precision_recall.png", plots.precision_recall_curves(
            labels, gold, scores, score_matrix(rows, labels, reference), reference, thresholds, default),
        "Precision and recall", "Each curve shows what a threshold trades: further right finds more articles with "
                                "the event, further up flags fewer wrongly. The dot is the threshold in use."))
    calibration = result.get("calibration")
    if calibration:
        figures.append(_figure(
            figures_dir, f"{slug}_reliability.png", plots.reliability_diagrams(
                gold, plots.raw_probabilities(scores, decision["temperature"], task), scores,
                calibration["before"]["ece"], calibration["after"]["ece"]),
            "Calibration", "Every article and event type is one case. On the dashed line, a probability of 0.7 "
                           "means the event is reported in 70 % of such cases."))
    if multi:
        figures.append(_figure(figures_dir, f"{slug}_cooccurrence.png", plots.cooccurrence(labels, gold, predicted),
                               "Co-occurrence", "Articles that carry both event types of a pair; the diagonal "
                                                "counts each type. Left as annotated, right as predicted."))
        validation = evaluation.predictions.get("validation")
        fitted = None
        if decision["fitted_on"] == "validation" and validation and key != "validation":
            fitted = (label_matrix(validation, "gold", labels), score_matrix(validation, labels),
                      "validation (thresholds fitted here)")
        figures.append(_figure(
            figures_dir, f"{slug}_threshold_sweep.png", plots.threshold_sweep(
                labels, gold, scores, thresholds, default, section_title(key).lower(), fitted),
            "Threshold sweep", "F1 for every threshold the event type could have had. A peak far from the "
                               "threshold in use means the threshold does not carry over to these articles."))
    else:
        figures.append(_figure(figures_dir, f"{slug}_confusion.png", plots.confusion(labels, gold, predicted),
                               "Confusion matrix", "Rows: annotated class; columns: the class the model chose. "
                                                   "Everything off the diagonal is an error."))
    figures.append(_figure(
        figures_dir, f"{slug}_scores.png", plots.score_distributions(labels, gold, scores, thresholds),
        "Score distributions", "Well separated groups make the event type easy to decide; overlap around the "
                               "threshold is where the errors come from."))
    return figures


def _plotted(key: str) -> bool:
    """Figures and examples for the held-out sets; validation helped choose the model and its rule."""
    return key == "test" or key.startswith(EXTERNAL_PREFIX)


def section_view(evaluation: Evaluation, key: str, result: dict[str, Any]) -> dict[str, Any]:
    """What the templates show for one evaluated set (figures are added by `write_reports`)."""
    labels = list(evaluation.schema.ids)
    rows = evaluation.predictions.get(key, [])
    # read off the rows once per set, for the intervals, the error analysis and the figures
    gold, predicted = label_matrix(rows, "gold", labels), label_matrix(rows, "predicted", labels)
    scores = score_matrix(rows, labels) if rows and _plotted(key) else None
    notes = []
    if key == "validation" and evaluation.decision["fitted_on"] == "validation":
        notes.append("The temperature and thresholds were fitted on this split, and it chose the training epoch: "
                     "its scores flatter the model. Read the test split.")
    view = {"key": key, "title": section_title(key), "anchor": re.sub(r"[^a-z0-9]+", "-", key.lower()),
            "n": result["n"], "result": result, "notes": notes, "unreliable": result["unreliable_labels"],
            "verdict": verdict(result, evaluation.metrics["reference_baseline"]),
            "f1_intervals": (per_label_f1_intervals(gold, predicted, labels, evaluation.metrics["bootstrap"]) if rows
                             else dict.fromkeys(labels)),
            "figures": [], "errors": None, "arrays": (gold, predicted, scores)}
    if scores is not None:
        view["errors"] = error_examples(rows, labels, scores, gold, predicted)
    return view


def _reading_order(key: str) -> int:
    """Held-out sets first: the test split, then external sets, then the rest (validation)."""
    return 0 if key == "test" else 1 if key.startswith(EXTERNAL_PREFIX) else 2


def headline_line(view: dict[str, Any], reference: str) -> str:
    """One sentence per set for the top of the report: the model's headline score, the reference's, the verdict."""
    systems, interval = view["result"]["systems"], view["result"]["intervals"]["model"][VERDICT_METRIC]
    line = (f"{view['title']} ({view['n']} articles): model macro-F1 {systems['model'][VERDICT_METRIC]:.3f} "
            f"(interval {interval['low']:.3f} to {interval['high']:.3f}), {reference} "
            f"{systems[reference][VERDICT_METRIC]:.3f}.")
    return f"{line} {view['verdict']}" if view["verdict"] else line


def evaluation_view(evaluation: Evaluation) -> dict[str, Any]:
    """The context every template gets: the run, its systems and decision rule, one view per set."""
    metrics, manifest, task = evaluation.metrics, evaluation.manifest, evaluation.task
    model = manifest["model"]
    facts = [f"model: {model['config']} ({model['name_or_path'] or 'tiny model built offline'}), "
             f"max length {model['max_length']} tokens",
             "task: " + ("multi-label (any number of event types per article)" if task == "multi_label"
                         else "single-label (one class per article)"),
             f"dataset fingerprint {manifest['dataset']['fingerprint'][:16]}, seed {manifest['seed']}",
             "long articles: " + ("cut at the max length" if metrics["long_articles"] == "truncate" else
                                  "read in overlapping windows, pooled by "
                                  f"{metrics.get('window_pooling', 'max')} per event type")]
    truncated = manifest.get("truncation", {}).get("test", {}).get("share_truncated")
    if truncated:
        facts.append(f"{truncated:.0%} of test articles are longer than the max length")
    bootstrap = metrics["bootstrap"]
    sections = sorted((section_view(evaluation, key, result) for key, result in evaluation.sections()),
                      key=lambda view: _reading_order(view["key"]))
    return {
        "experiment": manifest["experiment"], "task": task, "schema": evaluation.schema,
        "labels": list(evaluation.schema.ids), "facts": facts,
        "systems": [{"name": name, "description": description} for name, description in metrics["systems"].items()],
        "baselines": evaluation.baselines, "reference": metrics["reference_baseline"],
        "decision": evaluation.decision, "headline": HEADLINE[task], "bootstrap": bootstrap,
        "interval_words": f"{bootstrap['confidence']:.0%} percentile bootstrap intervals over articles "
                          f"({bootstrap['n_resamples']} resamples)",
        "sections": sections, "summary": [headline_line(view, metrics["reference_baseline"])
                                          for view in sections if _plotted(view["key"])],
        "glossary": glossary(task), "min_positives": MIN_POSITIVES,
        "label_word": "event type" if task == "multi_label" else "class",
        "label_words": "event types" if task == "multi_label" else "classes",
    }


def write_reports(eval_dir: str | Path, run_dir: str | Path | None = None) -> dict[str, Path]:
    """Write report.md, report.html and figures/ into `eval_dir` (which may be the evaluation's
    temporary folder: pass `run_dir` then). Returns the paths written."""
    eval_dir = Path(eval_dir)
    evaluation = load_evaluation(eval_dir, run_dir)
    context = evaluation_view(evaluation)
    figures_dir = eval_dir / FIGURES
    shutil.rmtree(figures_dir, ignore_errors=True)  # a figure of a set no longer evaluated must not linger
    figures_dir.mkdir()
    for index, view in enumerate(context["sections"]):
        if view["key"] in evaluation.predictions and _plotted(view["key"]):
            view["figures"] = _figures(evaluation, view["key"], view, figures_dir, f"{index}_{view['anchor']}")
    title = f"Evaluation: {context['experiment']}"
    return {"markdown": atomic_write_text(eval_dir / "report.md", render("report.j2", html=False, **context)),
            "html": atomic_write_text(eval_dir / "report.html", render(
                "page.html.j2", html=True, title=title, body="report.j2", **context))}
