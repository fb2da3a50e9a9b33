"""The streaming build: rows staged on disk come back in id order, the dataset dir is the one
`datasets` writes, and neither the input's order nor the run size changes the result."""

import functools
import json
import random

import numpy as np
import pytest
from datasets import Dataset, DatasetDict

from ereignis.data import build as build_module
from ereignis.data.build import FEATURES, build_dataset
from ereignis.data.streaming import DatasetDirWriter, SortedRuns, sort_positions
from tests.conftest import compose_config, synthetic_corpus


def row(article_id: str) -> dict:
    return {"id": article_id, "title": f"Titel {article_id}", "lead": "", "caption": "", "bullets": ["a", article_id],
            "body": f"Text {article_id}", "text": f"Titel {article_id}\n\nText {article_id}", "labels": ["summit"]}


def test_runs_give_the_rows_back_in_id_order_leaving_out_what_is_not_asked(tmp_path):
    ids = [f"id-{i:03d}" for i in range(53)]
    random.Random(0).shuffle(ids)
    runs = SortedRuns(tmp_path / "runs", FEATURES, run_rows=7)
    for start in range(0, len(ids), 5):  # batches that do not line up with the runs
        runs.add([row(i) for i in ids[start:start + 5]])
    runs.finish()
    order = sort_positions(ids)
    wanted = order[np.arange(len(order)) % 4 != 1]  # every fourth article dropped, as exact duplicates are
    chunks = list(runs.in_order(wanted, chunk_rows=6))
    assert [len(chunk) for chunk in chunks][:-1] == [6] * (len(chunks) - 1)
    got = [r for chunk in chunks for r in chunk.to_pylist()]
    assert got == [row(ids[p]) for p in wanted]


def test_the_dataset_dir_is_the_one_datasets_writes(tmp_path):
    rows = [row(f"a{i}") for i in range(5)]
    writer = DatasetDirWriter(tmp_path / "ours", FEATURES, ["train", "test"])
    writer.write("train", Dataset.from_list(rows[:3], features=FEATURES).data.table)
    writer.write("test", Dataset.from_list(rows[3:], features=FEATURES).data.table)
    writer.finish("fingerprint")
    reference = DatasetDict({"train": Dataset.from_list(rows[:3], features=FEATURES),
                             "test": Dataset.from_list(rows[3:], features=FEATURES)})
    reference.save_to_disk(str(tmp_path / "theirs"))
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*"))  # noqa: E731
    assert files(tmp_path / "ours") == files(tmp_path / "theirs")
    for split in ("train", "test"):
        ours, theirs = (json.loads((tmp_path / name / split / "state.json").read_text()) for name in ("ours", "theirs"))
        assert ours.keys() == theirs.keys() and ours["_data_files"] == theirs["_data_files"]
    loaded = DatasetDict.load_from_disk(str(tmp_path / "ours"))
    assert {split: loaded[split].to_list() for split in loaded} == {"train": rows[:3], "test": rows[3:]}
    assert loaded["train"].features == FEATURES


def write_jsonl(path, articles: dict[str, str], labels: dict[str, list[str]], order: list[str]):
    path.write_text("".join(json.dumps({"id": i, "text": articles[i], "labels": labels[i]}, ensure_ascii=False) + "\n"
                            for i in order), encoding="utf-8")
    return path


def test_neither_input_order_nor_run_size_changes_the_dataset(tmp_path, monkeypatch):
    articles, labels = synthetic_corpus(n_per_label=5)
    articles["zz-copy"], labels["zz-copy"] = articles["syn-004"].upper(), labels["syn-004"]  # an exact duplicate
    ids = sorted(articles)
    shuffled = random.Random(1).sample(ids, len(ids))
    built = {}
    for name, order, run_rows in (("sorted", ids, 10_000), ("shuffled", shuffled, 4), ("reversed", ids[::-1], 9)):
        monkeypatch.setattr(build_module, "SortedRuns", functools.partial(SortedRuns, run_rows=run_rows))
        source = write_jsonl(tmp_path / f"{name}.jsonl", articles, labels, order)
        output = build_dataset(compose_config("build_data", ["data=custom", f"data.input={source}",
                                                             f"data.output_dir={tmp_path / name}"]))
        stats = json.loads((output / "stats.json").read_text())
        built[name] = ({split: d.to_list() for split, d in DatasetDict.load_from_disk(str(output)).items()},
                       stats["dropped_duplicates"], stats["splits"])
    assert built["sorted"] == built["shuffled"] == built["reversed"]
    splits, dropped, _ = built["sorted"]
    assert dropped == [{"id": "zz-copy", "duplicate_of": "syn-004"}]
    assert all(d == sorted(d, key=lambda r: r["id"]) for d in splits.values())  # rows in id order
    assert sum(len(d) for d in splits.values()) == len(articles) - 1
    assert {path.name for path in (tmp_path / "sorted").iterdir()} == {  # no staging files left
        "dataset_dict.json", "train", "validation", "test", "labels.json", "stats.json", "fingerprint.json",
        "build_config.yaml", "tokenizer"}  # the tiny model's vocabulary, built from the train split


def test_token_statistics_come_from_a_sample_of_each_split(tmp_path, monkeypatch):
    monkeypatch.setattr(build_module, "TOKEN_SAMPLE", 5)
    articles, labels = synthetic_corpus(n_per_label=6)
    source = write_jsonl(tmp_path / "in.jsonl", articles, labels, sorted(articles))
    output = build_dataset(compose_config("build_data", ["data=custom", f"data.input={source}",
                                                         f"data.output_dir={tmp_path / 'out'}"]))
    tokens = json.loads((output / "stats.json").read_text())["tokens"]
    assert tokens["sample"] == {"per_split": 5, "seed": 0}
    assert {split: s["n_sampled"] for split, s in tokens["splits"].items()} == {"train": 5, "validation": 5, "test": 5}
    assert all(0 <= s["share_over_max_length"] <= 1 for s in tokens["splits"].values())


@pytest.mark.parametrize("n", [0, 3, 10])
def test_sort_positions_is_pythons_string_order(n):
    keys = [f"k{random.Random(n).random()}ä{i}" for i in range(n)] + ["Z", "a", "ä", "é"][:n]
    assert [keys[p] for p in sort_positions(keys)] == sorted(keys)
