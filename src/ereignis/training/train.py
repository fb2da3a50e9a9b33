"""`make train`: train a classifier (fine-tuned, or a frozen encoder with a trained head), fit its
decision rule, and write a self-contained run dir.

Run dir contract (read by evaluation, card and prediction):
    config.yaml        the resolved config
    manifest.json      dataset fingerprint, seed, git commit, package versions, hardware, wall time,
                       task, method, encoding (how articles become model input); for the tiny model,
                       model.vocabulary: the dataset's `tokenizer/` it reused, or that it built its own
    decision.json      the decision rule (temperature, per-label thresholds with their evidence); see `ereignis.task`
    labels.json        the label schema (copied from the dataset dir)
    dataset_stats.json, dataset_fingerprint.json   copied from the dataset dir
    model/             safetensors weights, tokenizer, config.json with id2label/label2id and, under
                       `ereignis`, copies of the decision rule and the encoding
    metrics/           train.json (log history), validation.json, test.json under the fitted decision rule
    train.log          the training log (Hydra's job log)
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset, DatasetDict
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

from ereignis import distributed
from ereignis.data.build import TOKENIZER_DIR
from ereignis.encoding import EncodingSettings, Windows, encode_articles
from ereignis.inference import TorchLogits, window_logits
from ereignis.io import atomic_directory, atomic_write_json, atomic_write_text, read_json
from ereignis.labels import LabelSchema
from ereignis.metrics import multilabel_scores
from ereignis.modeling import load_model, load_tokenizer
from ereignis.provenance import git_state, hardware, package_versions
from ereignis.runs import RunDir, records_status
from ereignis.task import Decision, ThresholdSettings, fit_decision, label_matrix
from ereignis.training.frozen import fit_frozen_head

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": {}, "bf16": {"bf16": True}, "fp16": {"fp16": True}}


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
        # every parameter takes part in each forward pass; True would cost DDP an extra graph traversal per step
        ddp_find_unused_parameters=False,
        **PRECISIONS[t.precision],
    )
    return TrainingArguments(**{**settings, **extra})




class InOrderEvaluationTrainer(Trainer):
    """A Trainer that evaluates in dataset order.

    With `train_sampling_strategy="group_by_length"`, transformers 5 also groups the evaluation
    batches by length, so `evaluate()` returns the windows shuffled; the per-epoch metric pools the
    windows of each article by position and needs them in order.
    """

    def _get_eval_sampler(self, eval_dataset):
        return torch.utils.data.SequentialSampler(eval_dataset) if eval_dataset is not None else None


def _window_dataset(windows: Windows, targets: np.ndarray, task: str) -> Dataset:
    """One training example per window, carrying its article's labels (class index when single-label)."""
    labels = targets[windows.owners]
    return Dataset.from_dict({
        "input_ids": windows.input_ids, "length": [len(ids) for ids in windows.input_ids],
        "labels": labels.argmax(axis=1).tolist() if task == "single_label" else labels.astype(np.float32).tolist()})


def _article_metrics(task: str, labels: tuple[str, ...], y: np.ndarray, logits: np.ndarray,
                     decision: Decision) -> dict:
    scores = decision.probabilities(logits)
    return multilabel_scores(y, decision.decide(scores), labels, scores)


def _epoch_metrics(task: str, labels: tuple[str, ...], windows: Windows, y: np.ndarray, pooling: str):
    """Per-epoch validation macro-F1 of the pooled articles at the default rule (epoch selection).

    `Trainer.evaluate` returns window logits in dataset order, so the owners map them back."""
    decision = Decision.default(task, labels)

    def compute(prediction: EvalPrediction) -> dict[str, float]:
        logits, _ = windows.pool(np.asarray(prediction.predictions, dtype=np.float64), pooling)
        scores = _article_metrics(task, labels, y, logits, decision)
        return {key: scores[key] for key in ("macro_f1", "micro_f1", "subset_accuracy")}

    return compute


def _fine_tune(cfg: DictConfig, run_dir: Path, model, tokenizer, windows: dict[str, Windows], targets: dict,
               task: str, schema: LabelSchema, encoding: EncodingSettings) -> tuple[object, dict]:
    """Fine-tune the whole model (embeddings optionally frozen); returns the best model and the log."""
    if cfg.model.get("freeze_embeddings", False):
        model.get_input_embeddings().weight.requires_grad_(False)
    pos_weight = positive_weights(targets["train"], cfg.train.pos_weight, cfg.train.max_pos_weight) \
        if task == "multi_label" else None
    trainer = InOrderEvaluationTrainer(
        model=model,
        args=_training_arguments(cfg, run_dir / "checkpoints"),
        train_dataset=_window_dataset(windows["train"], targets["train"], task),
        eval_dataset=_window_dataset(windows["validation"], targets["validation"], task),
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_epoch_metrics(task, schema.ids, windows["validation"], targets["validation"],
                                       encoding.pooling),
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
    log_entry = {**train_output.metrics, "log_history": trainer.state.log_history,
                 "best_checkpoint_metric": trainer.state.best_metric, "epochs_run": trainer.state.epoch,
                 "training_arguments": trainer.args.to_dict(),
                 "pos_weight": None if pos_weight is None else dict(zip(schema.ids, pos_weight.tolist(), strict=True))}
    trainer.accelerator.wait_for_everyone()  # every rank has loaded the best checkpoint before it goes
    if not cfg.train.keep_checkpoints and distributed.is_main_process():
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return trainer.model, log_entry


@records_status
def train(cfg: DictConfig) -> dict:
    """Train on the dataset dir's train split, fit the decision rule on validation; return the metrics."""
    dataset_dir = Path(cfg.dataset_dir)
    if not (dataset_dir / "labels.json").exists():
        raise FileNotFoundError(f"{dataset_dir}: no dataset here (labels.json missing); run `make data` first")
    if processes := distributed.should_launch(cfg):
        distributed.launch(cfg, processes)  # the workers write the run dir
        metrics = {split: read_json(RunDir(cfg.run_dir).metrics_json(split)) for split in ("validation", "test")}
    else:
        dataset = DatasetDict.load_from_disk(str(dataset_dir))
        result = train_on(cfg, dataset, dataset_dir, Path(cfg.run_dir))
        if result is None:  # a worker other than rank 0: rank 0 writes the run
            return {"run_dir": cfg.run_dir}
        metrics = result.metrics
    return {"run_dir": cfg.run_dir, **{f"{s}_macro_f1": metrics[s]["macro_f1"] for s in ("validation", "test")}}


@dataclass
class Trained:
    """What a training leaves in memory beside its run dir: article logits and targets per split."""
    logits: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    decision: Decision
    metrics: dict


def train_on(cfg: DictConfig, dataset: DatasetDict, dataset_dir: Path, run_dir: Path,
             dataset_note: dict | None = None) -> Trained | None:
    """Train on `dataset` (train, validation, test splits), fit the decision rule on validation and
    write the run dir. `dataset_note` adds to the manifest's dataset entry (e.g. the fold of a
    cross-validation). In a distributed training only rank 0 goes on after training; the others return None."""
    started = time.time()
    run_dir.mkdir(parents=True, exist_ok=True)
    schema = LabelSchema.load(dataset_dir / "labels.json")
    task = schema.task
    set_seed(cfg.seed)

    method = cfg.train.method
    if method not in ("finetune", "frozen_head"):
        raise ValueError(f"train.method must be 'finetune' or 'frozen_head', got {method!r}")
    encoding = EncodingSettings.from_mapping(cfg.encoding)
    tokenizer = load_tokenizer(cfg.model, dataset["train"]["text"], prebuilt=dataset_dir / TOKENIZER_DIR)
    model = load_model(cfg.model, schema, tokenizer)
    max_length = min(int(cfg.model.max_length), model.config.max_position_embeddings)
    windows = {split: encode_articles(tokenizer, part, max_length, encoding) for split, part in dataset.items()}
    targets = {split: label_matrix(part["labels"], schema.ids) for split, part in dataset.items()}

    if method == "finetune":
        model, train_log = _fine_tune(cfg, run_dir, model, tokenizer, windows, targets, task, schema, encoding)
        if not distributed.is_main_process():
            return None
        model.eval()  # the Trainer leaves it in training mode: dropout would blur the logits the rule is fitted on
        logits = {split: windows[split].pool(window_logits(TorchLogits(model), tokenizer, windows[split],
                                                           model.config.num_labels, cfg.train.eval_batch_size),
                                             encoding.pooling)[0] for split in dataset}
    else:
        texts = {split: part["text"] for split, part in dataset.items()}
        logits, train_log = fit_frozen_head(cfg, model, tokenizer, windows, texts, targets, task, encoding)

    decision = fit_decision(task, schema.ids, logits["validation"], targets["validation"],
                            ThresholdSettings.from_mapping({**cfg.decision, "seed": cfg.seed}), "validation")
    metrics = {"train": train_log, **{split: _article_metrics(task, schema.ids, targets[split], logits[split], decision)
                                      for split in ("validation", "test") if split in dataset}}
    for split, values in metrics.items():
        atomic_write_json(run_dir / "metrics" / f"{split}.json", values)

    model.config.ereignis = {"task": task, "decision": decision.to_dict(), "encoding": encoding.to_dict()}
    with atomic_directory(run_dir / "model") as model_tmp:
        model.save_pretrained(str(model_tmp))
        tokenizer.save_pretrained(str(model_tmp))
    decision.save(run_dir / "decision.json")
    schema.save(run_dir / "labels.json")
    for name in ("stats.json", "fingerprint.json"):  # the run stays auditable if the dataset dir goes
        shutil.copyfile(dataset_dir / name, run_dir / f"dataset_{name}")
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    atomic_write_json(run_dir / "manifest.json", {
        "experiment": cfg.experiment_name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": cfg.seed,
        "task": task,
        "method": method,
        "encoding": encoding.to_dict(),
        "dataset": {**RunDir(run_dir).dataset_entry(dataset_dir),
                    "fingerprint": read_json(dataset_dir / "fingerprint.json")["sha256"],
                    "n_articles": {split: len(part) for split, part in dataset.items()}, **(dataset_note or {})},
        "model": {"config": cfg.model.name, "name_or_path": cfg.model.name_or_path, "max_length": max_length,
                  "n_parameters": int(model.num_parameters()), "head": cfg.model.get("head", "cls"),
                  **({"vocabulary": tokenizer.name_or_path or "built from the train split by this training"}
                     if cfg.model.name_or_path is None else {})},
        "truncation": {split: _truncation(windows[split].article_tokens, max_length) for split in dataset},
        "windows": {split: len(w.input_ids) for split, w in windows.items()},
        "pos_weight": train_log.get("pos_weight"),
        "processes": distributed.world_size(),
        "effective_batch_size": (cfg.train.batch_size * cfg.train.gradient_accumulation_steps * distributed.world_size()
                                 if method == "finetune" else None),
        "training_arguments": train_log.get("training_arguments"),  # None where no Trainer ran (frozen_head)
        "validation_macro_f1": metrics["validation"]["macro_f1"],
        "epochs_run": train_log.get("epochs_run"),
        "git": git_state(),
        "packages": package_versions(),
        "hardware": hardware(),
        "wall_time_s": round(time.time() - started, 1),
    })
    log.info("run written to %s (validation macro-F1 %.3f, test macro-F1 %.3f)", run_dir,
             metrics["validation"]["macro_f1"], metrics["test"]["macro_f1"])
    return Trained(logits, targets, decision, metrics)


def _truncation(article_tokens: np.ndarray, max_length: int) -> dict:
    """How many articles are longer than the model reads at once (cut in truncate mode, windowed otherwise)."""
    return {"n_truncated": int((article_tokens > max_length).sum()),
            "share_truncated": round(float((article_tokens > max_length).mean()), 4) if len(article_tokens) else 0.0}
