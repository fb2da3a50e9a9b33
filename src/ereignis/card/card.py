"""`make card RUN=<run dir>`: a Hugging Face model card built only from the run's own files.

Reads config.yaml, manifest.json, labels.json, dataset_stats.json and eval/metrics.json; every
number in the card comes from them, none is typed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from omegaconf import DictConfig, OmegaConf

from ereignis.io import atomic_write_text, read_json
from ereignis.labels import LabelSchema

TEMPLATE = Path(__file__).with_name("template.md.j2")
SUMMARY_METRICS = (("macro_f1", "f1", "macro-F1", "macro"), ("micro_f1", "f1", "micro-F1", "micro"),
                   ("subset_accuracy", "accuracy", "subset accuracy", None))


def _eval_results(metrics: dict[str, Any], dataset_name: str) -> list[EvalResult]:
    """model-index entries: the model's summary scores on every evaluated split and external set."""
    results = []
    sections = [(split, dataset_name, r) for split, r in metrics["splits"].items() if split == "test"]
    sections += [("test", name, r) for name, r in metrics["external"].items()]
    for split, name, result in sections:
        scores = result["systems"]["model"]
        for key, metric_type, metric_name, config in SUMMARY_METRICS:
            results.append(EvalResult(
                task_type="text-classification", task_name="Multi-label event classification",
                dataset_type=name, dataset_name=name, dataset_split=split, metric_type=metric_type,
                metric_name=metric_name, metric_config=config, metric_value=round(scores[key], 4)))
    return results


def _limitations(manifest: dict[str, Any], metrics: dict[str, Any], stats: dict[str, Any]) -> list[str]:
    """Warnings derived from the numbers, so the card cannot be more confident than the evaluation."""
    notes = []
    if manifest["model"]["name_or_path"] is None:
        notes.append("This is the tiny randomly initialised test model: it demonstrates the pipeline and is not "
                     "meant for real use.")
    test = metrics["splits"].get("test")
    if test:
        delta = test["intervals"].get("model_minus_baseline", {}).get("macro_f1")
        if delta and delta["low"] <= 0:
            notes.append("On the test split the model does not beat the TF-IDF baseline with confidence "
                         f"(model minus baseline macro-F1: [{delta['low']:.3f}, {delta['high']:.3f}]).")
        rare = [label for label, s in test["systems"]["model"]["per_label"].items() if s["support"] < 10]
        if rare:
            notes.append(f"Fewer than 10 test articles for {', '.join(rare)}: their per-label scores are uncertain.")
    truncated = manifest.get("truncation", {}).get("test", {}).get("share_truncated", 0)
    if truncated and metrics["long_articles"] == "truncate":
        notes.append(f"{truncated:.0%} of test articles exceed {manifest['model']['max_length']} tokens and are cut "
                     "there; events reported only late in a long article can be missed.")
    elif truncated:
        notes.append(f"{truncated:.0%} of test articles exceed {manifest['model']['max_length']} tokens; they were "
                     "scored over overlapping windows, but training saw only each article's first window.")
    for name, result in metrics["external"].items():
        model_f1 = result["systems"]["model"]["macro_f1"]
        in_domain = test["systems"]["model"]["macro_f1"] if test else None
        if in_domain is not None and model_f1 < in_domain:
            notes.append(f"On the external set `{name}` macro-F1 drops to {model_f1:.3f} (test split {in_domain:.3f}).")
    return notes


def build_card(run_dir: str | Path, license: str = "apache-2.0", model_name: str | None = None,
               repo_id: str | None = None) -> ModelCard:
    run_dir = Path(run_dir)
    metrics_path = run_dir / "eval" / "metrics.json"
    if not metrics_path.exists():
        raise FileNotFoundError(f"{metrics_path}: run the evaluation first (make eval RUN={run_dir})")
    manifest = read_json(run_dir / "manifest.json")
    metrics = read_json(metrics_path)
    stats = read_json(run_dir / "dataset_stats.json")
    schema = LabelSchema.load(run_dir / "labels.json")
    run_cfg = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=True)
    model_name = model_name or f"ereignis-{manifest['experiment']}"
    dataset_name = run_cfg["data"]["name"]
    name_or_path = manifest["model"]["name_or_path"]
    # a hub id names the base model; a local folder is no valid `base_model` on the hub
    base_model = name_or_path if name_or_path and not Path(name_or_path).exists() else None

    card_data = ModelCardData(
        language=schema.language, license=license, model_name=model_name, library_name="transformers",
        pipeline_tag="text-classification", base_model=base_model, datasets=[dataset_name],
        metrics=["f1", "accuracy"], tags=["multi-label-classification", "news", "event-classification", "ereignis"],
        eval_results=_eval_results(metrics, dataset_name))
    return ModelCard.from_template(
        card_data, template_path=str(TEMPLATE), model_name=model_name, repo_id=repo_id or f"<your-org>/{model_name}",
        schema=schema, manifest=manifest, metrics=metrics, stats=stats, train=run_cfg["train"], base_model=base_model,
        dataset_name=dataset_name, limitations=_limitations(manifest, metrics, stats))


def write_card(cfg: DictConfig) -> Path:
    card = build_card(cfg.run_dir, license=cfg.card.license, model_name=cfg.card.model_name, repo_id=cfg.card.repo_id)
    return atomic_write_text(Path(cfg.run_dir) / "model" / "README.md", str(card))
