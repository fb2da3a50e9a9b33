"""Claim: a model-only checkpoint (what a run that is not resumable writes, `save_only_model=True`) is a third
of the size of a full one and several times faster to write.

    python benchmarks/checkpoints.py [--rounds 3] [--model gbert_base|tiny]

Candidate: the Trainer's model-only checkpoint (weights, config, trainer state). Baseline: the full checkpoint
a resumable run (`train.resumable=true`) writes: the same plus the AdamW moments (two more copies of the
weights), the scheduler and the RNG states. The model has the shape of the named config (gbert-base:
BERT-base with its 31,102-token vocabulary) and random weights, so nothing is downloaded; after one optimizer
step the optimizer state is full size, as at any epoch end.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from datasets import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import alternate, ratio, run_here, spread  # noqa: E402

SHAPES = {  # (vocabulary, hidden size, layers, heads, intermediate size)
    "gbert_base": (31_102, 768, 12, 12, 3072),
    "tiny": (6_000, 128, 2, 4, 256),
}


def trained_one_step(shape: tuple[int, ...], output_dir: Path) -> Trainer:
    vocab, hidden, layers, heads, intermediate = shape
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=intermediate, num_labels=8, problem_type="multi_label_classification")
    torch.manual_seed(0)
    examples = Dataset.from_dict({"input_ids": [[2, 100, 200, 3]] * 2, "labels": [[1.0] + [0.0] * 7] * 2})
    args = TrainingArguments(output_dir=str(output_dir), max_steps=1, per_device_train_batch_size=2, save_strategy="no",
                             report_to="none", disable_tqdm=True, use_cpu=True)
    trainer = Trainer(model=BertForSequenceClassification(config), args=args, train_dataset=examples)
    trainer.train()
    return trainer


def checkpoint(trainer: Trainer, model_only: bool) -> dict:
    trainer.args.save_only_model = model_only
    trainer._save_checkpoint(trainer.model, trial=None)  # what the Trainer calls at each epoch end
    folder = Path(trainer.args.output_dir) / f"checkpoint-{trainer.state.global_step}"
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    shutil.rmtree(folder)
    return {"megabytes": size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", choices=sorted(SHAPES), default="gbert_base")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        trainer = trained_one_step(SHAPES[args.model], Path(folder))
        runs = alternate({"full (baseline)": lambda: run_here(lambda: checkpoint(trainer, model_only=False)),
                          "model-only": lambda: run_here(lambda: checkpoint(trainer, model_only=True))}, args.rounds)
    full, model_only = runs["full (baseline)"], runs["model-only"]
    print(f"| {args.model} | size MB | write s (wall) | write s (CPU) |")
    print("|---|---|---|---|")
    for name, measured in runs.items():
        print(f"| {name} | {measured[0].result['megabytes']:,.1f} | {spread([r.wall_s for r in measured])} "
              f"| {spread([r.cpu_s for r in measured])} |")
    print(f"size ratio {full[0].result['megabytes'] / model_only[0].result['megabytes']:.2f}x, "
          f"write time ratio {ratio([r.wall_s for r in full], [r.wall_s for r in model_only]):.2f}x wall, "
          f"{ratio([r.cpu_s for r in full], [r.cpu_s for r in model_only]):.2f}x CPU")


if __name__ == "__main__":
    main()
