"""Claim: the vectorised bootstrap gives the loop's intervals to the last bit, several times faster.

    python benchmarks/bootstrap.py [--rounds 5] [--sizes 1000 10000]

Candidate: `ereignis.metrics.bootstrap_intervals` (draw counts times per-article counts, one matrix
product per chunk of resamples). Baseline: the same function at commit e50222e, a Python loop over
resamples, loaded from git history. Data: 8 labels with prevalences from 1% to 40%, four systems
(the model and three baselines, as the evaluation stage scores them), 1,000 resamples (the eval
default), the same seed for both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import alternate, module_at_commit, ratio, run_here, spread  # noqa: E402

from ereignis.metrics import bootstrap_intervals  # noqa: E402

N_LABELS = 8
N_RESAMPLES = 1_000


def scored_systems(n_articles: int, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Gold labels and four systems that get 3%, 8%, 12% and 20% of the label decisions wrong."""
    rng = np.random.default_rng(seed)
    gold = rng.random((n_articles, N_LABELS)) < np.linspace(0.01, 0.4, N_LABELS)
    return gold, {name: gold ^ (rng.random(gold.shape) < error)
                  for name, error in (("model", 0.03), ("tfidf_word", 0.08), ("tfidf_char", 0.12), ("prior", 0.2))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    args = parser.parse_args()
    baseline = module_at_commit("src/ereignis/metrics.py").bootstrap_intervals
    rows = []
    for n_articles in args.sizes:
        gold, systems = scored_systems(n_articles)
        identical = (baseline(gold, systems, N_RESAMPLES, 0.95, 0) == bootstrap_intervals(gold, systems, N_RESAMPLES,
                                                                                            0.95, 0))
        print(f"{n_articles:,} articles:", file=sys.stderr)
        runs = alternate({name: (lambda function=function, gold=gold, systems=systems: run_here(
                              lambda: function(gold, systems, N_RESAMPLES, 0.95, 0)))
                          for name, function in (("loop", baseline), ("vectorised", bootstrap_intervals))}, args.rounds)
        cpu = {name: [run.cpu_s for run in measured] for name, measured in runs.items()}
        wall = {name: [run.wall_s for run in measured] for name, measured in runs.items()}
        rows.append(f"| {n_articles:,} | {spread(cpu['loop'])} | {spread(cpu['vectorised'])} | "
                    f"{ratio(cpu['loop'], cpu['vectorised']):.1f}x | {ratio(wall['loop'], wall['vectorised']):.1f}x | "
                    f"{'yes' if identical else 'NO'} |")
    print(f"Bootstrap, {N_RESAMPLES:,} resamples, {N_LABELS} labels, 4 systems; CPU seconds median [min-max] of "
          f"{args.rounds} alternated runs; ratio = loop / vectorised (medians)\n")
    print("| test articles | loop (e50222e), CPU s | vectorised, CPU s | CPU ratio | wall ratio "
          "| identical intervals |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
