"""A stage killed with SIGKILL leaves no partial output that the next stage could read, and the
next run of the stage removes what the killed one left behind."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ereignis.io import atomic_directory, atomic_write_text
from tests.conftest import CORPUS, REPO


def test_a_dead_writers_leftovers_are_removed_and_a_live_ones_kept(tmp_path):
    final = tmp_path / "dataset"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (tmp_path / f".dataset.{dead_pid}.abc.tmp").mkdir()
    (tmp_path / f".dataset.old-{dead_pid}").mkdir()
    (tmp_path / f".dataset.json.{dead_pid}.x.tmp").write_text("half")
    live = tmp_path / f".dataset.{os.getppid()}.abc.tmp"  # our parent runs: its temp folder stays
    live.mkdir()
    with atomic_directory(final) as tmp:
        (tmp / "a").write_text("complete")
    atomic_write_text(tmp_path / "dataset.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["dataset", "dataset.json", live.name])


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_s", [4.0, 8.0])
def test_a_killed_data_build_leaves_nothing_half_done(tmp_path, kill_after_s):
    output = tmp_path / "dataset"
    command = [str(REPO / ".venv" / "bin" / "ereignis-data"), f"data.input={CORPUS}", f"data.output_dir={output}"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after_s)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # the final folder is either absent or complete, never partial
    assert not output.exists() or (output / "fingerprint.json").is_file()
    subprocess.run(command, cwd=tmp_path, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert (output / "fingerprint.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".dataset")] == []



@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from ereignis.evaluation import evaluate_run
    from ereignis.training import train
    from tests.conftest import build_synthetic_dataset, compose_config

    root = tmp_path_factory.mktemp("faults")
    build_synthetic_dataset(root)
    train(compose_config("train", [f"data.output_dir={root / 'dataset'}", f"run_dir={root / 'run'}", "debug=fast"]))
    evaluate_run(compose_config("eval", [f"run_dir={root / 'run'}", "eval.bootstrap.n_resamples=20"]))  # the card's
    return root


STAGES = {  # command, the output it must never leave half-written, a file that only a complete output has
    "eval": (["ereignis-eval", "run_dir={run}", "eval.bootstrap.n_resamples=2000"], "eval", "eval/report.html"),
    "card": (["ereignis-card", "run_dir={run}"], "model/README.md", "model/README.md"),
    "predict": (["ereignis-predict", "run_dir={run}", "input={articles}", "output={run}/predictions.jsonl"],
                "predictions.jsonl", "predictions.jsonl"),
}


@pytest.mark.slow
@pytest.mark.parametrize("stage", sorted(STAGES))
@pytest.mark.parametrize("kill_after_s", [3.0, 6.0])
def test_a_killed_stage_leaves_nothing_half_done_and_reruns_cleanly(trained_run, stage, kill_after_s):
    run = trained_run / "run"
    arguments, output, marker = STAGES[stage]
    command = [str(REPO / ".venv" / "bin" / arguments[0]),
               *(a.format(run=run, articles=trained_run / "articles") for a in arguments[1:])]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=trained_run, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after_s)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if (run / output).exists():  # an output that exists is complete: written whole or not at all
        assert (run / marker).is_file()
    subprocess.run(command, cwd=trained_run, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert (run / marker).is_file()
    written = run / output
    assert [p.name for p in written.parent.iterdir() if p.name.startswith(f".{written.name}.")] == []
