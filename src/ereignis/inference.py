"""Load a trained run's model and turn texts into label probabilities (evaluation and prediction)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase


def load_classifier(model_dir: str | Path, device: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, list[str]]:
    """Model, tokenizer and label order from a run's `model/` folder, as a user would load them,
    on `device` (default: the GPU when there is one)."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise FileNotFoundError(f"{model_dir}: no trained model here (config.json missing)")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu")).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return model, tokenizer, labels


def _windows(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int, long_articles: str,
             stride: int, max_windows: int) -> tuple[list[list[int]], list[int]]:
    """Token windows and, for each, the index of its text: one window per text when truncating,
    overlapping windows over the whole text otherwise."""
    if long_articles == "truncate":
        return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"], list(range(len(texts)))
    if long_articles != "windows":
        raise ValueError(f"long_articles must be 'truncate' or 'windows', got {long_articles!r}")
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, stride=stride,
                        return_overflowing_tokens=True)
    windows, owners, per_text = [], [], [0] * len(texts)
    for ids, owner in zip(encoded["input_ids"], encoded["overflow_to_sample_mapping"]):
        if per_text[owner] < max_windows:
            windows.append(ids)
            owners.append(owner)
            per_text[owner] += 1
    return windows, owners


@torch.inference_mode()
def predict_proba(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                  batch_size: int = 32, long_articles: str = "truncate", stride: int = 64,
                  max_windows: int = 16) -> np.ndarray:
    """Sigmoid probabilities, shape (len(texts), n_labels).

    `long_articles="truncate"` reads each text up to the model's max length (as in training);
    `"windows"` reads overlapping windows (`stride` tokens of overlap, at most `max_windows` per
    text) and takes each label's highest probability over them: an event reported in paragraph
    eight is still seen. Windows are sorted by length so each batch pads little.
    """
    device = next(model.parameters()).device
    max_length = min(tokenizer.model_max_length, model.config.max_position_embeddings)
    windows, owners = _windows(tokenizer, texts, max_length, long_articles, stride, max_windows)
    order = np.argsort([len(ids) for ids in windows], kind="stable")
    probabilities = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    for start in range(0, len(windows), batch_size):
        batch = order[start:start + batch_size]
        encoded = tokenizer.pad({"input_ids": [windows[i] for i in batch]}, return_tensors="pt").to(device)
        window_probabilities = torch.sigmoid(model(**encoded).logits.float()).cpu().numpy()
        for row, i in enumerate(batch):
            probabilities[owners[i]] = np.maximum(probabilities[owners[i]], window_probabilities[row])
    return probabilities
