import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from ereignis.metrics import bootstrap_intervals, multilabel_scores

LABELS = ("a", "b", "c")
Y_TRUE = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
Y_PRED = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 1], [0, 0, 0]])


def test_scores_on_hand_made_predictions():
    scores = multilabel_scores(Y_TRUE, Y_PRED, LABELS)
    # a: tp 2 -> P 1, R 1; b: tp 1, fn 1 -> P 1, R .5, F1 2/3; c: fp 1, no gold -> 0
    assert scores["per_label"]["a"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2,
                                        "average_precision": None}
    assert scores["per_label"]["b"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2,
                                                      "average_precision": None})
    assert scores["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0,
                                        "average_precision": None}
    assert scores["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert scores["macro_f1_present_labels"] == pytest.approx((1 + 2 / 3) / 2)
    # micro: tp 3, fp 1, fn 1 -> P .75, R .75
    assert scores["micro_f1"] == pytest.approx(0.75)
    assert scores["subset_accuracy"] == pytest.approx(0.5)  # rows 1 and 4 exactly right
    assert scores["n_labels_scored"] == 2


def test_average_precision_ranks_without_a_threshold():
    # b: gold rows 2 and 3; scores rank row 3 first, then a negative, then row 2 -> AP = (1/1 + 2/3) / 2
    y_score = np.array([[0.9, 0.1, 0.2], [0.8, 0.3, 0.1], [0.2, 0.9, 0.7], [0.1, 0.5, 0.1]])
    scores = multilabel_scores(Y_TRUE, Y_PRED, LABELS, y_score)
    assert scores["per_label"]["a"]["average_precision"] == pytest.approx(1.0)
    assert scores["per_label"]["b"]["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert scores["per_label"]["c"]["average_precision"] is None  # no positive: undefined, not 0
    assert scores["macro_average_precision"] == pytest.approx((1 + (1 + 2 / 3) / 2) / 2)


def test_bootstrap_brackets_the_point_estimate_and_orders_the_difference():
    rng = np.random.default_rng(0)
    y_true = (rng.random((200, 3)) < 0.3).astype(int)
    good = np.where(rng.random(y_true.shape) < 0.9, y_true, 1 - y_true)
    bad = np.where(rng.random(y_true.shape) < 0.6, y_true, 1 - y_true)
    intervals = bootstrap_intervals(y_true, {"model": good, "baseline": bad}, n_resamples=300, confidence=0.95, seed=1)
    point = multilabel_scores(y_true, good, LABELS)["macro_f1"]
    assert intervals["model"]["macro_f1"]["low"] <= point <= intervals["model"]["macro_f1"]["high"]
    assert intervals["model_minus_baseline"]["macro_f1"]["low"] > 0
    again = bootstrap_intervals(y_true, {"model": good, "baseline": bad}, n_resamples=300, confidence=0.95, seed=1)
    assert again == intervals


def test_counts_agree_with_scikit_learn_on_multi_column_data():
    rng = np.random.default_rng(3)
    y_true, y_pred = (rng.random((300, 6)) < 0.2).astype(int), (rng.random((300, 6)) < 0.25).astype(int)
    y_true[:, 5] = 0  # a label without gold positives
    scores = multilabel_scores(y_true, y_pred, list("abcdef"))
    assert scores["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro", zero_division=0))
    assert scores["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert scores["subset_accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    for i, label in enumerate("abcdef"):
        got = scores["per_label"][label]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx(
            (precision[i], recall[i], f1[i], support[i]))


def test_a_single_label_is_scored_as_a_label_not_as_a_binary_task():
    y_true, y_pred = np.array([[1], [0], [1], [0]]), np.array([[1], [1], [0], [0]])
    scores = multilabel_scores(y_true, y_pred, ["flood"], y_score=np.array([[0.9], [0.6], [0.4], [0.1]]))
    assert scores["per_label"]["flood"]["f1"] == pytest.approx(0.5) and scores["micro_f1"] == pytest.approx(0.5)
    assert scores["macro_f1"] == pytest.approx(0.5) and scores["subset_accuracy"] == pytest.approx(0.5)


def test_bootstrap_does_not_count_a_label_missing_from_a_resample_as_zero():
    rng = np.random.default_rng(0)
    y_true = np.zeros((200, 4), dtype=int)
    y_true[rng.choice(200, 2, replace=False), 0] = 1  # a rare label, often absent from a resample
    y_true[:, 1:] = rng.random((200, 3)) < 0.3
    intervals = bootstrap_intervals(y_true, {"model": y_true.copy()}, n_resamples=300, confidence=0.95, seed=0)
    assert intervals["model"]["macro_f1"] == {"low": 1.0, "high": 1.0}  # perfect predictions stay perfect
