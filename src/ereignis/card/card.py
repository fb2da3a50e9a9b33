"""`make card RUN=<run dir>`: a Hugging Face model card built only from the run's own files.

Reads manifest.json, labels.json, decision.json, dataset_stats.json, the eval dir
(eval/metrics.json, eval/predictions.jsonl) and the dataset's name from config.yaml; every number
in the card comes from them, none is typed in. The tables are the report's
(`ereignis/templates/blocks.j2`), so card and report cannot disagree; label names, definitions and set
names are escaped for Markdown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from markupsafe import Markup
from omegaconf import DictConfig, OmegaConf

from ereignis.evaluation.evaldir import EXTERNAL_PREFIX, MIN_POSITIVES, Evaluation, load_evaluation
from ereignis.evaluation.report import HEADLINE, evaluation_view
from ereignis.io import atomic_write_text, read_json
from ereignis.templates import render

# metrics.json key -> (model-index metric type, config); the display name is the report's
HUB_METRICS = {"micro_f1": ("f1", "micro"), "macro_f1": ("f1", "macro"), "subset_accuracy": ("accuracy", None),
               "accuracy": ("accuracy", None)}
TASK_NAMES = {"multi_label": "Multi-label event classification", "single_label": "Single-label text classification"}


def _eval_results(evaluation: Evaluation, dataset_name: str) -> list[EvalResult]:
    """model-index entries: the model's headline scores on the test split and every external set."""
    splits = evaluation.metrics["splits"]
    sections = [("test", dataset_name, splits["test"])] if "test" in splits else []
    sections += [("test", name, result) for name, result in evaluation.metrics["external"].items()]
    results = []
    for split, name, result in sections:
        scores = result["systems"]["model"]
        for key, words in HEADLINE[evaluation.task]:
            metric_type, config = HUB_METRICS[key]
            results.append(EvalResult(
                task_type="text-classification", task_name=TASK_NAMES[evaluation.task], dataset_type=name,
                dataset_name=name, dataset_split=split, metric_type=metric_type, metric_name=words,
                metric_config=config, metric_value=round(scores[key], 4)))
    return results


def _limitations(evaluation: Evaluation, view: dict[str, Any], shipped: dict[str, Any]) -> list[str]:
    """Warnings derived from the numbers, so the card cannot be more confident than the evaluation."""
    manifest, metrics = evaluation.manifest, evaluation.metrics
    sections = {section["key"]: section for section in view["sections"]}
    test, reference = sections.get("test"), metrics["reference_baseline"]
    notes = []
    if manifest["model"]["name_or_path"] is None:
        notes.append("This is the tiny randomly initialised test model: it demonstrates the pipeline and is not "
                     "meant for real use.")
    if evaluation.decision.get("override"):
        notes.append(f"The evaluation overrode the decision rule (every label at "
                     f"{evaluation.decision['override']['threshold']}); the scores above were measured with that, "
                     "not with the rule this model ships with.")
    elif shipped["thresholds"] != evaluation.decision["thresholds"] or \
            shipped["temperature"] != evaluation.decision["temperature"]:
        notes.append("decision.json changed after the evaluation: evaluate the run again before trusting the scores.")
    if test:
        delta = test["result"]["intervals"].get(f"model_minus_{reference}", {}).get("macro_f1")
        if delta and delta["low"] <= 0:
            notes.append(f"On the test split the model does not beat the {reference} baseline with confidence "
                         f"(model minus {reference}, macro-F1: interval {delta['low']:.3f} to {delta['high']:.3f}).")
        if test["unreliable"]:
            notes.append(f"Fewer than {MIN_POSITIVES} test articles for {', '.join(test['unreliable'])}: their "
                         "per-label scores are uncertain.")
    truncated = manifest.get("truncation", {}).get("test", {}).get("share_truncated", 0)
    if truncated and metrics["long_articles"] == "truncate":
        notes.append(f"{truncated:.0%} of test articles exceed {manifest['model']['max_length']} tokens and are cut "
                     "there; events reported only late in a long article can be missed.")
    elif truncated:
        notes.append(f"{truncated:.0%} of test articles exceed {manifest['model']['max_length']} tokens; they were "
                     "scored over overlapping windows.")
    for name, result in metrics["external"].items():
        model_f1 = result["systems"]["model"]["macro_f1"]
        in_domain = test["result"]["systems"]["model"]["macro_f1"] if test else None
        if in_domain is not None and model_f1 < in_domain:
            notes.append(f"On the external set {name} macro-F1 drops to {model_f1:.3f} (test split {in_domain:.3f}).")
    return notes


METHODS = {"fine_tune": "fine-tuned encoder", "frozen_head": "frozen encoder with a trained classification head"}


def _training_rows(manifest: dict[str, Any]) -> list[tuple[str, Any]]:
    """The training procedure as (setting, value) rows, from the manifest: what the run recorded."""
    model = manifest["model"]
    truncated = manifest.get("truncation", {}).get("test", {}).get("share_truncated")
    rows = [("method", METHODS.get(manifest.get("method", "fine_tune"), manifest.get("method"))),
            ("base model", f"{model['name_or_path'] or 'tiny BERT, random initialisation'} "
                           f"({model['n_parameters']:,} parameters)"),
            ("max length", f"{model['max_length']} tokens"
                           + (f" (test articles longer: {truncated:.0%})" if truncated is not None else ""))]
    arguments = manifest.get("training_arguments")
    if arguments:  # absent where no Trainer ran (a frozen encoder's head) and in runs from before it was recorded
        processes = manifest.get("processes", 1)
        warmup = (f"warm-up ratio {arguments['warmup_ratio']}" if arguments.get("warmup_ratio")
                  else f"warm-up steps {arguments.get('warmup_steps', 0)}")
        precision = "bf16" if arguments.get("bf16") else "fp16" if arguments.get("fp16") else "fp32"
        rows += [("learning rate", f"{arguments['learning_rate']} ({arguments['lr_scheduler_type']}, {warmup})"),
                 ("batch size", f"{arguments['per_device_train_batch_size']} x "
                                f"{arguments['gradient_accumulation_steps']} accumulation"
                                + (f" x {processes} processes (distributed data parallel)" if processes > 1 else "")),
                 ("epochs", f"up to {arguments['num_train_epochs']}; ran {manifest.get('epochs_run')}"),
                 ("precision", precision + (", torch.compile" if arguments.get("torch_compile") else ""))]
    selection = manifest.get("validation_macro_f1", manifest.get("best_validation_macro_f1"))
    if selection is not None:
        rows.append(("model selection", f"best validation macro-F1 ({selection:.3f})"))
    hardware, git, packages = manifest["hardware"], manifest["git"], manifest["packages"]
    machine = ", ".join(hardware["gpus"]) if hardware.get("gpus") else f"CPU, {hardware['cpu_count']} cores"
    rows += [("seed", manifest["seed"]),
             ("hardware", f"{machine}; wall time {manifest['wall_time_s']} s"),
             ("code", f"ereignis {packages['ereignis']}, git {(git['commit'] or 'unknown')[:12]}"
                      + (" (uncommitted changes)" if git.get("dirty") else "")
                      + f"; transformers {packages['transformers']}, torch {packages['torch']}")]
    return rows


def build_card(run_dir: str | Path, license: str = "apache-2.0", model_name: str | None = None,
               repo_id: str | None = None) -> ModelCard:
    run_dir = Path(run_dir)
    metrics_path = run_dir / "eval" / "metrics.json"
    if not metrics_path.exists():
        raise FileNotFoundError(f"{metrics_path}: run the evaluation first (make eval RUN={run_dir})")
    evaluation = load_evaluation(run_dir / "eval", run_dir)
    view = evaluation_view(evaluation)
    # the rule the model ships with; an evaluation may have overridden it
    shipped = read_json(run_dir / "decision.json") if (run_dir / "decision.json").exists() else evaluation.decision
    # the dataset's name is not in the manifest (yet): the one thing the card takes from config.yaml
    dataset_name = OmegaConf.load(run_dir / "config.yaml").data.name
    manifest, task = evaluation.manifest, evaluation.task
    model_name = model_name or f"ereignis-{manifest['experiment']}"
    name_or_path = manifest["model"]["name_or_path"]
    # a hub id names the base model; a local folder is no valid `base_model` on the hub
    base_model = name_or_path if name_or_path and not Path(name_or_path).exists() else None

    card_data = ModelCardData(
        language=evaluation.schema.language, license=license, model_name=model_name, library_name="transformers",
        pipeline_tag="text-classification", base_model=base_model,
        # the hub links `datasets:` entries to dataset repositories: only a hub id (org/name) is one
        datasets=[dataset_name] if "/" in dataset_name else None,
        metrics=["f1", "accuracy"], tags=[task.replace("_", "-") + "-classification", "news", "ereignis"],
        eval_results=_eval_results(evaluation, dataset_name))
    sections = {section["key"]: section for section in view["sections"]}
    context = {
        **view, "card_data": Markup(card_data.to_yaml()), "model_name": model_name,
        "repo_id": repo_id or f"<your-org>/{model_name}", "manifest": manifest,
        "stats": read_json(run_dir / "dataset_stats.json"), "training": _training_rows(manifest),
        "base_model": base_model,
        "dataset_name": dataset_name, "decision": shipped, "thresholds": shipped["thresholds"],
        "test": sections.get("test"),
        "external": [section for key, section in sections.items() if key.startswith(EXTERNAL_PREFIX)],
        "limitations": _limitations(evaluation, view, shipped)}
    content = render("card.md.j2", html=False, **context)
    return ModelCard(content)


def write_card(cfg: DictConfig) -> Path:
    card = build_card(cfg.run_dir, license=cfg.card.license, model_name=cfg.card.model_name, repo_id=cfg.card.repo_id)
    path = atomic_write_text(Path(cfg.run_dir) / "model" / "README.md", str(card))
    if cfg.card.push_to_hub:
        push_model_folder(path.parent, cfg.card.repo_id, private=cfg.card.private)
    return path


def push_model_folder(model_dir: Path, repo_id: str | None, private: bool) -> str:
    """Upload the model folder with its card (opt-in: `card.push_to_hub=true card.repo_id=org/name`)."""
    if not repo_id:
        raise ValueError("card.push_to_hub=true needs card.repo_id=<org>/<name>, the hub repository to create "
                         "or update")
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    commit = api.upload_folder(repo_id=repo_id, folder_path=str(model_dir), commit_message="ereignis: model and card")
    return str(commit)
