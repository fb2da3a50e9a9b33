"""Near-duplicate grouping with numpy hashes and buckets means exactly what its docstring says."""

import os
import random
import subprocess
import sys
from collections import Counter
from itertools import combinations

import numpy as np
import pytest

from ereignis.data.duplicates import (
    NearDuplicateIndex,
    exact_duplicates,
    exact_key,
    near_duplicate_groups,
    normalised_words,
    shingle_hashes,
)
from ereignis.data.readers import DataError
from tests.conftest import CORPUS, REPO


def defined_groups(texts, threshold, shingle_words=8, min_shared=15, max_shared_by=50):
    """The definition, pair by pair with Python sets of word tuples: the oracle for small inputs."""
    shingles = [{tuple(words[i:i + shingle_words]) for i in range(len(words) - shingle_words + 1)}
                for words in (text.casefold().split() for text in texts)]
    holders = Counter(gram for grams in shingles for gram in grams)
    component = list(range(len(texts)))
    for a, b in combinations(range(len(texts)), 2):
        shared = sum(holders[gram] <= max_shared_by for gram in shingles[a] & shingles[b])
        if shared and shared >= min_shared and shared / min(len(shingles[a]), len(shingles[b])) >= threshold:
            old, new = component[b], component[a]
            component = [new if c == old else c for c in component]
    members = {}
    for i, c in enumerate(component):
        members.setdefault(c, []).append(i)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])


@pytest.fixture(scope="module")
def edited_corpus() -> list[str]:
    """Corpus articles, lightly and heavily edited copies, cropped copies, a stock closing line
    shared by many, and texts shorter than one word sequence."""
    rng = random.Random(3)
    texts = []
    closing = " Alle Rechte vorbehalten, Nachdruck nur mit Genehmigung der Redaktion und Quellenangabe gestattet."
    for path in sorted(CORPUS.glob("*.txt"))[:90]:
        words = path.read_text(encoding="utf-8").split()
        texts.append(" ".join(words) + (closing if rng.random() < 0.4 else ""))
        if rng.random() < 0.4:
            copy = list(words)
            for _ in range(rng.choice([2, 20, 120])):  # light to heavy edits
                copy[rng.randrange(len(copy))] = rng.choice(["neu", "Update", "AKTUALISIERT"])
            texts.append(" ".join(copy[rng.randint(0, len(copy) // 2):]).upper())
    texts += ["Kurz gemeldet.", "Kurz gemeldet: nichts Neues.", ""]
    rng.shuffle(texts)
    return texts


@pytest.mark.parametrize(("threshold", "min_shared", "max_shared_by"),
                         [(0.5, 15, 50), (0.3, 1, 2), (0.8, 40, 3), (0.1, 5, 50)])
def test_groups_follow_the_definition(edited_corpus, threshold, min_shared, max_shared_by):
    expected = defined_groups(edited_corpus, threshold, 8, min_shared, max_shared_by)
    assert expected  # the corpus does hold near-duplicates at these settings
    assert near_duplicate_groups(edited_corpus, threshold, 8, min_shared, max_shared_by) == expected


def test_buckets_written_to_files_give_the_same_groups(edited_corpus, tmp_path):
    """A budget of one byte sends every array to the bucket files after each batch."""
    with NearDuplicateIndex(shingle_words=5, work_dir=tmp_path, memory_budget=1) as index:
        for start in range(0, len(edited_corpus), 7):
            index.add([normalised_words(text) for text in edited_corpus[start:start + 7]])
        assert any((tmp_path / index.folder.name / "shingles").iterdir())
        assert index.groups(0.5, 15, 50) == defined_groups(edited_corpus, 0.5, 5, 15, 50)
    assert not any(tmp_path.iterdir())  # closing removes the files


def test_texts_not_kept_count_nowhere():
    """An exact duplicate about to be dropped neither links nor makes a shared sequence boilerplate."""
    story = " ".join(f"wort{i}" for i in range(40))
    texts = [story, story + " mit Zusatz", story.upper()]
    with NearDuplicateIndex() as index:
        index.add([normalised_words(text) for text in texts])
        assert index.groups(0.5, max_shared_by=2) == []  # three holders: boilerplate
        assert index.groups(0.5, max_shared_by=2, keep=np.array([True, True, False])) == [[0, 1]]


def test_hashes_are_the_same_in_every_process():
    """str hashes are salted per process; the shingle hashes must not be."""
    code = ("from ereignis.data.duplicates import shingle_hashes, normalised_words; import sys; "
            "texts = [p.read_text() for p in sorted(__import__('pathlib').Path(sys.argv[1]).glob('*.txt'))[:20]]; "
            "sys.stdout.write(shingle_hashes([normalised_words(t) for t in texts], 8)[0].tobytes().hex())")
    outputs = {subprocess.run([sys.executable, "-c", code, str(CORPUS)], capture_output=True, text=True, check=True,
                              cwd=REPO, env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outputs) == 1 and len(next(iter(outputs))) > 1000


def test_shingle_hashes_tell_sequences_apart_and_stay_within_a_text():
    words = [normalised_words("a b c d e f"), normalised_words("A B C D"), normalised_words("c d e f a b")]
    hashes, owner = shingle_hashes(words, 3)
    assert owner.tolist() == [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]  # no sequence spans two texts
    assert hashes[0] == hashes[4] and hashes[1] == hashes[5]  # "a b c", "b c d" twice
    assert hashes[2] == hashes[6] and hashes[3] == hashes[7]  # "c d e", "d e f" twice
    assert len(set(hashes.tolist())) == 6


def test_exact_duplicates_keep_the_first_and_stop_on_conflicting_labels():
    texts = ["Ein Text.", "ein  TEXT.", "Ein anderer Text.", "EIN TEXT."]
    keys = [exact_key(normalised_words(text)) for text in texts]
    ids, sources = ["a", "b", "c", "d"], [f"in.jsonl:{i}" for i in range(1, 5)]
    keep, dropped = exact_duplicates(keys, np.array([[1, 0], [1, 0], [0, 0], [1, 0]]), ids, sources)
    assert keep.tolist() == [True, False, True, False]
    assert dropped == [{"id": "b", "duplicate_of": "a"}, {"id": "d", "duplicate_of": "a"}]
    with pytest.raises(DataError, match=r"in.jsonl:4: same text as 'a' \(in.jsonl:1\) but different labels"):
        exact_duplicates(keys, np.array([[1, 0], [1, 0], [0, 0], [0, 1]]), ids, sources)
