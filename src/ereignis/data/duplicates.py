"""Duplicate handling before the split, so no test article has a twin in training.

Exact duplicates (same text up to whitespace and case) are dropped. Near-duplicates (an agency
story and its lightly edited copy, an update that repeats most of the first version) carry
different information and may carry different labels, so they are kept, but grouped: a group
goes to one split whole.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from itertools import combinations

from ereignis.data.readers import DataError, Record


def drop_exact_duplicates(rows: list[dict], records: list[Record]) -> tuple[list[dict], list[dict]]:
    """Keep the first of each group of identical texts; identical texts with different labels are
    a labelling error, not a duplicate, and stop the build."""
    seen: dict[str, int] = {}
    kept, dropped, problems = [], [], []
    for index, row in enumerate(rows):
        key = hashlib.sha256(re.sub(r"\s+", " ", row["text"]).strip().casefold().encode()).hexdigest()
        if key in seen:
            first = rows[seen[key]]
            if sorted(first["labels"]) != sorted(row["labels"]):
                problems.append(f"{records[index].source}: same text as '{first['id']}' "
                                f"({records[seen[key]].source}) but different labels")
            dropped.append({"id": row["id"], "duplicate_of": first["id"]})
        else:
            seen[key] = index
            kept.append(row)
    if problems:
        raise DataError(problems)
    return kept, dropped


def _shingles(text: str, size: int) -> set[int]:
    words = text.casefold().split()
    return {hash(tuple(words[i:i + size])) for i in range(max(len(words) - size + 1, 0))}


def near_duplicate_groups(texts: list[str], threshold: float, shingle_words: int = 8, min_shared: int = 15,
                          max_shared_by: int = 50) -> list[list[int]]:
    """Groups (indices, each of two or more) of texts linked by sharing at least `threshold` of
    the shorter text's `shingle_words`-word sequences, and at least `min_shared` of them, transitively.

    `min_shared` keeps two short teasers that end in the same stock sentence ("Der Volltext ...
    steht nicht mehr zur Verfügung") apart: a shared passage must be long, not only a large share.
    An inverted index over word sequences compares only texts that share one; a sequence found in
    more than `max_shared_by` texts is boilerplate (a dateline, a standard closing line) and is
    ignored, which keeps the check near-linear on large collections.
    """
    shingles = [_shingles(text, shingle_words) for text in texts]
    index: dict[int, list[int]] = defaultdict(list)
    for i, grams in enumerate(shingles):
        for gram in grams:
            index[gram].append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for holders in index.values():
        if 1 < len(holders) <= max_shared_by:
            shared.update(combinations(holders, 2))

    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (a, b), count in shared.items():
        if count >= min_shared and count / min(len(shingles[a]), len(shingles[b])) >= threshold:
            parent[root(b)] = root(a)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(texts)):
        groups[root(i)].append(i)
    return sorted((members for members in groups.values() if len(members) > 1), key=lambda g: g[0])
