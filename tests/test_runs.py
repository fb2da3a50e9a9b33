"""Run dirs as typed artifacts: status, discovery, the manifest seam, and the errors users read."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ereignis.cli import CONFIG_DIR, _is_users_problem
from ereignis.data import build_dataset
from ereignis.runs import DatasetDir, RunDir, find_runs, newest_run, records_status, sweep_trials, unique_suffix
from tests.conftest import REPO, compose_config, synthetic_corpus, write_folder

BIN = Path(sys.executable).parent


def _config(run_dir: Path, **train: object):
    return OmegaConf.create({"run_dir": str(run_dir), "seed": 1, "train": {"resume": False, "batch_size": 4, **train}})


def _finished_run(run_dir: Path, status: str = "complete", **train: object) -> RunDir:
    """A run dir as training leaves it, without training: run.json, and a manifest when complete."""
    run = RunDir(run_dir)
    run.start(_config(run_dir, **train))
    if status == "complete":
        run.manifest_json.write_text(json.dumps({"seed": 1}))
    run.finish(status)
    return run


def _killed_run(run_dir: Path) -> RunDir:
    """A run whose process died without a word: run.json still says running, its pid is gone."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    run = RunDir(run_dir)
    run.start(_config(run_dir, resumable=True))
    record = json.loads(run.run_json.read_text())
    run.run_json.write_text(json.dumps({**record, "pid": process.pid}))
    process.kill()
    process.wait()
    return run


def test_the_run_suffix_is_fixed_within_a_process_and_differs_between_processes():
    resolved = OmegaConf.create({"a": "${ereignis.unique:}", "b": "${ereignis.unique:}"})  # registered by cli.py
    assert resolved.a == resolved.b == unique_suffix() and len(unique_suffix()) == 6
    code = "from ereignis.runs import unique_suffix; print(unique_suffix())"
    others = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout for _ in range(3)}
    assert len(others) == 3


def test_the_run_dir_carries_the_suffix():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        config = compose(config_name="train", overrides=["experiment_name=x"], return_hydra_config=True)
    assert Path(config.hydra.run.dir).parent.name == "x" and config.hydra.run.dir.endswith(f"_{unique_suffix()}")


@pytest.mark.slow
def test_two_runs_started_together_get_two_run_dirs(tmp_path):
    articles, labels = synthetic_corpus()
    dataset, experiments = tmp_path / "dataset", tmp_path / "experiments"
    build_dataset(compose_config("build_data", [f"data.input={write_folder(tmp_path / 'articles', articles, labels)}",
                                                f"data.output_dir={dataset}"]))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EREIGNIS_ROOT": str(REPO)}
    processes = [subprocess.Popen([str(BIN / "ereignis-train"), "debug=fast", "train.max_steps=2", f"seed={seed}",
                                   f"data.output_dir={dataset}", f"paths.experiments_dir={experiments}"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for seed in (1, 2)]
    for process in processes:
        assert process.wait(timeout=900) == 0, process.stderr.read()
    runs = find_runs(experiments, "debug")
    assert len(runs) == 2 and all(run.is_complete() for run in runs)
    for run in runs:
        assert f"seed={run.seed()}" in yaml.safe_load(run.overrides_yaml.read_text())


def test_status_follows_the_run_from_start_to_end(tmp_path):
    @records_status
    def succeeds(cfg):
        assert RunDir(cfg.run_dir).status() == "running"
        return {"run_dir": cfg.run_dir}

    @records_status
    def fails(cfg):
        raise RuntimeError("out of memory")

    succeeds(_config(tmp_path / "good"))
    assert RunDir(tmp_path / "good").status() == "complete"
    with pytest.raises(RuntimeError):
        fails(_config(tmp_path / "bad"))
    record = json.loads(RunDir(tmp_path / "bad").run_json.read_text())
    assert record["status"] == "failed" and record["error"] == "RuntimeError: out of memory"
    assert _killed_run(tmp_path / "killed").status() == "killed"
    assert RunDir(tmp_path / "empty").status() == "incomplete"


def test_a_run_dir_is_never_written_twice(tmp_path):
    run = _finished_run(tmp_path / "run")
    with pytest.raises(FileExistsError, match="holds a run already"):
        run.start(_config(run.path))
    with pytest.raises(FileExistsError, match="cannot resume a run that is complete"):
        run.start(_config(run.path, resume=True))
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        RunDir(tmp_path / "fresh").start(_config(tmp_path / "fresh", resume=True))


def test_resuming_needs_the_killed_runs_settings(tmp_path):
    killed = _killed_run(tmp_path / "run")
    with pytest.raises(ValueError, match=r"train\.batch_size: 4 -> 8"):
        killed.start(_config(killed.path, resume=True, resumable=True, batch_size=8))
    killed.start(_config(killed.path, resume=True, resumable=True))
    assert killed.status() == "running" and json.loads(killed.run_json.read_text())["resumed"] == 1


def test_resume_checkpoint_is_the_last_full_one(tmp_path):
    run = RunDir(tmp_path)
    assert run.resume_checkpoint(False) is None
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        run.resume_checkpoint(True)
    for step in (9, 10, 100):
        (run.checkpoints_dir / f"checkpoint-{step}").mkdir(parents=True)
    (run.checkpoints_dir / "checkpoint-10" / "optimizer.pt").touch()
    assert run.resume_checkpoint(str(run.checkpoints_dir / "checkpoint-10")).endswith("checkpoint-10")
    with pytest.raises(FileNotFoundError, match="model-only checkpoint"):
        run.resume_checkpoint(True)  # checkpoint-100, numerically the last, holds no optimizer state


def test_newest_is_the_last_complete_run(tmp_path):
    experiments = tmp_path / "experiments"
    older = _finished_run(experiments / "demo" / "2026-01-01_10-00-00_aaaaaa")
    newer = _finished_run(experiments / "demo" / "2026-01-01_10-00-00_bbbbbb")  # same second
    _finished_run(experiments / "demo" / "2026-01-02_10-00-00_cccccc", status="failed")
    _killed_run(experiments / "demo" / "2026-01-03_10-00-00_dddddd")
    legacy = RunDir(experiments / "other" / "2025-12-01_10-00-00")  # from before run.json: its manifest counts
    legacy.path.mkdir(parents=True)
    legacy.manifest_json.write_text("{}")
    (experiments / "demo" / "multirun_2026-01-04_10-00-00_eeeeee").mkdir()
    assert newest_run(experiments, "demo") == newer and newest_run(experiments, "nothing") is None
    assert [run.status() for run in find_runs(experiments, "demo")] == ["complete", "complete", "failed", "killed"]
    assert legacy in find_runs(experiments) and newest_run(experiments) == legacy  # its manifest is the latest
    os.utime(legacy.manifest_json, (0, 0))
    assert newest_run(experiments) == newer != older


def test_trials_and_folds_come_in_numeric_order(tmp_path):
    for number in (0, 2, 10):
        _finished_run(tmp_path / "sweep" / str(number))
        _finished_run(tmp_path / "run" / "folds" / str(number))
    (tmp_path / "sweep" / ".hydra").mkdir()
    assert [run.path.name for run in sweep_trials(tmp_path / "sweep")] == ["0", "2", "10"]
    assert [run.path.name for run in RunDir(tmp_path / "run").folds()] == ["0", "2", "10"]


def test_the_dataset_is_found_after_the_project_moved(tmp_path):
    project = tmp_path / "project"
    (project / "data" / "ds").mkdir(parents=True)
    (project / "data" / "ds" / "labels.json").write_text("{}")
    run = RunDir(project / "experiments" / "x" / "run")
    run.path.mkdir(parents=True)
    run.manifest_json.write_text(json.dumps({"dataset": run.dataset_entry(project / "data" / "ds")}))
    assert run.dataset().path.resolve() == (project / "data" / "ds").resolve()
    shutil.move(project, tmp_path / "moved")
    moved = RunDir(tmp_path / "moved" / "experiments" / "x" / "run")
    assert moved.dataset().path.resolve() == (tmp_path / "moved" / "data" / "ds").resolve()
    shutil.rmtree(tmp_path / "moved" / "data")
    with pytest.raises(FileNotFoundError, match="dataset dir is gone.*ereignis-data.*ereignis.data.build_dataset"):
        moved.dataset()


def test_missing_files_say_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"`make data` \(console: `ereignis-data`; Python: `ereignis\.data"):
        DatasetDir(tmp_path).validate()
    with pytest.raises(FileNotFoundError, match=f"`make eval RUN={tmp_path}`.*`ereignis-eval run_dir={tmp_path}`"):
        RunDir(tmp_path).eval.validate()
    with pytest.raises(FileNotFoundError, match="status: incomplete.*ereignis.training.train"):
        RunDir(tmp_path).manifest()
    failed = _finished_run(tmp_path / "failed", status="failed")
    with pytest.raises(FileNotFoundError, match=r"no complete run here \(status: failed; manifest.json, labels.json"):
        failed.validate()


def _raise_from_a_library():
    return int("x")


def test_only_problems_of_the_users_input_lose_their_traceback():
    from ereignis.data.readers import DataError

    def raised(function) -> Exception:
        try:
            function()
        except Exception as err:
            return err
        raise AssertionError("nothing raised")

    def data_error():
        raise DataError(["a.csv:2: unknown label"])

    assert _is_users_problem(raised(data_error))
    assert _is_users_problem(raised(lambda: RunDir("/nowhere").manifest()))
    assert not _is_users_problem(raised(_raise_from_a_library))  # a ValueError outside ereignis: a bug
    assert not _is_users_problem(raised(lambda: [][1]))


def _command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EREIGNIS_ROOT": str(REPO)}
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_entry_points_report_a_users_problem_in_one_line(tmp_path):
    missing = _command("ereignis-eval", cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "ereignis-eval: error: no value for `run_dir`" in missing.stderr
    no_dataset = _command("ereignis-train", f"dataset_dir={tmp_path / 'nowhere'}",
                          f"paths.experiments_dir={tmp_path / 'experiments'}", cwd=tmp_path)
    assert no_dataset.returncode == 2 and "Traceback" not in no_dataset.stderr
    assert f"{tmp_path / 'nowhere'}: no dataset here" in no_dataset.stderr
    [failed] = find_runs(tmp_path / "experiments")
    assert failed.status() == "failed" and newest_run(tmp_path / "experiments") is None


def test_ereignis_runs_prints_the_newest_run(tmp_path):
    run = _finished_run(tmp_path / "experiments" / "demo" / "2026-01-01_10-00-00_aaaaaa")
    found = _command("ereignis-runs", "--experiments-dir", str(tmp_path / "experiments"), "newest", "demo",
                     cwd=tmp_path)
    assert found.returncode == 0 and found.stdout.strip() == str(run.path)
    listed = _command("ereignis-runs", "--experiments-dir", "experiments", "list", cwd=tmp_path)
    assert listed.stdout.split() == ["complete", "experiments/demo/2026-01-01_10-00-00_aaaaaa"]
    none = _command("ereignis-runs", "newest", "other", cwd=tmp_path)
    assert none.returncode == 2 and "no complete run" in none.stderr and "Traceback" not in none.stderr
