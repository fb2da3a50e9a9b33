"""The report's figures: each function takes arrays and returns PNG bytes.

Figures are built as `matplotlib.figure.Figure` objects and rendered by the Agg canvas, without
pyplot: no display, no global figure registry to leak memory between sections.

Axes and legends say in words what is shown, for readers who do not know the metric names.
Per-label figures are grids with one small panel per label, in the label schema's order.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
from collections.abc import Callable, Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve

from ereignis.evaluation.resampling import f1_from_counts

DPI = 80
COLUMNS = 4
PANEL = (3.2, 2.5)  # inches per label panel
MODEL_COLOUR, BASELINE_COLOUR, OTHER_COLOUR = "#1f5fa8", "#d9822b", "#7a7a7a"
SWEEP = np.round(np.arange(0.01, 1.0, 0.01), 2)


def _plain_text(plot: Callable[..., bytes]) -> Callable[..., bytes]:
    """Labels are data: `$` in a label must print as `$`, not start matplotlib's math mode (or fail in it)."""
    @functools.wraps(plot)
    def plot_with_plain_text(*args, **kwargs) -> bytes:
        with matplotlib.rc_context({"text.parse_math": False}):
            return plot(*args, **kwargs)
    return plot_with_plain_text


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def _grid(labels: Sequence[str], title: str) -> tuple[Figure, list[Axes]]:
    """One panel per label; unused panels of the last row are hidden."""
    columns = min(COLUMNS, len(labels))
    rows = math.ceil(len(labels) / columns)
    figure = Figure(figsize=(PANEL[0] * columns, PANEL[1] * rows + 0.6))
    axes = figure.subplots(rows, columns, squeeze=False)
    flat = list(axes.flat)
    for axis in flat[len(labels):]:
        axis.set_visible(False)
    figure.suptitle(title, fontsize=12)
    return figure, flat[:len(labels)]


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def raw_probabilities(scores: np.ndarray, temperature: float, task: str) -> np.ndarray:
    """Undo temperature scaling: sigmoid(logit(p) * T) per label, or softmax(log(p) * T) per article."""
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    if task == "single_label":
        powered = p ** temperature
        return powered / powered.sum(axis=1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-np.log(p / (1 - p)) * temperature))


@_plain_text
def f1_by_label(labels: Sequence[str], model_f1: Sequence[float], model_intervals: Sequence[dict | None],
                baseline_f1: Mapping[str, Sequence[float]], unreliable: Sequence[bool]) -> bytes:
    """Horizontal bars of the model's F1 per label with its interval; each baseline as a marker."""
    height = 0.6 + 0.45 * len(labels)
    figure = Figure(figsize=(8, height))
    axis = figure.subplots()
    y = np.arange(len(labels))[::-1]
    low = [f1 - (iv["low"] if iv else f1) for f1, iv in zip(model_f1, model_intervals, strict=True)]
    high = [(iv["high"] if iv else f1) - f1 for f1, iv in zip(model_f1, model_intervals, strict=True)]
    colours = [OTHER_COLOUR if flag else MODEL_COLOUR for flag in unreliable]
    axis.barh(y, model_f1, color=colours, alpha=0.8, label="model (grey: fewer than 10 articles, unreliable)")
    axis.errorbar(model_f1, y, xerr=[low, high], fmt="none", ecolor="black", capsize=3, label="model: interval")
    for (name, values), marker in zip(baseline_f1.items(), itertools.cycle("oDs^v<>"), strict=False):
        axis.scatter(values, y, marker=marker, color=BASELINE_COLOUR, zorder=3, label=f"baseline: {name}",
                     facecolors="none" if marker != "o" else BASELINE_COLOUR)
    axis.set_yticks(y, [_short(label, 40) for label in labels])
    axis.set_xlim(0, 1)
    axis.set_xlabel("F1 (0 = never right, 1 = every article found and nothing wrongly flagged)")
    axis.set_title("How well each event type is recognised")
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18 - 0.5 / height), ncol=2, fontsize=8, frameon=False)
    return _png(figure)


@_plain_text
def precision_recall_curves(labels: Sequence[str], gold: np.ndarray, scores: np.ndarray,
                            reference_scores: np.ndarray, reference_name: str, thresholds: Sequence[float] | None,
                            default_threshold: float | None) -> bytes:
    """Per label: precision against recall as the threshold moves, the threshold in use marked
    (multi-label; a single-label task decides by the highest probability, not by a threshold)."""
    figure, axes = _grid(labels, "Precision and recall as the threshold moves")
    for j, (label, axis) in enumerate(zip(labels, axes, strict=True)):
        positives = int(gold[:, j].sum())
        axis.set_title(f"{_short(label)} ({positives} with event)", fontsize=9)
        axis.set_xlim(0, 1.02)
        axis.set_ylim(0, 1.02)
        if positives == 0:
            axis.text(0.5, 0.5, "no article with this event", ha="center", va="center", fontsize=8)
            continue
        for values, colour, name in ((scores[:, j], MODEL_COLOUR, "model"),
                                     (reference_scores[:, j], BASELINE_COLOUR, reference_name)):
            precision, recall, _ = precision_recall_curve(gold[:, j], values)
            axis.step(recall, precision, where="post", color=colour, label=name, linewidth=1.2)
        marks = [] if thresholds is None else [(thresholds[j], "o", "threshold in use"),
                                               (default_threshold, "x", f"default {default_threshold:g}")]
        for threshold, marker, name in marks:
            flagged = scores[:, j] >= threshold
            hits = int((flagged & (gold[:, j] == 1)).sum())
            precision = hits / flagged.sum() if flagged.any() else 1.0
            axis.scatter(hits / positives, precision, marker=marker, color="black", zorder=3, s=30, label=name)
    axes[0].legend(fontsize=7, loc="lower left")
    figure.supxlabel("recall: share of articles with the event that are found")
    figure.supylabel("precision: share flagged rightly")
    figure.tight_layout()
    return _png(figure)


def _reliability_points(gold: np.ndarray, scores: np.ndarray, bins: int = 10) -> tuple[np.ndarray, ...]:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(scores.ravel(), edges[1:-1]), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    observed = np.bincount(which, weights=gold.ravel(), minlength=bins)
    predicted = np.bincount(which, weights=scores.ravel(), minlength=bins)
    filled = counts > 0
    return predicted[filled] / counts[filled], observed[filled] / counts[filled], counts[filled]


@_plain_text
def reliability_diagrams(gold: np.ndarray, before: np.ndarray, after: np.ndarray,
                         ece_before: float | None, ece_after: float | None) -> bytes:
    """Predicted probability against how often the event was really reported, before and after calibration."""
    figure = Figure(figsize=(9, 4))
    axes = figure.subplots(1, 2, sharey=True)
    for axis, scores, name, ece in ((axes[0], before, "before calibration", ece_before),
                                    (axes[1], after, "after calibration", ece_after)):
        mean_score, observed, counts = _reliability_points(gold, scores)
        axis.plot([0, 1], [0, 1], linestyle="--", color=OTHER_COLOUR, label="perfectly calibrated")
        axis.plot(mean_score, observed, color=MODEL_COLOUR, marker="o", label="model")
        axis.scatter(mean_score, observed, s=20 + 200 * counts / counts.max(), color=MODEL_COLOUR, alpha=0.3)
        axis.set_title(name + (f" (calibration error {ece:.3f})" if ece is not None else ""), fontsize=10)
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_xlabel("probability the model gave")
    axes[0].set_ylabel("share of those cases where the event was reported")
    axes[0].legend(fontsize=8, loc="upper left")
    figure.suptitle("Can the probabilities be taken at face value? (bigger dots: more cases)", fontsize=11)
    figure.tight_layout()
    return _png(figure)


def _heatmap(axis: Axes, matrix: np.ndarray, labels: Sequence[str], title: str, vmax: float) -> None:
    axis.imshow(matrix, cmap="Blues", vmin=0, vmax=max(vmax, 1))
    ticks = [_short(label, 18) for label in labels]
    axis.set_xticks(range(len(labels)), ticks, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(len(labels)), ticks, fontsize=8)
    axis.set_title(title, fontsize=10)
    if len(labels) <= 15:  # numbers in the cells stay legible up to about this size
        for (i, j), value in np.ndenumerate(matrix):
            axis.text(j, i, int(value), ha="center", va="center", fontsize=7,
                      color="white" if value > 0.6 * vmax else "black")


@_plain_text
def cooccurrence(labels: Sequence[str], gold: np.ndarray, predicted: np.ndarray) -> bytes:
    """Articles carrying both labels of a pair, as annotated and as predicted (diagonal: each label)."""
    annotated, flagged = gold.T.astype(int) @ gold.astype(int), predicted.T.astype(int) @ predicted.astype(int)
    vmax = max(annotated.max(), flagged.max())
    size = 3 + 0.35 * len(labels)
    figure = Figure(figsize=(2 * size, size))
    axes = figure.subplots(1, 2)
    _heatmap(axes[0], annotated, labels, "annotated (gold)", vmax)
    _heatmap(axes[1], flagged, labels, "predicted by the model", vmax)
    figure.suptitle("How often two event types appear in the same article", fontsize=11)
    figure.tight_layout()
    return _png(figure)


@_plain_text
def confusion(labels: Sequence[str], gold: np.ndarray, predicted: np.ndarray) -> bytes:
    """Single-label: articles per (annotated class, predicted class)."""
    matrix = gold.T.astype(int) @ predicted.astype(int)
    size = 3 + 0.4 * len(labels)
    figure = Figure(figsize=(size, size))
    axis = figure.subplots()
    _heatmap(axis, matrix, labels, "Which class the model chose for each annotated class", matrix.max())
    axis.set_ylabel("annotated class")
    axis.set_xlabel("class predicted by the model")
    figure.tight_layout()
    return _png(figure)


def _f1_curve(gold: np.ndarray, scores: np.ndarray) -> np.ndarray:
    flagged = scores[:, None] >= SWEEP[None, :]
    positive = gold[:, None] == 1
    tp, fp, fn = (flagged & positive).sum(0), (flagged & ~positive).sum(0), (~flagged & positive).sum(0)
    return f1_from_counts(tp, fp, fn)


@_plain_text
def threshold_sweep(labels: Sequence[str], gold: np.ndarray, scores: np.ndarray, thresholds: Sequence[float],
                    default_threshold: float, set_name: str,
                    fitted: tuple[np.ndarray, np.ndarray, str] | None = None) -> bytes:
    """Per label: F1 at every threshold on this set (and, dashed, on the set the thresholds were fitted on)."""
    figure, axes = _grid(labels, "F1 at every possible threshold")
    for j, (label, axis) in enumerate(zip(labels, axes, strict=True)):
        axis.set_title(f"{_short(label)} ({int(gold[:, j].sum())} with event)", fontsize=9)
        axis.plot(SWEEP, _f1_curve(gold[:, j], scores[:, j]), color=MODEL_COLOUR, label=set_name)
        if fitted is not None:
            axis.plot(SWEEP, _f1_curve(fitted[0][:, j], fitted[1][:, j]), color=MODEL_COLOUR, linestyle="--",
                      alpha=0.6, label=fitted[2])
        axis.axvline(thresholds[j], color="black", label="threshold in use")
        axis.axvline(default_threshold, color=OTHER_COLOUR, linestyle=":", label=f"default {default_threshold:g}")
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1.02)
    axes[0].legend(fontsize=7, loc="lower center")
    figure.supxlabel("threshold: an article gets the label when its probability is at least this")
    figure.supylabel("F1")
    figure.tight_layout()
    return _png(figure)


@_plain_text
def score_distributions(labels: Sequence[str], gold: np.ndarray, scores: np.ndarray,
                        thresholds: Sequence[float] | None) -> bytes:
    """Per label: how the model's probabilities spread for articles with and without the event."""
    figure, axes = _grid(labels, "Probabilities the model gives to articles with and without the event")
    bins = np.linspace(0, 1, 21)
    for j, (label, axis) in enumerate(zip(labels, axes, strict=True)):
        axis.set_title(_short(label), fontsize=9)
        for mask, colour, name in ((gold[:, j] == 1, MODEL_COLOUR, "with the event"),
                                   (gold[:, j] == 0, OTHER_COLOUR, "without")):
            if mask.any():  # each group scaled to its own size, so a rare event stays visible
                axis.hist(scores[mask, j], bins=bins, weights=np.full(mask.sum(), 1 / mask.sum()), color=colour,
                          alpha=0.55, label=f"{name} ({int(mask.sum())})")
        if thresholds is not None:
            axis.axvline(thresholds[j], color="black", label="threshold")
        axis.set_xlim(0, 1)
        axis.legend(fontsize=7, loc="best")
    figure.supxlabel("probability the model gave")
    figure.supylabel("share of the group")
    figure.tight_layout()
    return _png(figure)


@_plain_text
def comparison(names: Sequence[str], values: Sequence[float], intervals: Sequence[dict], is_reference: Sequence[bool],
               baseline_values: Sequence[float], metric_words: str) -> bytes:
    """One row per run (best at the top): the metric with its interval, the run's baseline as an open marker."""
    height = 1.2 + 0.4 * len(names)
    figure = Figure(figsize=(8, height))
    axis = figure.subplots()
    y = np.arange(len(names))[::-1]
    for row, value, interval, reference in zip(y, values, intervals, is_reference, strict=True):
        colour = "black" if reference else MODEL_COLOUR
        axis.plot([interval["low"], interval["high"]], [row, row], color=colour, linewidth=2)
        axis.scatter(value, row, color=colour, zorder=3, s=40)
    axis.scatter(baseline_values, y, facecolors="none", edgecolors=BASELINE_COLOUR, zorder=3, s=40,
                 label="the run's reference baseline")
    axis.set_yticks(y, [_short(name, 50) for name in names])
    axis.set_xlabel(f"{metric_words} with interval (black: the reference run)")
    axis.set_title(f"{metric_words} per run, best at the top", fontsize=11)
    axis.set_xlim(0, 1)
    axis.grid(axis="x", alpha=0.3)
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.6 / height - 0.12), frameon=False)
    return _png(figure)
