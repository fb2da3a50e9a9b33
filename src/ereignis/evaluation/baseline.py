"""The honest baseline beside every model: TF-IDF + one-vs-rest logistic regression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from omegaconf import DictConfig
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline


class TfidfBaseline:
    """Fitted on the model's own train split; a label without positives there scores 0 everywhere."""

    def __init__(self, cfg: DictConfig, seed: int = 0):
        self.cfg, self.seed = cfg, seed
        self.pipeline: Pipeline | None = None
        self.trainable: np.ndarray | None = None

    def fit(self, texts: Sequence[str], y: np.ndarray) -> TfidfBaseline:
        y = np.asarray(y, dtype=int)
        self.trainable = (y.sum(axis=0) > 0) & (y.sum(axis=0) < len(y))  # OvR needs both classes
        self.pipeline = Pipeline([
            ("tfidf", TfidfVectorizer(ngram_range=tuple(self.cfg.ngram_range), min_df=self.cfg.min_df,
                                      max_features=self.cfg.max_features, sublinear_tf=self.cfg.sublinear_tf)),
            ("classifier", OneVsRestClassifier(LogisticRegression(
                C=self.cfg.C, class_weight=self.cfg.class_weight, max_iter=2000, random_state=self.seed))),
        ])
        self.pipeline.fit(list(texts), y[:, self.trainable])
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        probabilities = np.zeros((len(texts), len(self.trainable)), dtype=np.float32)
        probabilities[:, self.trainable] = self.pipeline.predict_proba(list(texts))
        return probabilities
