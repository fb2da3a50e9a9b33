"""Claim: prediction on CPU is at least 2x the articles per second of `transformers.pipeline()`, with
decisions agreeing on at least 99% of labels.

    python benchmarks/predict.py RUN_DIR [--articles 200] [--rounds 3] [--more-articles DATASET_DIR]
        [--systems NAME ...]

Baseline: `pipeline("text-classification", top_k=None)` over the same composed article texts,
truncated at the model's max length, batch size 32 (what a transformers user writes). Candidates:
ereignis's `Classifier.score` in truncate mode (length-sorted batches) with the PyTorch backend in
fp32, with dynamic int8 quantisation of the linear layers (`quantize=true`) and with bfloat16 matrix
products (`bfloat16=true`); with the ONNX backend (`backend=onnx`, the run must be exported:
`ereignis-export`) in fp32 and int8; and windows mode (the whole article; its cost) with the fastest
backend that keeps the decisions. Agreement: the share of (article, label) decisions under the run's
decision rule equal to PyTorch fp32 truncate.
Articles: the run's test split, then the test split of `--more-articles` (another dataset, for more
real texts to measure agreement on), repeated up to --articles, so lengths are the user's.
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


def test_articles(run_dir: Path, n: int, more: Path | None) -> list[dict]:
    from datasets import DatasetDict

    split = list(DatasetDict.load_from_disk(str(RunDir(run_dir).dataset().path))["test"])
    if more is not None:
        split += list(DatasetDict.load_from_disk(str(more))["test"])
    return [split[i % len(split)] for i in range(n)]


SYSTEMS = {  # name: Classifier.load options; "fp32" is the reference every agreement is measured against
    "fp32": {"device": "cpu"},
    "int8": {"quantize": True},
    "bf16": {"device": "cpu", "bfloat16": True},
    "onnx fp32": {"backend": "onnx"},
    "onnx int8": {"backend": "onnx", "quantize": True},
    "windows bf16": {"device": "cpu", "bfloat16": True, "long_articles": "windows"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--more-articles", type=Path, help="a dataset dir whose test split is added to the run's")
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=list(SYSTEMS))
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())  # the machine's cores, for every candidate alike
    from transformers import pipeline

    articles = test_articles(args.run_dir, args.articles, args.more_articles)
    texts = [article["text"] for article in articles]
    names = ["fp32", *(name for name in args.systems if name != "fp32")]
    classifiers = {name: Classifier.load(args.run_dir, **{"long_articles": "truncate", **SYSTEMS[name]})
                   for name in names}
    plain = pipeline("text-classification", model=str(args.run_dir / "model"), top_k=None, device=-1)
    decided = {}

    def score(name: str):
        def run():
            decided[name] = classifiers[name].score(articles, BATCH).decisions
        return lambda: run_here(run)

    baseline = "pipeline() (baseline)"
    candidates = {baseline: lambda: run_here(lambda: plain(texts, batch_size=BATCH, truncation=True)),
                  **{f"ereignis {name}": score(name) for name in names}}
    runs = alternate(candidates, args.rounds)
    baseline_cpu = [r.cpu_s for r in runs[baseline]]
    baseline_wall = [r.wall_s for r in runs[baseline]]
    print(f"\n{len(articles)} articles from {args.run_dir} ({classifiers['fp32'].config.model_type}, "
          f"max length {classifiers['fp32'].max_length}), batch {BATCH}, {args.rounds} rounds, "
          f"{torch.get_num_threads()} threads\n")
    print("| system | CPU s | wall s | articles/s (wall) | speed-up, CPU | speed-up, wall | decisions equal to fp32 |")
    print("|---|---|---|---|---|---|---|")
    for name, measured in runs.items():
        cpu, wall = [r.cpu_s for r in measured], [r.wall_s for r in measured]
        key = name.removeprefix("ereignis ")
        equal = f"{np.mean(decided[key] == decided['fp32']):.2%}" if key in decided else ""
        print(f"| {name} | {spread(cpu)} | {spread(wall)} | {len(articles) / np.median(wall):.1f} | "
              f"{ratio(baseline_cpu, cpu):.2f}x | {ratio(baseline_wall, wall):.2f}x | {equal} |")


if __name__ == "__main__":
    main()
