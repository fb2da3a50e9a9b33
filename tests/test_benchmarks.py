"""The benchmarks keep working: the synthetic corpus is what it claims, and each command runs at toy size."""

import importlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from ereignis.data.build import build_dataset
from ereignis.labels import LabelSchema
from tests.conftest import REPO, compose_config

BENCHMARKS = REPO / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import synthetic  # noqa: E402
from _timing import Run, alternate  # noqa: E402
from synthetic import synthetic_articles, write_synthetic  # noqa: E402

HAS_HISTORY = shutil.which("git") is not None and subprocess.run(
    ["git", "cat-file", "-e", "e50222e"], cwd=REPO, capture_output=True).returncode == 0


def test_synthetic_articles_carry_corpus_labels_and_plant_duplicates_the_build_finds(tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic, "EXACT_DUPLICATE_RATE", 0.01)  # a few exact copies in 1,000 articles
    source, planted_path = write_synthetic(1_000, tmp_path / "syn.jsonl", seed=5)
    articles = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    planted = json.loads(planted_path.read_text())
    known = LabelSchema.from_dict(dict(compose_config("build_data").labels)).ids
    assert len(articles) == 1_000 and len({a["id"] for a in articles}) == 1_000
    assert all(set(a["labels"]) <= set(known) for a in articles) and any(a["labels"] for a in articles)
    assert [a["id"] for a in articles] != sorted(a["id"] for a in articles)  # not in id order
    assert len(planted["near"]) >= 5 and len(planted["exact"]) >= 1

    output = build_dataset(compose_config("build_data", ["data=custom", f"data.input={source}",
                                                         f"data.output_dir={tmp_path / 'built'}"]))
    stats = json.loads((output / "stats.json").read_text())
    assert sorted(sorted(pair) for pair in planted["near"]) == sorted(stats["near_duplicate_groups"])
    assert ({(d["id"], d["duplicate_of"]) for d in stats["dropped_duplicates"]}
            == {tuple(sorted(pair, reverse=True)) for pair in planted["exact"]})


def test_the_generator_is_fixed_by_its_seed():
    first = [a["text"] for a in synthetic_articles(20, seed=5)]
    assert first == [a["text"] for a in synthetic_articles(20, seed=5)]
    assert first != [a["text"] for a in synthetic_articles(20, seed=6)]


def test_alternate_takes_turns_so_neither_always_runs_first():
    order = []
    alternate({name: (lambda name=name: order.append(name) or Run(0.0, 0.0)) for name in ("a", "b")}, rounds=3)
    assert order == ["a", "b", "b", "a", "a", "b"]


@pytest.mark.skipif(not HAS_HISTORY, reason="needs the git history for the baseline")
def test_bootstrap_benchmark_prints_identical_intervals():
    result = subprocess.run([sys.executable, str(BENCHMARKS / "bootstrap.py"), "--rounds", "1", "--sizes", "60"],
                            capture_output=True, text=True, check=True, cwd=REPO)
    assert "| 60 |" in result.stdout and result.stdout.rstrip().endswith("| yes |")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_HISTORY, reason="needs the git history for the baseline")
def test_data_build_benchmark_runs_candidate_and_baseline(tmp_path):
    result = subprocess.run([sys.executable, str(BENCHMARKS / "data_build.py"), "--sizes", "600", "--rounds", "1",
                             "--baseline-up-to", "600", "--work-dir", str(tmp_path)],
                            capture_output=True, text=True, check=True, cwd=REPO,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 600 |")]
    assert len(rows) == 2 and all("1.000" in row for row in rows)  # both find every planted pair
    assert "less CPU time" in result.stdout and "same dataset: yes" in result.stdout


def test_evaluation_benchmark_times_each_part_once_and_finds_todays_parts():
    import evaluation

    timer = evaluation.PartTimer()
    inner = timer.wrap("bootstrap", lambda: sum(range(200_000)))
    outer = timer.wrap("model scoring", lambda: [inner() for _ in range(3)] and sum(range(100_000)))
    total = evaluation.time.process_time()
    outer()
    total = evaluation.time.process_time() - total
    assert timer.cpu["bootstrap"] > timer.cpu["model scoring"] > 0  # the inner calls count only for the inner part
    assert timer.cpu["bootstrap"] + timer.cpu["model scoring"] == pytest.approx(total, abs=0.01)
    # every part names something that exists in today's evaluation (the others are e50222e's names)
    for part, targets in evaluation.PARTS.items():
        found = []
        for target in targets:
            module_name, _, path = target.partition(":")
            owner = importlib.import_module(module_name)
            for name in path.split("."):
                owner = getattr(owner, name, None)
            found.append(owner is not None)
        assert any(found), part


@pytest.mark.slow
@pytest.mark.skipif(not HAS_HISTORY, reason="needs the git history for the baselines")
def test_evaluation_benchmark_runs_old_and_new_and_finds_the_outputs_unchanged(tmp_path):
    result = subprocess.run([sys.executable, str(BENCHMARKS / "evaluation.py"), "--sizes", "300", "--commits",
                             "25c0513", "--work-dir", str(tmp_path)], capture_output=True, text=True, check=True,
                            cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")})
    cells = [line.split(" | ") for line in result.stdout.splitlines()]
    rows = {row[1]: " | ".join(row) for row in cells if row[0][2:].replace(",", "").isdigit()}  # "| 300 | ..."
    assert set(rows) == {"e50222e", "25c0513", "candidate"}, result.stdout
    assert rows["25c0513"].rstrip().endswith("| yes |")  # metrics.json and predictions.jsonl byte-identical
    assert "| bootstrap |" in result.stdout and "| report (figures, error analysis) |" in result.stdout


@pytest.mark.slow
@pytest.mark.skipif(not HAS_HISTORY, reason="needs the git history for the baseline")
def test_tokenizer_benchmark_shows_training_reusing_the_builds_vocabulary(tmp_path):
    result = subprocess.run([sys.executable, str(BENCHMARKS / "tokenizer.py"), "--inputs", "400", "--work-dir",
                             str(tmp_path)], capture_output=True, text=True, check=True, cwd=REPO,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")})
    rows = {line.split(" | ")[1]: line for line in result.stdout.splitlines() if line.startswith("| 400 |")}
    assert f"{tmp_path}/tokenizer-candidate-synthetic-400/tokenizer" in rows["candidate"]
    assert "built from the train split" in rows["25c0513"] and "saving" in rows
