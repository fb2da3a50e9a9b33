"""Timing shared by the benchmarks: a candidate and its named baseline, alternated, medians, spread, ratios.

The machine these run on is shared (2 cores, other jobs), so wall time says as much about the
neighbours as about the code. Every run therefore records CPU time too (user + system, of the
process and its threads, or of the child process that ran it), and baseline and candidate
alternate (B, C, C, B, B, C, ...) so both see the same background load. A ratio is the baseline's
median over the candidate's: 2.0 means the candidate takes half the time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "e50222e"  # the code before issue 11


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float | None = None  # for a run in a child process: its peak resident memory
    result: dict = field(default_factory=dict)  # what the run reports (counts, recall, ...)


def run_here(function: Callable[[], dict | None]) -> Run:
    """Run `function` in this process; CPU time counts every thread of the process."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return Run(time.perf_counter() - wall, time.process_time() - cpu, result=result or {})


def run_child(argv: Sequence[str], env: dict[str, str] | None = None, nice: int = 0) -> Run:
    """Run a command in a child process; its last stdout line, if JSON, is the run's result.

    CPU time and peak memory come from the kernel's accounting of that child (wait4).
    """
    wall = time.perf_counter()
    process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, env={**os.environ, **(env or {})}, text=True,
                               cwd=REPO, preexec_fn=(lambda: os.nice(nice)) if nice else None)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, argv, output)
    lines = output.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return Run(time.perf_counter() - wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, result)


def alternate(candidates: dict[str, Callable[[], Run]], rounds: int) -> dict[str, list[Run]]:
    """`rounds` runs of each, in the order A B, B A, A B, ... so neither always runs first."""
    names = list(candidates)
    runs: dict[str, list[Run]] = {name: [] for name in names}
    for number in range(rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            runs[name].append(candidates[name]())
            print(f"  {name} run {number + 1}/{rounds}: {describe(runs[name][-1])}", file=sys.stderr, flush=True)
    return runs


def describe(run: Run) -> str:
    memory = f", peak {run.peak_rss_mb:,.0f} MB" if run.peak_rss_mb is not None else ""
    return f"{run.cpu_s:.2f} s CPU, {run.wall_s:.2f} s wall{memory}"


def spread(values: Sequence[float]) -> str:
    """Median [min-max]."""
    return f"{statistics.median(values):.3g} [{min(values):.3g}-{max(values):.3g}]"


def ratio(baseline: Sequence[float], candidate: Sequence[float]) -> float:
    return statistics.median(baseline) / statistics.median(candidate)


def module_at_commit(path: str, commit: str = BASELINE_COMMIT) -> ModuleType:
    """A module of this repository as it was at `commit`: the named baseline, run in this process."""
    source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO, check=True, capture_output=True,
                            text=True).stdout
    module = ModuleType(f"baseline_{Path(path).stem}")
    exec(compile(source, f"{commit}:{path}", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def source_at_commit(folder: Path, commit: str = BASELINE_COMMIT) -> Path:
    """The package source at `commit` unpacked into `folder` (for a child process's PYTHONPATH), once."""
    source = folder / f"ereignis-{commit}"
    if not (source / "src").is_dir():
        source.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit, "src"], cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    return source / "src"
