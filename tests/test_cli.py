"""The entry points as a user runs them: Hydra composes the config, run dirs and logs land where documented."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, synthetic_corpus, write_folder

BIN = Path(sys.executable).parent


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EREIGNIS_ROOT": str(REPO)}
    return subprocess.run([str(BIN / command[0]), *command[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_data_and_train_entry_points_write_the_run_dir(tmp_path):
    articles, labels = synthetic_corpus()
    folder = write_folder(tmp_path / "articles", articles, labels)
    dataset = tmp_path / "dataset"
    built = run(["ereignis-data", f"data.input={folder}", f"data.output_dir={dataset}"], tmp_path)
    assert built.returncode == 0, built.stderr
    assert (dataset / "stats.json").is_file() and not (tmp_path / "outputs").exists()

    trained = run(["ereignis-train", "debug=fast", f"data.output_dir={dataset}",
                   f"paths.experiments_dir={tmp_path / 'experiments'}"], tmp_path)
    assert trained.returncode == 0, trained.stderr
    [run_dir] = (tmp_path / "experiments" / "debug").iterdir()  # experiments/<experiment>/<date_time>/
    assert f"run: {run_dir}" in trained.stdout
    assert (run_dir / ".hydra" / "overrides.yaml").is_file() and (run_dir / "model" / "config.json").is_file()
    log = (run_dir / "train.log").read_text()
    assert "eval_macro_f1=" in log and "run written to" in log


def test_bad_input_fails_with_file_and_line(tmp_path):
    folder = write_folder(tmp_path / "articles", {"a": "Text", "b": "Text zwei"}, {"a": ["gipfel"], "b": []})
    result = run(["ereignis-data", f"data.input={folder}", f"data.output_dir={tmp_path / 'out'}"], tmp_path)
    assert result.returncode != 0
    assert f"{folder / 'labels.csv'}:2: unknown label 'gipfel'" in result.stderr
    assert not (tmp_path / "out").exists()
