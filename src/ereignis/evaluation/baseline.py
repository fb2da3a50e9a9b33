"""The honest baseline beside every model: TF-IDF + one logistic regression per label."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from omegaconf import DictConfig
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


class TfidfBaseline:
    """One-vs-rest by hand: one classifier per label column, fitted on the model's own train split.

    (scikit-learn's OneVsRestClassifier reads a single label column as a binary task and returns
    two columns.) A label that is constant in the train split (never or always present) predicts
    that constant.
    """

    def __init__(self, cfg: DictConfig, seed: int = 0):
        self.cfg, self.seed = cfg, seed
        self.vectorizer = TfidfVectorizer(ngram_range=tuple(cfg.ngram_range), min_df=cfg.min_df,
                                          max_features=cfg.max_features, sublinear_tf=cfg.sublinear_tf)
        self.columns: list[LogisticRegression | float] = []

    def fit(self, texts: Sequence[str], y: np.ndarray) -> TfidfBaseline:
        y = np.asarray(y, dtype=int)
        features = self.vectorizer.fit_transform(list(texts))
        self.columns = [
            float(y[0, j]) if y[:, j].min() == y[:, j].max() else
            LogisticRegression(C=self.cfg.C, class_weight=self.cfg.class_weight, max_iter=2000,
                               random_state=self.seed).fit(features, y[:, j])
            for j in range(y.shape[1])
        ]
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        features = self.vectorizer.transform(list(texts))
        return np.column_stack([
            column.predict_proba(features)[:, 1] if isinstance(column, LogisticRegression)
            else np.full(len(texts), column) for column in self.columns
        ]).astype(np.float32)
