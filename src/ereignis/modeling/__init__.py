"""Modeling: tokenizer and multi-label classifier for a model config.

Hub models (`name_or_path` a hub id or a local folder) load with `from_pretrained`; `tiny`
(`name_or_path: null`) is built offline: a WordPiece tokenizer trained on the training texts
and a small randomly initialised BERT.
"""

from ereignis.modeling.load import ModelUnavailableError, load_model, load_tokenizer

__all__ = ["ModelUnavailableError", "load_model", "load_tokenizer"]
