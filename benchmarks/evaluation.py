"""Claim: the evaluation stage scores 100,000 test articles, with its baselines, intervals, calibration,
error analysis and report, in bounded memory and with no part growing faster than the articles.

    python benchmarks/evaluation.py [--sizes 2000 100000] [--rounds 1] [--baseline-up-to 100000]
                                    [--commits 25c0513] [--work-dir /tmp/ereignis-benchmarks] [--nice 10]

Inputs, built once per size and cached in the work dir: synthetic articles (`benchmarks/synthetic.py`)
built with `data=custom` and split so that the test split holds about SIZE articles (validation 1%,
test `TEST_SHARE`, the rest, about 4% of SIZE, train), and a tiny-model run trained on it for a few
steps (`model=tiny`, `model.max_length=64`): what is measured is the evaluation, not the model.

Each evaluation runs in a child process (CPU time, wall time, peak resident memory from the
kernel) on that run, with the eval defaults (validation and test splits, three baselines, 1,000
bootstrap resamples). The child wraps the stage's parts in timers: exclusive CPU and wall seconds
per part (a part called inside another counts only for the inner one) and the peak resident memory
when each part ended, so the table shows where time and memory go.

Baselines: the evaluation at commit e50222e (the code before issue 11: one TF-IDF baseline fitted
once, a fixed threshold, intervals, a Markdown report; no out-of-fold decision rules, calibration,
evidence, error analysis or figures), run from that commit's source on the same run and dataset;
and any `--commits` (the same stage before a change), whose metrics.json and predictions.jsonl must
then be byte-identical to the candidate's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import BASELINE_COMMIT, REPO, Run, alternate, ratio, run_child, source_at_commit, spread  # noqa: E402
from synthetic import write_synthetic  # noqa: E402

TEST_SHARE, VALIDATION_SHARE, TRAIN_SHARE = 0.95, 0.01, 0.04
# part -> attributes ("module:object.attribute") that do it, today's names and e50222e's
PARTS = {
    "load dataset": ["ereignis.evaluation.run:_load_dataset"],
    "model scoring": ["ereignis.inference:Classifier.score", "ereignis.evaluation.run:predict_proba"],
    "evidence": ["ereignis.inference:Classifier.evidence"],
    "baseline fit (out-of-fold + full)": ["ereignis.evaluation.run:fit_baseline",
                                          "ereignis.evaluation.baseline:TfidfBaseline.fit"],
    "baseline scoring": ["ereignis.evaluation.baseline:Baseline.logits",
                         "ereignis.evaluation.baseline:TfidfBaseline.predict_proba"],
    "scores per system": ["ereignis.evaluation.run:multilabel_scores"],
    "bootstrap": ["ereignis.evaluation.run:bootstrap_intervals"],
    "calibration": ["ereignis.evaluation.run:calibration_errors"],
    "prediction rows": ["ereignis.evaluation.run:_rows", "ereignis.evaluation.run:_prediction_rows"],
    "write predictions.jsonl": ["ereignis.evaluation.run:atomic_write_jsonl"],
    "report (figures, error analysis)": ["ereignis.evaluation.run:write_reports",
                                         "ereignis.evaluation.run:render_report"],
}


class PartTimer:
    """Exclusive CPU and wall seconds per part, and the peak resident memory when each part ended."""

    def __init__(self, progress: Path | None = None) -> None:
        self.progress = progress  # rewritten as each part ends: what a run cut short had measured
        self.cpu: dict[str, float] = dict.fromkeys(PARTS, 0.0)
        self.wall: dict[str, float] = dict.fromkeys(PARTS, 0.0)
        self.peak_mb: dict[str, float] = {}
        self.stack: list[list[float]] = []  # per open part: the CPU and wall seconds of parts inside it

    def wrap(self, part: str, function: Callable) -> Callable:
        def timed(*args, **kwargs):
            self.stack.append([0.0, 0.0])
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = [time.process_time() - cpu, time.perf_counter() - wall]
                inner = self.stack.pop()
                self.cpu[part] += spent[0] - inner[0]
                self.wall[part] += spent[1] - inner[1]
                if self.stack:
                    self.stack[-1][0] += spent[0]
                    self.stack[-1][1] += spent[1]
                self.peak_mb[part] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                if self.progress is not None:
                    self.progress.write_text(json.dumps({"parts_cpu": self.cpu, "peak_mb_after": self.peak_mb}))
        return timed

    def install(self) -> None:
        import importlib

        for part, targets in PARTS.items():
            for target in targets:
                module_name, _, path = target.partition(":")
                owner = importlib.import_module(module_name)
                *parents, attribute = path.split(".")
                for parent in parents:
                    owner = getattr(owner, parent, None)
                if owner is not None and hasattr(owner, attribute):
                    setattr(owner, attribute, self.wrap(part, getattr(owner, attribute)))


def compose_config(name: str, overrides: list[str]):
    """A stage's config as its entry point composes it (from whichever `ereignis` is on the path)."""
    from hydra import compose, initialize_config_dir

    from ereignis.cli import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=[f"paths.root_dir={REPO}", *overrides])


def evaluate_in_this_process(run_dir: Path) -> None:
    """The child's side: the evaluation of whichever `ereignis` is on the path, its parts timed; prints JSON."""
    timer = PartTimer(run_dir.parent / f"progress-{run_dir.name}-{os.getpid()}.json")
    timer.install()
    from ereignis.evaluation.run import evaluate_run

    cpu, wall = time.process_time(), time.perf_counter()
    eval_dir = evaluate_run(compose_config("eval", [f"run_dir={run_dir}"]))
    outputs = {name: hashlib.sha256((Path(eval_dir) / name).read_bytes()).hexdigest()
               for name in ("metrics.json", "predictions.jsonl")}
    print(json.dumps({"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall,
                      "parts_cpu": timer.cpu, "parts_wall": timer.wall, "peak_mb_after": timer.peak_mb,
                      "outputs": outputs}))


def prepare(size: int, work: Path) -> Path:
    """A dataset whose test split holds about `size` articles and a tiny run trained briefly on it (cached)."""
    from ereignis.data.build import build_dataset
    from ereignis.training import train

    n_articles = math.ceil(size / TEST_SHARE)
    source, _ = write_synthetic(n_articles, work / f"synthetic-{n_articles}.jsonl")
    dataset_dir, run_dir = work / f"eval-dataset-{size}", work / f"eval-run-{size}"
    if not (dataset_dir / "fingerprint.json").exists():
        build_dataset(compose_config("build_data", [
            "data=custom", f"data.input={source}", f"data.output_dir={dataset_dir}",
            f"data.split.test={TEST_SHARE}", f"data.split.validation={VALIDATION_SHARE}"]))
    if not (run_dir / "manifest.json").exists():
        train(compose_config("train", [
            "model=tiny", "model.max_length=64", "data=custom", "data.input=unused", f"data.output_dir={dataset_dir}",
            f"run_dir={run_dir}", "train.epochs=1", "train.max_steps=30"]))
    return run_dir


def measure(name: str, run_dir: Path, work: Path, nice: int) -> Run:
    # one thread: torch threads spin while waiting for a busy core, so two of them on a shared machine
    # count CPU seconds the neighbours caused
    env = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    if name != "candidate":
        env["PYTHONPATH"] = str(source_at_commit(work, name))
    else:
        env["PYTHONPATH"] = str(REPO / "src")
    return run_child([sys.executable, __file__, "--child", str(run_dir)], env=env, nice=nice)


def _seconds(values: list[float]) -> str:
    return spread(values) if len(values) > 1 else f"{values[0]:.3g}"


def part_table(size: int, runs: dict[str, list[Run]]) -> list[str]:
    names = list(runs)
    lines = [f"\nWhere the time goes at {size:,} test articles: exclusive CPU s per part (median of the runs), "
             "and the peak resident MB when the part last ended\n",
             "| part | " + " | ".join(f"{name} CPU s | {name} peak MB" for name in names) + " |",
             "|---|" + "---|---|" * len(names)]
    for part in [*PARTS, "rest (imports, model load, metrics.json, config)"]:
        cells = []
        for name in names:
            last = runs[name][-1].result
            if part in PARTS:
                values = [run.result["parts_cpu"][part] for run in runs[name]]
                peak = last["peak_mb_after"].get(part)
                cells.append(f"{statistics.median(values):.2f} | {peak:,.0f}" if peak else "- | -")
            else:
                rest = [run.cpu_s - sum(run.result["parts_cpu"].values()) for run in runs[name]]
                cells.append(f"{statistics.median(rest):.2f} | ")
        lines.append(f"| {part} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 100_000])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline-up-to", type=int, default=100_000, help=f"run {BASELINE_COMMIT} up to this size")
    parser.add_argument("--commits", nargs="*", default=[], help="more baselines: the stage at these commits")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ereignis-benchmarks"))
    parser.add_argument("--nice", type=int, default=0)
    parser.add_argument("--child", type=Path, metavar="RUN_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        evaluate_in_this_process(args.child)
        return
    rows, details = [], []
    for size in args.sizes:
        run_dir = prepare(size, args.work_dir)
        test_size = json.loads((run_dir / "manifest.json").read_text())["dataset"]["n_articles"]["test"]
        names = [*([BASELINE_COMMIT] if size <= args.baseline_up_to else []), *args.commits, "candidate"]
        print(f"{test_size:,} test articles:", file=sys.stderr)
        runs = alternate({name: (lambda name=name, run_dir=run_dir: measure(name, run_dir, args.work_dir, args.nice))
                          for name in names},
                         args.rounds)
        candidate = runs["candidate"]
        for name in names:
            cpu, wall = [run.cpu_s for run in runs[name]], [run.wall_s for run in runs[name]]
            same = ("yes" if runs[name][-1].result["outputs"] == candidate[-1].result["outputs"] else "NO") \
                if name in args.commits else ""
            rows.append(f"| {test_size:,} | {name} | {_seconds(cpu)} | {_seconds(wall)} | "
                        f"{max(run.peak_rss_mb for run in runs[name]):,.0f} | "
                        f"{test_size / statistics.median(cpu):,.0f} | "
                        f"{ratio(cpu, [run.cpu_s for run in candidate]):.2f}x | {same} |")
        if size > args.baseline_up_to:
            rows.append(f"| {test_size:,} | {BASELINE_COMMIT} | not run (--baseline-up-to {args.baseline_up_to:,}) "
                        "| | | | | |")
        details += part_table(test_size, runs)
    print("Evaluation (`ereignis-eval`, eval defaults: validation + test, 3 baselines, 1,000 resamples) of a tiny "
          "run; child process: CPU s and wall s median [min-max], peak resident MB; CPU ratio = that row's median "
          "CPU over the candidate's; same outputs = metrics.json and predictions.jsonl byte-identical\n")
    print("| test articles | evaluation | CPU s | wall s | peak MB | test articles per CPU-s | CPU ratio "
          "| same outputs |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n".join(details))


if __name__ == "__main__":
    main()
