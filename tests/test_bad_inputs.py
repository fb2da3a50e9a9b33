"""The bad inputs users actually have (issue 9): each is read, or named in one clear problem with file and line."""

import json
import logging
import tracemalloc

import pytest

from ereignis.data import DataError, read_records
from ereignis.data.build import build_dataset, require_enough_for_split
from tests.conftest import compose_config, synthetic_corpus, write_folder

KNOWN = ("phone_call", "summit", "protest")
ARTICLES = {"a": "Gipfel in Brüssel\n\nDie Kanzlerin traf die Staats- und Regierungschefs.",
            "b": "Demonstration\n\nZehntausende protestierten gegen die Regierung."}


def problems_of(call) -> list[str]:
    with pytest.raises(DataError) as info:
        call()
    return info.value.problems


def folder_with_labels(tmp_path, labels_bytes: bytes, articles: dict[str, str | bytes] = ARTICLES):
    folder = tmp_path / "articles"
    folder.mkdir()
    for article_id, text in articles.items():
        (folder / f"{article_id}.txt").write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    (folder / "labels.csv").write_bytes(labels_bytes)
    return folder


def labels_of(records) -> dict[str, tuple[str, ...]]:
    return {record.id: record.labels for record in records}


def test_utf16_labels_csv_from_excel_is_read(tmp_path):
    # Excel's "Unicode text": UTF-16 with a byte-order mark, tab-separated, CRLF
    folder = folder_with_labels(tmp_path, "id\tlabels\r\na\tsummit\r\nb\tprotest\r\n".encode("utf-16"))
    assert labels_of(read_records(folder, KNOWN)) == {"a": ("summit",), "b": ("protest",)}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_jsonl_with_a_byte_order_mark_is_read(tmp_path, encoding):
    path = tmp_path / "articles.jsonl"
    lines = [{"id": "a", "text": "Gipfel in Brüssel", "labels": ["summit"]}, {"id": "b", "text": "Köln", "labels": []}]
    path.write_bytes("".join(json.dumps(line, ensure_ascii=False) + "\r\n" for line in lines).encode(encoding))
    assert [(r.id, r.text, r.labels, r.source) for r in read_records(path, KNOWN)] == [
        ("a", "Gipfel in Brüssel", ("summit",), f"{path}:1"), ("b", "Köln", (), f"{path}:2")]


def test_latin1_jsonl_names_line_offset_guess_and_conversion(tmp_path):
    path = tmp_path / "articles.jsonl"
    first = json.dumps({"id": "a", "text": "Gipfel", "labels": []}) + "\n"
    second = json.dumps({"id": "b", "text": "Brüssel, Köln und Düsseldorf", "labels": []}, ensure_ascii=False) + "\n"
    path.write_bytes(first.encode() + second.encode("latin-1"))
    [problem] = problems_of(lambda: read_records(path, KNOWN))
    offset = len(first.encode()) + second.encode("latin-1").index(b"\xfc")
    assert problem.startswith(f"{path}:2: not UTF-8: byte 0xfc at byte offset {offset} cannot be decoded; "
                              "it looks like cp1252")
    assert f"iconv -f CP1252 -t UTF-8 {path} > {path}.utf8" in problem and "data.fallback_encoding=cp1252" in problem


def test_an_unclosed_quote_is_reported_once_where_it_opens(tmp_path):
    rows = [f'a{i},"summit' if i == 6 else f"a{i},summit" for i in range(2, 47)] + ['a47,"protest"']
    articles = {f"a{i}": f"Titel {i}\n\nText {i}." for i in range(2, 48)}
    folder = folder_with_labels(tmp_path, ("id,labels\n" + "\n".join(rows) + "\n").encode(), articles)
    assert problems_of(lambda: read_records(folder, KNOWN)) == [
        f"{folder / 'labels.csv'}:6: quote opened on line 6 is not closed on that line"]


def test_a_non_utf8_txt_is_one_problem_and_its_labels_row_no_second(tmp_path):
    articles = {"a": "Köln und Brüssel".encode("cp1252"), "b": ARTICLES["b"]}
    folder = folder_with_labels(tmp_path, b"id,labels\na,summit\nb,protest\n", articles)
    [problem] = problems_of(lambda: read_records(folder, KNOWN))
    assert problem.startswith(f"{folder / 'a.txt'}:1: not UTF-8: byte 0xf6 at byte offset 1")


def test_german_excel_export_with_semicolons_is_read(tmp_path):
    # "CSV UTF-8" from a German Excel: BOM, the sep= hint line, ';', CRLF, padding cells, capitalised header
    export = "sep=;\r\nID;Labels;;\r\na;summit;;\r\nb;protest, summit;;\r\n".encode("utf-8-sig")
    folder = folder_with_labels(tmp_path, export)
    assert labels_of(read_records(folder, KNOWN)) == {"a": ("summit",), "b": ("protest", "summit")}


def test_a_labels_file_with_text_columns_is_named_as_such(tmp_path):
    folder = folder_with_labels(tmp_path, b"Artikel;Ereignisse\na;summit\n")
    [problem] = problems_of(lambda: read_records(folder, KNOWN))
    assert problem == (f"{folder / 'labels.csv'}:1: header must name the columns 'id', 'labels', "
                       "separated by ',', ';' or tabs; found 'Artikel;Ereignisse'")


def test_nul_bytes_and_terminal_escapes_are_removed_and_counted(tmp_path, caplog):
    articles = {"a": "Gipfel\x00\x00\n\n\x1b[1;31mDie Kanzlerin\x1b[0m reiste\u200b ab.", "b": ARTICLES["b"]}
    folder = folder_with_labels(tmp_path, b"id,labels\na,summit\nb,\n", articles)
    path = tmp_path / "articles.jsonl"
    path.write_text(json.dumps({"id": "c\x1b[2J", "text": "Titel\u0000\n\nText\u202e.", "labels": []}) + "\n")
    with caplog.at_level(logging.WARNING, logger="ereignis.data.readers"):
        texts = {r.id: r.text for r in read_records(folder, KNOWN)} | {r.id: r.text for r in read_records(path, KNOWN)}
    assert texts["a"] == "Gipfel\n\nDie Kanzlerin reiste ab." and texts["c"] == "Titel\n\nText."
    assert "removed 5 invisible character(s) and terminal escape sequence(s)" in caplog.text
    assert f"in 1 place(s): {folder / 'a.txt'}:1" in caplog.text and f"in 1 place(s): {path}:1" in caplog.text


def test_a_48_mb_article_is_refused_unread(tmp_path):
    folder = folder_with_labels(tmp_path, b"id,labels\na,summit\nb,\nhuge,\n")
    with open(folder / "huge.txt", "wb") as handle:
        handle.truncate(48_000_000)  # sparse: no time or disk spent making it
    tracemalloc.start()
    try:
        [problem] = problems_of(lambda: read_records(folder, KNOWN))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problem == (f"{folder / 'huge.txt'}:1: 48.0 MB, more than an article of at most 200,000 characters "
                       "(data.max_article_chars) can be; split it, or raise the limit")
    assert peak < 5_000_000


def test_an_article_over_the_configured_size_names_line_and_limit(tmp_path):
    path = tmp_path / "articles.jsonl"
    lines = [{"id": "a", "text": "kurz", "labels": []}, {"id": "b", "text": "Wort " * 1000, "labels": []}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    [problem] = problems_of(lambda: read_records(path, KNOWN, max_article_chars=1000))
    assert problem.startswith(f"{path}:2: text of 5,000 characters for id 'b', over the limit of 1,000 "
                              "(data.max_article_chars)")


def test_five_labelled_articles_get_one_message_saying_what_is_needed(tmp_path):
    articles, labels = synthetic_corpus()
    few = sorted(articles)[:5]
    folder = write_folder(tmp_path / "few", {i: articles[i] for i in few}, {i: labels[i] for i in few})
    output = tmp_path / "processed"
    cfg = compose_config("build_data", [f"data.input={folder}", f"data.output_dir={output}"])
    assert problems_of(lambda: build_dataset(cfg)) == [
        f"{folder}: too little labelled data for the split: 5 article(s) (near-duplicate groups counted once), "
        "fewer than the 7 that validation=0.15 and test=0.15 need to give each split one; add labelled articles, "
        "or build an evaluation-only set with data.split.mode=test_only"]
    assert not output.exists()
    test_only = compose_config("build_data", [f"data.input={folder}", f"data.output_dir={output}",
                                              "data.split.mode=test_only"])
    assert build_dataset(test_only) == output


def test_a_split_the_stratifier_leaves_empty_is_one_message_too(tmp_path):
    split = compose_config("build_data").data.split
    require_enough_for_split(tmp_path, 9, split, {"train": 9, "validation": 1, "test": 1})  # nothing to say
    assert problems_of(lambda: require_enough_for_split(tmp_path, 9, split, {"train": 9, "validation": 0, "test": 0})) \
        == [f"{tmp_path}: too little labelled data for the split: the stratified split of 9 article(s) left validation "
            "and test empty: too few articles per label to spread; add labelled articles, or build an evaluation-only "
            "set with data.split.mode=test_only"]


def test_labels_are_stripped_and_matched_ignoring_case_in_every_format(tmp_path):
    folder = folder_with_labels(tmp_path, b"id,labels\na, Summit ; PROTEST \nb,\n")
    path = tmp_path / "articles.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "x", "labels": [" Summit ", "PROTEST"]}) + "\n")
    table = tmp_path / "articles.csv"
    table.write_text('id,text,labels\na,x," Summit ; PROTEST "\n')
    for source in (folder, path, table):
        assert read_records(source, KNOWN)[0].labels == ("summit", "protest")


def test_an_unknown_label_suggests_the_closest_known_one(tmp_path):
    folder = folder_with_labels(tmp_path, b"id,labels\na,Sumit\nb,gipfel\n")
    assert problems_of(lambda: read_records(folder, KNOWN)) == [
        f"{folder / 'labels.csv'}:2: unknown label 'Sumit' (did you mean 'summit'? known: phone_call, summit, protest)",
        f"{folder / 'labels.csv'}:3: unknown label 'gipfel' (known: phone_call, summit, protest)"]


def test_utf16_without_byte_order_mark_is_named(tmp_path):
    path = tmp_path / "articles.jsonl"
    path.write_bytes((json.dumps({"id": "a", "text": "x", "labels": []}) + "\n").encode("utf-16-le"))
    [problem] = problems_of(lambda: read_records(path, KNOWN))
    assert problem.startswith(f"{path}:1: looks like UTF-16LE without a byte-order mark")
    assert f"iconv -f UTF-16LE -t UTF-8 {path}" in problem


def test_a_fallback_encoding_is_an_explicit_logged_decision(tmp_path, caplog):
    articles = {"a": "Köln und Brüssel".encode("cp1252"), "b": ARTICLES["b"]}
    folder = folder_with_labels(tmp_path, b"id,labels\na,summit\nb,protest\n", articles)
    with caplog.at_level(logging.WARNING, logger="ereignis.data.readers"):
        records = read_records(folder, KNOWN, fallback_encoding="cp1252")
    assert records[0].text == "Köln und Brüssel"
    assert f"read 1 file(s) or line(s) that are not UTF-8 as cp1252 (data.fallback_encoding): {folder / 'a.txt'}:1" \
        in caplog.text
    assert problems_of(lambda: read_records(folder, KNOWN, fallback_encoding="klingon")) == [
        "data.fallback_encoding: unknown encoding 'klingon'"]


def test_a_csv_table_with_quoted_multiline_texts_is_read_and_a_broken_quote_named(tmp_path):
    table = tmp_path / "export.csv"
    table.write_text('Nummer;Inhalt;Ereignisse\n1;"Gipfel\n\nDie Kanzlerin sagte: ""Wir einigen uns.""";summit\n'
                     '2;Demo;protest\n', encoding="utf-8")
    columns = {"id": "Nummer", "text": "Inhalt", "labels": "Ereignisse"}
    records = read_records(table, KNOWN, columns=columns)
    assert [(r.id, r.text, r.labels, r.source) for r in records] == [
        ("1", 'Gipfel\n\nDie Kanzlerin sagte: "Wir einigen uns."', ("summit",), f"{table}:2"),
        ("2", "Demo", ("protest",), f"{table}:5")]
    table.write_text('id,text,labels\n1,"Gipfel,summit\n2,"Demo",protest\n3,Streik,protest\n', encoding="utf-8")
    assert problems_of(lambda: read_records(table, KNOWN)) == [
        f"{table}:2: quote opened on line 2 closes on line 3 but is followed by more text, not by a ',': "
        'quote the whole cell, and double any quote inside it ("")']


def test_old_mac_line_ends_and_decomposed_file_names(tmp_path):
    # Excel for Mac's CSV ends lines with a lone CR; macOS writes "ö" in file names as o + combining diaeresis
    folder = folder_with_labels(tmp_path, "id,labels\rKöln,summit\r".encode(), {"Ko\u0308ln": "Gipfel in Köln"})
    [record] = read_records(folder, KNOWN)
    assert (record.id, record.labels) == ("Köln", ("summit",))
