"""Distributed data parallel training: `train.processes=2` starts two torchrun workers (gloo on CPU) that
train the same model as one process with the same effective batch, and only rank 0 writes the run."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from safetensors.numpy import load_file

from ereignis import distributed
from ereignis.card.card import _training_rows
from ereignis.runs import RunDir, sweep_trials
from tests.conftest import build_synthetic_dataset, compose_config


def test_process_count_takes_a_number_or_auto(monkeypatch):
    assert distributed.process_count(3) == 3
    assert distributed.process_count("auto") >= 1
    for bad in (0, -1, "two", True, 1.5):
        with pytest.raises(ValueError, match="train.processes must be a positive number or 'auto'"):
            distributed.process_count(bad)


def test_only_finetuning_is_launched_on_several_processes(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    cfg = compose_config("train", ["train.processes=2"])
    assert distributed.should_launch(cfg) == 2
    assert distributed.should_launch(compose_config("train")) == 0
    with pytest.raises(ValueError, match="only train.method=finetune trains on several processes"):
        distributed.should_launch(compose_config("train", ["train.processes=2", "train.method=frozen_head"]))
    monkeypatch.setenv("LOCAL_RANK", "0")  # a torchrun worker trains itself instead of launching again
    assert distributed.should_launch(cfg) == 0


def test_cross_validation_refuses_several_processes():
    from ereignis.training.cv import cross_validate

    with pytest.raises(ValueError, match="ereignis-cv trains its folds in one process"):
        cross_validate(compose_config("cv", ["train.processes=2"]))


def test_who_records_the_run_status(monkeypatch):
    for name in ("RANK", distributed.LAUNCHED_BY_EREIGNIS):
        monkeypatch.delenv(name, raising=False)
    assert distributed.records_own_status()  # one process
    monkeypatch.setenv("RANK", "1")
    assert not distributed.records_own_status()  # never a rank other than 0
    monkeypatch.setenv("RANK", "0")
    assert distributed.records_own_status()  # rank 0 of a torchrun the user started
    monkeypatch.setenv(distributed.LAUNCHED_BY_EREIGNIS, "1")
    assert not distributed.records_own_status()  # ereignis-train's launcher records it


def test_the_ddp_preset_asks_for_one_process_per_gpu():
    cfg = compose_config("train", ["train=ddp"])
    assert cfg.train.processes == "auto" and cfg.train.precision == "bf16"  # on top of the gpu preset


def _ereignis_train(*overrides: str) -> None:
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "ereignis-train"), *overrides, "train.use_cpu=true", "model.max_length=64"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=900,
                              env={"HF_HUB_OFFLINE": "1", "PATH": str(bin_dir)})
    assert finished.returncode == 0, finished.stderr[-3000:]


def _train(dataset: Path, run_dir: Path, *overrides: str) -> RunDir:
    # no dropout and a fixed sample order: two processes of 4 then see exactly one process's batches of 8
    _ereignis_train(f"data.output_dir={dataset}", f"hydra.run.dir={run_dir}", "train.epochs=3", "model.tiny.dropout=0",
                    "train.group_by_length=false", "train.logging_steps=1", *overrides)
    return RunDir(run_dir)


def _step_losses(run: RunDir) -> list[float]:
    """The training loss at each logged step (averaged over the processes by the Trainer)."""
    history = json.loads((run.path / "metrics" / "train.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


def _weights(run: RunDir) -> dict[str, np.ndarray]:
    return load_file(run.model_dir / "model.safetensors")


def _largest_difference(a: RunDir, b: RunDir) -> float:
    first, second = _weights(a), _weights(b)
    return max(float(np.abs(first[name] - second[name]).max()) for name in first)


@pytest.mark.slow
def test_two_gloo_processes_train_what_one_process_trains(tmp_path):
    dataset = build_synthetic_dataset(tmp_path)
    single = _train(dataset, tmp_path / "single", "train.batch_size=8")
    other_seed = _train(dataset, tmp_path / "other_seed", "train.batch_size=8", "seed=43")
    ddp = _train(dataset, tmp_path / "ddp", "train.batch_size=4", "train.processes=2")

    manifest = json.loads(ddp.manifest_json.read_text())
    assert manifest["processes"] == 2 and manifest["effective_batch_size"] == 8
    assert json.loads(single.manifest_json.read_text())["effective_batch_size"] == 8
    card_row = dict(_training_rows(manifest))["batch size"]
    assert card_row == "4 x 1 accumulation x 2 processes (distributed data parallel)"
    assert ddp.is_complete() and ddp.status() == "complete"
    assert not (ddp.path / distributed.LAUNCH_CONFIG).exists() and not (ddp.path / "checkpoints").exists()
    log = (ddp.path / "train.log").read_text()
    assert log.count("run written to") == 1  # rank 1 neither scores the splits nor logs to the file
    assert log.count("training in 2 processes") == 1
    losses, single_losses = _step_losses(ddp), _step_losses(single)
    assert len(losses) == len(single_losses)  # the same number of optimiser steps over the same batches
    assert np.allclose(losses, single_losses, rtol=1e-5)  # the Trainer averages the two processes' losses

    # The same training up to the order of float additions (each process's gradient is averaged with the
    # other's): measured 7e-7 apart, where another seed lands 0.14 away.
    assert _largest_difference(single, ddp) < 1e-4 < 0.1 * _largest_difference(single, other_seed)
    for split in ("validation", "test"):
        one, two = (json.loads((run.path / "metrics" / f"{split}.json").read_text()) for run in (single, ddp))
        assert one["macro_f1"] == pytest.approx(two["macro_f1"], abs=1e-9)
    assert OmegaConf.load(ddp.path / "config.yaml").train.processes == 2


def _has_submitit_plugin() -> bool:
    try:
        return importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None
    except ModuleNotFoundError:  # no Hydra plugin installed at all: the namespace package is missing too
        return False


HAS_SUBMITIT = _has_submitit_plugin()


@pytest.mark.skipif(not HAS_SUBMITIT, reason="needs the slurm extra (hydra-submitit-launcher)")
def test_the_slurm_launcher_runs_one_task_per_node_that_launches_the_gpu_workers():
    from hydra import compose, initialize_config_dir

    from ereignis.cli import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", ["hydra/launcher=slurm", "train=ddp", "hydra.launcher.partition=gpu"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.partition == "gpu"
    assert launcher.tasks_per_node == 1 and launcher.nodes == 1 and cfg.train.processes == "auto"


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SUBMITIT, reason="needs the slurm extra (hydra-submitit-launcher)")
def test_a_submitit_sweep_trains_each_trial_on_two_processes(tmp_path):
    """submitit's local executor stands in for SLURM: the same pickled job, run as a local process."""
    dataset = build_synthetic_dataset(tmp_path)
    sweep = tmp_path / "sweep"
    _ereignis_train("-m", "hydra/launcher=submitit_local", f"hydra.sweep.dir={sweep}", f"data.output_dir={dataset}",
                    "train.processes=2", "train.epochs=1", "seed=1,2")
    trials = sweep_trials(sweep)
    assert len(trials) == 2 and all(trial.is_complete() for trial in trials)
    assert [json.loads(trial.manifest_json.read_text())["processes"] for trial in trials] == [2, 2]
