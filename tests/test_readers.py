import json
import logging

import pytest

from ereignis.data import DataError, read_records
from ereignis.data.build import build_dataset
from tests.conftest import compose_config, synthetic_corpus, write_folder

KNOWN = ("phone_call", "summit", "protest")


def problems_of(call) -> list[str]:
    with pytest.raises(DataError) as info:
        call()
    return info.value.problems


def test_folder_reads_ids_texts_and_labels(tmp_path):
    folder = write_folder(tmp_path, {"a": "Titel\n\nText.", "b": "Titel\n\nText zwei."},
                          {"a": ["summit", "protest"], "b": []})
    records = {r.id: r for r in read_records(folder, KNOWN)}
    assert records["a"].labels == ("summit", "protest") and records["b"].labels == ()


def test_unknown_label_names_file_and_line(tmp_path):
    folder = write_folder(tmp_path, {"a": "x", "b": "y"}, {"a": ["summit"], "b": ["gipfel"]})
    [problem] = problems_of(lambda: read_records(folder, KNOWN))
    assert f"{folder / 'labels.csv'}:3: unknown label 'gipfel'" in problem


def test_duplicate_id_in_labels_csv(tmp_path):
    folder = write_folder(tmp_path, {"a": "x"}, None)
    (folder / "labels.csv").write_text("id,labels\na,summit\na,protest\n", encoding="utf-8")
    [problem] = problems_of(lambda: read_records(folder, KNOWN))
    assert "labels.csv:3: duplicate id 'a' (first at line 2)" in problem


def test_empty_text_and_missing_rows_both_ways(tmp_path):
    folder = write_folder(tmp_path, {"a": "  \n", "b": "Text"}, {"a": []})
    (folder / "labels.csv").write_text("id,labels\na,\nghost,summit\n", encoding="utf-8")
    found = "\n".join(problems_of(lambda: read_records(folder, KNOWN)))
    assert f"{folder / 'a.txt'}:1: empty text" in found
    assert f"{folder / 'b.txt'}:1: article has no row in" in found
    assert "labels.csv:3: labels row for 'ghost' but no article file ghost.txt" in found


def test_bad_labels_header(tmp_path):
    folder = write_folder(tmp_path, {"a": "x"}, None)
    (folder / "labels.csv").write_text("article,tags\na,summit\n", encoding="utf-8")
    [problem] = problems_of(lambda: read_records(folder, KNOWN))
    assert "labels.csv:1: header must name the columns 'id', 'labels', separated by ',', ';' or tabs" in problem


def test_jsonl_errors_name_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": "a", "text": "ok", "labels": ["summit"]}),
        "{not json",
        json.dumps({"id": "a", "text": "again", "labels": []}),
        json.dumps({"id": "c", "text": "", "labels": []}),
        json.dumps({"id": "d", "text": "x", "labels": ["nope"]}),
        json.dumps({"id": "e", "text": "x", "labels": 3}),
        json.dumps({"id": "f", "text": "y", "labels": "Summit"}),  # one string: a single label
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = problems_of(lambda: read_records(path, KNOWN))
    assert [p.split(": ", 1)[0] for p in found] == [f"{path}:{n}" for n in (2, 3, 4, 5, 6)]
    assert "invalid JSON" in found[0] and "duplicate id 'a' (first at line 1)" in found[1]
    assert "empty text" in found[2] and "unknown label 'nope'" in found[3] and "list of strings" in found[4]


def test_jsonl_reads_one_label_string_and_a_split_field(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "Gipfel", "topic": "Summit", "split": " Test "}) + "\n",
                    encoding="utf-8")
    [record] = read_records(path, KNOWN, columns={"labels": "topic"})
    assert record.labels == ("summit",) and record.split == "test"


def test_unlabelled_reading_ignores_labels(tmp_path):
    folder = write_folder(tmp_path, {"a": "x", "b": "y"}, {"a": ["not_a_label"]})  # incomplete, unknown label
    assert [r.labels for r in read_records(folder, KNOWN, require_labels=False)] == [None, None]
    path = tmp_path / "new.jsonl"
    path.write_text('{"id": 1, "text": "x", "labels": null}\n{"id": "2", "text": "y", "labels": [3]}\n',
                    encoding="utf-8")
    assert [(r.id, r.labels) for r in read_records(path, KNOWN, require_labels=False)] == [("1", None), ("2", None)]


def test_a_header_only_labels_file_is_no_set_of_negatives(tmp_path):
    folder = write_folder(tmp_path, {"a": "x", "b": "y"}, {})
    found = problems_of(lambda: read_records(folder, KNOWN))
    assert [p.split(": ", 1)[1] for p in found] == [f"article has no row in {folder / 'labels.csv'}"] * 2


def test_byte_order_marks_are_tolerated(tmp_path):
    folder = write_folder(tmp_path / "f", {}, None)
    (folder / "a.txt").write_text("\ufeffTitel\n\nText.", encoding="utf-8")
    (folder / "labels.csv").write_text("\ufeffid,labels\r\na,summit\r\n", encoding="utf-8")
    [record] = read_records(folder, KNOWN)
    assert record.labels == ("summit",) and record.text.startswith("Titel")
    path = tmp_path / "bom.jsonl"
    path.write_text('\ufeff{"id": "a", "text": "x", "labels": []}\n', encoding="utf-8")
    assert [r.id for r in read_records(path, KNOWN)] == ["a"]


def test_jsonl_ids_are_strings_or_integers(tmp_path):
    path = tmp_path / "ids.jsonl"
    path.write_text('{"id": " 7 ", "text": "x", "labels": []}\n{"id": true, "text": "y", "labels": []}\n',
                    encoding="utf-8")
    [problem] = problems_of(lambda: read_records(path, KNOWN))
    assert f"{path}:2: 'id' must be a non-empty string or an integer, found True" == problem


def test_bad_input_leaves_no_output_and_keeps_the_old_dataset(tmp_path):
    articles, labels = synthetic_corpus()
    good = write_folder(tmp_path / "good", articles, labels)
    output = tmp_path / "processed"
    cfg = compose_config("build_data", [f"data.input={good}", f"data.output_dir={output}"])
    build_dataset(cfg)
    before = (output / "fingerprint.json").read_text()

    labels["syn-001"] = ["no_such_label"]
    bad = write_folder(tmp_path / "bad", articles, labels)
    with pytest.raises(DataError, match="unknown label 'no_such_label'"):
        build_dataset(compose_config("build_data", [f"data.input={bad}", f"data.output_dir={output}"]))
    assert (output / "fingerprint.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folders left

    fresh = tmp_path / "never"
    with pytest.raises(DataError):
        build_dataset(compose_config("build_data", [f"data.input={bad}", f"data.output_dir={fresh}"]))
    assert not fresh.exists()


def test_long_reads_log_their_progress(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("ereignis.data.readers.PROGRESS_EVERY_S", 0.0)  # report after every file
    folder = write_folder(tmp_path, {"a": "x", "b": "y"}, {"a": [], "b": ["summit"]})
    with caplog.at_level(logging.INFO, logger="ereignis.data.readers"):
        read_records(folder, KNOWN)
    assert [record.getMessage() for record in caplog.records] == [
        f"read 1 of 2 article files in {folder}", f"read 2 of 2 article files in {folder}"]
