"""Synthetic labelled articles at any count, built only from the embedded corpus data/events_de.

    python benchmarks/synthetic.py 100000 /tmp/syn-100k.jsonl [--seed 0]

writes `/tmp/syn-100k.jsonl` (one {"id", "text", "labels"} per line, the format `data=custom`
reads) and `/tmp/syn-100k.pairs.json` (the planted near-duplicate pairs and exact duplicates).

Each article takes the title and sentences of a corpus article, and with some chance sentences of
a second one; it carries the union of their labels. Sentences are shuffled into paragraphs, and
articles whose source has a key-points box get one. Reused as they are, the corpus's 11,800
sentences would make every 8-word sequence appear in thousands of articles at a million articles,
which the near-duplicate check rightly ignores as boilerplate; real articles are mostly text no
other article has. So each word is swapped, with `SWAP_RATE`, for a random word of the corpus
vocabulary: German words in German sentence frames, word and token lengths as in the corpus, and
word sequences as unique as in real news.

Planted near-duplicates (`NEAR_DUPLICATE_RATE` of the articles) are lightly edited copies: exactly
2% of the words (at least one) swapped, and the last sentence dropped or a sentence added, same
labels. Each swap changes at most 8 word sequences, so a copy shares far more than half of the
shorter text's sequences, and at least 15 of them: a near-duplicate by the build's definition.
(Random numbers of swaps, or dropping a whole paragraph, now and then edited a short article past
that definition: such a pair is no near-duplicate, and no build should group it.) Planted exact duplicates
(`EXACT_DUPLICATE_RATE`) are lower-cased with extra blank lines: the same text up to case and
whitespace (upper-casing is not: "Kadıköy" comes back as "kadiköy"). Ids are shuffled, so the file
is not in id order, as a real export need not be.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ereignis.data.articles import parse_article

CORPUS = Path(__file__).resolve().parents[1] / "data" / "events_de"
SWAP_RATE = 0.3
SECOND_SOURCE_RATE = 0.3
NEAR_DUPLICATE_RATE = 0.01
EXACT_DUPLICATE_RATE = 0.001
COPY_SWAP_RATE = 0.02
SENTENCE_END = re.compile(r"(?<=[.!?“])\s+")


@dataclass(frozen=True)
class Source:
    title: np.ndarray  # word ids
    sentences: list[np.ndarray]
    structured: bool
    labels: tuple[str, ...]


def load_corpus(folder: Path = CORPUS) -> tuple[list[Source], list[str]]:
    """The corpus's articles as word-id arrays, and the vocabulary they index."""
    with open(folder / "labels.csv", encoding="utf-8", newline="") as handle:
        labels = {row["id"]: tuple(name for name in row["labels"].split(";") if name) for row in csv.DictReader(handle)}
    vocabulary: dict[str, int] = {}

    def ids(text: str) -> np.ndarray:
        return np.array([vocabulary.setdefault(word, len(vocabulary)) for word in text.split()], dtype=np.int64)

    sources = []
    for path in sorted(folder.glob("*.txt")):
        article = parse_article(path.read_text(encoding="utf-8"))
        paragraphs = [article.lead, *article.bullets, *article.body.split("\n")]
        sentences = [ids(sentence) for paragraph in paragraphs for sentence in SENTENCE_END.split(paragraph)
                     if sentence.strip()]
        sources.append(Source(ids(article.title), sentences, bool(article.bullets), labels[path.stem]))
    return sources, list(vocabulary)


@dataclass(frozen=True)
class Draft:
    """An article before it is text: its word ids (title first), where each sentence ends, and how
    many sentences each part holds, in order: ("title", 1), ("paragraph", n), ("key_points", 3)."""

    words: np.ndarray
    sentence_ends: np.ndarray
    parts: list[tuple[str, int]]


class Generator:
    def __init__(self, seed: int, folder: Path = CORPUS):
        self.sources, vocabulary = load_corpus(folder)
        self.vocabulary = np.array(vocabulary, dtype=object)
        self.rng = np.random.default_rng(seed)

    def _swap(self, ids: np.ndarray, rate: float) -> np.ndarray:
        ids = ids.copy()
        swapped = self.rng.random(len(ids)) < rate
        ids[swapped] = self.rng.integers(0, len(self.vocabulary), swapped.sum())
        return ids

    def article(self) -> tuple[Draft, tuple[str, ...]]:
        chosen = [self.sources[self.rng.integers(len(self.sources))]]
        if self.rng.random() < SECOND_SOURCE_RATE:
            chosen.append(self.sources[self.rng.integers(len(self.sources))])
        pool = [sentence for source in chosen for sentence in source.sentences]
        picked = [pool[i] for i in self.rng.permutation(len(pool))[:len(chosen[0].sentences)]]
        parts, left = [("title", 1)], len(picked)
        if chosen[0].structured and left > 6:  # a lead, then three key points
            parts += [("paragraph", 1), ("key_points", 3)]
            left -= 4
        while left:
            size = min(int(self.rng.integers(1, 5)), left)
            parts.append(("paragraph", size))
            left -= size
        sentences = [chosen[0].title, *picked]
        draft = Draft(self._swap(np.concatenate(sentences), SWAP_RATE), np.cumsum([len(s) for s in sentences]), parts)
        return draft, tuple(dict.fromkeys(label for source in chosen for label in source.labels))

    def near_copy(self, draft: Draft) -> Draft:
        """A lightly edited copy: `COPY_SWAP_RATE` of the words swapped, the last sentence dropped or one added."""
        words = draft.words.copy()
        swapped = self.rng.choice(len(words), max(1, round(COPY_SWAP_RATE * len(words))), replace=False)
        words[swapped] = self.rng.integers(0, len(self.vocabulary), len(swapped))
        if len(draft.sentence_ends) > 4 and self.rng.random() < 0.5:
            ends = draft.sentence_ends[:-1]
            kind, count = draft.parts[-1]
            return Draft(words[:ends[-1]], ends, draft.parts[:-1] + ([(kind, count - 1)] if count > 1 else []))
        extra = self.sources[self.rng.integers(len(self.sources))].sentences
        added = self._swap(extra[self.rng.integers(len(extra))], SWAP_RATE)
        return Draft(np.concatenate([words, added]), np.r_[draft.sentence_ends, len(words) + len(added)],
                     [*draft.parts, ("paragraph", 1)])

    def text(self, draft: Draft) -> str:
        words = self.vocabulary[draft.words].tolist()
        sentences = [" ".join(words[start:end])
                     for start, end in zip(np.r_[0, draft.sentence_ends[:-1]], draft.sentence_ends, strict=True)]
        parts, first = [], 0
        for kind, count in draft.parts:
            held = sentences[first:first + count]
            first += count
            parts.append("Das Wichtigste in Kürze\n" + "\n".join(f"• {s}" for s in held) if kind == "key_points"
                         else " ".join(held))
        return "\n\n".join(parts)


def synthetic_articles(n: int, seed: int = 0) -> Iterator[dict]:
    """`n` articles ({"id", "text", "labels", "planted": None | ("near"|"exact", id of the original)})."""
    generator = Generator(seed)
    ids = generator.rng.permutation(n)
    produced = 0
    while produced < n:
        draft, labels = generator.article()
        text, original = generator.text(draft), f"syn-{ids[produced]:07d}"
        yield {"id": original, "text": text, "labels": list(labels), "planted": None}
        produced += 1
        draw = generator.rng.random()
        if produced < n and draw < NEAR_DUPLICATE_RATE + EXACT_DUPLICATE_RATE:
            near = draw < NEAR_DUPLICATE_RATE
            copy = generator.text(generator.near_copy(draft)) if near else text.lower().replace("\n\n", "\n \n\n")
            yield {"id": f"syn-{ids[produced]:07d}", "text": copy, "labels": list(labels),
                   "planted": ("near" if near else "exact", original)}
            produced += 1


def write_synthetic(n: int, path: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write the articles to `path` and the planted duplicates to `<path stem>.pairs.json`; reuse both when
    they exist for the same `n`, seed and generator."""
    planted_path = path.with_suffix(".pairs.json")
    version = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]  # a changed generator writes anew
    if path.exists() and planted_path.exists():
        planted = json.loads(planted_path.read_text())
        if (planted["n"], planted["seed"], planted.get("generator")) == (n, seed, version):
            return path, planted_path
    planted = {"n": n, "seed": seed, "generator": version, "near": [], "exact": []}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for article in synthetic_articles(n, seed):
            if article["planted"]:
                kind, original = article["planted"]
                planted[kind].append([original, article["id"]])
            handle.write(json.dumps({key: article[key] for key in ("id", "text", "labels")}, ensure_ascii=False) + "\n")
    planted_path.write_text(json.dumps(planted))
    return path, planted_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int)
    parser.add_argument("output", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(*write_synthetic(args.n, args.output, args.seed))


if __name__ == "__main__":
    main()
