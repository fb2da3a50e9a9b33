"""Fine-tuning a gbert-base-shaped classifier on one GPU at 512 tokens: what bf16, SDPA attention and
torch.compile each add over eager fp32, across batch sizes, and how close it gets to the GPU's peak.

    python benchmarks/gpu_training.py                 # on a GPU machine: about 6-10 minutes on an H100
    python benchmarks/gpu_training.py --toy           # a tiny shape for a few steps (also what runs without CUDA)

Variants, each adding to the one before, against the first (the baseline):
    eager fp32             `attn_implementation="eager"`, `train.precision=fp32`
    bf16                   `train.precision=bf16` (the Trainer's bf16 autocast)
    bf16 + SDPA            `attn_implementation="sdpa"` (what `from_pretrained` picks for BERT)
    bf16 + SDPA + compile  `train.torch_compile=true`: the project's `train=gpu`
Each runs at every batch size of `--batch-sizes` until one does not fit (out of memory: the larger
ones are skipped, and the sweep goes on with the next variant).

What runs is the project's path, not a hand-written loop: the model from `tiny_bert` (what `load_model`
builds for `model=tiny`) at gbert-base's shape (BertConfig: 12 layers, hidden 768, 12 heads,
intermediate 3072, vocabulary 31,102: the same class and compute as `from_pretrained("deepset/gbert-base")`),
trained by a `transformers.Trainer` with the `TrainingArguments` that `ereignis-train model=tiny
train=gpu` builds (`_training_arguments`: length-grouped sampler, AdamW, linear schedule, gradient
clipping, dataloader workers), with evaluation and checkpoints switched off through `train.extra_args`.
The variants are the project's own switches (`train.precision`, `train.torch_compile`) plus the
attention implementation, so a speed-up here is one a user gets. The Trainer's per-step overhead
(dataloader, callbacks) is inside the timings, as it is in a real run; the inputs are synthetic token
ids, every sequence 512 tokens, so every step has the same shape (no recompilation, no padding) and the
token count is exact.

Timing: a callback calls `torch.cuda.synchronize()` and reads the clock at the end of step `--warmup`
(the first steps compile, allocate and tune kernels) and at the end of the last step; step time is that
window over its steps, tokens/s = batch x 512 x timed steps / window. Peak memory:
`torch.cuda.max_memory_allocated()` over the run.

Model FLOPs utilisation (MFU) = tokens/s x FLOPs per token / the GPU's peak dense TFLOPS for the
precision (bf16 tensor cores for bf16 runs; plain fp32, not TF32, for fp32 runs, which is what PyTorch
runs while `torch.get_float32_matmul_precision()` is "highest", its default). FLOPs per token of a
training step (forward and backward), as in the PaLM paper's appendix B and nanoGPT's
`estimate_mfu`:

    6 x N + 12 x layers x hidden x sequence length

N = non-embedding parameters (the word, position and token-type embeddings are lookups, not matrix
products); 6 = 2 (multiply-add) x 3 (forward, and backward for activations and weights); the second
term is the attention scores and their weighted sum (2 matrix products of seq x seq x hidden per layer,
x 2 for the multiply-add, x 3 for fwd+bwd, per token). Peaks come from `--peak-tflops` or a table by
`torch.cuda.get_device_name()` (vendor datasheets, dense, no sparsity); any other device: "unknown device",
no MFU.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from datasets import Dataset
from transformers import Trainer, TrainerCallback, default_data_collator

import ereignis
from ereignis.modeling.tiny import tiny_bert

train_module = importlib.import_module("ereignis.training.train")  # the module, not `ereignis.training.train()`

GBERT_BASE = {"layers": 12, "hidden": 768, "heads": 12, "intermediate": 3072, "vocab_size": 31_102, "seq": 512}
TOY = {"layers": 2, "hidden": 64, "heads": 2, "intermediate": 128, "vocab_size": 1_000, "seq": 64}
N_LABELS = 8

# (attention implementation, train.precision, train.torch_compile)
VARIANTS = {
    "eager fp32": ("eager", "fp32", False),
    "bf16": ("eager", "bf16", False),
    "bf16 + SDPA": ("sdpa", "bf16", False),
    "bf16 + SDPA + compile": ("sdpa", "bf16", True),
}
BASELINE = "eager fp32"

# Peak dense TFLOPS (bf16 tensor cores, fp32 without TF32) by a part of the device name, checked in this
# order. A10G: NVIDIA publishes no datasheet for it; the figures are those cloud providers cite.
PEAK_TFLOPS = [
    ("H200", {"bf16": 989.0, "fp32": 67.0}),
    ("H100 PCIe", {"bf16": 756.0, "fp32": 51.0}),
    ("H100 80GB HBM3", {"bf16": 989.0, "fp32": 67.0}),  # the SXM part's name
    ("H100 SXM", {"bf16": 989.0, "fp32": 67.0}),
    ("A100", {"bf16": 312.0, "fp32": 19.5}),
    ("A10G", {"bf16": 70.0, "fp32": 31.2}),
    ("L4", {"bf16": 121.0, "fp32": 30.3}),
]


def device_peak(name: str) -> dict[str, float] | None:
    for part, peaks in PEAK_TFLOPS:
        if part.lower() in name.lower() and not (part == "L4" and "L40" in name):
            return peaks
    return None


def flops_per_token(model: torch.nn.Module, shape: dict) -> float:
    """6 x non-embedding parameters + 12 x layers x hidden x sequence length (see the docstring)."""
    embeddings = sum(p.numel() for p in model.bert.embeddings.parameters())
    non_embedding = sum(p.numel() for p in model.parameters()) - embeddings
    return 6 * non_embedding + 12 * shape["layers"] * shape["hidden"] * shape["seq"]


def bert_model(shape: dict) -> torch.nn.Module:
    """`tiny_bert`, the builder `load_model` uses for `model=tiny`, at this shape; multi-label head."""
    body = SimpleNamespace(hidden_size=shape["hidden"], num_hidden_layers=shape["layers"],
                           num_attention_heads=shape["heads"], intermediate_size=shape["intermediate"], dropout=0.1)
    return tiny_bert(body, shape["vocab_size"], shape["seq"], {i: f"event_{i}" for i in range(N_LABELS)})


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class StepClock(TrainerCallback):
    """Wall time from the end of step `warmup` to the end of the last step, with the device drained."""

    def __init__(self, warmup: int):
        self.warmup = warmup
        self.start = self.end = None

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.warmup:
            synchronize()
            self.start = time.perf_counter()
        elif state.global_step == state.max_steps:
            synchronize()
            self.end = time.perf_counter()


def synthetic_dataset(shape: dict, n_sequences: int, seed: int) -> Dataset:
    """Random token ids, every sequence full length, a few random labels each (multi-label)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, shape["vocab_size"], size=(n_sequences, shape["seq"]))
    return Dataset.from_dict({
        "input_ids": ids.tolist(), "attention_mask": np.ones_like(ids).tolist(),
        "length": [shape["seq"]] * n_sequences,
        "labels": (rng.random((n_sequences, N_LABELS)) < 0.2).astype(np.float32).tolist()})


def training_config(args: argparse.Namespace, shape: dict, precision: str, compile_model: bool, batch: int,
                    output_dir: Path):
    """`ereignis-train model=tiny train=gpu` at this shape, for `steps` steps, no evaluation or checkpoints."""
    return ereignis.compose("train", [
        "model=tiny", "train=gpu", f"model.max_length={shape['seq']}",
        f"model.tiny.vocab_size={shape['vocab_size']}", f"model.tiny.hidden_size={shape['hidden']}",
        f"model.tiny.num_hidden_layers={shape['layers']}", f"model.tiny.num_attention_heads={shape['heads']}",
        f"model.tiny.intermediate_size={shape['intermediate']}", f"train.precision={precision}",
        f"train.torch_compile={str(compile_model).lower()}", f"train.batch_size={batch}",
        f"train.max_steps={args.warmup + args.steps}", f"train.num_workers={0 if args.toy else 4}",
        f"train.use_cpu={str(not torch.cuda.is_available()).lower()}",
        "+train.extra_args.eval_strategy=no", "+train.extra_args.save_strategy=no",
        "+train.extra_args.load_best_model_at_end=false", f"seed={args.seed}", f"run_dir={output_dir}"])


def measure(args, shape: dict, attention: str, precision: str, compile_model: bool, batch: int) -> dict:
    """One variant at one batch size; raises torch.OutOfMemoryError when it does not fit."""
    cfg = training_config(args, shape, precision, compile_model, batch, args.output_dir)
    torch.manual_seed(args.seed)
    model = bert_model(shape)
    model.set_attn_implementation(attention)
    clock = StepClock(args.warmup)
    trainer = Trainer(model=model, args=train_module._training_arguments(cfg, args.output_dir),
                      train_dataset=synthetic_dataset(shape, batch * (args.warmup + args.steps), args.seed),
                      data_collator=default_data_collator, callbacks=[clock])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    try:
        trainer.train()
    finally:
        peak_memory = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
        del trainer, model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    window = clock.end - clock.start
    tokens = batch * shape["seq"] * args.steps
    return {"tokens": tokens, "window_s": window, "step_s": window / args.steps, "tokens_per_s": tokens / window,
            "peak_memory_gib": None if peak_memory is None else peak_memory / 2**30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--toy", action="store_true", help="a tiny shape for a few steps (automatic without CUDA)")
    parser.add_argument("--batch-sizes", type=int, nargs="+")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--warmup", type=int, help="steps before the clock starts (default 5; toy 1)")
    parser.add_argument("--steps", type=int, help="timed steps (default 20; toy 2)")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak dense TFLOPS, for every precision")
    parser.add_argument("--compile-on-cpu", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output-dir", type=Path, default=Path("/tmp/ereignis-gpu-training"))
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    args.toy = args.toy or not torch.cuda.is_available()
    args.batch_sizes = args.batch_sizes or ([2, 4] if args.toy else [8, 16, 32, 64])
    args.warmup = args.warmup if args.warmup is not None else (1 if args.toy else 5)
    args.steps = args.steps if args.steps is not None else (2 if args.toy else 20)
    shape = TOY if args.toy else GBERT_BASE
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    peaks = {"bf16": args.peak_tflops, "fp32": args.peak_tflops} if args.peak_tflops else device_peak(device)
    per_token = flops_per_token(bert_model(shape), shape)

    rows = []
    for name in args.variants:
        attention, precision, compile_model = VARIANTS[name]
        if compile_model and not torch.cuda.is_available() and not args.compile_on_cpu:
            rows.append({"variant": name, "skipped": "skipped without CUDA: inductor's CPU compile takes minutes "
                                                     "(--compile-on-cpu runs it)"})
            continue
        for batch in args.batch_sizes:
            try:
                numbers = measure(args, shape, attention, precision, compile_model, batch)
            except torch.OutOfMemoryError:
                rows.append({"variant": name, "batch": batch, "skipped": "out of memory; larger batches not tried"})
                print(f"{name}, batch {batch}: out of memory", file=sys.stderr)
                break
            peak = peaks[precision] if peaks else None
            mfu = numbers["tokens_per_s"] * per_token / (peak * 1e12) if peak else None
            rows.append({"variant": name, "batch": batch, "precision": precision, **numbers, "peak_tflops": peak,
                         "mfu": mfu})
            print(f"{name}, batch {batch}: {numbers['tokens_per_s']:,.0f} tokens/s", file=sys.stderr, flush=True)
    add_ratios(rows)
    print_table(args, shape, device, peaks, per_token, rows)
    if args.json:
        args.json.write_text(json.dumps({"device": device, "shape": shape, "flops_per_token": per_token,
                                         "peak_tflops": peaks, "rows": rows}, indent=1))


def add_ratios(rows: list[dict]) -> None:
    """tokens/s over the baseline's at the same batch size (None where the baseline did not run)."""
    baseline = {row["batch"]: row["tokens_per_s"] for row in rows
                if row["variant"] == BASELINE and "tokens_per_s" in row}
    for row in rows:
        if "tokens_per_s" in row:
            row["speedup"] = row["tokens_per_s"] / baseline[row["batch"]] if row["batch"] in baseline else None


def print_table(args, shape: dict, device: str, peaks, per_token: float, rows: list[dict]) -> None:
    peak_note = (f"peak dense TFLOPS bf16 {peaks['bf16']:g}, fp32 {peaks['fp32']:g}" if peaks
                 else "unknown device: no peak TFLOPS known, no MFU (give --peak-tflops)")
    print(f"\n{device}; BERT {shape['layers']} layers, hidden {shape['hidden']}, {shape['heads']} heads, "
          f"intermediate {shape['intermediate']}, vocabulary {shape['vocab_size']:,}, {shape['seq']} tokens per "
          f"sequence; {per_token / 1e6:,.1f} MFLOPs per token (fwd+bwd); {args.warmup} warmup steps, "
          f"{args.steps} timed; {peak_note}; speed-up = tokens/s over {BASELINE} at the same batch size\n")
    print("| variant | batch | tokens/s | step ms | peak GPU memory GiB | MFU | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        if "skipped" in row:
            print(f"| {row['variant']} | {row.get('batch', '')} | {row['skipped']} | | | | |")
            continue
        memory = f"{row['peak_memory_gib']:.1f}" if row["peak_memory_gib"] is not None else "n/a (no GPU)"
        mfu = f"{100 * row['mfu']:.3g}%" if row["mfu"] is not None else "n/a"
        speedup = f"{row['speedup']:.2f}x" if row["speedup"] is not None else "n/a"
        print(f"| {row['variant']} | {row['batch']} | {row['tokens_per_s']:,.0f} | {row['step_s'] * 1e3:,.1f} "
              f"| {memory} | {mfu} | {speedup} |")


if __name__ == "__main__":
    main()
