"""Thin Hydra entry points: compose the config, call the stage's function, nothing else."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

# The configs ship inside the package, so a wheel install finds them; a user adds a folder of
# their own with `hydra.searchpath=[file:///path/to/configs]`.
CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")


def _quiet_progress_bars() -> None:
    """Per-batch progress bars drown the stage's own log lines in a terminal and in CI logs."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="build_data")
def build_data_main(cfg: DictConfig) -> None:
    _quiet_progress_bars()
    from ereignis.data import build_dataset

    print(f"dataset: {build_dataset(cfg)}")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train_main(cfg: DictConfig) -> float:
    _quiet_progress_bars()
    from ereignis.training import train

    result = train(cfg)
    print(f"run: {result['run_dir']}")
    return result["validation_macro_f1"]  # the value a Hydra sweeper optimises


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def eval_main(cfg: DictConfig) -> None:
    _quiet_progress_bars()
    from ereignis.evaluation import evaluate_run

    eval_dir = evaluate_run(cfg)
    print(f"report: {eval_dir / 'report.md'}")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="card")
def card_main(cfg: DictConfig) -> None:
    _quiet_progress_bars()
    from ereignis.card import write_card

    print(f"card: {write_card(cfg)}")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
def predict_main(cfg: DictConfig) -> None:
    _quiet_progress_bars()
    from ereignis.predict import predict

    print(f"predictions: {predict(cfg)}")
