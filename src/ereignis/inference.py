"""Load a trained run's model and turn texts into label probabilities (evaluation and prediction)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase


def load_classifier(model_dir: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, list[str]]:
    """Model, tokenizer and label order from a run's `model/` folder, as a user would load them."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise FileNotFoundError(f"{model_dir}: no trained model here (config.json missing)")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    model.eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return model, tokenizer, labels


@torch.inference_mode()
def predict_proba(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                  batch_size: int = 32) -> np.ndarray:
    """Sigmoid probabilities, shape (len(texts), n_labels); texts are cut at the model's max length.

    Texts are sorted by length so each batch pads little; results come back in input order.
    """
    device = next(model.parameters()).device
    max_length = min(tokenizer.model_max_length, model.config.max_position_embeddings)
    order = np.argsort([len(text) for text in texts], kind="stable")
    probabilities = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        batch = order[start:start + batch_size]
        encoded = tokenizer([texts[i] for i in batch], truncation=True, max_length=max_length, padding=True,
                            return_tensors="pt").to(device)
        probabilities[batch] = torch.sigmoid(model(**encoded).logits.float()).cpu().numpy()
    return probabilities
