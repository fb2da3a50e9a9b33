"""`make data`: labelled articles -> a validated, de-duplicated, split dataset dir.

Exact duplicates are dropped; near-duplicate groups are kept within one split; the split is
multi-label stratified and fixed by its seed.

Dataset dir contract (read by training and evaluation, nothing else):
    dataset_dict.json, train/, validation/, test/   a `datasets.DatasetDict`; columns
        id, title, lead, caption, bullets, body, text, labels (list of label ids)
    labels.json        the label schema, in model output order
    stats.json         counts per label and split, word and token lengths, share over max length
    fingerprint.json   sha256 of the input files and the build settings
    build_config.yaml  the resolved config that built it
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict, Features, Sequence, Value
from omegaconf import DictConfig, OmegaConf

from ereignis.data.articles import parse_article
from ereignis.data.duplicates import exact_duplicates, exact_key, near_duplicate_groups, normalised_words
from ereignis.data.readers import DataError, Record, read_records
from ereignis.data.split import stratified_split
from ereignis.io import atomic_directory, atomic_write_json, atomic_write_text
from ereignis.labels import LabelSchema

log = logging.getLogger(__name__)

FEATURES = Features({
    "id": Value("string"),
    "title": Value("string"),
    "lead": Value("string"),
    "caption": Value("string"),
    "bullets": Sequence(Value("string")),
    "body": Value("string"),
    "text": Value("string"),
    "labels": Sequence(Value("string")),
})


def _row(record: Record) -> dict[str, Any]:
    article = parse_article(record.text)
    return {"id": record.id, "title": article.title, "lead": article.lead, "caption": article.caption,
            "bullets": list(article.bullets), "body": article.body, "text": article.text,
            "labels": list(record.labels or ())}


def fingerprint(input_path: Path, labels_file: str, settings: dict[str, Any]) -> dict[str, Any]:
    """sha256 over the relative path and bytes of every file the build reads, plus the build settings.

    Only those files: editing a data card or notes beside the articles changes no data.
    """
    digest = hashlib.sha256()
    files = sorted([*input_path.glob("*.txt"), input_path / labels_file]) if input_path.is_dir() else [input_path]
    for path in files:
        digest.update(str(path.relative_to(input_path.parent)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return {"sha256": digest.hexdigest(), "n_files": len(files), "settings": settings}


def _distribution(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values)
    return {"min": int(array.min()), "p50": float(np.percentile(array, 50)), "p90": float(np.percentile(array, 90)),
            "p95": float(np.percentile(array, 95)), "max": int(array.max()), "mean": round(float(array.mean()), 1)}


def _token_stats(splits: dict[str, list[dict]], model_cfg: DictConfig | None) -> dict[str, Any]:
    """Token lengths under the configured model's tokenizer, and the share cut at max_length."""
    if model_cfg is None:
        return {"available": False, "reason": "no model configured"}
    from ereignis.modeling import ModelUnavailableError, load_tokenizer

    try:
        tokenizer = load_tokenizer(model_cfg, [row["text"] for row in splits.get("train", [])])
    except ModelUnavailableError as err:
        log.warning("token statistics skipped: %s", err)
        return {"available": False, "reason": str(err)}
    max_length = int(model_cfg.max_length)
    stats: dict[str, Any] = {"available": True, "model": model_cfg.name, "max_length": max_length, "splits": {}}
    for split, rows in splits.items():
        lengths = [len(ids) for ids in tokenizer([row["text"] for row in rows], verbose=False)["input_ids"]] if rows else []
        over = sum(length > max_length for length in lengths)
        stats["splits"][split] = {"distribution": _distribution(lengths), "n_over_max_length": over,
                                  "share_over_max_length": round(over / len(lengths), 4) if lengths else 0.0}
    return stats


def grouped_split(rows: list[dict], schema: LabelSchema, groups: list[list[int]], split_cfg: DictConfig) -> dict[str, list[int]]:
    """Stratified split in which each near-duplicate group stays together.

    Each group is split as one unit carrying the union of its members' labels, then expanded.
    """
    unit_of = list(range(len(rows)))
    for members in groups:
        for member in members:
            unit_of[member] = members[0]
    units = sorted(set(unit_of))
    members_of: dict[int, list[int]] = {unit: [] for unit in units}
    for index, unit in enumerate(unit_of):
        members_of[unit].append(index)
    matrix = np.array([np.max([schema.multi_hot(rows[m]["labels"]) for m in members_of[unit]], axis=0)
                       for unit in units])
    split = stratified_split(matrix, split_cfg.validation, split_cfg.test, split_cfg.seed)
    return {name: sorted(m for u in idx for m in members_of[units[u]]) for name, idx in split.items()}


def require_enough_for_split(input_path: Path, n_units: int, split_cfg: DictConfig,
                             sizes: dict[str, int] | None = None) -> None:
    """One message when the articles cannot fill every split the config asks for: before splitting (`sizes`
    None), when there are too few to give each split one; after, when the stratifier has left a split empty
    anyway (few articles with sparse labels). An empty split would otherwise fail deep in `datasets`
    ("Keys mismatch") or scikit-learn. `n_units` counts a near-duplicate group once: it is split as one."""
    shares = {"validation": split_cfg.validation, "test": split_cfg.test}
    asked = [share for share in shares.values() if share > 0]
    needed = max([1 + len(asked), *(math.ceil(1 / share - 1e-9) for share in asked)])
    if sizes is None:
        if n_units >= needed:
            return
        found = (f"{n_units} article(s) (near-duplicate groups counted once), fewer than the {needed} that "
                 f"validation={shares['validation']} and test={shares['test']} need to give each split one")
    else:
        empty = [name for name, size in sizes.items() if size == 0 and (name == "train" or shares[name] > 0)]
        if not empty:
            return
        found = (f"the stratified split of {n_units} article(s) left {' and '.join(empty)} empty: too few articles "
                 f"per label to spread")
    raise DataError([f"{input_path}: too little labelled data for the split: {found}; add labelled articles, or "
                     "build an evaluation-only set with data.split.mode=test_only"])


def dataset_stats(splits: dict[str, list[dict]], schema: LabelSchema, dropped: list[dict],
                  near_duplicates: list[list[str]], model_cfg: DictConfig | None) -> dict[str, Any]:
    per_split = {}
    for split, rows in splits.items():
        counts = Counter(label for row in rows for label in row["labels"])
        per_split[split] = {
            "n_articles": len(rows),
            "label_counts": {label: counts.get(label, 0) for label in schema.ids},
            "n_without_label": sum(not row["labels"] for row in rows),
            "n_multi_label": sum(len(row["labels"]) > 1 for row in rows),
            "n_structured": sum(bool(row["bullets"]) for row in rows),
            "words": _distribution([len(row["text"].split()) for row in rows]),
        }
    return {"n_articles": sum(len(rows) for rows in splits.values()), "n_exact_duplicates_dropped": len(dropped),
            "dropped_duplicates": dropped, "near_duplicate_groups": near_duplicates, "splits": per_split,
            "tokens": _token_stats(splits, model_cfg)}


def build_dataset(cfg: DictConfig) -> Path:
    """Read, validate, de-duplicate and split the labelled input; write the dataset dir atomically."""
    schema = LabelSchema.from_dict(OmegaConf.to_container(cfg.labels, resolve=True))
    data = cfg.data
    input_path = Path(data.input)
    reading = {"max_article_chars": data.max_article_chars, "fallback_encoding": data.fallback_encoding,
               "columns": OmegaConf.to_container(data.columns, resolve=True)}
    records = read_records(input_path, schema.ids, require_labels=True, labels_file=data.labels_file, **reading)
    log.info("read %d labelled article(s) from %s", len(records), input_path)
    records.sort(key=lambda r: r.id)  # file-listing order must not change the split
    rows = [_row(r) for r in records]
    keep, dropped = exact_duplicates([exact_key(normalised_words(row["text"])) for row in rows],
                                     [row["labels"] for row in rows], [r.id for r in records], [r.source for r in records])
    rows = [row for row, kept in zip(rows, keep) if kept]
    if dropped:
        log.warning("dropped %d exact duplicate article(s): %s", len(dropped), dropped[:5])

    near = data.near_duplicates
    log.info("%d article(s) after dropping exact duplicates; looking for near-duplicates", len(rows))
    groups = near_duplicate_groups([row["text"] for row in rows], near.threshold, near.shingle_words, near.min_shared,
                                   near.max_shared_by) if near.threshold is not None else []
    if groups:
        log.warning("%d group(s) of near-duplicate articles, each kept within one split: %s", len(groups),
                    [[rows[i]["id"] for i in g] for g in groups[:5]])

    if data.split.mode == "test_only":
        indices = {"test": list(range(len(rows)))}
    elif data.split.mode == "stratified":
        n_units = len(rows) - sum(len(group) - 1 for group in groups)
        require_enough_for_split(input_path, n_units, data.split)
        indices = grouped_split(rows, schema, groups, data.split)
        require_enough_for_split(input_path, n_units, data.split, {name: len(idx) for name, idx in indices.items()})
    else:
        raise ValueError(f"data.split.mode must be 'stratified' or 'test_only', got {data.split.mode!r}")
    splits = {name: [rows[i] for i in idx] for name, idx in indices.items()}

    settings = {"labels": list(schema.ids), "split": OmegaConf.to_container(data.split, resolve=True),
                "labels_file": data.labels_file, "reading": reading,
                "near_duplicates": OmegaConf.to_container(near, resolve=True)}
    stats = dataset_stats(splits, schema, dropped, [[rows[i]["id"] for i in g] for g in groups], cfg.get("model"))
    output = Path(data.output_dir)
    with atomic_directory(output) as tmp:
        DatasetDict({name: Dataset.from_list(split_rows, features=FEATURES)
                     for name, split_rows in splits.items()}).save_to_disk(str(tmp))
        schema.save(tmp / "labels.json")
        atomic_write_json(tmp / "stats.json", stats)
        atomic_write_json(tmp / "fingerprint.json", fingerprint(input_path, data.labels_file, settings))
        atomic_write_text(tmp / "build_config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    log.info("dataset with %s articles written to %s", {k: len(v) for k, v in splits.items()}, output)
    return output
