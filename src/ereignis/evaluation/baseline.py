"""Honest baselines beside every model, decided the way the model is.

- `tfidf_word` / `tfidf_char`: TF-IDF of word n-grams or character n-grams (within word
  boundaries; robust to German compounds and inflection) + one logistic regression per label
  (a multinomial one for single-label tasks).
- `prior`: every article gets each label's training frequency (multi-label) or the majority
  class (single-label): what a model must clearly beat to have learned anything.

Each baseline's decision rule (temperature and per-label thresholds) is fitted like the model's,
with `ereignis.task.fit_decision`, on out-of-fold predictions over the train split, so no baseline
sees evaluation articles while choosing its thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

from ereignis.task import Decision, ThresholdSettings, fit_decision

DESCRIPTIONS = {
    "tfidf_word": "TF-IDF of word {ngram_range[0]}-{ngram_range[1]}-grams + logistic regression per label",
    "tfidf_char": "TF-IDF of character {ngram_range[0]}-{ngram_range[1]}-grams + logistic regression per label",
    "prior": "each label's share in the training articles (no text read)",
}
EPSILON = 1e-6
# articles vectorised at once when scoring: the character n-gram matrix of 100,000 articles takes gigabytes
SCORING_CHUNK = 5_000


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


class Baseline:
    """Fit on train texts and label matrix; `logits` for new texts (probabilities as log-odds, or log
    probabilities for single-label, so the decision rule treats them like the model's logits)."""

    def __init__(self, name: str, settings: Mapping, task: str, seed: int = 0):
        self.name, self.settings, self.task, self.seed = name, settings, task, seed
        self.prior: np.ndarray | None = None
        self.vectorizer: TfidfVectorizer | None = None
        self.columns: list[LogisticRegression | float] = []
        self.classifier: LogisticRegression | None = None

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.kind].format(**self.settings)

    @property
    def kind(self) -> str:
        return self.settings.get("kind", self.name)

    def fit(self, texts: Sequence[str], y: np.ndarray) -> Baseline:
        y = np.asarray(y, dtype=int)
        self.prior = y.mean(axis=0) if len(y) else np.zeros(y.shape[1])
        if self.kind == "prior":
            return self
        s = self.settings
        self.vectorizer = TfidfVectorizer(analyzer=s["analyzer"], ngram_range=tuple(s["ngram_range"]),
                                          min_df=s["min_df"], max_features=s["max_features"],
                                          sublinear_tf=s["sublinear_tf"])
        features = self.vectorizer.fit_transform(list(texts))

        def regression() -> LogisticRegression:
            return LogisticRegression(C=s["C"], class_weight=s["class_weight"], max_iter=2000, random_state=self.seed)

        if self.task == "single_label":
            self.classifier = regression().fit(features, y.argmax(axis=1)) if len(set(y.argmax(axis=1))) > 1 else None
            return self
        # a label that is constant in the train split (never or always present) predicts that constant
        self.columns = [float(y[0, j]) if y[:, j].min() == y[:, j].max() else regression().fit(features, y[:, j])
                        for j in range(y.shape[1])]
        return self

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) > SCORING_CHUNK:  # row by row the same numbers, without one huge n-gram matrix
            return np.vstack([self.probabilities(texts[start:start + SCORING_CHUNK])
                              for start in range(0, len(texts), SCORING_CHUNK)])
        n, n_labels = len(texts), len(self.prior)
        if self.kind == "prior":
            if self.task == "single_label":
                return np.tile(np.eye(n_labels)[self.prior.argmax()] * (1 - EPSILON) + EPSILON / n_labels, (n, 1))
            return np.tile(self.prior, (n, 1))
        features = self.vectorizer.transform(list(texts))
        if self.task == "single_label":
            full = np.full((n, n_labels), EPSILON)
            if self.classifier is None:
                full[:, self.prior.argmax()] = 1.0
            else:
                full[:, self.classifier.classes_] = self.classifier.predict_proba(features)
            return full / full.sum(axis=1, keepdims=True)
        return np.column_stack([column.predict_proba(features)[:, 1] if isinstance(column, LogisticRegression)
                                else np.full(n, column) for column in self.columns])

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        p = self.probabilities(texts)
        return np.log(np.clip(p, EPSILON, 1.0)) if self.task == "single_label" else _logit(p)


def fit_baseline(name: str, settings: Mapping, task: str, labels: Sequence[str], texts: Sequence[str], y: np.ndarray,
                 threshold_settings: ThresholdSettings, folds: int, seed: int) -> tuple[Baseline, Decision]:
    """The baseline fitted on all of train, and its decision rule fitted on out-of-fold train predictions."""
    texts, y = list(texts), np.asarray(y, dtype=int)
    out_of_fold = np.zeros(y.shape, dtype=np.float64)
    n_folds = min(folds, len(texts))
    if n_folds >= 2:
        for fit_idx, held_idx in KFold(n_folds, shuffle=True, random_state=seed).split(texts):
            fold_model = Baseline(name, settings, task, seed).fit([texts[i] for i in fit_idx], y[fit_idx])
            out_of_fold[held_idx] = fold_model.logits([texts[i] for i in held_idx])
        decision = fit_decision(task, labels, out_of_fold, y, threshold_settings, "train_out_of_fold")
    else:
        decision = Decision.default(task, labels, threshold_settings.default)
    return Baseline(name, settings, task, seed).fit(texts, y), decision
