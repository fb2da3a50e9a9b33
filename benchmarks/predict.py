"""Claim: prediction on CPU is at least 2x the articles per second of `transformers.pipeline()`, with
decisions agreeing on at least 99% of labels.

    python benchmarks/predict.py RUN_DIR [--articles 200] [--rounds 3]

Baseline: `pipeline("text-classification", top_k=None)` over the same composed article texts,
truncated at the model's max length, batch size 32 (what a transformers user writes). Candidates:
ereignis's `Classifier.score` in truncate mode (length-sorted batches), the same with dynamic int8
quantisation of the linear layers (`quantize=true`), and windows mode (the whole article; its cost).
Agreement: the share of (article, label) decisions under the run's decision rule equal to fp32 truncate.
Articles: the run's test split (repeated up to --articles), so lengths are the user's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import alternate, ratio, run_here, spread  # noqa: E402

from ereignis.inference import Classifier  # noqa: E402
from ereignis.runs import RunDir  # noqa: E402

BATCH = 32


def test_articles(run_dir: Path, n: int) -> list[dict]:
    from datasets import DatasetDict

    split = list(DatasetDict.load_from_disk(str(RunDir(run_dir).dataset().path))["test"])
    return [split[i % len(split)] for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())  # the machine's cores, for every candidate alike
    from transformers import pipeline

    articles = test_articles(args.run_dir, args.articles)
    texts = [article["text"] for article in articles]
    fp32 = Classifier.load(args.run_dir, device="cpu", long_articles="truncate")
    int8 = Classifier.load(args.run_dir, quantize=True, long_articles="truncate")
    windows = Classifier.load(args.run_dir, device="cpu", long_articles="windows")
    plain = pipeline("text-classification", model=str(args.run_dir / "model"), top_k=None, device=-1)
    decided = {}

    def score(name: str, classifier: Classifier):
        def run():
            decided[name] = classifier.score(articles, BATCH).decisions
        return lambda: run_here(run)

    candidates = {
        "pipeline() (baseline)": lambda: run_here(lambda: plain(texts, batch_size=BATCH, truncation=True)),
        "ereignis truncate fp32": score("fp32", fp32),
        "ereignis truncate int8": score("int8", int8),
        "ereignis windows fp32": score("windows", windows),
    }
    runs = alternate(candidates, args.rounds)
    baseline_cpu = [r.cpu_s for r in runs["pipeline() (baseline)"]]
    baseline_wall = [r.wall_s for r in runs["pipeline() (baseline)"]]
    print(f"\n{len(articles)} articles from {args.run_dir} ({fp32.model.config.model_type}, "
          f"max length {fp32.max_length}), batch {BATCH}, {args.rounds} rounds, {torch.get_num_threads()} threads\n")
    print("| system | CPU s | wall s | articles/s (wall) | speed-up, CPU | speed-up, wall | decisions equal to fp32 |")
    print("|---|---|---|---|---|---|---|")
    agreement = {"fp32": 1.0,
                 **{name: float(np.mean(decided[name] == decided["fp32"])) for name in ("int8", "windows")}}
    keys = {"ereignis truncate fp32": "fp32", "ereignis truncate int8": "int8", "ereignis windows fp32": "windows"}
    for name, measured in runs.items():
        cpu, wall = [r.cpu_s for r in measured], [r.wall_s for r in measured]
        equal = f"{agreement[keys[name]]:.2%}" if name in keys else ""
        print(f"| {name} | {spread(cpu)} | {spread(wall)} | {len(articles) / np.median(wall):.1f} | "
              f"{ratio(baseline_cpu, cpu):.2f}x | {ratio(baseline_wall, wall):.2f}x | {equal} |")


if __name__ == "__main__":
    main()
