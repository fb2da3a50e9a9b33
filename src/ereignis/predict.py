"""`ereignis-predict`: label new articles with a trained run.

Input: a folder of `.txt` articles or a JSONL of {"id", "text"} (labels, if present, are ignored).
Output JSONL, one row per article: {"id", "labels", "scores": {label: probability}}.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from ereignis.data import parse_article, read_records
from ereignis.inference import load_classifier, predict_proba
from ereignis.io import atomic_write_jsonl


def predict(cfg: DictConfig) -> Path:
    model, tokenizer, labels = load_classifier(Path(cfg.run_dir) / "model")
    records = read_records(cfg.input, known_labels=None, require_labels=False)
    # the same composition of title, lead, key points and body that the model was trained on
    texts = [parse_article(record.text).text for record in records]
    probabilities = predict_proba(model, tokenizer, texts, cfg.batch_size, cfg.long_articles, cfg.window_stride,
                                  cfg.max_windows)
    rows = [{"id": record.id,
             "labels": [label for label, p in zip(labels, row) if p >= cfg.threshold],
             "scores": {label: round(float(p), 4) for label, p in zip(labels, row)}}
            for record, row in zip(records, probabilities)]
    return atomic_write_jsonl(cfg.output, rows)
