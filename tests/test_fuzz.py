"""Property-based tests over the readers and the article parser: random bytes, encodings, CSV and JSONL.

Every input either loads or raises `DataError` whose every problem names an input file and a line;
nothing else escapes. The budget is modest for CI; `EREIGNIS_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py`
searches harder.
"""

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ereignis.data import DataError, parse_article, read_records
from ereignis.data.text import clean_text

KNOWN = ("phone_call", "summit", "protest")
FUZZ = settings(max_examples=int(os.environ.get("EREIGNIS_FUZZ_EXAMPLES", "60")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

# Characters that break readers: quotes, separators, line ends of every kind, controls, escapes, BOMs, umlauts.
NASTY = "\"';,\t\n\r\x00\x0b\x0c\x1b[\x85\u2028\ufeff\u202e\u00ad{}[]\\:äöüß„“ summitSUMMITprotest"
nasty_text = st.text(alphabet=st.sampled_from(NASTY) | st.characters(), max_size=80)
ids = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
labels = st.lists(st.sampled_from([*KNOWN, "Summit", " protest ", "PHONE_CALL", "sumit", "gipfel", ""]), max_size=3)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "latin-1", "mac_roman",
             "cp850"]


def loads_or_names_file_and_line(path: Path, root: Path, **options) -> list:
    """The records, checked to be storable; or [] after checking that every problem starts with a file under
    `root` and a line."""
    try:
        records = read_records(path, KNOWN, **options)
    except DataError as err:
        assert err.problems
        for problem in err.problems:
            assert re.match(rf"{re.escape(str(root))}/[^:]+:[1-9][0-9]*: \S", problem), problem
        event("refused")
        return []
    event("loaded")
    for record in records:  # what loads can be stored: UTF-8 (no lone surrogates), cleaned, NFC
        for value in (record.id, record.text, *record.labels):
            value.encode("utf-8")
            assert value == clean_text(value)[0]
    return records


def write_folder(root: Path, articles: dict[str, bytes], labels_csv: bytes) -> Path:
    folder = root / "articles"
    folder.mkdir()
    for article_id, data in articles.items():
        (folder / f"{article_id}.txt").write_bytes(data)
    (folder / "labels.csv").write_bytes(labels_csv)
    return folder


@FUZZ
@given(articles=st.dictionaries(ids, st.binary(max_size=300), min_size=1, max_size=3),
       labels_csv=st.binary(max_size=300))
def test_random_bytes_in_a_folder(articles, labels_csv):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        loads_or_names_file_and_line(write_folder(root, articles, labels_csv), root)


@FUZZ
@given(data=st.binary(max_size=600), suffix=st.sampled_from([".jsonl", ".csv"]))
def test_random_bytes_as_jsonl_or_table(data, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        loads_or_names_file_and_line(path, Path(tmp))


@FUZZ
@given(text=nasty_text, encoding=st.sampled_from(ENCODINGS))
def test_any_text_in_any_encoding(text, encoding):
    """UTF-8, and UTF-16/32 with a byte-order mark, give back the cleaned text; other encodings load where the bytes
    are UTF-8 too, or are named."""
    data = text.encode(encoding, errors="replace")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        records = loads_or_names_file_and_line(write_folder(root, {"a": data}, b"id,labels\na,summit\n"), root)
        expected, _ = clean_text(data.decode(encoding))  # the text as encoded: unencodable characters became "?"
        if encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-32") and expected.strip() and not records:
            # refused only where NULs in every other byte make UTF-8 look like UTF-16 without its mark
            assert data.count(0) * 4 >= len(data)
        if records and encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-32"):
            assert records[0].text == expected


@st.composite
def label_tables(draw):
    """A labels.csv as spreadsheets write it (separator, quoting, line ends, BOM, encoding), with what it says."""
    article_ids = draw(st.lists(ids, min_size=1, max_size=6, unique_by=str.casefold))
    rows = {article_id: draw(labels) for article_id in article_ids}
    separator = draw(st.sampled_from([",", ";", "\t"]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])),
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow(draw(st.sampled_from([["id", "labels"], ["ID", "Labels"], [" id ", "labels"]])))
    for article_id, names in rows.items():
        writer.writerow([article_id, (";" if separator != ";" else ",").join(names)])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
    return rows, buffer.getvalue().encode(encoding)


@FUZZ
@given(table=label_tables(), damage=st.tuples(st.integers(min_value=0), st.sampled_from(["", *NASTY])))
def test_label_tables_load_as_written_and_damaged_ones_are_named(table, damage):
    rows, data = table
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = write_folder(root, {article_id: b"Titel\n\nText." for article_id in rows}, data)
        records = loads_or_names_file_and_line(folder, root)
        canonical = {name.strip().casefold() for names in rows.values() for name in names} - {""}
        if canonical <= set(KNOWN):
            assert {r.id: set(r.labels) for r in records} == {i: {n.strip().casefold() for n in names} - {""}
                                                              for i, names in rows.items()}
        else:
            assert records == []

        position, inserted = damage
        text = data.decode("utf-8-sig") if data[:1] not in (b"\xff", b"\xfe", b"\x00") else None
        if text is not None:  # damage UTF-8 tables only: one inserted character anywhere
            position %= len(text) + 1
            (folder / "labels.csv").write_text(text[:position] + inserted + text[position:], encoding="utf-8")
            for record in loads_or_names_file_and_line(folder, root):
                assert set(record.labels) <= set(KNOWN)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | nasty_text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
                           max_leaves=8)
json_objects = (st.fixed_dictionaries({"id": ids | st.integers(), "text": nasty_text.filter(str.strip),
                                       "labels": st.lists(st.sampled_from([*KNOWN, "Summit", " protest "]))},
                                      optional={"Text": nasty_text, "url": json_values})
                | st.fixed_dictionaries({}, optional={"id": ids | st.integers() | json_values, "ID": ids,
                                                      "text": nasty_text | json_values,
                                                      "labels": labels | json_values}))


# half an emoji, as a JSON escape: valid JSON, but no text that UTF-8 or Arrow can hold
BROKEN_EMOJI = '{"id": "e", "text": "Gipfel \\ud83d", "labels": ["summit\\udc00"]}'


@FUZZ
@given(lines=st.lists(st.builds(json.dumps, json_objects, ensure_ascii=st.booleans())
                      | nasty_text.filter(lambda t: "\n" not in t) | st.just(BROKEN_EMOJI), min_size=1, max_size=6))
def test_jsonl_of_random_structure(lines):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")  # lone ones: not UTF-8
        for record in loads_or_names_file_and_line(path, Path(tmp)):
            assert record.text.strip() and set(record.labels) <= set(KNOWN)


@FUZZ
@given(raw=st.lists(st.sampled_from(["\n", "\r", " ", "•", "-", "– ", "Das Wichtigste in Kürze:", "x", "Wort"])
                    | st.characters(), max_size=60).map("".join))
def test_the_article_parser_takes_any_text_and_invents_nothing(raw):
    article = parse_article(raw)
    lines = raw.replace("\r\n", "\n").replace("\r", "\n")
    assert all(isinstance(part, str) for part in (article.title, article.lead, article.caption, article.body))
    for line in article.text.split("\n"):
        assert line in lines
