"""`make train`: fine-tune a multi-label classifier and write a self-contained run dir.

Run dir contract (read by evaluation, card and prediction):
    config.yaml        the resolved config
    manifest.json      dataset fingerprint, seed, git commit, package versions, hardware, wall time
    labels.json        the label schema (copied from the dataset dir)
    dataset_stats.json, dataset_fingerprint.json   copied from the dataset dir
    model/             safetensors weights, tokenizer, config.json with id2label/label2id
    metrics/           train.json (log history), validation.json, test.json at threshold 0.5
    train.log          the training log (Hydra's job log)
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import DatasetDict
from omegaconf import DictConfig, OmegaConf
from transformers import (
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    EvalPrediction,
    PrinterCallback,
    ProgressCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.integrations import TensorBoardCallback, is_tensorboard_available

from ereignis.io import atomic_directory, atomic_write_json, atomic_write_text, read_json
from ereignis.labels import LabelSchema
from ereignis.metrics import multilabel_scores, sigmoid
from ereignis.modeling import load_model, load_tokenizer
from ereignis.provenance import git_state, hardware, package_versions
from ereignis.runs import RunDir, records_status

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": {}, "bf16": {"bf16": True}, "fp16": {"fp16": True}}


def _encode(dataset: DatasetDict, tokenizer, schema: LabelSchema, max_length: int) -> tuple[DatasetDict, dict]:
    """Token ids (truncated at max_length; padding happens per batch), multi-hot labels, lengths."""

    def encode(batch: dict) -> dict:
        full = tokenizer(batch["text"], truncation=False, verbose=False)["input_ids"]
        encoded = tokenizer(batch["text"], truncation=True, max_length=max_length)
        encoded["labels"] = [schema.multi_hot(labels) for labels in batch["labels"]]
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        encoded["n_tokens_full"] = [len(ids) for ids in full]
        return encoded

    # in memory: no cache files in the dataset dir, which belongs to the data stage
    encoded = dataset.map(encode, batched=True, remove_columns=dataset["train"].column_names, keep_in_memory=True)
    truncation = {split: {"n_truncated": int(np.sum(np.asarray(part["n_tokens_full"]) > max_length)),
                          "share_truncated": round(float(np.mean(np.asarray(part["n_tokens_full"]) > max_length)), 4)}
                  for split, part in encoded.items()}
    return encoded.remove_columns("n_tokens_full"), truncation


def positive_weights(label_matrix: np.ndarray, mode: str, max_weight: float) -> torch.Tensor | None:
    """BCE `pos_weight` per label: negatives/positives in the train split, clipped to [1, max_weight].

    Rare event types otherwise barely move a multi-label head; the clip stops a label with a handful
    of positives from dominating the loss. A label with no positive gets weight 1.
    """
    if mode == "none":
        return None
    if mode != "balanced":
        raise ValueError(f"train.pos_weight must be 'balanced' or 'none', got {mode!r}")
    positives = label_matrix.sum(axis=0)
    ratio = np.where(positives > 0, (len(label_matrix) - positives) / np.maximum(positives, 1), 1.0)
    return torch.tensor(np.clip(ratio, 1.0, max_weight), dtype=torch.float32)


def _weighted_bce(pos_weight: torch.Tensor):
    def loss(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        logits = outputs["logits"]
        weight = pos_weight.to(device=logits.device, dtype=logits.dtype)
        if num_items_in_batch is None:
            return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), pos_weight=weight)
        # summed, then divided by the items of the whole accumulated batch: what the Trainer expects
        total = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), pos_weight=weight, reduction="sum")
        return total / num_items_in_batch

    return loss


class LogToFile(TrainerCallback):
    """Send the Trainer's step losses and per-epoch metrics to the logging system, hence to train.log."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            log.info("step %d, epoch %.2f: %s", state.global_step, state.epoch or 0,
                     ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in logs.items()))


class ProgressBarsOnly(ProgressCallback):
    """The Trainer's progress bars without their copy of the log lines, which LogToFile prints already."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        return None


REPORTERS = ("none", "tensorboard")


def _compute_metrics(schema: LabelSchema, threshold: float):
    def compute(prediction: EvalPrediction) -> dict[str, float]:
        probabilities = sigmoid(prediction.predictions)
        scores = multilabel_scores(prediction.label_ids, probabilities >= threshold, schema.ids)
        return {key: scores[key] for key in ("macro_f1", "micro_f1", "subset_accuracy")}

    return compute


def _training_arguments(cfg: DictConfig, output_dir: Path) -> TrainingArguments:
    t = cfg.train
    if t.precision not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {sorted(PRECISIONS)}, got {t.precision!r}")
    if t.report_to not in REPORTERS:
        raise ValueError(f"train.report_to must be one of {list(REPORTERS)}, got {t.report_to!r}")
    if t.report_to == "tensorboard" and not is_tensorboard_available():
        raise ValueError("train.report_to=tensorboard needs TensorBoard: pip install 'ereignis[tensorboard]'")
    extra = OmegaConf.to_container(t.extra_args, resolve=True)
    unknown = sorted(set(extra) - {field.name for field in dataclasses.fields(TrainingArguments)})
    if unknown:
        raise ValueError(f"train.extra_args: {unknown} are no transformers.TrainingArguments; see "
                         "https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments")
    settings = dict(
        output_dir=str(output_dir),
        learning_rate=t.learning_rate,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup_ratio,  # a float below 1 is a share of all steps
        lr_scheduler_type=t.lr_scheduler,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_only_model=not t.resumable,  # optimizer state and RNG only where a resume may need them
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        save_total_limit=1,
        seed=cfg.seed,
        data_seed=cfg.seed,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        dataloader_num_workers=t.num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        torch_compile=t.torch_compile,
        report_to=t.report_to,
        disable_tqdm=not sys.stderr.isatty(),  # bars in a terminal; in logs and CI output one line per update
        use_cpu=t.use_cpu,
        **PRECISIONS[t.precision],
    )
    return TrainingArguments(**{**settings, **extra})


@records_status
def train(cfg: DictConfig) -> dict:
    """Fine-tune on the dataset dir's train split, select on validation macro-F1; return the metrics."""
    started = time.time()
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dataset_dir = Path(cfg.dataset_dir)
    if not (dataset_dir / "labels.json").exists():
        raise FileNotFoundError(f"{dataset_dir}: no dataset here (labels.json missing); run `make data` first")
    schema = LabelSchema.load(dataset_dir / "labels.json")
    dataset = DatasetDict.load_from_disk(str(dataset_dir))
    set_seed(cfg.seed)

    tokenizer = load_tokenizer(cfg.model, dataset["train"]["text"])
    encoded, truncation = _encode(dataset, tokenizer, schema, cfg.model.max_length)
    model = load_model(cfg.model, schema, tokenizer)
    pos_weight = positive_weights(np.asarray(encoded["train"]["labels"]), cfg.train.pos_weight, cfg.train.max_pos_weight)

    trainer = Trainer(
        model=model,
        args=_training_arguments(cfg, run_dir / "checkpoints"),
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_compute_metrics(schema, cfg.train.threshold),
        compute_loss_func=_weighted_bce(pos_weight) if pos_weight is not None else None,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.train.early_stopping_patience), LogToFile()],
    )
    trainer.remove_callback(PrinterCallback)  # LogToFile prints the same lines, and keeps them
    if trainer.pop_callback(ProgressCallback):
        trainer.add_callback(ProgressBarsOnly)
    if trainer.pop_callback(TensorBoardCallback):  # by default it writes into checkpoints/, which goes at the end
        from torch.utils.tensorboard import SummaryWriter

        trainer.add_callback(TensorBoardCallback(SummaryWriter(str(RunDir(run_dir).tensorboard_dir))))
    train_output = trainer.train(resume_from_checkpoint=RunDir(run_dir).resume_checkpoint(cfg.train.resume))
    trainer.remove_callback(EarlyStoppingCallback)  # it only watches the per-epoch validation

    metrics = {"train": {**train_output.metrics, "log_history": trainer.state.log_history,
                         "best_checkpoint_metric": trainer.state.best_metric}}
    for split in ("validation", "test"):
        metrics[split] = trainer.evaluate(encoded[split], metric_key_prefix=split)
    for split, values in metrics.items():
        atomic_write_json(run_dir / "metrics" / f"{split}.json", values)

    with atomic_directory(run_dir / "model") as model_tmp:
        # weights, config and tokenizer only: Trainer.save_model would add training_args.bin, a pickle
        trainer.model.save_pretrained(str(model_tmp))
        tokenizer.save_pretrained(str(model_tmp))
    if not cfg.train.keep_checkpoints:
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)

    schema.save(run_dir / "labels.json")
    for name in ("stats.json", "fingerprint.json"):  # the run stays auditable if the dataset dir goes
        shutil.copyfile(dataset_dir / name, run_dir / f"dataset_{name}")
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    atomic_write_json(run_dir / "manifest.json", {
        "experiment": cfg.experiment_name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": cfg.seed,
        "dataset": {**RunDir(run_dir).dataset_entry(dataset_dir),
                    "fingerprint": read_json(dataset_dir / "fingerprint.json")["sha256"],
                    "n_articles": {split: len(part) for split, part in dataset.items()}},
        "model": {"config": cfg.model.name, "name_or_path": cfg.model.name_or_path,
                  "max_length": cfg.model.max_length, "n_parameters": int(model.num_parameters())},
        "truncation": truncation,
        "pos_weight": dict(zip(schema.ids, pos_weight.tolist())) if pos_weight is not None else None,
        "best_validation_macro_f1": trainer.state.best_metric,
        "epochs_run": trainer.state.epoch,
        "training_arguments": trainer.args.to_dict(),
        "git": git_state(),
        "packages": package_versions(),
        "hardware": hardware(),
        "wall_time_s": round(time.time() - started, 1),
    })
    log.info("run written to %s (validation macro-F1 %.3f, test macro-F1 %.3f)", run_dir,
             metrics["validation"]["validation_macro_f1"], metrics["test"]["test_macro_f1"])
    return {"run_dir": str(run_dir), **{f"{s}_macro_f1": metrics[s][f"{s}_macro_f1"] for s in ("validation", "test")}}
