"""The vectorised bootstrap gives, for the same seed, exactly the intervals of the loop it replaced."""

import numpy as np
import pytest

from ereignis.metrics import _counts, _ratio, _summary, bootstrap_intervals


def loop_bootstrap_intervals(y_true, predictions, n_resamples, confidence, seed):
    """The loop over resamples as it was before vectorising (commit e50222e), kept as the reference."""
    y_true = np.asarray(y_true, dtype=bool)
    predictions = {name: np.asarray(pred, dtype=bool) for name, pred in predictions.items()}
    names = list(predictions)
    scale = (y_true.sum(axis=0) > 0).mean()
    rng = np.random.default_rng(seed)
    metrics = ("micro_f1", "macro_f1", "subset_accuracy")
    draws = {name: {metric: np.empty(n_resamples) for metric in metrics} for name in names}
    for r in range(n_resamples):
        idx = rng.integers(0, len(y_true), len(y_true))
        truth = y_true[idx]
        present = truth.any(axis=0)
        for name in names:
            pred = predictions[name][idx]
            counts = tp, fp, fn = _counts(truth, pred)
            per_label = _ratio(2 * tp, 2 * tp + fp + fn)
            summary = _summary(truth, pred, counts, per_label)
            summary["macro_f1"] = float(per_label[present].mean() * scale) if present.any() else 0.0
            for metric in metrics:
                draws[name][metric][r] = summary[metric]
    alpha = (1 - confidence) / 2

    def interval(values):
        return {"low": float(np.quantile(values, alpha)), "high": float(np.quantile(values, 1 - alpha))}

    result = {name: {metric: interval(values) for metric, values in draws[name].items()} for name in names}
    for name in names[1:]:
        result[f"{names[0]}_minus_{name}"] = {metric: interval(draws[names[0]][metric] - draws[name][metric])
                                             for metric in metrics}
    return result


def systems(n_articles: int, n_labels: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Gold labels with some rare labels (often missing from a resample) and three systems of
    different quality, one of which never predicts anything."""
    rng = np.random.default_rng(seed)
    prevalence = rng.uniform(0.002, 0.4, n_labels)
    y_true = rng.random((n_articles, n_labels)) < prevalence
    flip = lambda rate: y_true ^ (rng.random(y_true.shape) < rate)  # noqa: E731
    return y_true, {"model": flip(0.05), "baseline": flip(0.2), "silent": np.zeros_like(y_true)}


@pytest.mark.parametrize(("n_articles", "n_labels", "seed"), [(7, 3, 0), (120, 8, 1), (333, 8, 2), (1001, 1, 3),
                                                               (2500, 12, 4), (400, 20, 5)])
def test_intervals_equal_the_loop_to_the_last_bit(n_articles, n_labels, seed):
    y_true, predicted = systems(n_articles, n_labels, seed)
    expected = loop_bootstrap_intervals(y_true, predicted, n_resamples=400, confidence=0.9, seed=seed)
    assert bootstrap_intervals(y_true, predicted, n_resamples=400, confidence=0.9, seed=seed) == expected


def test_resamples_spanning_several_chunks_draw_as_the_loop(monkeypatch):
    """Chunking the draw counts (here 50 resamples a chunk) must not change which articles a resample holds."""
    monkeypatch.setattr("ereignis.metrics._CHUNK_CELLS", 50 * 200)
    y_true, predicted = systems(200, 5, 7)
    assert (bootstrap_intervals(y_true, predicted, n_resamples=230, confidence=0.95, seed=11)
            == loop_bootstrap_intervals(y_true, predicted, n_resamples=230, confidence=0.95, seed=11))
