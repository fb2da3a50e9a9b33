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

