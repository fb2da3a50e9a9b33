"""A training process killed with SIGKILL mid-epoch resumes from its last checkpoint to exactly the result of
an uninterrupted run with the same seed (CPU)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from ereignis.data import build_dataset
from ereignis.runs import RunDir, newest_run
from tests.conftest import REPO, compose_config, synthetic_corpus, write_folder

BIN = Path(sys.executable).parent


def _train_command(dataset: Path, experiments: Path, *overrides: str) -> list[str]:
    # batches of 4: about ten steps per epoch, so the kill lands inside an epoch
    return [str(BIN / "ereignis-train"), f"data.output_dir={dataset}", f"paths.experiments_dir={experiments}",
            "experiment_name=resume", "train.epochs=3", "train.batch_size=4", "train.early_stopping_patience=3",
            "train.logging_steps=1", "train.resumable=true", "train.use_cpu=true", "model.max_length=64", *overrides]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "EREIGNIS_ROOT": str(REPO)}


def _wait_for(condition, process: subprocess.Popen, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.05)


def _logged_step(log: Path) -> int:
    lines = log.read_text().splitlines()
    return max((int(line.split(" - step ")[1].split(",")[0]) for line in lines if " - step " in line), default=0)


def _scores(metrics_file: Path) -> dict:
    """The metrics without the timings."""
    metrics = json.loads(metrics_file.read_text())
    return {key: value for key, value in metrics.items() if "runtime" not in key and "per_second" not in key}


def _weights(run: RunDir) -> dict:
    return load_file(run.model_dir / "model.safetensors")


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    articles, labels = synthetic_corpus()
    dataset, experiments = tmp_path / "dataset", tmp_path / "experiments"
    build_dataset(compose_config("build_data", [f"data.input={write_folder(tmp_path / 'articles', articles, labels)}",
                                                f"data.output_dir={dataset}"]))
    command = _train_command(dataset, experiments)
    uninterrupted = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=900)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    reference = newest_run(experiments, "resume")

    process = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(list((experiments / "resume").iterdir())) == 2, process)
        [killed] = [RunDir(p) for p in (experiments / "resume").iterdir() if p != reference.path]
        _wait_for(lambda: killed.last_checkpoint() is not None, process)
        first_checkpoint = int(killed.last_checkpoint().name.removeprefix("checkpoint-"))
        # two steps into the second epoch: its checkpoint is written, the next one is far away
        _wait_for(lambda: killed.train_log.exists() and _logged_step(killed.train_log) >= first_checkpoint + 2, process)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert killed.status() == "killed" and killed.last_checkpoint().name == f"checkpoint-{first_checkpoint}"
    assert _logged_step(killed.train_log) < 2 * first_checkpoint  # died mid-epoch
    assert newest_run(experiments, "resume") == reference  # a killed run is never the newest

    resumed = subprocess.run([*command, "train.resume=true", f"hydra.run.dir={killed.path}"], env=_env(),
                             capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    assert killed.status() == "complete" and json.loads(killed.run_json.read_text())["resumed"] == 1
    for split in ("validation", "test"):
        assert _scores(killed.metrics_json(split)) == _scores(reference.metrics_json(split))
    weights, reference_weights = _weights(killed), _weights(reference)
    assert weights.keys() == reference_weights.keys()
    assert all((weights[name] == reference_weights[name]).all() for name in weights)
