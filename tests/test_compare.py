"""ereignis-compare over hand-made evaluated runs: discovery of sweeps, sorting, the paired difference
(only for runs on the same articles), and the files it writes."""

import json

import numpy as np
import pytest
import yaml

from ereignis import runs
from ereignis.compare import compare, compare_runs, discover_runs, paired_difference
from ereignis.evaluation.evaldir import load_evaluation
from tests.conftest import compose_config
from tests.evalfixture import make_run

BOOTSTRAP = {"n_resamples": 200, "confidence": 0.95, "seed": 0}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A sweep of three evaluated trials on the same articles (weaker and stronger models), one trial
    not evaluated, and a run on other articles elsewhere."""
    root = tmp_path_factory.mktemp("experiments")
    folder = root / "demo" / "multirun_2026-01-01_00-00-00"
    for trial, skill in enumerate([2.0, 3.0, 1.2]):
        run = make_run(folder / str(trial), model_seed=trial, skill=skill)
        (run / ".hydra").mkdir()
        (run / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump(["experiment=demo", f"model.learning_rate={trial}e-5"]), encoding="utf-8")
    (folder / "3").mkdir()
    (folder / "3" / "manifest.json").write_text("{}", encoding="utf-8")  # trained, not evaluated
    other = make_run(root / "demo" / "2026-01-02_00-00-00", id_prefix="other", skill=2.5)
    return {"root": root, "sweep": folder, "other": other}


def test_discovery_finds_trials_globs_and_unevaluated_runs(sweep):
    evaluated, not_evaluated = discover_runs([str(sweep["sweep"]), str(sweep["root"] / "demo" / "2026-*")])
    assert [run.path.name for run in evaluated] == ["0", "1", "2", "2026-01-02_00-00-00"]
    assert [run.path.name for run in not_evaluated] == ["3"]
    # the same run named twice is compared once
    again, _ = discover_runs([str(sweep["sweep"] / "1"), str(sweep["sweep"])])
    assert [run.path.name for run in again] == ["1", "0", "2"]
    with pytest.raises(FileNotFoundError, match="no run dir found for .*nowhere"):
        discover_runs([str(sweep["sweep"]), str(sweep["root"] / "nowhere")])
    with pytest.raises(FileNotFoundError, match="none of the runs is evaluated"):
        discover_runs([str(sweep["sweep"] / "3")])


def test_runs_are_sorted_best_first_and_differ_from_the_best_in_a_paired_interval(sweep):
    evaluated, _ = discover_runs([str(sweep["sweep"]), str(sweep["other"])])
    comparison = compare_runs(evaluated, bootstrap=BOOTSTRAP)
    rows = comparison["runs"]
    scores = [row["scores"]["macro_f1"] for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert rows[0]["is_reference"] and rows[0]["difference"] is None and comparison["reference"] == rows[0]["name"]
    by_name = {row["name"]: row for row in rows}
    for trial in ("multirun_2026-01-01_00-00-00/0", "multirun_2026-01-01_00-00-00/2"):
        difference = by_name[trial]["difference"]
        assert difference["paired"] and difference["low"] <= difference["point"] <= difference["high"] < 0
    unpaired = by_name["2026-01-02_00-00-00"]["difference"]
    assert not unpaired["paired"] and unpaired["low"] is None  # other articles: no paired interval
    assert by_name["multirun_2026-01-01_00-00-00/2"]["settings"] == "model.learning_rate=2e-5"
    metrics = json.loads((sweep["sweep"] / "1" / "eval" / "metrics.json").read_text())
    assert by_name["multirun_2026-01-01_00-00-00/1"]["intervals"]["macro_f1"] == \
        metrics["splits"]["test"]["intervals"]["model"]["macro_f1"]


def test_a_chosen_reference_and_the_paired_difference_of_a_run_with_itself(sweep):
    trials = runs.sweep_trials(sweep["sweep"])[:3]
    comparison = compare_runs(trials, reference=str(sweep["sweep"] / "2"), bootstrap=BOOTSTRAP)
    assert comparison["reference"].endswith("2") and comparison["runs"][-1]["is_reference"]
    assert all(row["difference"]["point"] > 0 for row in comparison["runs"][:-1])
    with pytest.raises(ValueError, match="reference 'nope' is none of the compared runs"):
        compare_runs(trials, reference="nope", bootstrap=BOOTSTRAP)
    one = load_evaluation(trials[0].eval.path, trials[0].path)
    assert paired_difference(one, one, "test", "macro_f1", BOOTSTRAP) == {"low": 0.0, "high": 0.0}


def test_paired_difference_matches_the_difference_of_the_point_estimates(sweep):
    first, second = (load_evaluation(run.eval.path, run.path) for run in runs.sweep_trials(sweep["sweep"])[:2])
    point = (first.metrics["splits"]["test"]["systems"]["model"]["micro_f1"]
             - second.metrics["splits"]["test"]["systems"]["model"]["micro_f1"])
    interval = paired_difference(first, second, "test", "micro_f1", {**BOOTSTRAP, "n_resamples": 1000})
    assert interval["low"] < point < interval["high"]
    # resampling the articles jointly: the paired interval is narrower than the two runs' own intervals combined
    own = [e.metrics["splits"]["test"]["intervals"]["model"]["micro_f1"] for e in (first, second)]
    unpaired_width = np.hypot(*[i["high"] - i["low"] for i in own])
    assert interval["high"] - interval["low"] < unpaired_width


def test_the_compare_stage_writes_table_plot_and_json(sweep, tmp_path):
    output = compare(compose_config("compare", [f"runs=[{sweep['sweep']}]", f"output_dir={tmp_path / 'out'}",
                                                "bootstrap.n_resamples=100"]))
    written = json.loads((output / "comparison.json").read_text())
    assert written["runs"][0]["name"] == "1" and written["not_evaluated"] == [str(sweep["sweep"] / "3")]
    markdown = (output / "comparison.md").read_text()
    assert "| 1 | model.learning_rate=1e-5 | 150 |" in markdown and "(reference)" in markdown
    assert "![macro-F1 per run](comparison.png)" in markdown
    assert (output / "comparison.png").read_bytes().startswith(b"\x89PNG")
    assert 'src="data:image/png;base64,' in (output / "comparison.html").read_text()
