"""Claim: ereignis's training recipe costs less per epoch than the naive transformers recipe, because it
pads each batch only to its longest article instead of every article to the max length.

    python benchmarks/training.py DATASET_DIR [DATASET_DIR ...] [--max-lengths 256 512] [--rounds 3]

Candidate: `ereignis.training.train.train_on`, unchanged (`ereignis-train model=tiny`): one tokenisation
per article (`encode_articles`), the Trainer with `train_sampling_strategy="group_by_length"`,
`DataCollatorWithPadding` (dynamic padding) and the in-order evaluation sampler. With `--windows`, a
third row trains the same way on `encoding.long_articles=windows` (the whole article, in overlapping
windows): more sequences, so its cost is per article, not a speed-up.
Baseline: what `run_classification.py` or a tutorial user writes: `tokenizer(..., padding="max_length",
truncation=True)` in `datasets.map`, a plain `Trainer` with its default random sampler and default
collator.

Both get the same tokenizer and initial weights (the project's WordPiece tokenizer of `--vocab-size`
tokens fitted on the train split, and `tiny_bert` of the stated shape, seeded alike), the same
articles, batch size, learning rate and seed, and one epoch: the same number of optimisation steps.
The clock runs from the Trainer's `on_epoch_begin` to `on_epoch_end`, so it holds the batches
(collation included), forward, backward and optimizer steps, and not evaluation or checkpoints,
which the Trainer runs after `on_epoch_end`. A forward pre-hook counts what the model was fed:
processed tokens (the padded batch's size) and real tokens (its attention mask's sum).

A dataset dir with only one split (gnad_events has only `test`) is split 80/10/10 with the seed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from unittest import mock

import torch
from datasets import DatasetDict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import Run, alternate, ratio, spread  # noqa: E402

import ereignis  # noqa: E402
from ereignis.labels import LabelSchema  # noqa: E402
from ereignis.modeling import load_model, load_tokenizer  # noqa: E402
from ereignis.task import label_matrix  # noqa: E402

BASELINE = "naive (max-length padding, random batches)"
CANDIDATE = "ereignis truncate"
WINDOWS = "ereignis windows"
# the module, not the `train` function that `ereignis.training` exports under the same name
train_module = importlib.import_module("ereignis.training.train")


class EpochMeter(train_module.LogToFile):
    """CPU time, wall time and tokens of each epoch's training steps.

    A `LogToFile`, so that it can stand in for the one `train_on` creates (the only way in from outside
    without changing `train_on`); in the baseline it logs to a logger nobody listens to.
    """

    def __init__(self):
        self.epochs: list[dict] = []
        self._counting = False
        self._hook = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._hook = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def on_train_end(self, args, state, control, **kwargs):
        self._hook.remove()

    def _count(self, module, args, kwargs):
        if self._counting:
            input_ids, mask = kwargs["input_ids"], kwargs.get("attention_mask")
            self._tokens["processed"] += input_ids.numel()
            self._tokens["real"] += int(mask.sum()) if mask is not None else input_ids.numel()
            self._tokens["sequences"] += input_ids.shape[0]

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._tokens = {"processed": 0, "real": 0, "sequences": 0}
        self._first_step = state.global_step
        self._counting = True
        self._clock = (time.process_time(), time.perf_counter())

    def on_epoch_end(self, args, state, control, **kwargs):
        cpu, wall = time.process_time() - self._clock[0], time.perf_counter() - self._clock[1]
        self._counting = False
        self.epochs.append({"cpu_s": cpu, "wall_s": wall, "steps": state.global_step - self._first_step,
                            **self._tokens})


def with_three_splits(dataset: DatasetDict, seed: int) -> DatasetDict:
    """train/validation/test as `train_on` needs them; a single split is cut 80/10/10."""
    if {"train", "validation", "test"} <= set(dataset):
        return dataset
    (only,) = dataset.values()
    train_rest = only.train_test_split(test_size=0.2, seed=seed)
    validation_test = train_rest["test"].train_test_split(test_size=0.5, seed=seed)
    return DatasetDict(train=train_rest["train"], validation=validation_test["train"], test=validation_test["test"])


def training_config(args: argparse.Namespace, max_length: int, long_articles: str, run_dir: Path):
    """The `ereignis-train model=tiny` config at the benchmark's model shape, one epoch."""
    return ereignis.compose("train", [
        "model=tiny", f"model.max_length={max_length}", f"model.tiny.vocab_size={args.vocab_size}",
        f"model.tiny.hidden_size={args.hidden}", f"model.tiny.num_hidden_layers={args.layers}",
        f"model.tiny.num_attention_heads={args.heads}", f"model.tiny.intermediate_size={4 * args.hidden}",
        "train.epochs=1", f"train.batch_size={args.batch_size}", f"encoding.long_articles={long_articles}",
        f"seed={args.seed}", f"run_dir={run_dir}"])


def measured(meter: EpochMeter) -> Run:
    (epoch,) = meter.epochs
    return Run(epoch["wall_s"], epoch["cpu_s"], result=epoch)


def ereignis_epoch(args, dataset: DatasetDict, dataset_dir: Path, max_length: int, long_articles: str) -> Run:
    """One epoch of `train_on` as the project runs it; the meter stands in for its log callback."""
    meter = EpochMeter()
    with tempfile.TemporaryDirectory() as run_dir, mock.patch.object(train_module, "LogToFile", lambda: meter):
        train_on_config = training_config(args, max_length, long_articles, Path(run_dir))
        train_module.train_on(train_on_config, dataset, dataset_dir, Path(run_dir))
    return measured(meter)


def naive_epoch(args, dataset: DatasetDict, dataset_dir: Path, max_length: int) -> Run:
    """One epoch of the plain transformers recipe, with the same tokenizer and initial weights."""
    from transformers import Trainer, TrainingArguments, set_seed

    with tempfile.TemporaryDirectory() as output_dir:
        cfg = training_config(args, max_length, "truncate", Path(output_dir))
        schema = LabelSchema.load(dataset_dir / "labels.json")
        set_seed(cfg.seed)  # as train_on does before building the model: the same initial weights
        tokenizer = load_tokenizer(cfg.model, dataset["train"]["text"])
        model = load_model(cfg.model, schema, tokenizer)
        train = dataset["train"].map(lambda batch: tokenizer(batch["text"], padding="max_length", truncation=True,
                                                             max_length=max_length),
                                     batched=True, remove_columns=dataset["train"].column_names)
        train = train.add_column("label", label_matrix(dataset["train"]["labels"], schema.ids).astype(float).tolist())
        meter = EpochMeter()
        training_args = TrainingArguments(
            output_dir=output_dir, per_device_train_batch_size=args.batch_size, num_train_epochs=1,
            learning_rate=cfg.train.learning_rate, weight_decay=cfg.train.weight_decay,
            warmup_steps=cfg.train.warmup_ratio, seed=cfg.seed, save_strategy="no", report_to="none")
        Trainer(model=model, args=training_args, train_dataset=train, callbacks=[meter]).train()
    return measured(meter)


def per_recipe_numbers(runs: list[Run], n_articles: int) -> dict:
    epoch = runs[0].result  # tokens and steps are the same in every round: same seed, same sampler
    cpu = statistics.median(r.cpu_s for r in runs)
    return {"steps": epoch["steps"], "sequences": epoch["sequences"], "real_tokens": epoch["real"],
            "processed_tokens": epoch["processed"], "padding_share": 1 - epoch["real"] / epoch["processed"],
            "cpu_s": [r.cpu_s for r in runs], "wall_s": [r.wall_s for r in runs],
            "real_tokens_per_cpu_s": epoch["real"] / cpu, "processed_tokens_per_cpu_s": epoch["processed"] / cpu,
            "cpu_s_per_article": cpu / n_articles}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", type=Path, nargs="+", help="dataset dirs (ereignis-data output)")
    parser.add_argument("--max-lengths", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--windows", action=argparse.BooleanOptionalAction, default=True,
                        help="add the windows row (encoding.long_articles=windows)")
    parser.add_argument("--vocab-size", type=int, default=31_102, help="gbert-base's vocabulary")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    results = []
    for dataset_dir in args.datasets:
        dataset = with_three_splits(DatasetDict.load_from_disk(str(dataset_dir)), args.seed)
        n_articles = len(dataset["train"])
        for max_length in args.max_lengths:
            print(f"{dataset_dir.name}, max length {max_length}:", file=sys.stderr)
            inputs = (args, dataset, dataset_dir, max_length)
            recipes = {BASELINE: partial(naive_epoch, *inputs), CANDIDATE: partial(ereignis_epoch, *inputs, "truncate")}
            if args.windows:
                recipes[WINDOWS] = partial(ereignis_epoch, *inputs, "windows")
            runs = alternate(recipes, args.rounds)
            baseline_cpu, baseline_wall = ([r.cpu_s for r in runs[BASELINE]], [r.wall_s for r in runs[BASELINE]])
            for name, measured_runs in runs.items():
                results.append({"dataset": dataset_dir.name, "articles": n_articles, "max_length": max_length,
                                "recipe": name, **per_recipe_numbers(measured_runs, n_articles),
                                "cpu_ratio": ratio(baseline_cpu, [r.cpu_s for r in measured_runs]),
                                "wall_ratio": ratio(baseline_wall, [r.wall_s for r in measured_runs])})
    print_table(args, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def print_table(args: argparse.Namespace, results: list[dict]) -> None:
    print(f"\nOne training epoch; model: tiny BERT, {args.layers} layers, hidden {args.hidden}, {args.heads} heads, "
          f"intermediate {4 * args.hidden}, vocabulary {args.vocab_size:,}; batch {args.batch_size}, "
          f"{args.rounds} alternated rounds, {torch.get_num_threads()} threads; medians [min-max]; "
          "ratio = baseline median / this row's median (higher: cheaper than the baseline)\n")
    print("| dataset (train articles) | max length | recipe | steps | sequences | real tokens | processed tokens "
          "| padding | CPU s/epoch | wall s/epoch | real tokens/CPU-s | processed tokens/CPU-s | CPU s/article "
          "| CPU ratio | wall ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in results:
        print(f"| {row['dataset']} ({row['articles']}) | {row['max_length']} | {row['recipe']} | {row['steps']} "
              f"| {row['sequences']:,} | {row['real_tokens']:,} | {row['processed_tokens']:,} "
              f"| {row['padding_share']:.1%} | {spread(row['cpu_s'])} | {spread(row['wall_s'])} "
              f"| {row['real_tokens_per_cpu_s']:,.0f} | {row['processed_tokens_per_cpu_s']:,.0f} "
              f"| {row['cpu_s_per_article']:.3f} | {row['cpu_ratio']:.2f}x | {row['wall_ratio']:.2f}x |")


if __name__ == "__main__":
    main()
