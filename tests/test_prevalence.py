"""Prevalence estimates on synthetic data where the true count is known."""

import json

import numpy as np
import pytest

from ereignis.evaluation.prevalence import estimate_prevalence, prevalence_for_run
from ereignis.labels import Label, LabelSchema


def classified(rng, prevalence, n, tpr, fpr):
    """Gold labels at `prevalence` and a classifier with the given error rates; scores agree with decisions."""
    gold = (rng.random(n) < prevalence).astype(int)
    predicted = np.where(gold == 1, rng.random(n) < tpr, rng.random(n) < fpr).astype(int)
    scores = np.where(predicted == 1, rng.uniform(0.5, 1.0, n), rng.uniform(0.0, 0.5, n))
    return gold, predicted, scores


def columns(*arrays):
    return [np.stack(parts, axis=1) for parts in zip(*arrays, strict=True)]


@pytest.fixture(scope="module")
def shifted():
    """Labelled reference with 30 % and 40 % prevalence; the unlabelled set has 5 % and 60 % (prior shift)."""
    rng = np.random.default_rng(1)
    reference = columns(classified(rng, 0.3, 2000, 0.8, 0.1), classified(rng, 0.4, 2000, 0.7, 0.05))
    unlabelled = columns(classified(rng, 0.05, 20000, 0.8, 0.1), classified(rng, 0.6, 20000, 0.7, 0.05))
    truth = unlabelled[0].sum(axis=0)
    result = estimate_prevalence(unlabelled[1], unlabelled[2], *reference, labels=["rare", "common"],
                                 n_resamples=300, seed=0)
    return result, truth


def test_adjusted_counts_recover_the_true_count_where_raw_counts_are_biased(shifted):
    result, truth = shifted
    for j, label in enumerate(["rare", "common"]):
        estimate = result["labels"][label]
        raw = estimate["classify_and_count"]
        assert not raw["low"] <= truth[j] <= raw["high"]  # false positives inflate the rare, misses shrink the common
        for method in ("adjusted_count", "probabilistic_adjusted_count"):
            assert estimate[method]["low"] <= truth[j] <= estimate[method]["high"], (label, method)
            assert estimate[method]["count"] == pytest.approx(truth[j], rel=0.1)
        assert estimate["reliable"] and estimate["reference_positives"] > 500
    assert result["labels"]["rare"]["true_positive_rate"] == pytest.approx(0.8, abs=0.05)
    assert result["labels"]["rare"]["false_positive_rate"] == pytest.approx(0.1, abs=0.03)


def test_intervals_widen_when_few_labelled_positives_measure_the_error_rates():
    rng = np.random.default_rng(2)
    unlabelled = classified(rng, 0.2, 5000, 0.8, 0.1)
    widths = {}
    for n_reference in (40, 3000):
        gold, predicted, scores = classified(rng, 0.2, n_reference, 0.8, 0.1)
        result = estimate_prevalence(unlabelled[1][:, None], unlabelled[2][:, None], gold[:, None],
                                     predicted[:, None], scores[:, None], ["x"], n_resamples=300)["labels"]["x"]
        widths[n_reference] = result["adjusted_count"]["high"] - result["adjusted_count"]["low"]
        assert result["reference_positives"] == gold.sum()
        assert result["reliable"] == (gold.sum() >= 10) == (n_reference == 3000)
    assert widths[40] > 3 * widths[3000]


def test_a_classifier_no_better_than_chance_gets_no_adjusted_count():
    rng = np.random.default_rng(3)
    gold, predicted, scores = classified(rng, 0.3, 500, 0.2, 0.2)  # tpr == fpr: labels say nothing
    result = estimate_prevalence(predicted[:, None], scores[:, None], gold[:, None], predicted[:, None],
                                 scores[:, None], ["noise"], n_resamples=100)["labels"]["noise"]
    assert result["classify_and_count"]["count"] == predicted.sum()
    assert result["probabilistic_count"]["count"] == pytest.approx(scores.sum(), abs=0.1)
    assert result["adjusted_count"] is None and not result["reliable"]


def test_prevalence_for_run_takes_the_error_rates_from_the_evaluated_test_split(tmp_path):
    rng = np.random.default_rng(4)
    gold, predicted, scores = classified(rng, 0.3, 400, 0.9, 0.05)
    LabelSchema("toy", (Label("a", "A"),)).save(tmp_path / "labels.json")
    (tmp_path / "eval").mkdir()
    rows = [{"id": str(i), "split": "test", "gold": ["a"] * int(g), "predicted": ["a"] * int(p), "scores": {"a": s}}
            for i, (g, p, s) in enumerate(zip(gold, predicted, scores, strict=True))]
    (tmp_path / "eval" / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = prevalence_for_run(tmp_path, predicted[:100, None], scores[:100, None], n_resamples=100)
    assert result["reference_split"] == "test" and result["n_reference_articles"] == 400
    direct = estimate_prevalence(predicted[:100, None], scores[:100, None], gold[:, None], predicted[:, None],
                                 scores[:, None], ["a"], n_resamples=100)
    assert result["labels"] == direct["labels"]
    with pytest.raises(ValueError, match="no rows for split 'validation'"):
        prevalence_for_run(tmp_path, predicted[:, None], scores[:, None], split="validation")
