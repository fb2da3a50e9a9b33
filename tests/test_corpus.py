"""The embedded corpus loads through the dataset builder and meets its published minimums."""

import json
import subprocess
import sys
from collections import Counter

import pytest
from datasets import DatasetDict

from ereignis.data import build_dataset, parse_article, read_records
from tests.conftest import CORPUS, REPO, compose_config

LABELS = ("phone_call", "summit", "counterterror_cooperation", "negotiation", "sanctions", "military_action",
          "terror_attack", "protest")


@pytest.fixture(scope="module")
def records():
    return read_records(CORPUS, LABELS)


def test_corpus_builds_with_the_default_config(tmp_path):
    output = tmp_path / "events_de"
    build_dataset(compose_config("build_data", [f"data.output_dir={output}"]))
    dataset = DatasetDict.load_from_disk(str(output))
    stats = json.loads((output / "stats.json").read_text())
    assert sum(len(split) for split in dataset.values()) == stats["n_articles"] >= 400
    assert stats["n_exact_duplicates_dropped"] == 0 and stats["near_duplicate_groups"] == []
    for split in ("validation", "test"):  # every label can be scored on every held-out split
        assert min(stats["splits"][split]["label_counts"].values()) >= 5, split


def test_corpus_meets_the_label_minimums(records):
    assert len(records) >= 400
    counts = Counter(label for r in records for label in r.labels)
    assert all(counts[label] >= 50 for label in LABELS), counts
    negatives = sum(not r.labels for r in records)
    assert negatives >= 100
    labelled = [r for r in records if r.labels]
    assert sum(len(r.labels) >= 2 for r in labelled) / len(labelled) >= 0.30


def test_corpus_has_long_articles_and_both_formats(records):
    words = [len(r.text.split()) for r in records]
    assert sum(w > 600 for w in words) >= 40
    structured = [parse_article(r.text) for r in records]
    share = sum(bool(a.bullets) for a in structured) / len(records)
    assert 0.25 <= share <= 0.45
    styles = Counter(r.text.split("Das Wichtigste in Kürze", 1)[1].lstrip()[0] for r in records
                     if "Das Wichtigste in Kürze" in r.text)
    assert styles["•"] >= 20 and styles["-"] >= 20


def test_corpus_keeps_austrian_and_swiss_conventions(records):
    texts = [r.text for r in records]
    assert sum("Jänner" in t for t in texts) >= 10
    assert sum("«" in t and "ß" not in t for t in texts) >= 20  # Swiss: guillemets, no ß


def test_data_card_figures_match_the_corpus():
    """The figures in the data card are the QA script's output for the corpus as it is now."""
    figures = subprocess.run([sys.executable, str(REPO / "scripts" / "corpus_qa.py"), str(CORPUS)],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert figures in (CORPUS / "README.md").read_text(encoding="utf-8")
