"""Duplicate handling before the split, so no test article has a twin in training.

Exact duplicates (same text up to whitespace and case) are dropped. Near-duplicates (an agency
story and its lightly edited copy, an update that repeats most of the first version) carry
different information and may carry different labels, so they are kept, but grouped: a group
goes to one split whole.

Near-duplicates are found in bounded memory at any corpus size. Each text's `shingle_words`-word
sequences become 64-bit hashes, computed with numpy over a batch's bytes (no Python object per
sequence) and identical in every process and on every machine (no salted `hash()`); two different
sequences share a hash with odds of about one in 10**19, so among the 10**17 pairs of sequences of
a million articles likely none do, and one that did would add one shared sequence to one pair of
texts. The pairs (hash, text) go to 64 buckets by hash, held in memory up to a budget and then
appended to files; each bucket is then sorted, runs of equal hashes give the texts sharing a
sequence, and the pairs of texts are counted with numpy, in a second set of buckets by the first
text of the pair. So peak memory is one bucket, not the corpus.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ereignis.data.readers import DataError

BUCKET_BITS = 6  # buckets by the top bits of a hash, or by the first text of a pair
N_BUCKETS = 1 << BUCKET_BITS
MEMORY_BUDGET = 256 * 2**20  # bytes of arrays each bucket set holds before it writes them to files
BATCH_TEXTS = 2_000  # texts hashed together by `near_duplicate_groups`
WORDS_PER_SLICE = 8_192  # words hashed at once: their byte-sized temporaries stay in the CPU's cache

_BYTE_BASE = 0x100000001B3  # odd, so every power is a distinct, invertible factor modulo 2**64
_WORD_BASE = 0x9E3779B97F4A7C15


def normalised_words(text: str) -> list[str]:
    """The words duplicates are judged on: case-folded, split at any whitespace."""
    return text.casefold().split()


def exact_key(words: Sequence[str]) -> bytes:
    """Equal for texts that are the same up to whitespace and case."""
    return hashlib.sha256(" ".join(words).encode("utf-8", "surrogatepass")).digest()


def exact_duplicates(keys: Sequence[bytes], labels: np.ndarray, ids: Sequence[str],
                     sources: Sequence[str]) -> tuple[np.ndarray, list[dict]]:
    """Keep the first text of each `exact_key` (in the order given); identical texts with different
    labels (rows of the multi-hot `labels`) are a labelling error, not a duplicate, and stop the build.

    Returns (which to keep, [{"id", "duplicate_of"}] for the others).
    """
    if not len(keys):
        return np.zeros(0, dtype=bool), []
    _, first, which = np.unique(np.asarray(keys, dtype="S32"), return_index=True, return_inverse=True)
    first = first[which.ravel()]
    keep = first == np.arange(len(keys))
    dropped, problems = [], []
    for index in np.flatnonzero(~keep):
        original = first[index]
        if not np.array_equal(labels[original], labels[index]):
            problems.append(f"{sources[index]}: same text as '{ids[original]}' ({sources[original]}) "
                            "but different labels")
        dropped.append({"id": ids[index], "duplicate_of": ids[original]})
    if problems:
        raise DataError(problems)
    return keep, dropped


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit reaches every output bit (the polynomials below leave
    the low bits depending on the low bits only)."""
    values = values ^ (values >> np.uint64(30))
    values = values * np.uint64(0xBF58476D1CE4E5B9)
    values = values ^ (values >> np.uint64(27))
    values = values * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def _powers(base: int, count: int) -> np.ndarray:
    """base**0 .. base**(count-1) modulo 2**64."""
    return np.cumprod(np.r_[np.uint64(1), np.full(max(count - 1, 0), base, dtype=np.uint64)], dtype=np.uint64)


def _word_hashes(words: list[str]) -> np.ndarray:
    """A 64-bit hash of each word, from its UTF-8 bytes."""
    return np.concatenate([_word_slice_hashes(words[start:start + WORDS_PER_SLICE])
                           for start in range(0, len(words), WORDS_PER_SLICE)] or [np.zeros(0, dtype=np.uint64)])


def _word_slice_hashes(words: list[str]) -> np.ndarray:
    data = np.frombuffer(" ".join(words).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    spaces = np.flatnonzero(data == 32)  # a word holds no whitespace, so spaces are exactly the separators
    starts = np.r_[0, spaces + 1]
    ends = np.r_[spaces, len(data)]
    word_of_byte = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(data) + 1]))[:len(data)]
    # byte j of a word ending at e weighs base**(e-1-j); the separator's weight is never used
    places = np.maximum(ends[word_of_byte] - 1 - np.arange(len(data)), 0)
    terms = (data.astype(np.uint64) + np.uint64(1)) * _powers(_BYTE_BASE, int(places.max()) + 1)[places]
    terms[spaces] = 0
    return _mix(np.add.reduceat(terms, starts))


def shingle_hashes(word_lists: Sequence[list[str]], shingle_words: int) -> tuple[np.ndarray, np.ndarray]:
    """The `shingle_words`-word sequences of each text as 64-bit hashes, in text order, a sequence
    repeated within a text as often as it occurs; a text shorter than `shingle_words` words has none.

    Returns (hashes, the text of each hash as a position in `word_lists`).
    """
    lengths = np.fromiter(map(len, word_lists), dtype=np.int64, count=len(word_lists))
    words = _word_hashes(list(chain.from_iterable(word_lists)))
    n_windows = max(len(words) - shingle_words + 1, 0)
    hashes = words[:n_windows].copy()
    for offset in range(1, shingle_words):
        hashes *= np.uint64(_WORD_BASE)
        hashes += words[offset:offset + n_windows]
    text_starts = np.r_[0, np.cumsum(lengths)[:-1]]
    owner = np.repeat(np.arange(len(word_lists)), lengths)[:n_windows]
    inside = np.arange(n_windows) - text_starts[owner] <= lengths[owner] - shingle_words  # not across two texts
    return _mix(hashes[inside]), owner[inside]


class _Buckets:
    """Columns of arrays appended bucket by bucket; in memory up to `budget` bytes, then in files."""

    def __init__(self, n_buckets: int, dtypes: tuple[type, ...], folder: Path, budget: int):
        self.dtypes, self.folder, self.budget = dtypes, folder, budget
        self.held: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(n_buckets)]
        self.held_bytes = 0

    def add(self, bucket: np.ndarray, *columns: np.ndarray) -> None:
        """Append each row of `columns` to its `bucket` (uint8: a stable sort of bytes is a radix sort)."""
        order = np.argsort(bucket, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(bucket, minlength=len(self.held)))]
        for index, (low, high) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if low < high:
                part = tuple(np.asarray(column[order[low:high]], dtype=dtype)
                             for column, dtype in zip(columns, self.dtypes, strict=True))
                self.held[index].append(part)
                self.held_bytes += sum(array.nbytes for array in part)
        if self.held_bytes > self.budget:
            self._write()

    def _path(self, index: int, column: int) -> Path:
        return self.folder / f"{index}.{column}.bin"

    def _write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for index, parts in enumerate(self.held):
            for column in range(len(self.dtypes)):
                with open(self._path(index, column), "ab") as handle:
                    for part in parts:
                        part[column].tofile(handle)
            parts.clear()
        self.held_bytes = 0

    def read(self, index: int) -> tuple[np.ndarray, ...]:
        """Everything added to bucket `index`, in the order added."""
        columns = []
        for column, dtype in enumerate(self.dtypes):
            path = self._path(index, column)
            stored = [np.fromfile(path, dtype=dtype)] if path.exists() else []
            columns.append(np.concatenate(stored + [part[column] for part in self.held[index]] or
                                          [np.zeros(0, dtype=dtype)]))
        return tuple(columns)


def _pairs_in_runs(hashes: np.ndarray, texts: np.ndarray, max_shared_by: int) -> np.ndarray:
    """Every pair of texts (first << 32 | second, first < second) that shares a hash held by at
    most `max_shared_by` texts, once per shared hash; input sorted by (hash, text)."""
    if not len(hashes):
        return np.zeros(0, dtype=np.uint64)
    run_starts = np.flatnonzero(np.r_[True, hashes[1:] != hashes[:-1]])
    run_lengths = np.diff(np.r_[run_starts, len(hashes)])
    pairs = []
    for length in np.unique(run_lengths[(run_lengths > 1) & (run_lengths <= max_shared_by)]):
        holders = texts[run_starts[run_lengths == length][:, None] + np.arange(length)].astype(np.uint64)
        first, second = np.triu_indices(length, 1)
        pairs.append(((holders[:, first] << np.uint64(32)) | holders[:, second]).ravel())
    return np.concatenate(pairs) if pairs else np.zeros(0, dtype=np.uint64)


class NearDuplicateIndex:
    """Texts added in batches (numbered from 0 in the order added), grouped at the end.

    Use as a context manager: the bucket files live in a temporary folder under `work_dir` (the
    system's temporary folder when None) until the index closes.
    """

    def __init__(self, shingle_words: int = 8, work_dir: str | Path | None = None, memory_budget: int = MEMORY_BUDGET):
        self.shingle_words = shingle_words
        self.folder = Path(tempfile.mkdtemp(prefix="near-duplicates-", dir=work_dir))
        self.memory_budget = memory_budget
        self.shingles = _Buckets(N_BUCKETS, (np.uint64, np.uint32), self.folder / "shingles", memory_budget)
        self.n_texts = 0

    def __enter__(self) -> NearDuplicateIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def add(self, word_lists: Sequence[list[str]]) -> None:
        """Add texts given as their `normalised_words`."""
        hashes, owner = shingle_hashes(word_lists, self.shingle_words)
        self.shingles.add((hashes >> np.uint64(64 - BUCKET_BITS)).astype(np.uint8), hashes, owner + self.n_texts)
        self.n_texts += len(word_lists)

    def groups(self, threshold: float, min_shared: int = 15, max_shared_by: int = 50,
               keep: np.ndarray | None = None) -> list[list[int]]:
        """Groups (numbers of the texts, each of two or more) of texts linked by sharing at least
        `threshold` of the shorter text's word sequences, and at least `min_shared` of them, transitively.

        Texts where `keep` is False (exact duplicates to be dropped) count nowhere, as if never added.
        A sequence held by more than `max_shared_by` texts is boilerplate and shared by none.
        """
        keep = np.ones(self.n_texts, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
        n_shingles = np.zeros(self.n_texts, dtype=np.int64)  # distinct ones; a bucket holds all of a hash
        pairs_folder = Path(tempfile.mkdtemp(prefix="pairs-", dir=self.folder))
        shared = _Buckets(N_BUCKETS, (np.uint64, np.uint32), pairs_folder, self.memory_budget)
        for bucket in range(N_BUCKETS):
            hashes, texts = self.shingles.read(bucket)
            # texts came in increasing order, so a stable sort leaves equal hashes sorted by text
            order = np.argsort(hashes, kind="stable")
            hashes, texts = hashes[order], texts[order]
            distinct = np.r_[True, (hashes[1:] != hashes[:-1]) | (texts[1:] != texts[:-1])][:len(hashes)]
            hashes, texts = hashes[distinct], texts[distinct]
            n_shingles += np.bincount(texts, minlength=self.n_texts)
            kept = keep[texts]
            pairs, counts = np.unique(_pairs_in_runs(hashes[kept], texts[kept], max_shared_by), return_counts=True)
            shared.add(((pairs >> np.uint64(32)) * N_BUCKETS // max(self.n_texts, 1)).astype(np.uint8), pairs, counts)
        linked = []
        for bucket in range(N_BUCKETS):
            pairs, counts = shared.read(bucket)
            pairs, which = np.unique(pairs, return_inverse=True)
            counts = np.bincount(which.ravel(), weights=counts, minlength=len(pairs))
            first, second = (pairs >> np.uint64(32)).astype(np.int64), (pairs & np.uint64(0xFFFFFFFF)).astype(np.int64)
            shorter = np.minimum(n_shingles[first], n_shingles[second])
            close = (counts >= min_shared) & (counts / shorter >= threshold)
            linked.append(np.stack([first[close], second[close]]))
        shutil.rmtree(pairs_folder)
        return _components(np.concatenate(linked, axis=1), self.n_texts)


def _components(edges: np.ndarray, n_texts: int) -> list[list[int]]:
    """Connected groups of two or more, each sorted, ordered by their first member."""
    graph = coo_matrix((np.ones(edges.shape[1]), (edges[0], edges[1])), shape=(n_texts, n_texts))
    _, component = connected_components(graph, directed=False)
    members = np.argsort(component, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(component[members]) != 0])
    groups = [group.tolist() for group in np.split(members, starts[1:]) if len(group) > 1]
    return sorted(groups, key=lambda group: group[0])


def near_duplicate_groups(texts: Iterable[str], threshold: float, shingle_words: int = 8, min_shared: int = 15,
                          max_shared_by: int = 50) -> list[list[int]]:
    """Groups (indices, each of two or more) of texts linked by sharing at least `threshold` of
    the shorter text's `shingle_words`-word sequences, and at least `min_shared` of them, transitively.

    `min_shared` keeps two short teasers that end in the same stock sentence ("Der Volltext ...
    steht nicht mehr zur Verfügung") apart: a shared passage must be long, not only a large share.
    A sequence found in more than `max_shared_by` texts is boilerplate (a dateline, a standard
    closing line) and is ignored.
    """
    texts = list(texts)
    with NearDuplicateIndex(shingle_words) as index:
        for start in range(0, len(texts), BATCH_TEXTS):
            index.add([normalised_words(text) for text in texts[start:start + BATCH_TEXTS]])
        return index.groups(threshold, min_shared, max_shared_by)
