"""Bootstrap over articles by weights: each resample says how often every article was drawn.

Statistics that are sums over articles (true positives, predicted positives, probabilities)
then come out of one matrix product per chunk of resamples, and two sets of articles paired by
id share the same weights. Used by the report (per-label intervals), `ereignis-compare` (paired
differences between runs) and the prevalence estimate.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK_CELLS = 4_000_000  # resamples x articles held in memory at once (32 MB of float64)


def bootstrap_weights(n_articles: int, n_resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Chunks of (resamples, n_articles) draw counts; every row sums to n_articles."""
    if n_articles == 0:
        raise ValueError("cannot resample an empty set of articles")
    chunk = max(1, CHUNK_CELLS // n_articles)
    uniform = np.full(n_articles, 1.0 / n_articles)
    for start in range(0, n_resamples, chunk):
        yield rng.multinomial(n_articles, uniform, size=min(chunk, n_resamples - start)).astype(np.float64)


def resampled_sums(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, *values.shape[1:]) sums of `values` (articles first) over bootstrap resamples."""
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(len(values), -1)
    sums = np.concatenate([weights @ flat for weights in bootstrap_weights(len(values), n_resamples, rng)])
    return sums.reshape((n_resamples, *values.shape[1:]))


def percentile_interval(draws: np.ndarray, confidence: float) -> dict[str, float] | None:
    """Percentile interval of the finite draws; None when no draw is finite (statistic undefined)."""
    draws = np.asarray(draws, dtype=np.float64)
    finite = draws[np.isfinite(draws)]
    if not len(finite):
        return None
    alpha = (1 - confidence) / 2
    return {"low": float(np.quantile(finite, alpha)), "high": float(np.quantile(finite, 1 - alpha))}


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 = 2tp / (2tp + fp + fn), 0 where there is nothing to count (as in `ereignis.metrics`)."""
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)
