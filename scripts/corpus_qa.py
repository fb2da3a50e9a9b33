"""Quality figures for a labelled article folder, as markdown for its data card.

    python scripts/corpus_qa.py data/events_de

Counts per label, label co-occurrence, length distribution, structured share, the largest passage
overlap between any two articles (near-duplicate check), and, where `annotation/pass1.csv` and
`annotation/pass2.csv` exist, Cohen's kappa per label between the two independent passes.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from sklearn.metrics import cohen_kappa_score

from ereignis.data import parse_article, read_records

LABELS_YAML = Path(__file__).resolve().parents[1] / "src" / "ereignis" / "configs" / "labels" / "events_de.yaml"


def read_pass(path: Path) -> dict[str, set[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["id"]: {x for x in row["labels"].split(";") if x} for row in csv.DictReader(handle)}


def shingles(text: str, n: int = 8) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    folder = parser.parse_args().folder
    ids = [label["id"] for label in yaml.safe_load(LABELS_YAML.read_text())["labels"]]
    records = read_records(folder, tuple(ids))
    labels = {r.id: set(r.labels) for r in records}
    words = np.array([len(r.text.split()) for r in records])
    out = [f"## Counts ({len(records)} articles)", "", "| label | articles |", "|---|---|"]
    counts = Counter(label for r in records for label in r.labels)
    out += [f"| `{label}` | {counts[label]} |" for label in ids]
    n_none = sum(not r.labels for r in records)
    labelled = [r for r in records if r.labels]
    n_multi = sum(len(r.labels) > 1 for r in records)
    out += ["", f"- without label: {n_none}", f"- with at least one label: {len(labelled)}, of which with two or more: "
            f"{n_multi} ({n_multi / max(len(labelled), 1):.0%})",
            f"- label-set sizes: {dict(sorted(Counter(len(r.labels) for r in records).items()))}",
            f"- structured (\"Das Wichtigste in Kürze\"): {sum(bool(parse_article(r.text).bullets) for r in records)}"]

    out += ["", "## Co-occurrence (articles carrying both labels)", "",
            "| | " + " | ".join(f"`{i[:8]}`" for i in ids) + " |", "|---|" + "---|" * len(ids)]
    for a in ids:
        out.append(f"| `{a}` | " + " | ".join(str(sum(a in s and b in s for s in labels.values())) for b in ids) + " |")

    out += ["", "## Length (words)", "", "| min | p25 | median | p75 | p90 | max | over 600 | over 1000 |",
            "|---|---|---|---|---|---|---|---|",
            f"| {words.min()} | {np.percentile(words, 25):.0f} | {np.median(words):.0f} "
            f"| {np.percentile(words, 75):.0f} "
            f"| {np.percentile(words, 90):.0f} | {words.max()} | {(words > 600).sum()} | {(words > 1000).sum()} |"]

    grams = {r.id: shingles(r.text) for r in records}
    overlap, pair = 0.0, None
    for a, b in itertools.combinations(grams, 2):
        if grams[a] and grams[b]:
            shared = len(grams[a] & grams[b]) / min(len(grams[a]), len(grams[b]))
            if shared > overlap:
                overlap, pair = shared, (a, b)
    out += ["", "## Near-duplicates", "",
            f"Largest share of 8-word sequences that one article shares with another: {overlap:.1%} "
            f"({pair[0]}, {pair[1]})."
            if pair else "No shared 8-word sequences."]

    pass1, pass2 = folder / "annotation" / "pass1.csv", folder / "annotation" / "pass2.csv"
    if pass1.exists() and pass2.exists():
        first, second = read_pass(pass1), read_pass(pass2)
        common = sorted(set(first) & set(second))
        out += ["", f"## Agreement between the two labelling passes ({len(common)} articles)", "",
                "| label | pass 1 | pass 2 | both | Cohen's kappa | adjudicated |", "|---|---|---|---|---|---|"]
        for label in ids:
            x = [label in first[i] for i in common]
            y = [label in second[i] for i in common]
            out.append(f"| `{label}` | {sum(x)} | {sum(y)} | {sum(a and b for a, b in zip(x, y, strict=True))} | "
                       f"{cohen_kappa_score(x, y):.2f} | {sum(label in labels[i] for i in common)} |")
        exact = sum(first[i] == second[i] for i in common)
        out += ["", f"Identical label sets in both passes: {exact} of {len(common)} articles "
                    f"({exact / len(common):.0%})."]
    print("\n".join(out))


if __name__ == "__main__":
    main()
