"""The task and its decision rule: thresholds fitted with guards, temperature, calibration errors,
baselines decided like the model, and the article encoding."""

import numpy as np
import pytest

from ereignis.evaluation.baseline import Baseline, fit_baseline
from ereignis.task import Decision, ThresholdSettings, calibration_errors, fit_decision, fit_temperature, label_matrix

LABELS = ("a", "b")


def _scores_with_offset(n: int, n_positive: int, shift: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits where positives sit `shift` above negatives, both below 0: the best threshold is low."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[:n_positive] = 1
    logits = rng.normal(-3.0, 0.5, n) + shift * y
    return logits, y


def test_a_label_with_enough_positives_gets_a_shrunk_fitted_threshold():
    logits, y = _scores_with_offset(400, 60, shift=2.5)
    decision = fit_decision("multi_label", ("a",), logits[:, None], y[:, None], ThresholdSettings(), "validation")
    entry = decision.per_label["a"]
    assert entry["reason"].startswith("fitted") and entry["out_of_fold_gain"] > 0
    # shrunk 60 / (60 + 10) of the way from 0.5 toward the fitted threshold
    expected = 0.5 + 60 / 70 * (entry["fitted_threshold"] - 0.5)
    assert decision.thresholds["a"] == pytest.approx(expected, abs=1e-3) and decision.thresholds["a"] < 0.5
    assert entry["f1_at_threshold"] > entry["f1_at_default"]


def test_few_positives_or_no_held_out_gain_keep_the_default():
    logits, y = _scores_with_offset(200, 6, shift=2.5)
    few = fit_decision("multi_label", ("a",), logits[:, None], y[:, None], ThresholdSettings(), "validation")
    assert few.thresholds["a"] == 0.5 and few.per_label["a"]["reason"].startswith("too few positives (6 < 10)")
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, 300)
    y_noise = (rng.random(300) < 0.3).astype(int)  # labels unrelated to the scores
    noisy = fit_decision("multi_label", ("a",), noise[:, None], y_noise[:, None], ThresholdSettings(), "validation")
    entry = noisy.per_label["a"]
    assert entry["out_of_fold_gain"] is not None
    assert (entry["out_of_fold_gain"] <= 0) == (noisy.thresholds["a"] == 0.5)


def test_precision_floor_objective_trades_recall_for_precision():
    logits, y = _scores_with_offset(400, 80, shift=1.5, seed=3)

    def fitted(floor: float) -> float:
        settings = ThresholdSettings(objective="precision_floor", precision_floor=floor)
        decision = fit_decision("multi_label", ("a",), logits[:, None], y[:, None], settings, "validation")
        threshold = decision.per_label["a"]["fitted_threshold"]
        chosen = decision.probabilities(logits[:, None])[:, 0] >= threshold
        assert y[chosen].mean() >= floor  # the floor holds where the threshold was fitted
        return threshold

    assert fitted(0.95) > fitted(0.6)


def test_temperature_recovers_the_scale_of_overconfident_logits():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 1.5, (4000, 2))
    y = (rng.random((4000, 2)) < 1 / (1 + np.exp(-true_logits))).astype(int)
    assert fit_temperature("multi_label", true_logits * 3, y) == pytest.approx(3.0, rel=0.15)
    before = calibration_errors(y, 1 / (1 + np.exp(-true_logits * 3)), LABELS)
    calibrated = Decision("multi_label", LABELS, temperature=3.0).probabilities(true_logits * 3)
    after = calibration_errors(y, calibrated, LABELS)
    assert after["ece"] < before["ece"] and after["brier"] < before["brier"]
    assert set(after["per_label"]) == set(LABELS)


def test_single_label_decides_by_argmax_and_fits_only_a_temperature():
    logits = np.array([[2.0, 0.1, -1.0], [0.0, 0.5, 0.4], [-1.0, -2.0, 3.0], [1.0, 1.2, 0.0]] * 10)
    y = label_matrix([["x"], ["y"], ["z"], ["y"]] * 10, ("x", "y", "z"))
    decision = fit_decision("single_label", ("x", "y", "z"), logits, y, ThresholdSettings(), "validation")
    scores = decision.probabilities(logits)
    assert np.allclose(scores.sum(axis=1), 1.0) and decision.thresholds == {}
    assert (decision.decide(scores) == y.astype(bool)).all()


def test_decision_round_trips_and_records_an_override(tmp_path):
    decision = Decision.default("multi_label", LABELS)
    assert Decision.load(decision.save(tmp_path / "decision.json")) == decision
    override = decision.with_threshold(0.3)
    assert override.thresholds == {"a": 0.3, "b": 0.3} and override.override == {"threshold": 0.3}
    assert decision.with_threshold(None) is decision
    with pytest.raises(ValueError, match="multi_label' or 'single_label"):
        Decision.default("multi_class", LABELS)


TEXTS = ["Gipfel in Wien", "Gipfel in Rom", "Protest in Bern", "Protest in Graz", "Wetter mild", "Wetter kalt"] * 4
ONE = np.array([[1], [1], [0], [0], [0], [0]] * 4)
TFIDF = {"analyzer": "word", "ngram_range": [1, 2], "min_df": 1, "max_features": 1000, "sublinear_tf": True,
         "C": 10.0, "class_weight": "balanced"}


def test_baselines_handle_one_label_constant_labels_and_the_prior():
    assert Baseline("tfidf_word", TFIDF, "multi_label").fit(TEXTS, ONE).probabilities(TEXTS).shape == (24, 1)
    constant = np.hstack([ONE, np.zeros((24, 1), int), np.ones((24, 1), int)])
    probabilities = Baseline("tfidf_word", TFIDF, "multi_label").fit(TEXTS, constant).probabilities(TEXTS)
    assert probabilities.shape == (24, 3) and (probabilities[:, 1] == 0).all() and (probabilities[:, 2] == 1).all()
    assert probabilities[0, 0] > probabilities[2, 0]
    prior = Baseline("prior", {}, "multi_label").fit(TEXTS, constant).probabilities(TEXTS[:3])
    assert np.allclose(prior, [[1 / 3, 0, 1]] * 3)
    char = Baseline("tfidf_char", {**TFIDF, "analyzer": "char_wb", "ngram_range": [2, 4]}, "multi_label")
    assert "character 2-4-grams" in char.description


def test_baseline_thresholds_come_from_out_of_fold_train_predictions():
    _, decision = fit_baseline("tfidf_word", TFIDF, "multi_label", ("summit",), TEXTS, ONE,
                               ThresholdSettings(min_positives=4), folds=4, seed=0)
    assert decision.fitted_on == "train_out_of_fold" and decision.per_label["summit"]["n_positives"] == 8
    single = label_matrix([["g"], ["g"], ["p"], ["p"], ["w"], ["w"]] * 4, ("g", "p", "w"))
    model, decision = fit_baseline("tfidf_word", TFIDF, "single_label", ("g", "p", "w"), TEXTS, single,
                                   ThresholdSettings(), folds=4, seed=0)
    assert (decision.decide(decision.probabilities(model.logits(TEXTS))) == single.astype(bool)).all()


@pytest.mark.parametrize("task", ["multi_label", "single_label"])
def test_baselines_score_long_test_sets_in_chunks_with_the_numbers_of_one_pass(monkeypatch, task):
    from ereignis.evaluation import baseline

    y = ONE if task == "multi_label" else np.eye(3, dtype=int)[np.arange(len(TEXTS)) % 3]
    char = Baseline("tfidf_char", {**TFIDF, "analyzer": "char_wb", "ngram_range": [2, 4]}, task).fit(TEXTS, y)
    whole = char.probabilities(TEXTS)
    monkeypatch.setattr(baseline, "SCORING_CHUNK", 5)  # 24 articles: five chunks, the last one short
    assert np.array_equal(char.probabilities(TEXTS), whole)
