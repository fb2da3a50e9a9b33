"""Runs as typed artifacts: the dataset dir, the run dir and the eval dir, every file of their contracts
in one place, and the discovery of runs (newest complete run, trials of a sweep, folds of a cross-validation).

The contracts themselves are documented where the files are written: `ereignis.data.build` (dataset dir),
`ereignis.training.train` (run dir), `ereignis.evaluation.run` (eval dir). Later stages learn about training
only from the run dir's `manifest.json`, through the accessors of `RunDir`; they never read `config.yaml`.

Run status, `<run dir>/run.json`, written around training by `records_status`:
    {"status": "running" | "complete" | "failed", "pid", "host", "started", "finished", "error", "config"}
A killed run cannot write its end: it keeps "running" with a process that is gone, which `RunDir.status()`
reports as "killed". Only a "complete" run is ever picked as the newest.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from ereignis import distributed
from ereignis.io import atomic_write_json, read_json

if TYPE_CHECKING:
    from datasets import DatasetDict

    from ereignis.labels import LabelSchema

STATUSES = ("running", "complete", "failed", "killed", "incomplete")
# config keys that may differ between a killed run and the run that resumes it
RESUME_KEYS = ("run_dir", "train.resume")


@dataclass(frozen=True)
class Stage:
    """How a user runs a stage, in each of the three ways: make target, console command, Python function."""

    make: str
    command: str
    function: str

    def hint(self, **values: str) -> str:
        return (f"`{self.make.format(**values)}` (console: `{self.command.format(**values)}`; "
                f"Python: `{self.function}(cfg)`)")


STAGES = {
    "data": Stage("make data", "ereignis-data", "ereignis.data.build_dataset"),
    "train": Stage("make train", "ereignis-train", "ereignis.training.train"),
    "eval": Stage("make eval RUN={run}", "ereignis-eval run_dir={run}", "ereignis.evaluation.evaluate_run"),
}


@functools.cache
def unique_suffix() -> str:
    """A short random tag, the same for the whole process, that keeps run dirs started in one second apart."""
    return secrets.token_hex(3)


def _missing(path: Path, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not (path / name).exists()]


@dataclass(frozen=True)
class DatasetDir:
    """A dataset dir written by the data stage."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def dataset_dict_json(self) -> Path:
        return self.path / "dataset_dict.json"

    @property
    def labels_json(self) -> Path:
        return self.path / "labels.json"

    @property
    def stats_json(self) -> Path:
        return self.path / "stats.json"

    @property
    def fingerprint_json(self) -> Path:
        return self.path / "fingerprint.json"

    @property
    def build_config_yaml(self) -> Path:
        return self.path / "build_config.yaml"

    def validate(self) -> DatasetDir:
        """Raise FileNotFoundError, saying how to build one, unless the dataset dir is complete."""
        missing = _missing(self.path, ("dataset_dict.json", "labels.json", "stats.json", "fingerprint.json"))
        if missing:
            raise FileNotFoundError(f"{self.path}: no dataset here ({', '.join(missing)} missing); "
                                    f"build it with {STAGES['data'].hint()}")
        return self

    def fingerprint(self) -> str:
        return read_json(self.fingerprint_json)["sha256"]

    def schema(self) -> LabelSchema:
        from ereignis.labels import LabelSchema

        return LabelSchema.load(self.validate().labels_json)

    def load(self) -> DatasetDict:
        from datasets import DatasetDict

        return DatasetDict.load_from_disk(str(self.validate().path))


@dataclass(frozen=True)
class EvalDir:
    """`<run dir>/eval/`, written by the evaluation stage."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def metrics_json(self) -> Path:
        return self.path / "metrics.json"

    @property
    def predictions_jsonl(self) -> Path:
        return self.path / "predictions.jsonl"

    @property
    def report_md(self) -> Path:
        return self.path / "report.md"

    @property
    def report_html(self) -> Path:
        return self.path / "report.html"

    @property
    def config_yaml(self) -> Path:
        return self.path / "config.yaml"

    def validate(self) -> EvalDir:
        """Raise FileNotFoundError, saying how to evaluate, unless the run has been evaluated."""
        missing = _missing(self.path, ("metrics.json", "predictions.jsonl"))
        if missing:
            run = self.path.parent
            raise FileNotFoundError(f"{self.path}: no evaluation here ({', '.join(missing)} missing); "
                                    f"evaluate the run with {STAGES['eval'].hint(run=str(run))}")
        return self

    def metrics(self) -> dict[str, Any]:
        return read_json(self.validate().metrics_json)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _run_settings(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config without the keys a resumed run may change (flat, dotted keys)."""
    flat = _flatten(OmegaConf.to_container(cfg, resolve=True))
    return {key: value for key, value in flat.items() if key not in RESUME_KEYS}


@dataclass(frozen=True)
class RunDir:
    """A run dir written by the training stage (folds of a cross-validation are run dirs themselves)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # -- the files of the contract (see ereignis.training.train)
    @property
    def config_yaml(self) -> Path:
        return self.path / "config.yaml"

    @property
    def manifest_json(self) -> Path:
        return self.path / "manifest.json"

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def decision_json(self) -> Path:
        return self.path / "decision.json"

    @property
    def labels_json(self) -> Path:
        return self.path / "labels.json"

    @property
    def dataset_stats_json(self) -> Path:
        return self.path / "dataset_stats.json"

    @property
    def dataset_fingerprint_json(self) -> Path:
        return self.path / "dataset_fingerprint.json"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def metrics_dir(self) -> Path:
        return self.path / "metrics"

    def metrics_json(self, split: str) -> Path:
        return self.metrics_dir / f"{split}.json"

    @property
    def train_log(self) -> Path:
        return self.path / "train.log"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / "tensorboard"

    @property
    def overrides_yaml(self) -> Path:
        """Hydra's record of the command-line overrides (absent for runs started from Python)."""
        return self.path / ".hydra" / "overrides.yaml"

    @property
    def folds_dir(self) -> Path:
        return self.path / "folds"

    @property
    def eval(self) -> EvalDir:
        return EvalDir(self.path / "eval")

    def validate(self) -> RunDir:
        """Raise FileNotFoundError, saying why and how to train one, unless this is a complete run."""
        missing = _missing(self.path, ("manifest.json", "labels.json", "model/config.json"))
        if missing or not self.is_complete():
            detail = f"; {', '.join(missing)} missing" if missing else ""
            raise FileNotFoundError(f"{self.path}: no complete run here (status: {self.status()}{detail}); "
                                    f"train one with {STAGES['train'].hint()}")
        return self

    # -- the manifest: the only seam later stages read about training
    def manifest(self) -> dict[str, Any]:
        if not self.manifest_json.exists():
            raise FileNotFoundError(f"{self.path}: no manifest.json, so no complete run here "
                                    f"(status: {self.status()}); train one with {STAGES['train'].hint()}")
        return read_json(self.manifest_json)

    def seed(self) -> int:
        return self.manifest()["seed"]

    def training_arguments(self) -> dict[str, Any] | None:
        """The `TrainingArguments.to_dict()` the run was trained with; None where no Trainer ran."""
        return self.manifest().get("training_arguments")

    def dataset_fingerprint(self) -> str:
        return self.manifest()["dataset"]["fingerprint"]

    def dataset_entry(self, dataset_dir: str | Path) -> dict[str, str]:
        """Where the manifest records the dataset dir: absolute, and relative to the run dir, so that it
        resolves from any working folder and still after the project folder moved as a whole."""
        absolute = Path(dataset_dir).resolve()
        return {"dir": str(absolute), "dir_relative_to_run": os.path.relpath(absolute, self.path.resolve())}

    def dataset(self) -> DatasetDir:
        """The dataset dir the run was trained on, found from the manifest wherever the user works."""
        recorded = self.manifest()["dataset"]
        candidates = [Path(recorded["dir"])]
        if "dir_relative_to_run" in recorded:
            candidates.append(self.path / recorded["dir_relative_to_run"])
        for candidate in candidates:
            if (candidate / "labels.json").exists():
                return DatasetDir(candidate)
        tried = " or ".join(str(c) for c in candidates)
        raise FileNotFoundError(f"{self.manifest_json}: the run's dataset dir is gone (tried {tried}); rebuild it "
                                f"with the run's build settings: {STAGES['data'].hint()}")

    # -- status
    def _recorded_status(self) -> dict[str, Any] | None:
        return read_json(self.run_json) if self.run_json.exists() else None

    def status(self) -> str:
        """One of STATUSES. A run from before run.json existed is complete when it has its manifest."""
        recorded = self._recorded_status()
        if recorded is None:
            return "complete" if self.manifest_json.exists() else "incomplete"
        if recorded["status"] == "running" and recorded.get("host") == socket.gethostname() \
                and not _process_alive(recorded["pid"]):
            return "killed"
        return recorded["status"]

    def is_complete(self) -> bool:
        return self.status() == "complete" and self.manifest_json.exists()

    def finished_at(self) -> float:
        """When the run finished (seconds since the epoch), for ordering runs by recency."""
        recorded = self._recorded_status()
        if recorded and recorded.get("finished"):
            return datetime.fromisoformat(recorded["finished"]).timestamp()
        return self.manifest_json.stat().st_mtime

    def start(self, cfg: DictConfig) -> None:
        """Record "running". Refuse a run dir that holds a run already, unless `train.resume` continues it
        with the same settings; refuse to resume a run that is complete or still alive."""
        resume = cfg.train.get("resume", False)
        settings = _run_settings(cfg)
        previous = self._recorded_status()
        status = self.status()
        resumed = 0
        if status != "incomplete":
            if not resume:
                raise FileExistsError(
                    f"{self.path} holds a run already (status: {status}); choose a new run_dir, or continue a "
                    "killed run with train.resume=true")
            if status in ("complete", "running"):
                pid = f" as pid {previous['pid']} on {previous.get('host')}" if status == "running" else ""
                raise FileExistsError(f"{self.path}: cannot resume a run that is {status}{pid}")
            if previous is not None:
                changed = _changed_settings(previous.get("config", {}), settings)
                if changed:
                    raise ValueError(f"{self.path}: resume with the killed run's settings; these differ (was -> now): "
                                     + "; ".join(changed))
                resumed = previous.get("resumed", 0) + 1
        elif resume is True:
            raise FileNotFoundError(f"{self.path}: no run to resume here (no run.json); point run_dir at the killed "
                                    "run's dir, e.g. `hydra.run.dir=experiments/<experiment>/<date_time>_<tag>`")
        atomic_write_json(self.run_json, {"status": "running", "pid": os.getpid(), "host": socket.gethostname(),
                                          "started": _now(), "finished": None, "error": None, "resumed": resumed,
                                          "config": settings})

    def finish(self, status: str, error: str | None = None) -> None:
        atomic_write_json(self.run_json, {**read_json(self.run_json), "status": status, "finished": _now(),
                                          "error": error})

    def resume_checkpoint(self, resume: bool | str) -> str | None:
        """The checkpoint `train.resume` asks for: None (start afresh), the run's last one (true), or a path."""
        if resume is False or resume is None:
            return None
        checkpoint = self.last_checkpoint() if resume is True else Path(resume)
        if checkpoint is None:
            raise FileNotFoundError(f"{self.checkpoints_dir}: no checkpoint to resume from (the run was killed before "
                                    "its first checkpoint); start it afresh")
        if not (checkpoint / "optimizer.pt").exists():
            raise FileNotFoundError(f"{checkpoint}: a model-only checkpoint (no optimizer state), which cannot resume "
                                    "a run exactly; only runs started with train.resumable=true can be resumed")
        return str(checkpoint)

    def last_checkpoint(self) -> Path | None:
        steps = {int(match.group(1)): path for path in self.checkpoints_dir.glob("checkpoint-*")
                 if (match := re.fullmatch(r"checkpoint-(\d+)", path.name)) and path.is_dir()}
        return steps[max(steps)] if steps else None

    # -- discovery below a run
    def folds(self) -> list[RunDir]:
        """The run dirs of a cross-validation's folds, `<run>/folds/<k>/`, in fold order."""
        return _numbered_runs(self.folds_dir)


def _changed_settings(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    return [f"{key}: {before.get(key)!r} -> {now.get(key)!r}" for key in sorted(before.keys() | now.keys())
            if before.get(key) != now.get(key)]


def _is_run(path: Path) -> bool:
    return (path / "run.json").exists() or (path / "manifest.json").exists()


def _numbered_runs(folder: Path) -> list[RunDir]:
    if not folder.is_dir():
        return []
    numbered = [path for path in folder.iterdir() if path.name.isdigit() and _is_run(path)]
    return [RunDir(path) for path in sorted(numbered, key=lambda path: int(path.name))]


def records_status(train: Callable[[DictConfig], dict]) -> Callable[[DictConfig], dict]:
    """Wrap a training function so that `<run dir>/run.json` says "running" from the start, then
    "complete" or "failed" (with the error); a killed process leaves "running" behind."""

    @functools.wraps(train)
    def train_recording_status(cfg: DictConfig) -> dict:
        if not distributed.records_own_status():  # a worker: its launcher (or rank 0) records the status
            return train(cfg)
        run = RunDir(cfg.run_dir)
        run.start(cfg)
        try:
            result = train(cfg)
        except BaseException as err:
            run.finish("failed", f"{type(err).__name__}: {err}")
            raise
        run.finish("complete")
        return result

    return train_recording_status


# -- discovery in an experiments folder: experiments/<experiment>/<date_time>_<tag>/ and sweeps beside them
SWEEP_PREFIX = "multirun_"


def find_runs(experiments_dir: str | Path, experiment: str | None = None) -> list[RunDir]:
    """Every run dir of `experiment` (of all experiments when None), whatever its status, by name
    (start time); sweeps' trials and folds are not listed here (see `sweep_trials`, `RunDir.folds`)."""
    experiments = Path(experiments_dir)
    folders = [experiments / experiment] if experiment else sorted(p for p in experiments.glob("*") if p.is_dir())
    return [RunDir(path) for folder in folders if folder.is_dir() for path in sorted(folder.iterdir())
            if not path.name.startswith(SWEEP_PREFIX) and _is_run(path)]


def newest_run(experiments_dir: str | Path, experiment: str | None = None) -> RunDir | None:
    """The complete run that finished last; failed, killed and running runs are never picked."""
    complete = [run for run in find_runs(experiments_dir, experiment) if run.is_complete()]
    return max(complete, key=RunDir.finished_at) if complete else None


def find_sweeps(experiments_dir: str | Path, experiment: str | None = None) -> list[Path]:
    """Sweep folders (`ereignis-train -m ...`), oldest first."""
    pattern = f"{experiment or '*'}/{SWEEP_PREFIX}*"
    return sorted((p for p in Path(experiments_dir).glob(pattern) if p.is_dir()), key=lambda p: p.name)


def sweep_trials(sweep_dir: str | Path) -> list[RunDir]:
    """The trials of a sweep, `<sweep>/<job number>/`, in job order."""
    return _numbered_runs(Path(sweep_dir))
