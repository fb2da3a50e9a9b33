"""Readers for the two input formats, with validation that names file and line.

(a) folder: `<id>.txt` articles plus a `labels.csv` with `id,labels` (labels `;`-separated,
    empty for none). (b) JSONL: one `{"id", "text", "labels"}` object per line.

Every problem is collected first and raised together as one `DataError`, so a user fixes a
file in one pass instead of one error per run.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Record:
    id: str
    text: str  # raw article text as the user wrote it
    labels: tuple[str, ...] | None  # None where the input carries no labels (prediction)
    source: str  # "file:line" for error messages


class DataError(ValueError):
    """Invalid input: `problems` holds one "file:line: problem" string each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:50]
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s) in the input:\n  " + "\n  ".join(shown) + more)


def _check_labels(labels: list[str], known: tuple[str, ...] | None, where: str, problems: list[str]) -> tuple[str, ...]:
    if known is not None:
        for label in labels:
            if label not in known:
                problems.append(f"{where}: unknown label '{label}' (known: {', '.join(known)})")
    return tuple(dict.fromkeys(labels))  # drop repeats, keep order


def read_folder(folder: str | Path, known_labels: tuple[str, ...] | None, labels_file: str = "labels.csv",
                require_labels: bool = True) -> list[Record]:
    """Read `<folder>/*.txt` and, when `require_labels`, `<folder>/<labels_file>`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError([f"{folder}: no such folder"])
    problems: list[str] = []
    texts: dict[str, str] = {}
    for path in sorted(folder.glob("*.txt")):
        try:
            text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is no part of the title
        except UnicodeDecodeError as err:
            problems.append(f"{path}:1: not UTF-8 ({err.reason} at byte {err.start})")
            continue
        if not text.strip():
            problems.append(f"{path}:1: empty text")
        texts[path.stem] = text
    if not texts and not problems:
        problems.append(f"{folder}: no .txt articles found")

    labels: dict[str, tuple[str, ...]] = {}
    if require_labels:  # unlabelled reading (prediction) ignores any labels file
        labels_path = folder / labels_file
        if labels_path.exists():
            read = _read_labels_csv(labels_path, known_labels, set(texts), problems)
            labels = read or {}
            # with an unreadable header no row was read, so "no row" for every article would be noise
            for article_id in sorted(set(texts) - set(labels)) if read is not None else ():
                problems.append(f"{folder / (article_id + '.txt')}:1: article has no row in {labels_path}")
        else:
            problems.append(f"{labels_path}: labels file not found")
    if problems:
        raise DataError(problems)
    return [Record(article_id, text, labels.get(article_id), f"{folder / article_id}.txt:1")
            for article_id, text in texts.items()]


def _read_labels_csv(path: Path, known: tuple[str, ...] | None, article_ids: set[str],
                     problems: list[str]) -> dict[str, tuple[str, ...]] | None:
    """Labels per id; None (and a problem) when the header is unreadable."""
    labels: dict[str, tuple[str, ...]] = {}
    first_seen: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:  # Excel's "CSV UTF-8" starts with a BOM
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["id", "labels"]:
            problems.append(f"{path}:1: header must be 'id,labels', found {','.join(header or [])!r}")
            return None
        for row in reader:
            line = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != 2:
                problems.append(f"{path}:{line}: expected 2 columns (id,labels), found {len(row)}")
                continue
            article_id = row[0].strip()
            if article_id in first_seen:
                problems.append(f"{path}:{line}: duplicate id '{article_id}' (first at line {first_seen[article_id]})")
                continue
            first_seen[article_id] = line
            names = [name.strip() for name in row[1].split(";") if name.strip()]
            labels[article_id] = _check_labels(names, known, f"{path}:{line}", problems)
            if article_id not in article_ids:
                problems.append(f"{path}:{line}: labels row for '{article_id}' but no article file {article_id}.txt")
    return labels


def read_jsonl(path: str | Path, known_labels: tuple[str, ...] | None, require_labels: bool = True) -> list[Record]:
    """Read one `{"id", "text", "labels"}` object per line; blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise DataError([f"{path}: no such file"])
    problems: list[str] = []
    records: list[Record] = []
    first_seen: dict[str, int] = {}
    with open(path, encoding="utf-8-sig") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append(f"{where}: invalid JSON ({err.msg} at column {err.colno})")
                continue
            if not isinstance(obj, dict):
                problems.append(f"{where}: expected a JSON object")
                continue
            article_id, text = obj.get("id"), obj.get("text")
            if isinstance(article_id, bool) or not isinstance(article_id, (str, int)) or not str(article_id).strip():
                problems.append(f"{where}: 'id' must be a non-empty string or an integer, found {article_id!r}")
                continue
            article_id = str(article_id).strip()
            if article_id in first_seen:
                problems.append(f"{where}: duplicate id '{article_id}' (first at line {first_seen[article_id]})")
                continue
            first_seen[article_id] = line_no
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{where}: empty text for id '{article_id}'")
                continue
            labels = None
            if require_labels and "labels" in obj:  # unlabelled reading (prediction) ignores labels
                raw = obj["labels"]
                if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
                    problems.append(f"{where}: 'labels' must be a list of strings")
                    continue
                labels = _check_labels(raw, known_labels, where, problems)
            elif require_labels:
                problems.append(f"{where}: missing 'labels' for id '{article_id}'")
                continue
            records.append(Record(article_id, text, labels, where))
    if not records and not problems:
        problems.append(f"{path}: no records")
    if problems:
        raise DataError(problems)
    return records


def read_records(path: str | Path, known_labels: tuple[str, ...] | None, require_labels: bool = True,
                 labels_file: str = "labels.csv") -> list[Record]:
    """Read a folder of `.txt` articles or a `.jsonl` file, whichever `path` is."""
    path = Path(path)
    if path.is_dir():
        return read_folder(path, known_labels, labels_file=labels_file, require_labels=require_labels)
    if path.suffix == ".jsonl" or path.is_file():
        return read_jsonl(path, known_labels, require_labels=require_labels)
    raise DataError([f"{path}: neither a folder of .txt articles nor a .jsonl file"])
