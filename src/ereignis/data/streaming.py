"""Rows of a build on disk instead of in memory: staged as Arrow in id-sorted runs, merged back in
id order straight into the dataset dir's split files.

A million articles are several GB of text, more than a build may hold, and the split is only known
once every article has been read. So rows go to disk as they are read, in runs of `RUN_ROWS`, each
sorted by id; the final pass reads all runs side by side, a few hundred rows of each at a time, and
writes each row to its split's Arrow file in id order. Files are read with plain reads, not memory
maps, whose pages would count towards the process's resident memory.

The dataset dir is the layout `DatasetDict.save_to_disk` writes (dataset_dict.json; per split
dataset_info.json, state.json and the Arrow data), with the JSON files written by `datasets` itself
for an empty dataset of the same features and only the Arrow file list filled in, so
`DatasetDict.load_from_disk` reads it as usual.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
from datasets import Dataset, DatasetDict, Features
from datasets.arrow_writer import ArrowWriter

RUN_ROWS = 20_000  # rows sorted in memory at once while staging
READ_ROWS = 256  # rows per Arrow record batch in a run file: what the merge reads of a run at a time
CHUNK_ROWS = 10_000  # rows put in id order and written at once by the merge


def sort_positions(keys: Sequence[str]) -> np.ndarray:
    """Positions of `keys` in ascending order (Python's string order, which is UTF-8 byte order)."""
    return np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)


class SortedRuns:
    """Rows staged in `folder`; numbered in the order added, read back by `in_order`."""

    def __init__(self, folder: Path, features: Features, run_rows: int = RUN_ROWS):
        self.folder, self.schema, self.run_rows = folder, features.arrow_schema, run_rows
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pending: list[pa.RecordBatch] = []
        self.pending_ids: list[str] = []
        self.rank_in_run: list[np.ndarray] = []  # per run: each row's place in the run's id order

    def add(self, rows: list[dict]) -> None:
        """Rows with an "id"; a run is sorted and written whenever `run_rows` are waiting."""
        while rows:
            room = self.run_rows - len(self.pending_ids)
            taken, rows = rows[:room], rows[room:]
            self.pending.append(pa.RecordBatch.from_pylist(taken, schema=self.schema))
            self.pending_ids += [row["id"] for row in taken]
            if len(self.pending_ids) == self.run_rows:
                self._write_run()

    def _run_path(self, run: int) -> Path:
        return self.folder / f"run-{run:05d}.arrow"

    def _write_run(self) -> None:
        order = sort_positions(self.pending_ids)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        table = pa.Table.from_batches(self.pending, schema=self.schema).take(order)
        with pa.OSFile(str(self._run_path(len(self.rank_in_run))), "wb") as sink, \
                pa.ipc.new_file(sink, self.schema) as writer:
            writer.write_table(table, max_chunksize=READ_ROWS)
        self.rank_in_run.append(rank)
        self.pending, self.pending_ids = [], []

    def finish(self) -> None:
        """Write the last, partly filled run; call once all rows are added."""
        if self.pending_ids:
            self._write_run()

    def in_order(self, positions: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> Iterator[pa.Table]:
        """The rows at `positions` (numbers in the order added), in that order, `chunk_rows` at a time.

        `positions` must follow the rows' id order (rows may be left out), so that each run is read
        once, front to back.
        """
        cursors = [_RunCursor(self._run_path(run)) for run in range(len(self.rank_in_run))]
        ranks = np.concatenate(self.rank_in_run) if self.rank_in_run else np.zeros(0, dtype=np.int64)
        try:
            for start in range(0, len(positions), chunk_rows):
                chunk = np.asarray(positions[start:start + chunk_rows])
                runs = chunk // self.run_rows
                by_run = np.argsort(runs, kind="stable")  # keeps the id order within each run
                run_starts = np.flatnonzero(np.r_[True, np.diff(runs[by_run]) != 0])
                pieces = [cursors[runs[by_run[first]]].take(ranks[members])
                          for first, members in zip(run_starts, np.split(chunk[by_run], run_starts[1:]), strict=True)]
                back = np.empty(len(chunk), dtype=np.int64)
                back[by_run] = np.arange(len(chunk))
                yield pa.concat_tables(pieces).take(back)
        finally:
            for cursor in cursors:
                cursor.close()


class _RunCursor:
    """Reads one run file front to back, holding only the record batches not yet passed."""

    def __init__(self, path: Path):
        self.file = pa.OSFile(str(path))
        self.reader = pa.ipc.open_file(self.file)
        self.next_batch = 0
        self.buffer = self.reader.schema.empty_table()
        self.buffer_start = 0  # rank of the buffer's first row

    def take(self, ranks: np.ndarray) -> pa.Table:
        """Rows at ascending `ranks`, none below those of the previous call."""
        while self.buffer_start + len(self.buffer) <= ranks[-1]:
            batch = self.reader.get_batch(self.next_batch)
            self.buffer = pa.concat_tables([self.buffer, pa.Table.from_batches([batch])])
            self.next_batch += 1
        wanted = ranks - self.buffer_start
        # mostly a stretch of consecutive rows (runs are read in id order): a slice copies nothing
        consecutive = wanted[-1] - wanted[0] + 1 == len(wanted)
        rows = self.buffer.slice(wanted[0], len(wanted)) if consecutive else self.buffer.take(wanted)
        passed = int(ranks[-1]) + 1 - self.buffer_start
        self.buffer, self.buffer_start = self.buffer.slice(passed), self.buffer_start + passed
        return rows

    def close(self) -> None:
        self.file.close()


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    shown = not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if shown:
            datasets.enable_progress_bars()


class DatasetDirWriter:
    """Writes tables to the splits of a dataset dir in `DatasetDict.save_to_disk`'s layout."""

    DATA_FILE = "data-00000-of-00001.arrow"

    def __init__(self, folder: Path, features: Features, splits: Sequence[str]):
        self.folder, self.splits = folder, list(splits)
        empty = Dataset.from_dict({name: [] for name in features}, features=features)
        with _no_progress_bars():  # a bar for saving nothing would only puzzle
            DatasetDict({split: empty for split in self.splits}).save_to_disk(str(folder))
        self.writers = {split: ArrowWriter(features=features, path=str(folder / split / self.DATA_FILE))
                        for split in self.splits}

    def write(self, split: str, table: pa.Table) -> None:
        if len(table):
            self.writers[split].write_table(table)

    def finish(self, fingerprint: str) -> None:
        """Close the data files and list them in each split's state.json, with a fingerprint per split."""
        for split, writer in self.writers.items():
            writer.finalize()
            writer.close()
            state_path = self.folder / split / "state.json"
            state = json.loads(state_path.read_text(encoding="utf-8"))
            state["_data_files"] = [{"filename": self.DATA_FILE}]
            state["_fingerprint"] = hashlib.sha256(f"{fingerprint}/{split}".encode()).hexdigest()[:16]
            state_path.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
