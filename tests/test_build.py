import json

import numpy as np
import pytest
from datasets import DatasetDict

from ereignis.data.build import build_dataset
from ereignis.data.readers import DataError
from ereignis.data.split import stratified_split
from tests.conftest import CUES, compose_config, synthetic_corpus, write_folder


def random_labels(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, k)) < rng.uniform(0.05, 0.3, k)).astype(int)


def test_split_is_deterministic_disjoint_and_complete():
    y = random_labels(400, 8, 0)
    first = stratified_split(y, 0.15, 0.15, seed=7)
    assert all(np.array_equal(first[s], stratified_split(y, 0.15, 0.15, seed=7)[s]) for s in first)
    assert not np.array_equal(first["test"], stratified_split(y, 0.15, 0.15, seed=8)["test"])
    together = np.concatenate(list(first.values()))
    assert sorted(together) == list(range(400))
    # the stratifier trades exact sizes for label balance: within a few articles of 280/60/60
    assert [len(first[s]) for s in ("train", "validation", "test")] == pytest.approx([280, 60, 60], abs=8)


def test_split_keeps_every_label_and_the_negatives_in_proportion():
    y = random_labels(600, 8, 1)
    parts = stratified_split(y, 0.15, 0.15, seed=3)
    overall = y.mean(axis=0)
    for name, idx in parts.items():
        share = y[idx].mean(axis=0)
        assert np.all(np.abs(share - overall) <= 0.025), (name, share, overall)
    negatives = lambda rows: (rows.sum(axis=1) == 0).mean()  # noqa: E731
    assert abs(negatives(y[parts["test"]]) - negatives(y)) <= 0.025


def test_split_rejects_impossible_shares():
    with pytest.raises(ValueError, match="sum below 1"):
        stratified_split(random_labels(10, 2, 0), 0.5, 0.5, seed=0)


def test_build_writes_the_documented_dataset_dir(tmp_path):
    articles, labels = synthetic_corpus()
    articles["zz-dup"] = articles["syn-003"].replace(" ", "  ")  # same text up to whitespace
    labels["zz-dup"] = labels["syn-003"]
    folder = write_folder(tmp_path / "in", articles, labels)
    output = tmp_path / "out"
    build_dataset(compose_config("build_data", [f"data.input={folder}", f"data.output_dir={output}"]))

    dataset = DatasetDict.load_from_disk(str(output))
    assert set(dataset) == {"train", "validation", "test"}
    assert dataset["train"].column_names == ["id", "title", "lead", "caption", "bullets", "body", "text", "labels"]
    ids = [i for split in dataset.values() for i in split["id"]]
    assert len(ids) == len(set(ids)) == len(articles) - 1 and "zz-dup" not in ids

    stats = json.loads((output / "stats.json").read_text())
    assert stats["n_exact_duplicates_dropped"] == 1
    assert stats["dropped_duplicates"] == [{"id": "zz-dup", "duplicate_of": "syn-003"}]
    total = {label: sum(s["label_counts"][label] for s in stats["splits"].values())
             for label in stats["splits"]["train"]["label_counts"]}
    assert total == {label: sum(label in v for k, v in labels.items() if k != "zz-dup") for label in total}
    assert stats["tokens"]["available"] and stats["tokens"]["max_length"] == 256
    assert 0 <= stats["tokens"]["splits"]["test"]["share_over_max_length"] <= 1
    assert json.loads((output / "labels.json").read_text())["labels"][0]["id"] == "phone_call"

    fingerprint = json.loads((output / "fingerprint.json").read_text())["sha256"]
    build_dataset(compose_config("build_data", [f"data.input={folder}", f"data.output_dir={tmp_path / 'again'}"]))
    assert json.loads((tmp_path / "again" / "fingerprint.json").read_text())["sha256"] == fingerprint
    again = DatasetDict.load_from_disk(str(tmp_path / "again"))
    assert again["test"]["id"] == dataset["test"]["id"]


def test_near_duplicates_share_a_split(tmp_path):
    articles, labels = synthetic_corpus(n_per_label=8)
    story = ("Die Außenminister beider Länder trafen sich am Dienstag in Wien zu einem mehrstündigen Gespräch "
             "über die Lage an der gemeinsamen Grenze und vereinbarten weitere Treffen der Arbeitsgruppen. ") * 2
    for i in range(4):  # four versions of one story, each with its own update line
        articles[f"story-{i}"] = f"Treffen in Wien\n\n{story}Aktualisierung Nummer {i}: es gibt Neues."
        labels[f"story-{i}"] = ["summit"] if i % 2 else ["summit", "negotiation"]
    folder = write_folder(tmp_path / "in", articles, labels)
    output = tmp_path / "out"
    build_dataset(compose_config("build_data", [f"data.input={folder}", f"data.output_dir={output}"]))
    stats = json.loads((output / "stats.json").read_text())
    assert stats["near_duplicate_groups"] == [["story-0", "story-1", "story-2", "story-3"]]
    dataset = DatasetDict.load_from_disk(str(output))
    homes = {name for name, split in dataset.items() for i in split["id"] if i.startswith("story-")}
    assert len(homes) == 1
    assert sum(len(split) for split in dataset.values()) == len(articles)  # grouped, not dropped


def test_near_duplicate_groups_follow_the_threshold(tmp_path):
    from ereignis.data.duplicates import near_duplicate_groups

    base = " ".join(f"wort{i}" for i in range(40))
    texts = [base, base + " und noch ein Satz am Ende", "ganz anderer Text " * 5]
    assert near_duplicate_groups(texts, threshold=0.5) == [[0, 1]]
    assert near_duplicate_groups(texts, threshold=1.01) == []
    stock = " Der Volltext dieses Artikels steht aus rechtlichen Gründen nicht mehr zur Verfügung."
    teasers = ["Ein kurzer Anriss über den Gipfel." + stock, "Ein anderer Anriss über Proteste." + stock]
    assert near_duplicate_groups(teasers, threshold=0.5) == []  # a shared stock sentence is no duplicate


def test_conflicting_duplicate_labels_stop_the_build(tmp_path):
    articles, labels = synthetic_corpus()
    articles["zz-dup"], labels["zz-dup"] = articles["syn-003"], ["protest"]
    folder = write_folder(tmp_path / "in", articles, labels)
    with pytest.raises(ValueError, match="same text as 'syn-003'.*different labels"):
        build_dataset(compose_config("build_data", [f"data.input={folder}", f"data.output_dir={tmp_path / 'out'}"]))


def test_test_only_mode_makes_an_external_test_set(tmp_path):
    articles, labels = synthetic_corpus(n_per_label=2)
    folder = write_folder(tmp_path / "in", articles, labels)
    output = tmp_path / "ext"
    build_dataset(compose_config("build_data", [f"data.input={folder}", f"data.output_dir={output}",
                                                "data.split.mode=test_only"]))
    assert list(DatasetDict.load_from_disk(str(output))) == ["test"]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def test_given_splits_follow_the_split_field(tmp_path):
    articles, labels = synthetic_corpus()
    names = ["train", "validation", "test"]
    rows = [{"id": article_id, "text": text, "labels": labels[article_id], "split": names[i % 3]}
            for i, (article_id, text) in enumerate(articles.items())]
    output = tmp_path / "out"
    build_dataset(compose_config("build_data", [f"data.input={_jsonl(tmp_path / 'in.jsonl', rows)}",
                                                f"data.output_dir={output}", "data.split.mode=given"]))
    dataset = DatasetDict.load_from_disk(str(output))
    for name in names:
        assert sorted(dataset[name]["id"]) == sorted(row["id"] for row in rows if row["split"] == name)
    rows[4]["split"] = "dev"
    with pytest.raises(DataError, match=r"in.jsonl:5: data.split.mode=given needs a 'split' field"):
        build_dataset(compose_config("build_data", [f"data.input={_jsonl(tmp_path / 'in.jsonl', rows)}",
                                                    f"data.output_dir={tmp_path / 'bad'}", "data.split.mode=given"]))
    assert not (tmp_path / "bad").exists()


def test_kfold_builds_disjoint_stratified_folds(tmp_path):
    articles, labels = synthetic_corpus(n_per_label=8)
    folder = write_folder(tmp_path / "articles", articles, labels)
    output = tmp_path / "out"
    build_dataset(compose_config("build_data", [f"data.input={folder}", f"data.output_dir={output}",
                                                "data.split.mode=kfold", "data.split.folds=4"]))
    dataset = DatasetDict.load_from_disk(str(output))
    assert sorted(dataset) == ["fold_0", "fold_1", "fold_2", "fold_3"]
    ids = [i for fold in dataset.values() for i in fold["id"]]
    assert sorted(ids) == sorted(articles) and len(set(ids)) == len(ids)
    for fold in dataset.values():  # every label in every fold: 8 articles per label over 4 folds
        assert {label for row in fold["labels"] for label in row} == set(CUES)


def test_a_single_label_task_needs_exactly_one_label(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "topics.yaml").write_text(
        "name: topics\ntask: single_label\nlabels:\n  - {id: summit, name: S}\n  - {id: protest, name: P}\n")
    rows = [{"id": f"a{i}", "text": f"Text {i} " * 20, "labels": ["summit" if i % 2 else "protest"]} for i in range(30)]
    rows[3]["labels"] = ["summit", "protest"]
    overrides = [f"hydra.searchpath=[file://{tmp_path}]", "labels=topics", "data.near_duplicates.threshold=null"]
    with pytest.raises(DataError, match=r"in.jsonl:4: a single-label task \(topics\) needs exactly one label"):
        build_dataset(compose_config("build_data", [*overrides, f"data.input={_jsonl(tmp_path / 'in.jsonl', rows)}",
                                                    f"data.output_dir={tmp_path / 'out'}"]))


def test_labels_without_positives_in_a_split_are_flagged(caplog):
    from ereignis.data.build import warn_about_labels_missing_from_splits

    labels = np.array([[1, 0], [1, 0], [0, 1], [1, 0]], dtype=bool)
    missing = warn_about_labels_missing_from_splits(labels, {"train": np.array([0, 2]), "test": np.array([1, 3])},
                                                    ("summit", "protest"))
    assert missing == {"train": [], "test": ["protest"]}
    assert "no positive article in the test split for ['protest']" in caplog.text
