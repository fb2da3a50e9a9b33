"""The frozen-encoder method: mean-pooled article embeddings from a pretrained encoder, then one
logistic regression per label (a multinomial one for single-label tasks).

For a few hundred labelled articles this is often the strongest choice: the encoder's knowledge
is kept whole and only 384 x n_labels numbers are fitted. The fitted head is written into the
model's linear classifier, so the run's `model/` is an ordinary mean-pooling classifier that
evaluation and prediction read like any other; mean pooling of window logits under a linear head
equals the head applied to the article's mean window embedding, which is what was fitted.

Embeddings are cached per article text, encoder and encoding under `paths.cache_dir/embeddings/`,
so refitting the head, or the folds of a cross-validation, embed each article once.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from sklearn.linear_model import LogisticRegression

from ereignis.encoding import EncodingSettings, Windows
from ereignis.inference import over_windows
from ereignis.io import atomic_write_bytes
from ereignis.modeling.pooling import BertMeanPoolingForSequenceClassification

log = logging.getLogger(__name__)


def window_embeddings(model: BertMeanPoolingForSequenceClassification, tokenizer, windows: Windows,
                      batch_size: int) -> np.ndarray:
    """The mean-pooled vector of every window."""
    return over_windows(model.device, tokenizer, windows, batch_size, model.config.hidden_size,
                        lambda encoded: model.embed(encoded["input_ids"], encoded["attention_mask"]))


def article_embeddings(windows: Windows, embeddings: np.ndarray) -> np.ndarray:
    """The mean of each article's window embeddings."""
    sums = np.zeros((windows.n_articles, embeddings.shape[1]))
    np.add.at(sums, windows.owners, embeddings)
    return sums / np.bincount(windows.owners, minlength=windows.n_articles)[:, None]


def _cache_path(cfg: DictConfig, encoding: EncodingSettings) -> Path:
    identity = {"model": str(cfg.model.name_or_path), "max_length": int(cfg.model.max_length),
                "encoding": encoding.to_dict()}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]
    return Path(cfg.paths.cache_dir) / "embeddings" / f"{key}.npz"


def cached_embeddings(cfg: DictConfig, model, tokenizer, windows: dict[str, Windows], texts: dict[str, list[str]],
                      encoding: EncodingSettings) -> dict[str, np.ndarray]:
    """Article embeddings per split. The cache (one file per encoder and encoding) maps a text's
    sha256 to its embedding, so another split of the same articles (a fold, a rebuilt dataset)
    embeds only what it has not seen."""
    path = _cache_path(cfg, encoding)
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path) as stored:
            known = dict(zip(stored["keys"].tolist(), stored["embeddings"], strict=True))
    embedded, n_new = {}, 0
    for split, part in windows.items():
        keys = [hashlib.sha256(text.encode()).hexdigest() for text in texts[split]]
        missing = [i for i, key in enumerate(keys) if key not in known]
        if missing:
            subset = part.select(missing)
            fresh = article_embeddings(subset, window_embeddings(model, tokenizer, subset, cfg.train.eval_batch_size))
            known.update(zip((keys[i] for i in missing), fresh, strict=True))
            n_new += len(missing)
        embedded[split] = np.stack([known[key] for key in keys]) if keys else np.zeros((0, model.config.hidden_size))
    log.info("article embeddings: %d computed, %d from the cache %s", n_new,
             sum(len(v) for v in embedded.values()) - n_new, path)
    if n_new:
        buffer = io.BytesIO()
        np.savez(buffer, keys=np.array(list(known)), embeddings=np.stack(list(known.values())))
        atomic_write_bytes(path, buffer.getvalue())
    return embedded


def fit_frozen_head(cfg: DictConfig, model, tokenizer, windows: dict[str, Windows], texts: dict[str, list[str]],
                    targets: dict[str, np.ndarray], task: str,
                    encoding: EncodingSettings) -> tuple[dict[str, np.ndarray], dict]:
    """Fit the head on frozen embeddings and write it into `model.classifier`; returns the article
    logits per split and a training log."""
    if not isinstance(model, BertMeanPoolingForSequenceClassification):
        raise ValueError(f"train.method=frozen_head needs a mean-pooling BERT encoder (model.head=mean), "
                         f"got {type(model).__name__}")
    if encoding.pooling != "mean":
        raise ValueError("train.method=frozen_head fits the head on the mean of the window embeddings: "
                         "set encoding.pooling=mean")
    model.eval()  # no dropout in the embeddings the head is fitted on
    embeddings = cached_embeddings(cfg, model, tokenizer, windows, texts, encoding)
    x, y = embeddings["train"], targets["train"]
    head = cfg.train.head
    weight = np.zeros((y.shape[1], x.shape[1]))
    bias = np.zeros(y.shape[1])
    if task == "single_label":
        classes = np.flatnonzero(y.sum(axis=0) > 0)
        fitted = LogisticRegression(C=head.C, class_weight=head.class_weight, max_iter=head.max_iter).fit(
            x, y.argmax(axis=1))
        if len(classes) == 2:  # scikit-learn fits one logit for two classes: it is the second's against the first
            weight[classes[1]], bias[classes[1]] = fitted.coef_[0], fitted.intercept_[0]
        else:
            weight[classes], bias[classes] = fitted.coef_, fitted.intercept_
        bias[np.setdiff1d(np.arange(y.shape[1]), classes)] = -1e4  # a class never seen in training is never chosen
    else:
        for j in range(y.shape[1]):
            if y[:, j].min() == y[:, j].max():  # never (or always) present in training: a constant
                bias[j] = 1e4 if y[0, j] else -1e4
                continue
            regression = LogisticRegression(C=head.C, class_weight=head.class_weight, max_iter=head.max_iter)
            fitted = regression.fit(x, y[:, j])
            weight[j], bias[j] = fitted.coef_[0], fitted.intercept_[0]
    with torch.no_grad():
        model.classifier.weight.copy_(torch.as_tensor(weight, dtype=model.classifier.weight.dtype))
        model.classifier.bias.copy_(torch.as_tensor(bias, dtype=model.classifier.bias.dtype))
    logits = {split: values @ weight.T + bias for split, values in embeddings.items()}
    return logits, {"method": "frozen_head", "head": dict(head), "n_train": len(x),
                    "embedding_dim": int(x.shape[1])}
