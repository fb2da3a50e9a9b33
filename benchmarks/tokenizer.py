"""Claim: building the tiny model's WordPiece vocabulary once, in the data build, saves CPU time over
the build fitting one to a sample and every training fitting another to the whole train split.

    python benchmarks/tokenizer.py [--inputs data/events_de 100000] [--rounds 1] [--baseline 25c0513]
                                   [--work-dir /tmp/ereignis-benchmarks] [--nice 10]

An input is a dataset folder or file (`data=custom` for a .jsonl) or a number of synthetic articles
(`benchmarks/synthetic.py`, default split 70/15/15). For each, the build (`benchmarks/data_build.py`'s
child) and then a training of the tiny model for one step (`train.max_steps=1`: the vocabulary,
the encoding of every split and the scoring of validation and test, not the optimisation) run in
child processes, once from this checkout and once from the baseline commit's source (the code
before the vocabulary was shared: the build fits one to a 2,000-article sample, training fits one
to the train split). The training of the candidate must report that it reused the build's vocabulary.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import REPO, Run, alternate, run_child, source_at_commit, spread  # noqa: E402
from synthetic import write_synthetic  # noqa: E402

DATA_BUILD = Path(__file__).resolve().parent / "data_build.py"


def train_in_this_process(dataset_dir: Path, run_dir: Path) -> None:
    """The child's side: one training step of the tiny model on a built dataset; prints a JSON summary."""
    from hydra import compose, initialize_config_dir

    from ereignis.cli import CONFIG_DIR
    from ereignis.training import train

    overrides = [f"paths.root_dir={REPO}", "model=tiny", f"data.output_dir={dataset_dir}", f"run_dir={run_dir}",
                 "train.epochs=1", "train.max_steps=1"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        train(compose(config_name="train", overrides=overrides))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    print(json.dumps({"vocabulary": manifest["model"].get("vocabulary", "built from the train split")}))


def source_of(argument: str, work: Path) -> Path:
    if argument.isdigit():
        return write_synthetic(int(argument), work / f"synthetic-{argument}.jsonl")[0]
    return (REPO / argument).resolve()


def measure(name: str, source: Path, work: Path, nice: int) -> dict[str, Run]:
    env = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(source_at_commit(work, name) if name != "candidate" else REPO / "src")}
    dataset_dir, run_dir = work / f"tokenizer-{name}-{source.stem}", work / f"tokenizer-run-{name}-{source.stem}"
    shutil.rmtree(run_dir, ignore_errors=True)  # training refuses a run dir that holds a run
    build = run_child([sys.executable, str(DATA_BUILD), "--child", str(source), str(dataset_dir)], env=env, nice=nice)
    training = run_child([sys.executable, __file__, "--child", str(dataset_dir), str(run_dir)], env=env, nice=nice)
    return {"build": build, "training": training}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", nargs="+", default=["data/events_de", "100000"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline", default="25c0513")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ereignis-benchmarks"))
    parser.add_argument("--nice", type=int, default=0)
    parser.add_argument("--child", nargs=2, type=Path, metavar=("DATASET", "RUN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        train_in_this_process(*args.child)
        return
    rows = []
    for argument in args.inputs:
        source = source_of(argument, args.work_dir)
        print(f"{argument}:", file=sys.stderr)
        runs = alternate({name: (lambda name=name, source=source: _pair(name, source, args))
                          for name in (args.baseline, "candidate")}, args.rounds)
        totals = {}
        for name, measured in runs.items():
            builds = [run.result["build"].cpu_s for run in measured]
            trainings = [run.result["training"].cpu_s for run in measured]
            totals[name] = sorted(b + t for b, t in zip(builds, trainings, strict=True))[len(measured) // 2]
            vocabulary = measured[-1].result["training"].result["vocabulary"]
            rows.append(f"| {argument} | {name} | {spread(builds)} | {spread(trainings)} | {totals[name]:.1f} | "
                        f"{vocabulary} |")
        rows.append(f"| {argument} | saving | | | {totals[args.baseline] - totals['candidate']:.1f} "
                    f"({1 - totals['candidate'] / totals[args.baseline]:.0%}) | |")
    print("Tiny-model vocabulary: CPU s of the data build and of a one-step training (child processes, one thread), "
          f"median [min-max] of {args.rounds} alternated run(s)\n")
    print("| input | code | build CPU s | training CPU s | build + training CPU s | training's vocabulary |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


def _pair(name: str, source: Path, args: argparse.Namespace) -> Run:
    """Build then train, as one alternated run whose result holds both."""
    measured = measure(name, source, args.work_dir, args.nice)
    return Run(sum(run.wall_s for run in measured.values()), sum(run.cpu_s for run in measured.values()),
               max(run.peak_rss_mb for run in measured.values()), measured)


if __name__ == "__main__":
    main()
