"""The Python API for notebooks, in the style of setfit and flair:

    import ereignis

    classifier = ereignis.load("experiments/demo/2026-12-05_10-00-00_a1b2c3")   # a run, model folder or hub id
    classifier.predict(["Titel\\n\\nText des Artikels ..."])
    # [{"labels": ["summit"], "scores": {...}, "evidence": {"summit": {"window": 0, "sentence": "..."}}}]

    cfg = ereignis.compose("train", ["experiment=e5_frozen", "data=custom", "data.name=my_news"])
    ereignis.training.train(cfg)           # any stage, as its console command would run it

`load` parses, encodes and decides exactly as `ereignis-predict` does (the same `Classifier`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from ereignis.inference import Classifier

STAGE_CONFIGS = {"data": "build_data", "train": "train", "cv": "cv", "eval": "eval", "card": "card",
                 "predict": "predict", "compare": "compare", "import_model": "import_model", "export": "export"}


def load(path: str | Path, device: str | None = None, quantize: bool = False, backend: str = "torch",
         bfloat16: bool = False, **encoding_overrides) -> Classifier:
    """A trained classifier from a run dir, a model folder or a hub id (see `Classifier.load`)."""
    return Classifier.load(path, device, quantize, backend, bfloat16, **encoding_overrides)


def compose(stage: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The resolved config of a stage (`data`, `train`, `cv`, `eval`, `card`, `predict`, `compare`,
    `import_model`) with command-line style overrides, as its console command composes it.

    A training config's `run_dir` comes from Hydra's run dir there; here give it as an override
    (`run_dir=experiments/my_run`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from ereignis.cli import CONFIG_DIR

    if stage not in STAGE_CONFIGS:
        raise ValueError(f"unknown stage {stage!r}; one of {sorted(STAGE_CONFIGS)}")
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return hydra_compose(config_name=STAGE_CONFIGS[stage], overrides=list(overrides))
