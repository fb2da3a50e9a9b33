"""Readers for the three input formats, with validation that names file and line.

(a) folder: `<id>.txt` articles plus a `labels.csv` with `id,labels` (labels `;`-separated, empty for none);
    the `;`- or tab-separated file German Excel saves is read too, and an Excel `sep=;` first line is obeyed.
(b) JSONL: one `{"id", "text", "labels"}` object per line.
(c) CSV: a table with `id`, `text` and `labels` columns, separated by `,`, `;` or tabs, as users export a
    spreadsheet; cells may span lines.
The field names of (b) and (c) are configurable (`columns`, the build's `data.columns`).

Every problem is collected first and raised together as one `DataError`, so a user fixes a file in one pass
instead of one error per run. Files are decoded and cleaned by `ereignis.data.text` (encodings, invisible
characters, NFC); labels are matched to the schema ignoring case and surrounding whitespace and stored as the
schema's id, in every format. A text longer than `max_article_chars` is an error, not a skip: far beyond any
news article, it is a broken export (a whole dump in one cell) that the user should see, and dropping it
would silently change the dataset.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import json
import logging
import re
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ereignis.data.text import EncodingProblem, clean_text, decode_bytes, iter_lines

log = logging.getLogger(__name__)

DEFAULT_MAX_ARTICLE_CHARS = 200_000
DEFAULT_COLUMNS = {"id": "id", "text": "text", "labels": "labels", "split": "split"}
SEPARATORS = (",", ";", "\t")
EXCEL_SEPARATOR_LINE = re.compile(r"\s*sep=(.)\s*")  # Excel's first-line hint for the separator
LABEL_SEPARATOR = re.compile(r"[;,]")  # labels in one cell: ';', or ',' in a ';'-separated file
MAX_BYTES_PER_CHAR = 4  # UTF-8 and UTF-32: a file over 4 bytes per allowed character is too long unread
PROGRESS_EVERY_S = 10.0


@dataclass(frozen=True)
class Record:
    id: str
    text: str  # article text as the user wrote it, decoded and cleaned (ereignis.data.text)
    labels: tuple[str, ...] | None  # None where the input carries no labels (prediction)
    source: str  # "file:line" for error messages
    split: str | None = None  # the split the input assigns (data.split.mode=given), where it has a split field


class DataError(ValueError):
    """Invalid input: `problems` holds one "file:line: problem" string each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:50]
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s) in the input:\n  " + "\n  ".join(shown) + more)


class _Progress:
    """Logs how far a long read has come, at most every PROGRESS_EVERY_S seconds."""

    def __init__(self, what: str, total: int | None = None):
        self.what, self.total = what, total
        self.next_report = time.monotonic() + PROGRESS_EVERY_S

    def __call__(self, done: int) -> None:
        if time.monotonic() >= self.next_report:
            log.info("read %s of %s %s", f"{done:,}", f"{self.total:,}" if self.total else "?", self.what)
            self.next_report = time.monotonic() + PROGRESS_EVERY_S


class _Reading:
    """The settings of one read, and what it found: problems, removed characters, text in the fallback encoding."""

    def __init__(self, known_labels: tuple[str, ...] | None, max_article_chars: int, fallback_encoding: str | None):
        if fallback_encoding:
            try:
                codecs.lookup(fallback_encoding)
            except LookupError:
                raise DataError([f"data.fallback_encoding: unknown encoding {fallback_encoding!r}"]) from None
        self.known = known_labels
        # case-insensitive matches, only where the schema's ids do not differ by case alone
        folded = [label.casefold() for label in known_labels or ()]
        self.by_casefold = {key: label for key, label in zip(folded, known_labels or (), strict=True)
                            if folded.count(key) == 1}
        self.max_article_chars = max_article_chars
        self.fallback_encoding = fallback_encoding
        self.problems: list[str] = []
        self.removed: dict[str, int] = {}  # where -> invisible characters removed there
        self.in_fallback: list[str] = []  # where text was read in the fallback encoding

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def clean(self, value: str, where: str) -> str:
        text, removed = clean_text(value)
        if removed:
            self.removed[where] = self.removed.get(where, 0) + removed
        return text

    def decoded(self, encoding: str, where: str) -> None:
        if encoding == self.fallback_encoding:
            self.in_fallback.append(where)

    def article_text(self, raw: str, article_id: str, where: str) -> str | None:
        text = self.clean(raw, where)
        if not text.strip():
            self.problem(where, f"empty text for id '{article_id}'")
            return None
        if len(text) > self.max_article_chars:
            self.problem(where, f"text of {len(text):,} characters for id '{article_id}', over the limit of "
                                f"{self.max_article_chars:,} (data.max_article_chars); no news article is this long, "
                                f"so this is likely a broken export: split it, or raise the limit")
            return None
        return text

    def labels(self, names: Iterable[str], where: str) -> tuple[str, ...]:
        """Names stripped, matched to the schema ignoring case, as the schema's ids, repeats dropped."""
        found = []
        for name in names:
            name = self.clean(name, where).strip()
            if not name:
                continue
            if self.known is None:
                found.append(name)
                continue
            canonical = name if name in self.known else self.by_casefold.get(name.casefold())
            if canonical is None:
                close = difflib.get_close_matches(name.casefold(), self.known, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                self.problem(where, f"unknown label '{name}' ({hint}known: {', '.join(self.known)})")
            else:
                found.append(canonical)
        return tuple(dict.fromkeys(found))

    def record(self, raw_id: str, raw_text: str, labels: Iterable[str] | None, where: str,
               first_seen: dict[str, str], split: str | None = None) -> Record | None:
        """A record from one row or line, or None (and a problem) where its id or text is unusable."""
        article_id = self.clean(raw_id, where).strip()
        if not article_id:
            self.problem(where, "empty id")
            return None
        if article_id in first_seen:
            self.problem(where, f"duplicate id '{article_id}' (first at line {first_seen[article_id]})")
            return None
        first_seen[article_id] = where.rpartition(":")[2]
        text = self.article_text(raw_text, article_id, where)
        if text is None:
            return None
        return Record(article_id, text, None if labels is None else self.labels(labels, where), where,
                      None if split is None else str(split).strip().casefold())

    def finish(self) -> None:
        """At the end of a read: log what was changed on the way, or raise one `DataError` with every problem."""
        if self.problems:
            raise DataError(self.problems)
        if self.in_fallback:
            log.warning("read %d file(s) or line(s) that are not UTF-8 as %s (data.fallback_encoding): %s",
                        len(self.in_fallback), self.fallback_encoding, _some(self.in_fallback))
        if self.removed:
            log.warning("removed %d invisible character(s) and terminal escape sequence(s) (NUL and other control "
                        "characters, zero-width and bidirectional marks, soft hyphens) in %d place(s): %s",
                        sum(self.removed.values()), len(self.removed), _some(list(self.removed)))


def _some(places: list[str], shown: int = 5) -> str:
    return ", ".join(places[:shown]) + (f" and {len(places) - shown} more" if len(places) > shown else "")


def read_folder(folder: str | Path, known_labels: tuple[str, ...] | None, labels_file: str = "labels.csv",
                require_labels: bool = True, max_article_chars: int = DEFAULT_MAX_ARTICLE_CHARS,
                fallback_encoding: str | None = None) -> list[Record]:
    """Read `<folder>/*.txt` and, when `require_labels`, `<folder>/<labels_file>`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError([f"{folder}: no such folder"])
    reading = _Reading(known_labels, max_article_chars, fallback_encoding)
    texts: dict[str, tuple[str, str]] = {}  # id -> (text, "file:1")
    article_ids: set[str] = set()  # every .txt, readable or not: an unreadable one still has its labels row
    paths = sorted(folder.glob("*.txt"))
    progress = _Progress(f"article files in {folder}", len(paths))
    for count, path in enumerate(paths, start=1):
        article_id = unicodedata.normalize("NFC", path.stem)  # macOS writes file names decomposed (NFD)
        article_ids.add(article_id)
        text = _article_file(path, article_id, reading)
        if text is not None:
            texts[article_id] = text, f"{path}:1"
        progress(count)
    if not paths:
        reading.problem(str(folder), "no .txt articles found")

    labels: dict[str, tuple[str, ...]] = {}
    if require_labels:  # unlabelled reading (prediction) ignores any labels file
        labels_path = folder / labels_file
        if labels_path.exists():
            read = _read_labels_table(labels_path, reading, article_ids)
            labels = read or {}
            # with an unreadable header or file no row was read, so "no row" for every article would be noise
            for article_id in sorted(article_ids - set(labels)) if read is not None else ():
                reading.problem(f"{folder / (article_id + '.txt')}:1", f"article has no row in {labels_path}")
        else:
            reading.problem(str(labels_path), "labels file not found")
    reading.finish()
    return [Record(article_id, text, labels.get(article_id), source) for article_id, (text, source) in texts.items()]


def _article_file(path: Path, article_id: str, reading: _Reading) -> str | None:
    """The cleaned text of one `.txt` article, or None (and a problem)."""
    where = f"{path}:1"
    try:
        size = path.stat().st_size
        if size > MAX_BYTES_PER_CHAR * reading.max_article_chars + 4:  # too long whatever the encoding: do not read it
            reading.problem(where, f"{size / 1e6:.1f} MB, more than an article of at most "
                                   f"{reading.max_article_chars:,} characters (data.max_article_chars) can be; "
                                   "split it, or raise the limit")
            return None
        raw, encoding = decode_bytes(path.read_bytes(), path, reading.fallback_encoding)
    except EncodingProblem as err:
        reading.problem(f"{path}:{err.line}", str(err))
        return None
    except OSError as err:
        reading.problem(str(path), f"cannot be read ({err.strerror})")
        return None
    reading.decoded(encoding, where)
    return reading.article_text(raw, article_id, where)


def _read_labels_table(path: Path, reading: _Reading, article_ids: set[str]) -> dict[str, tuple[str, ...]] | None:
    """Labels per id; None (and a problem) when the header or the file is unreadable."""
    labels: dict[str, tuple[str, ...]] = {}
    first_seen: dict[str, str] = {}
    try:
        lines = _decoded_lines(path, reading)
        header = _table_header(lines, path, ["id", "labels"], reading)
        if header is None:
            return None
        separator, names = header
        id_at, labels_at = names.index("id"), names.index("labels")
        # a row of labels.csv is one line: parsing line by line keeps an unclosed quote from swallowing later rows
        for start, row, quoting in _table_rows(lines, separator, rows_span_lines=False):
            where = f"{path}:{start}"
            if quoting:
                reading.problem(where, quoting)
                # the problem stops the read; an entry for the row's id keeps "no row" from being reported too
                labels.setdefault(_row_id(row, id_at, where, reading), ())
                continue
            cells = _cells(row, names, separator, where, reading)
            if cells is None:
                continue
            article_id = _row_id(cells, id_at, where, reading)
            if article_id in first_seen:
                reading.problem(where, f"duplicate id '{article_id}' (first at line {first_seen[article_id]})")
                continue
            first_seen[article_id] = str(start)
            labels[article_id] = reading.labels(LABEL_SEPARATOR.split(cells[labels_at]), where)
            if article_id not in article_ids:
                reading.problem(where, f"labels row for '{article_id}' but no article file {article_id}.txt")
    except EncodingProblem as err:
        reading.problem(f"{path}:{err.line}", str(err))
        return None
    return labels


def _row_id(cells: list[str], id_at: int, where: str, reading: _Reading) -> str:
    """The id as `.txt` file names give it: cleaned, and NFC like the names (macOS writes them decomposed)."""
    return unicodedata.normalize("NFC", reading.clean(cells[id_at], where).strip()) if len(cells) > id_at else ""


def _decoded_lines(path: Path, reading: _Reading) -> Iterator[tuple[int, str, str]]:
    """The file's lines, decoded; the fallback encoding noted where used."""
    for line_no, line, encoding in iter_lines(path, reading.fallback_encoding):
        reading.decoded(encoding, f"{path}:{line_no}")
        yield line_no, line, encoding


def _table_header(lines: Iterator[tuple[int, str, str]], path: Path, required: list[str],
                  reading: _Reading) -> tuple[str, list[str]] | None:
    """(separator, lower-cased column names) from the first line that names every `required` column; None and a
    problem when it names them under no separator."""
    first = next(lines, None)
    if first is None:
        reading.problem(f"{path}:1", f"empty file; the first line must name the columns {', '.join(required)}")
        return None
    line_no, line, _ = first
    forced = EXCEL_SEPARATOR_LINE.fullmatch(line)
    if forced:
        first = next(lines, None)
        line_no, line, _ = first if first is not None else (line_no + 1, "", "")
    for separator in [forced.group(1)] if forced else SEPARATORS:
        try:
            names = [name.strip().casefold() for name in next(csv.reader([line], delimiter=separator, strict=True), [])]
        except csv.Error:
            continue
        while names and not names[-1]:  # Excel pads rows with empty cells
            names.pop()
        if all(names.count(column) == 1 for column in required):
            return separator, names
    reading.problem(f"{path}:{line_no}", f"header must name the columns {', '.join(repr(c) for c in required)}, "
                                         f"separated by ',', ';' or tabs; found {line.rstrip()!r}")
    return None


def _table_rows(lines: Iterator[tuple[int, str, str]], separator: str,
                rows_span_lines: bool) -> Iterator[tuple[int, list[str], str | None]]:
    """(first line, cells, quoting problem or None) of each row. A quoting problem is reported where the quote
    opens, and once: the parser resumes after the line where it noticed. Quoted cells span lines where
    `rows_span_lines`; otherwise each line is a row of its own, and a broken one still gives its cells as a
    lenient parser reads them (its id, mostly)."""
    if not rows_span_lines:
        for line_no, line, _ in lines:
            try:
                yield line_no, next(csv.reader([line], delimiter=separator, strict=True), []), None
            except csv.Error as err:
                yield (line_no, next(csv.reader([line], delimiter=separator), []),
                       _quoting_problem(str(err), line_no, line_no, separator, rows_span_lines))
        return
    row_start = last_line = 0

    def texts() -> Iterator[str]:
        nonlocal row_start, last_line
        for line_no, line, _ in lines:
            row_start = row_start or line_no
            last_line = line_no
            yield line

    reader = csv.reader(texts(), delimiter=separator, strict=True)
    while True:
        row_start = 0
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield row_start, [], _quoting_problem(str(err), row_start, last_line, separator, rows_span_lines)
            continue
        yield row_start, row, None


def _quoting_problem(error: str, start: int, end: int, separator: str, rows_span_lines: bool) -> str:
    shown = {"\t": "tab"}.get(separator, f"'{separator}'")
    if "unexpected end of data" in error:
        return f"quote opened on line {start} is " + ("never closed" if rows_span_lines else "not closed on that line")
    if "expected after" in error:
        return (f"quote opened on line {start} closes on line {end} but is followed by more text, not by a {shown}: "
                f"quote the whole cell, and double any quote inside it (\"\")")
    if "field larger than field limit" in error:
        return f"a cell longer than {csv.field_size_limit():,} characters"
    return f"unreadable row ({error})"


def _cells(row: list[str], names: list[str], separator: str, where: str, reading: _Reading) -> list[str] | None:
    """The row's cells, one per column; None for a blank row, and None and a problem for a wrong count."""
    while len(row) > len(names) and not row[-1].strip():  # Excel pads rows with empty cells
        row = row[:-1]
    if not any(cell.strip() for cell in row):
        return None
    if len(row) != len(names):
        hint = "; the labels of an article go in one cell, separated by ';'" if len(row) > len(names) else ""
        reading.problem(where, f"expected {len(names)} columns ({separator.join(names)}), found {len(row)}{hint}")
        return None
    return row


def iter_table(path: str | Path, known_labels: tuple[str, ...] | None, require_labels: bool = True,
               max_article_chars: int = DEFAULT_MAX_ARTICLE_CHARS, fallback_encoding: str | None = None,
               columns: dict[str, str] | None = None) -> Iterator[Record]:
    """Read a CSV table with id, text and (when `require_labels`) labels columns, one article per row."""
    path = Path(path)
    if not path.is_file():
        raise DataError([f"{path}: no such file"])
    reading = _Reading(known_labels, max_article_chars, fallback_encoding)
    id_name, text_name, labels_name = _column_names(columns)
    n_records = 0
    first_seen: dict[str, str] = {}
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, 2 * max_article_chars))  # long articles in, broken exports out: checked per text
    try:
        lines = _decoded_lines(path, reading)
        header = _table_header(lines, path, [id_name, text_name, *([labels_name] if require_labels else [])], reading)
        if header is not None:
            separator, names = header
            progress = _Progress(f"rows of {path}")
            for count, (start, row, quoting) in enumerate(_table_rows(lines, separator, rows_span_lines=True), start=1):
                progress(count)
                where = f"{path}:{start}"
                if quoting:
                    reading.problem(where, quoting)
                    continue
                cells = _cells(row, names, separator, where, reading)
                if cells is None:
                    continue
                labels = LABEL_SEPARATOR.split(cells[names.index(labels_name)]) if require_labels else None
                record = reading.record(cells[names.index(id_name)], cells[names.index(text_name)], labels, where,
                                        first_seen)
                if record is not None:
                    n_records += 1
                    yield record
    except EncodingProblem as err:
        reading.problem(f"{path}:{err.line}", str(err))
    finally:
        csv.field_size_limit(limit)
    if not n_records and not reading.problems:
        reading.problem(f"{path}:1", "no records")
    reading.finish()


def _column_names(columns: dict[str, str] | None) -> tuple[str, str, str]:
    names = {**DEFAULT_COLUMNS, **(columns or {})}
    return names["id"].casefold(), names["text"].casefold(), names["labels"].casefold()


def iter_jsonl(path: str | Path, known_labels: tuple[str, ...] | None, require_labels: bool = True,
               max_article_chars: int = DEFAULT_MAX_ARTICLE_CHARS, fallback_encoding: str | None = None,
               columns: dict[str, str] | None = None) -> Iterator[Record]:
    """Read one `{"id", "text", "labels"}` object per line; blank lines are skipped. `labels` may be one
    string (a single-label task's class); an optional `split` field assigns the article's split."""
    path = Path(path)
    if not path.is_file():
        raise DataError([f"{path}: no such file"])
    reading = _Reading(known_labels, max_article_chars, fallback_encoding)
    id_key, text_key, labels_key = _column_names(columns)
    split_key = {**DEFAULT_COLUMNS, **(columns or {})}["split"].casefold()
    n_records = 0
    first_seen: dict[str, str] = {}
    progress = _Progress(f"lines of {path}")
    try:
        for line_no, line, _ in _decoded_lines(path, reading):
            progress(line_no)
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                reading.problem(where, f"invalid JSON ({err.msg} at column {err.colno})")
                continue
            except (ValueError, RecursionError) as err:  # an integer of thousands of digits; nesting beyond the stack
                reading.problem(where, f"invalid JSON ({type(err).__name__}: {str(err)[:100]})")
                continue
            if not isinstance(obj, dict):
                reading.problem(where, "expected a JSON object")
                continue
            obj = {str(key).casefold(): value for key, value in obj.items()}
            article_id, text = obj.get(id_key), obj.get(text_key)
            if isinstance(article_id, bool) or not isinstance(article_id, (str, int)):
                reading.problem(where, f"'{id_key}' must be a non-empty string or an integer, "
                                       f"found {article_id!r:.100}")
                continue
            if not isinstance(text, str):
                reading.problem(where, f"'{text_key}' must be a string, found {text!r:.100}")
                continue
            labels = None
            if require_labels:  # unlabelled reading (prediction) ignores labels
                labels = obj.get(labels_key)
                if isinstance(labels, str):  # one class per article (a topic field): a single label
                    labels = [labels]
                if labels_key not in obj:
                    reading.problem(where, f"missing '{labels_key}' for id '{article_id}'")
                    continue
                if not isinstance(labels, list) or not all(isinstance(name, str) for name in labels):
                    reading.problem(where, f"'{labels_key}' must be a list of strings (or one string), "
                                           f"found {labels!r:.100}")
                    continue
            record = reading.record(str(article_id), text, labels, where, first_seen, obj.get(split_key))
            if record is not None:
                n_records += 1
                yield record
    except EncodingProblem as err:
        reading.problem(f"{path}:{err.line}", str(err))
    if not n_records and not reading.problems:
        reading.problem(f"{path}:1", "no records")
    reading.finish()


def read_records(path: str | Path, known_labels: tuple[str, ...] | None, require_labels: bool = True,
                 labels_file: str = "labels.csv", max_article_chars: int = DEFAULT_MAX_ARTICLE_CHARS,
                 fallback_encoding: str | None = None, columns: dict[str, str] | None = None) -> list[Record]:
    """Read a folder of `.txt` articles, a `.csv` table or a `.jsonl` file, whichever `path` is."""
    return list(iter_records(path, known_labels, require_labels, labels_file, max_article_chars, fallback_encoding,
                             columns))


def iter_records(path: str | Path, known_labels: tuple[str, ...] | None, require_labels: bool = True,
                 labels_file: str = "labels.csv", max_article_chars: int = DEFAULT_MAX_ARTICLE_CHARS,
                 fallback_encoding: str | None = None, columns: dict[str, str] | None = None) -> Iterator[Record]:
    """`read_records` as a stream: a table or JSONL file is read record by record, so a caller holds
    one at a time; the `DataError` with every problem comes after the last record, so a caller must
    write nothing for good before the stream ends (a folder is read whole first)."""
    path = Path(path)
    settings = {"known_labels": known_labels, "require_labels": require_labels,
                "max_article_chars": max_article_chars, "fallback_encoding": fallback_encoding}
    if path.is_dir():
        return iter(read_folder(path, labels_file=labels_file, **settings))
    if path.suffix.lower() in (".csv", ".tsv"):
        return iter_table(path, columns=columns, **settings)
    if path.suffix == ".jsonl" or path.is_file():
        return iter_jsonl(path, columns=columns, **settings)
    raise DataError([f"{path}: neither a folder of .txt articles, a .csv table nor a .jsonl file"])
