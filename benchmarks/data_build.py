"""Claim: the data build reads a million articles in under 4 GB of memory at 1,000 or more articles a
second, and still finds every planted near-duplicate.

    python benchmarks/data_build.py [--sizes 10000 100000 1000000] [--rounds 3] [--baseline-up-to 10000]
                                    [--work-dir /tmp/ereignis-benchmarks] [--nice 10]

For each size, synthetic articles (`benchmarks/synthetic.py`, cached in the work dir) are built with
`data=custom` (tiny model for the token statistics, as `make data`) in a child process, which gives
its CPU time (user + system), wall time and peak resident memory. Recall is the share of planted
near-duplicate pairs that end up in one near-duplicate group; exact duplicates is the share of
planted exact copies dropped. Where the baseline runs too, the two datasets are compared row by row
and statistic by statistic (but for the token statistics, which now come from a sample).

Baseline: the build at commit e50222e, run from that commit's source tree on the same input with
the same settings. It holds every article several times over (about 130 MB per 1,000 articles), so
it runs only up to `--baseline-up-to` articles; at larger sizes the table says so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import BASELINE_COMMIT, REPO, Run, alternate, ratio, run_child, source_at_commit, spread  # noqa: E402
from synthetic import write_synthetic  # noqa: E402


def build_in_this_process(source: Path, output: Path) -> None:
    """The child's side: the build of whichever `ereignis` is on the path; prints a JSON summary."""
    from hydra import compose, initialize_config_dir

    from ereignis.cli import CONFIG_DIR
    from ereignis.data.build import build_dataset

    overrides = [f"paths.root_dir={REPO}", "data=custom", f"data.input={source}", f"data.output_dir={output}"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        build_dataset(compose(config_name="build_data", overrides=overrides))
    print(json.dumps({"output": str(output)}))


def planted_found(output: Path, planted_path: Path) -> dict[str, float]:
    """Recall of the planted near-duplicate pairs and exact copies in a built dataset dir."""
    stats = json.loads((output / "stats.json").read_text())
    planted = json.loads(planted_path.read_text())
    group_of = {article: number for number, group in enumerate(stats["near_duplicate_groups"]) for article in group}
    found = sum(a in group_of and group_of[a] == group_of.get(b) for a, b in planted["near"])
    dropped = {(entry["id"], entry["duplicate_of"]) for entry in stats["dropped_duplicates"]}
    copies = sum((a, b) in dropped or (b, a) in dropped for a, b in planted["exact"])
    return {"n_articles": stats["n_articles"], "near_recall": found / max(len(planted["near"]), 1),
            "n_near_planted": len(planted["near"]), "n_groups": len(stats["near_duplicate_groups"]),
            "exact_dropped": copies / max(len(planted["exact"]), 1)}


def same_dataset(first: Path, second: Path) -> bool:
    """The same rows in the same splits, and the same statistics but for the token sample's."""
    from datasets import DatasetDict

    built = [DatasetDict.load_from_disk(str(output)) for output in (first, second)]
    stats = [json.loads((output / "stats.json").read_text()) for output in (first, second)]
    for found in stats:
        found.pop("tokens")
    return stats[0] == stats[1] and list(built[0]) == list(built[1]) and all(
        built[0][split].to_list() == built[1][split].to_list() for split in built[0])


def output_dir(work: Path, name: str, source: Path) -> Path:
    return work / f"built-{name}-{source.stem}"


def measure(name: str, source: Path, planted_path: Path, work: Path, nice: int) -> Run:
    output = output_dir(work, name, source)
    env = {"HF_HUB_OFFLINE": "1"}
    if name == "baseline":
        env["PYTHONPATH"] = str(source_at_commit(work))
    run = run_child([sys.executable, __file__, "--child", str(source), str(output)], env=env, nice=nice)
    run.result = planted_found(output, planted_path)
    return run


def row(size: int, name: str, runs: list[Run]) -> str:
    cpu, wall = [run.cpu_s for run in runs], [run.wall_s for run in runs]
    found = runs[-1].result
    return (f"| {size:,} | {name} | {size / statistics.median(cpu):,.0f} | {size / statistics.median(wall):,.0f} | "
            f"{spread(cpu)} | {spread(wall)} | {max(run.peak_rss_mb for run in runs):,.0f} | "
            f"{found['near_recall']:.3f} ({found['n_near_planted']:,} pairs) | {found['exact_dropped']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=3, help="alternated runs per size where the baseline runs too")
    parser.add_argument("--baseline-up-to", type=int, default=10_000)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/ereignis-benchmarks"))
    parser.add_argument("--nice", type=int, default=0, help="run the builds at this niceness (the 1M run: 10)")
    parser.add_argument("--child", nargs=2, type=Path, metavar=("INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        build_in_this_process(*args.child)
        return
    lines, ratios = [], []
    for size in args.sizes:
        source, planted_path = write_synthetic(size, args.work_dir / f"synthetic-{size}.jsonl")
        names = ["baseline", "streaming"] if size <= args.baseline_up_to else ["streaming"]
        print(f"{size:,} articles:", file=sys.stderr)
        runs = alternate({name: (lambda name=name, source=source, planted=planted_path:
                                 measure(name, source, planted, args.work_dir, args.nice)) for name in names},
                         args.rounds if len(names) > 1 else 1)
        lines += [row(size, name, runs[name]) for name in names]
        if len(names) > 1:
            cpu = [[run.cpu_s for run in runs[name]] for name in names]
            wall = [[run.wall_s for run in runs[name]] for name in names]
            memory = [max(run.peak_rss_mb for run in runs[name]) for name in names]
            ratios.append(f"{size:,} articles: streaming uses {ratio(*cpu):.1f}x less CPU time, {ratio(*wall):.1f}x "
                          f"less wall time, {memory[0] / memory[1]:.1f}x less peak memory than the baseline "
                          f"({BASELINE_COMMIT}); same dataset: "
                          f"{'yes' if same_dataset(*(output_dir(args.work_dir, n, source) for n in names)) else 'NO'}")
        else:
            lines.append(f"| {size:,} | baseline ({BASELINE_COMMIT}) | not run: needs about {size * 0.13:,.0f} MB "
                         f"(130 MB per 1,000 articles) | | | | | | |")
    print("Data build (`data=custom`, tiny model for token statistics); medians [min-max]; articles/s = articles over "
          "the median CPU or wall seconds; peak memory = the build process's peak resident set\n")
    print("| articles | build | articles per CPU-s | articles per wall-s | CPU s | wall s | peak MB | near-duplicate "
          "recall | exact copies dropped |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    print("\n" + "\n".join(ratios))


if __name__ == "__main__":
    main()
