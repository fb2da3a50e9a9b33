"""The benchmarks keep working: the synthetic corpus is what it claims, and each command runs at toy size."""

import importlib
import json
import os
import shutil
import subprocess
import sys

import pytest
from datasets import DatasetDict

from ereignis.data.build import build_dataset
from ereignis.labels import LabelSchema
from tests.conftest import REPO, compose_config

BENCHMARKS = REPO / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import gpu_training  # noqa: E402
import synthetic  # noqa: E402
import training  # noqa: E402
from _timing import Run, alternate  # noqa: E402
from synthetic import synthetic_articles, write_synthetic  # noqa: E402

OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1"}
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


@pytest.mark.slow
def test_training_benchmark_counts_what_each_recipe_feeds_the_model(tmp_path):
    from tests.conftest import build_synthetic_dataset

    dataset_dir = build_synthetic_dataset(tmp_path)
    n_train = len(DatasetDict.load_from_disk(str(dataset_dir))["train"])
    result = subprocess.run([sys.executable, str(BENCHMARKS / "training.py"), str(dataset_dir), "--max-lengths", "48",
                             "--rounds", "1", "--layers", "1", "--hidden", "32", "--heads", "2", "--vocab-size", "400",
                             "--batch-size", "8", "--json", str(tmp_path / "training.json")],
                            capture_output=True, text=True, check=True, cwd=REPO, env=OFFLINE)
    rows = {row["recipe"]: row for row in json.loads((tmp_path / "training.json").read_text())}
    naive, truncate, windows = (rows[name] for name in (training.BASELINE, training.CANDIDATE, training.WINDOWS))
    assert naive["steps"] == truncate["steps"] == -(-n_train // 8)  # one epoch each, the same optimisation steps
    assert naive["sequences"] == truncate["sequences"] == n_train
    assert naive["processed_tokens"] == n_train * 48  # every article padded to the max length
    assert naive["real_tokens"] == truncate["real_tokens"]  # the same tokens, truncated alike
    assert truncate["processed_tokens"] < naive["processed_tokens"]  # short articles: padded to their batch only
    assert truncate["padding_share"] < naive["padding_share"]
    assert windows["sequences"] >= n_train and windows["real_tokens"] >= truncate["real_tokens"]
    assert naive["cpu_ratio"] == 1.0 and all(row["cpu_s"][0] > 0 for row in rows.values())
    assert result.stdout.count(f"| {dataset_dir.name} ({n_train}) | 48 |") == 3  # a table row per recipe


def test_gpu_training_knows_the_peaks_of_the_devices_it_names():
    assert gpu_training.device_peak("NVIDIA H100 80GB HBM3") == {"bf16": 989.0, "fp32": 67.0}
    assert gpu_training.device_peak("NVIDIA H100 PCIe")["bf16"] == 756.0
    assert gpu_training.device_peak("NVIDIA A100-SXM4-80GB")["bf16"] == 312.0
    assert gpu_training.device_peak("NVIDIA L4")["bf16"] == 121.0
    assert gpu_training.device_peak("NVIDIA L40S") is None and gpu_training.device_peak("Tesla T4") is None


@pytest.mark.slow
def test_gpu_training_benchmark_runs_its_toy_shape_on_cpu(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    result = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_training.py"), "--toy", "--batch-sizes", "2", "4",
                             "--peak-tflops", "1", "--output-dir", str(tmp_path / "out"),
                             "--json", str(tmp_path / "gpu.json")],
                            capture_output=True, text=True, check=True, cwd=REPO, env=OFFLINE)
    report = json.loads((tmp_path / "gpu.json").read_text())
    shape = gpu_training.TOY
    model = BertForSequenceClassification(BertConfig(
        vocab_size=shape["vocab_size"], hidden_size=shape["hidden"], num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"], intermediate_size=shape["intermediate"],
        max_position_embeddings=shape["seq"], num_labels=gpu_training.N_LABELS))
    non_embedding = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
    assert report["flops_per_token"] == 6 * non_embedding + 12 * shape["layers"] * shape["hidden"] * shape["seq"]
    measured = [row for row in report["rows"] if "tokens_per_s" in row]
    assert [(row["variant"], row["batch"]) for row in measured] == [
        (variant, batch) for variant in ("eager fp32", "bf16", "bf16 + SDPA") for batch in (2, 4)]
    for row in measured:
        assert row["tokens"] == row["batch"] * shape["seq"] * 2  # toy: 2 timed steps
        assert 0 < row["mfu"] < 1 and row["tokens_per_s"] > 0
        assert row["speedup"] == pytest.approx(row["tokens_per_s"] / next(
            r["tokens_per_s"] for r in measured if r["variant"] == "eager fp32" and r["batch"] == row["batch"]))
    assert report["rows"][-1]["variant"] == "bf16 + SDPA + compile" and "skipped" in report["rows"][-1]
    assert "| eager fp32 | 4 |" in result.stdout and "1.00x" in result.stdout


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
    # 4447c0b: the last change to the evaluation's outputs (evidence only from the text the model read)
    result = subprocess.run([sys.executable, str(BENCHMARKS / "evaluation.py"), "--sizes", "300", "--commits",
                             "4447c0b", "--work-dir", str(tmp_path)], capture_output=True, text=True, check=True,
                            cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")})
    cells = [line.split(" | ") for line in result.stdout.splitlines()]
    rows = {row[1]: " | ".join(row) for row in cells if row[0][2:].replace(",", "").isdigit()}  # "| 300 | ..."
    assert set(rows) == {"e50222e", "4447c0b", "candidate"}, result.stdout
    assert rows["4447c0b"].rstrip().endswith("| yes |")  # metrics.json and predictions.jsonl byte-identical
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
