"""`make data`: labelled articles -> a validated, de-duplicated, split dataset dir.

Exact duplicates are dropped; near-duplicate groups are kept within one split; the split is
multi-label stratified and fixed by its seed.

Dataset dir contract (read by training and evaluation, nothing else):
    dataset_dict.json, train/, validation/, test/   a `datasets.DatasetDict`; columns
        id, title, lead, caption, bullets, body, text, labels (list of label ids)
    labels.json        the label schema, in model output order
    stats.json         counts per label and split, word lengths; token lengths and the share over max length
                       from a fixed sample of each split
    fingerprint.json   sha256 of the input files and the build settings
    tokenizer/         for the tiny model (`model.name_or_path: null`) and a train split: its WordPiece
                       tokenizer, built from the whole train split as training would build it, with
                       `ereignis_vocabulary.json` (vocab_size, min_frequency, sha256 of the train texts);
                       training reuses it when all three match its own, instead of building it again
    build_config.yaml  the resolved config that built it
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from datasets import Features, Sequence, Value
from omegaconf import DictConfig, OmegaConf

from ereignis.data.articles import parse_article
from ereignis.data.duplicates import NearDuplicateIndex, exact_duplicates, exact_key, normalised_words
from ereignis.data.readers import DataError, Record, iter_records
from ereignis.data.split import stratified_folds, stratified_split
from ereignis.data.streaming import DatasetDirWriter, SortedRuns, sort_positions
from ereignis.io import atomic_directory, atomic_write_json, atomic_write_text
from ereignis.labels import LabelSchema

if TYPE_CHECKING:  # the modeling stack (transformers, torch) is imported only where a tokenizer is needed
    from transformers import PreTrainedTokenizerBase

    from ereignis.modeling.tiny import WordCounts

log = logging.getLogger(__name__)

BATCH_ROWS = 2_000  # articles parsed, hashed and staged at a time
TOKEN_SAMPLE = 2_000  # articles per split whose token lengths are counted
TOKEN_SAMPLE_SEED = 0
TOKENIZE_BATCH = 256
TOKENIZER_DIR = "tokenizer"

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
        file_digest = hashlib.sha256()
        with open(path, "rb") as handle:  # in blocks: the input may be larger than memory
            for block in iter(lambda: handle.read(1 << 20), b""):  # noqa: B023 - called within the iteration
                file_digest.update(block)
        digest.update(file_digest.digest())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return {"sha256": digest.hexdigest(), "n_files": len(files), "settings": settings}


def _distribution(values: np.ndarray | list[int]) -> dict[str, float]:
    if not len(values):
        return {}
    array = np.asarray(values)
    return {"min": int(array.min()), "p50": float(np.percentile(array, 50)), "p90": float(np.percentile(array, 90)),
            "p95": float(np.percentile(array, 95)), "max": int(array.max()), "mean": round(float(array.mean()), 1)}


def _token_stats(samples: dict[str, list[str]], model_cfg: DictConfig | None,
                 tokenizer: PreTrainedTokenizerBase | None) -> dict[str, Any]:
    """Token lengths under the configured model's tokenizer (`tokenizer`, the tiny one built from the
    train split, or else loaded here), and the share cut at max_length, from a fixed-seed sample of
    each split (`TOKEN_SAMPLE` articles): a share from 2,000 articles is within about a percentage
    point (one standard error) of the whole split's, at the same cost for any corpus size."""
    if model_cfg is None:
        return {"available": False, "reason": "no model configured"}
    from ereignis.modeling import ModelUnavailableError, load_tokenizer

    try:
        tokenizer = tokenizer or load_tokenizer(model_cfg)
    except ModelUnavailableError as err:
        log.warning("token statistics skipped: %s", err)
        return {"available": False, "reason": str(err)}
    max_length = int(model_cfg.max_length)
    stats: dict[str, Any] = {"available": True, "model": model_cfg.name, "max_length": max_length,
                             "sample": {"per_split": TOKEN_SAMPLE, "seed": TOKEN_SAMPLE_SEED}, "splits": {}}
    for split, texts in samples.items():
        lengths = [len(ids) for start in range(0, len(texts), TOKENIZE_BATCH)  # batches bound the encodings held
                   for ids in tokenizer(texts[start:start + TOKENIZE_BATCH], return_attention_mask=False,
                                        return_token_type_ids=False, verbose=False)["input_ids"]]
        over = sum(length > max_length for length in lengths)
        stats["splits"][split] = {"n_sampled": len(lengths), "distribution": _distribution(lengths),
                                  "n_over_max_length": over,
                                  "share_over_max_length": round(over / len(lengths), 4) if lengths else 0.0}
    return stats


def _tiny_tokenizer(train_words: WordCounts, model_cfg: DictConfig, folder: Path) -> PreTrainedTokenizerBase:
    """The tiny model's tokenizer from the train split's words, saved for training to reuse."""
    from ereignis.modeling.tiny import save_vocabulary, wordpiece_tokenizer

    tiny = model_cfg.tiny
    tokenizer = wordpiece_tokenizer(train_words, tiny.vocab_size, tiny.min_frequency, model_cfg.max_length)
    save_vocabulary(tokenizer, folder, train_words, tiny.vocab_size, tiny.min_frequency)
    return tokenizer


def token_sample(indices: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The articles (sorted positions) whose tokens `_token_stats` counts: a fixed-seed draw per split."""
    rng = np.random.default_rng(TOKEN_SAMPLE_SEED)
    return {split: np.sort(rng.choice(idx, size=min(len(idx), TOKEN_SAMPLE), replace=False))
            for split, idx in indices.items()}


def grouped_split(labels: np.ndarray, groups: list[list[int]], split_cfg: DictConfig,
                  folds: bool = False) -> dict[str, np.ndarray]:
    """Stratified split (sorted positions per split) in which each near-duplicate group stays together.

    Each group is split as one unit carrying the union of its members' labels, then expanded.
    """
    unit_of = np.arange(len(labels))
    for members in groups:
        unit_of[members] = members[0]
    units, unit_index = np.unique(unit_of, return_inverse=True)
    matrix = np.zeros((len(units), labels.shape[1]), dtype=labels.dtype)
    np.logical_or.at(matrix, unit_index, labels)
    split = stratified_folds(matrix, split_cfg.folds, split_cfg.seed) if folds else \
        stratified_split(matrix, split_cfg.validation, split_cfg.test, split_cfg.seed)
    split_of_unit = np.empty(len(units), dtype=np.int64)
    for number, idx in enumerate(split.values()):
        split_of_unit[idx] = number
    return {name: np.flatnonzero(split_of_unit[unit_index] == number) for number, name in enumerate(split)}


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


def dataset_stats(indices: dict[str, np.ndarray], articles: _Articles, schema: LabelSchema, dropped: list[dict],
                  near_duplicates: list[list[str]], tokens: dict[str, Any]) -> dict[str, Any]:
    per_split = {}
    for split, idx in indices.items():
        labels = articles.labels[idx]
        n_labels = labels.sum(axis=1)
        per_split[split] = {
            "n_articles": len(idx),
            "label_counts": dict(zip(schema.ids, labels.sum(axis=0).tolist(), strict=True)),
            "n_without_label": int((n_labels == 0).sum()),
            "n_multi_label": int((n_labels > 1).sum()),
            "n_structured": int(articles.structured[idx].sum()),
            "words": _distribution(articles.words[idx]),
        }
    return {"n_articles": sum(len(idx) for idx in indices.values()), "n_exact_duplicates_dropped": len(dropped),
            "dropped_duplicates": dropped, "near_duplicate_groups": near_duplicates, "splits": per_split,
            "tokens": tokens}


@dataclass(frozen=True)
class _Articles:
    """What the build holds per article while the rows wait on disk: no text, a few numbers."""

    ids: list[str]
    sources: list[str]
    keys: list[bytes]  # `exact_key` of the text
    labels: np.ndarray  # (articles, labels) bool, in schema order
    words: np.ndarray
    structured: np.ndarray  # has a key-points box
    splits: list[str | None]  # as the input assigns them (data.split.mode=given)

    def subset(self, positions: np.ndarray) -> _Articles:
        return _Articles([self.ids[p] for p in positions], [self.sources[p] for p in positions],
                         [self.keys[p] for p in positions], self.labels[positions], self.words[positions],
                         self.structured[positions], [self.splits[p] for p in positions])


def _stage(records: Iterable[Record], schema: LabelSchema, runs: SortedRuns,
           index: NearDuplicateIndex | None) -> _Articles:
    """Parse the records a batch at a time onto disk (`runs`) and into the near-duplicate `index`,
    keeping per article only what the split and the statistics need."""
    ids, sources, keys, labels, words, structured, splits = [], [], [], [], [], [], []
    column = {label: i for i, label in enumerate(schema.ids)}
    records = iter(records)
    while batch := list(islice(records, BATCH_ROWS)):
        rows = [_row(record) for record in batch]
        word_lists = [normalised_words(row["text"]) for row in rows]
        runs.add(rows)
        if index is not None:
            index.add(word_lists)
        ids += [record.id for record in batch]
        sources += [record.source for record in batch]
        splits += [record.split for record in batch]
        keys += [exact_key(row_words) for row_words in word_lists]
        words += [len(row_words) for row_words in word_lists]
        structured += [bool(row["bullets"]) for row in rows]
        batch_labels = np.zeros((len(rows), len(schema.ids)), dtype=bool)
        for number, row in enumerate(rows):
            batch_labels[number, [column[label] for label in row["labels"]]] = True
        labels.append(batch_labels)
    runs.finish()
    articles = _Articles(ids, sources, keys, np.concatenate(labels or [np.zeros((0, len(schema.ids)), dtype=bool)]),
                         np.array(words, dtype=np.int64), np.array(structured, dtype=bool), splits)
    if schema.task == "single_label":
        wrong = np.flatnonzero(articles.labels.sum(axis=1) != 1)
        if len(wrong):
            raise DataError([f"{sources[i]}: a single-label task ({schema.name}) needs exactly one label per article, "
                             f"found {int(articles.labels[i].sum())}" for i in wrong])
    return articles


def warn_about_labels_missing_from_splits(labels: np.ndarray, indices: dict[str, np.ndarray],
                                         label_ids: tuple[str, ...]) -> dict[str, list[str]]:
    """Labels without a single positive in a split: the model cannot learn them (train), its rule is
    not fitted for them (validation), or their F1 means nothing (test). Logged, and returned."""
    missing = {split: [label for label, count in zip(label_ids, labels[idx].sum(axis=0), strict=True) if not count]
               for split, idx in indices.items()}
    for split, names in missing.items():
        if names:
            log.warning("no positive article in the %s split for %s: add labelled articles for them, or expect "
                        "no learning (train), a default threshold (validation), an F1 of 0 (test)", split, names)
    return missing


GIVEN_SPLITS = ("train", "validation", "test")


def given_split(articles: _Articles, groups: list[list[int]]) -> dict[str, np.ndarray]:
    """The splits the input assigns (a `split` field per record); every record must name one of
    train, validation, test. Near-duplicates across given splits are a leak the user must see."""
    problems = [f"{source}: data.split.mode=given needs a 'split' field of {', '.join(GIVEN_SPLITS)}, "
                f"found {split!r}"
                for source, split in zip(articles.sources, articles.splits, strict=True) if split not in GIVEN_SPLITS]
    if problems:
        raise DataError(problems)
    for group in groups:
        named = {articles.splits[i] for i in group}
        if len(named) > 1:
            log.warning("near-duplicates %s sit in different given splits (%s): a test article has a twin in "
                        "training", [articles.ids[i] for i in group], sorted(named))
    split_names = np.array(articles.splits)
    return {name: np.flatnonzero(split_names == name) for name in GIVEN_SPLITS}


def _write_splits(folder: Path, tables: Iterator[pa.Table], indices: dict[str, np.ndarray],
                  sample: dict[str, np.ndarray], fingerprint_sha: str,
                  train_words: WordCounts | None) -> dict[str, list[str]]:
    """Write the rows, arriving in id order, to their splits; return the texts of the token sample.
    `train_words` counts the words of the train split's texts as they pass."""
    names = list(indices)
    split_of = np.empty(sum(len(idx) for idx in indices.values()), dtype=np.int64)
    in_sample = np.zeros(len(split_of), dtype=bool)
    for number, name in enumerate(names):
        split_of[indices[name]] = number
        in_sample[sample[name]] = True
    writer = DatasetDirWriter(folder, FEATURES, names)
    texts: dict[str, list[str]] = {name: [] for name in names}
    start = 0
    for table in tables:
        here = np.arange(start, start + len(table))
        start += len(table)
        for number, name in enumerate(names):
            mine = split_of[here] == number
            rows = table.filter(mine)
            writer.write(name, rows)
            if name == "train" and train_words is not None:
                train_words.add(rows.column("text").to_pylist())
            texts[name] += table.filter(mine & in_sample[here]).column("text").to_pylist()
    writer.finish(fingerprint_sha)
    return texts


def build_dataset(cfg: DictConfig) -> Path:
    """Read, validate, de-duplicate and split the labelled input; write the dataset dir atomically.

    The input is streamed: each batch of articles is parsed, hashed for duplicates and
    staged on disk as Arrow (`ereignis.data.streaming`), so memory holds a few numbers per article,
    not the articles; the rows then go to their splits in id order.
    """
    schema = LabelSchema.from_dict(OmegaConf.to_container(cfg.labels, resolve=True))
    data = cfg.data
    input_path = Path(data.input)
    reading = {"max_article_chars": data.max_article_chars, "fallback_encoding": data.fallback_encoding,
               "columns": OmegaConf.to_container(data.columns, resolve=True)}
    records = iter_records(input_path, schema.ids, require_labels=True, labels_file=data.labels_file, **reading)
    near = data.near_duplicates
    settings = {"labels": list(schema.ids), "split": OmegaConf.to_container(data.split, resolve=True),
                "labels_file": data.labels_file, "reading": reading,
                "near_duplicates": OmegaConf.to_container(near, resolve=True)}
    fingerprint_info = fingerprint(input_path, data.labels_file, settings)
    output = Path(data.output_dir)
    with atomic_directory(output) as tmp, NearDuplicateIndex(near.shingle_words, work_dir=tmp) as index:
        runs = SortedRuns(tmp / "staging", FEATURES)
        articles = _stage(records, schema, runs, index if near.threshold is not None else None)
        log.info("read %d labelled article(s) from %s", len(articles.ids), input_path)
        order = sort_positions(articles.ids)  # file-listing order must not change the split
        keep, dropped = exact_duplicates([articles.keys[p] for p in order], articles.labels[order],
                                         [articles.ids[p] for p in order], [articles.sources[p] for p in order])
        if dropped:
            log.warning("dropped %d exact duplicate article(s): %s", len(dropped), dropped[:5])
        kept = order[keep]  # reading positions of the articles kept, in id order
        articles = articles.subset(kept)

        log.info("%d article(s) after dropping exact duplicates; looking for near-duplicates", len(kept))
        groups = []
        if near.threshold is not None:
            in_reading = np.zeros(len(keep), dtype=bool)
            in_reading[kept] = True
            rank = np.empty(len(keep), dtype=np.int64)
            rank[kept] = np.arange(len(kept))
            found = index.groups(near.threshold, near.min_shared, near.max_shared_by, keep=in_reading)
            index.close()  # its bucket files are spent: the disk they held goes to the split files
            groups = sorted((sorted(rank[group].tolist()) for group in found), key=lambda group: group[0])
        if groups:
            log.warning("%d group(s) of near-duplicate articles, each kept within one split: %s", len(groups),
                        [[articles.ids[i] for i in g] for g in groups[:5]])

        if data.split.mode == "test_only":
            indices = {"test": np.arange(len(kept))}
        elif data.split.mode == "given":
            indices = given_split(articles, groups)
        elif data.split.mode == "kfold":
            indices = grouped_split(articles.labels, groups, data.split, folds=True)
        elif data.split.mode == "stratified":
            n_units = len(kept) - sum(len(group) - 1 for group in groups)
            require_enough_for_split(input_path, n_units, data.split)
            indices = grouped_split(articles.labels, groups, data.split)
            require_enough_for_split(input_path, n_units, data.split, {name: len(idx) for name, idx in indices.items()})
        else:
            raise ValueError(f"data.split.mode must be 'stratified', 'given', 'kfold' or 'test_only', "
                             f"got {data.split.mode!r}")

        warn_about_labels_missing_from_splits(articles.labels, indices, schema.ids)
        sample = token_sample(indices)
        model_cfg = cfg.get("model")
        builds_vocabulary = model_cfg is not None and model_cfg.name_or_path is None and "train" in indices
        if builds_vocabulary:
            from ereignis.modeling.tiny import WordCounts
        train_words = WordCounts() if builds_vocabulary else None
        texts = _write_splits(tmp, runs.in_order(kept), indices, sample, fingerprint_info["sha256"], train_words)
        shutil.rmtree(tmp / "staging")
        tokenizer = _tiny_tokenizer(train_words, model_cfg, tmp / TOKENIZER_DIR) if builds_vocabulary else None
        stats = dataset_stats(indices, articles, schema, dropped, [[articles.ids[i] for i in g] for g in groups],
                              _token_stats(texts, model_cfg, tokenizer))
        schema.save(tmp / "labels.json")
        atomic_write_json(tmp / "stats.json", stats)
        atomic_write_json(tmp / "fingerprint.json", fingerprint_info)
        atomic_write_text(tmp / "build_config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    log.info("dataset with %s articles written to %s", {k: len(v) for k, v in indices.items()}, output)
    return output
