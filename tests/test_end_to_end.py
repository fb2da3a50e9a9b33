"""The whole pipeline on the embedded corpus with the tiny model, offline:
data -> train -> eval -> card -> predict, asserting on the files and numbers each stage writes."""

import json

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard

from ereignis.card import write_card
from ereignis.data import build_dataset
from ereignis.evaluation import evaluate_run
from ereignis.predict import predict
from ereignis.training import train
from tests.conftest import SHARED_EVENTS, compose_config, synthetic_corpus, write_folder

pytestmark = pytest.mark.slow  # trains the demo model: minutes on two cores

LABELS = ["phone_call", "summit", "counterterror_cooperation", "negotiation", "sanctions", "military_action",
          "terror_attack", "protest"]


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    dataset_dir, run_dir, external_dir = root / "dataset", root / "run", root / "external"
    build_dataset(compose_config("build_data", [f"data.output_dir={dataset_dir}"]))
    articles, labels = synthetic_corpus(n_per_label=2)  # stands in for a set of real news, all test
    build_dataset(compose_config("build_data", [f"data.input={write_folder(root / 'ext', articles, labels)}",
                                                f"data.output_dir={external_dir}", "data.split.mode=test_only"]))
    result = train(compose_config("train", [
        "experiment=demo", f"data.output_dir={dataset_dir}", f"run_dir={run_dir}",
        "train.epochs=12", "train.early_stopping_patience=4", "model.max_length=192"]))
    evaluate_run(compose_config("eval", [f"run_dir={run_dir}", "eval.bootstrap.n_resamples=200",
                                         f"+eval.external.synthetic={external_dir}"]))
    write_card(compose_config("card", [f"run_dir={run_dir}"]))
    return {"root": root, "dataset": dataset_dir, "run": run_dir, "result": result, "n_external": len(articles)}


def test_run_dir_holds_everything_to_reproduce_and_audit(pipeline):
    run = pipeline["run"]
    for name in ("config.yaml", "manifest.json", "labels.json", "dataset_stats.json", "dataset_fingerprint.json",
                 "metrics/train.json", "metrics/validation.json", "metrics/test.json",
                 "model/model.safetensors", "model/config.json", "model/tokenizer.json"):
        assert (run / name).is_file(), name
    assert not (run / "checkpoints").exists()
    manifest = read(run / "manifest.json")
    assert manifest["dataset"]["fingerprint"] == read(pipeline["dataset"] / "fingerprint.json")["sha256"]
    assert manifest["seed"] == 42 and manifest["packages"]["transformers"].startswith("5.")
    assert set(manifest["git"]) == {"commit", "dirty"} and manifest["wall_time_s"] > 0
    assert list(read(run / "model" / "config.json")["id2label"].values()) == LABELS
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["name"] == "tiny"


def test_training_selected_the_best_validation_epoch_and_learned(pipeline):
    run = pipeline["run"]
    history = read(run / "metrics" / "train.json")["log_history"]
    per_epoch = [entry["eval_macro_f1"] for entry in history if "eval_macro_f1" in entry]
    # epochs are selected at the default rule; the run's numbers are under the rule fitted afterwards
    assert read(run / "metrics" / "train.json")["best_checkpoint_metric"] == pytest.approx(max(per_epoch))
    validation = read(run / "metrics" / "validation.json")["macro_f1"]
    assert validation == pytest.approx(pipeline["result"]["validation_macro_f1"])
    assert validation > 0.3  # far above chance for 8 labels; the tiny model does learn
    decision = read(run / "decision.json")
    assert decision["fitted_on"] == "validation" and 0.05 <= decision["temperature"] <= 20
    assert read(run / "model" / "config.json")["ereignis"]["decision"] == decision


def test_evaluation_scores_model_and_baseline_alike(pipeline):
    metrics = read(pipeline["run"] / "eval" / "metrics.json")
    stats = read(pipeline["dataset"] / "stats.json")
    test = metrics["splits"]["test"]
    assert test["n"] == stats["splits"]["test"]["n_articles"]
    assert set(test["systems"]) == {"model", "tfidf_word", "tfidf_char", "prior"}
    assert metrics["reference_baseline"] in test["systems"]
    assert metrics["decision"] == read(pipeline["run"] / "decision.json") | {"override": None}
    model, baseline = test["systems"]["model"], test["systems"]["tfidf_word"]
    assert all(values.keys() == model.keys() for values in test["systems"].values())
    assert list(model["per_label"]) == LABELS
    assert {label: s["support"] for label, s in model["per_label"].items()} == stats["splits"]["test"]["label_counts"]
    assert baseline["macro_f1"] > 0.5  # TF-IDF is a strong baseline on this corpus
    assert test["systems"]["prior"]["macro_f1"] < baseline["macro_f1"]  # the text carries the events
    assert set(test["calibration"]) == {"before", "after"} and 0 <= test["calibration"]["after"]["ece"] <= 1
    for system in test["systems"]:
        low, high = test["intervals"][system]["macro_f1"].values()
        assert low <= test["systems"][system]["macro_f1"] <= high
    external = metrics["external"]["synthetic"]
    assert external["n"] == pipeline["n_external"] and external["systems"]["model"].keys() == model.keys()
    rows = [json.loads(line) for line in (pipeline["run"] / "eval" / "predictions.jsonl").open()]
    assert len(rows) == test["n"] + metrics["splits"]["validation"]["n"] + external["n"]
    assert {row["split"] for row in rows} == {"validation", "test", "external:synthetic"}
    report = (pipeline["run"] / "eval" / "report.md").read_text()
    assert f"{model['macro_f1']:.3f}" in report and f"{baseline['macro_f1']:.3f}" in report
    decision = metrics["decision"]
    for row in rows:
        assert row["predicted"] == [label for label in LABELS if row["scores"][label] >= decision["thresholds"][label]]
        assert set(row["evidence"]) == set(row["predicted"])
        assert set(row["baseline_scores"]) == {"tfidf_word", "tfidf_char", "prior"}


def test_card_is_built_from_the_evaluation(pipeline):
    run = pipeline["run"]
    evaluation = read(run / "eval" / "metrics.json")
    metrics = evaluation["splits"]["test"]["systems"]
    card = ModelCard.load(run / "model" / "README.md")
    assert card.data.language == "de" and card.data.license == "apache-2.0"
    results = {r.metric_name: r.metric_value for r in card.data.eval_results if r.dataset_name == "events_de"}
    assert results["macro-F1"] == round(metrics["model"]["macro_f1"], 4)
    assert results["micro-F1"] == round(metrics["model"]["micro_f1"], 4)
    assert {r.dataset_name for r in card.data.eval_results} == {"events_de", "synthetic"}
    text = card.text
    assert f"{metrics[evaluation['reference_baseline']]['macro_f1']:.3f}" in text  # the baseline beside the model
    assert "Telefonat" in text and "Sports bans" in text  # label names and definitions
    assert "tiny randomly initialised test model" in text  # the limitation derived from the run


@pytest.mark.skipif(not SHARED_EVENTS.is_dir(), reason="../shared is not beside this checkout")
def test_predict_scores_the_real_articles_for_all_eight_labels(pipeline):
    output = pipeline["root"] / "predictions.jsonl"
    predict(compose_config("predict", [f"run_dir={pipeline['run']}", f"input={SHARED_EVENTS}", f"output={output}"]))
    rows = [json.loads(line) for line in output.open()]
    assert [row["id"] for row in rows] == ["000_2cc4a5013e58b67a", "004_4b1fcd5cc30016f9"]
    for row in rows:
        assert list(row["scores"]) == LABELS and all(0 <= p <= 1 for p in row["scores"].values())
        thresholds = read(pipeline["run"] / "decision.json")["thresholds"]
        assert row["labels"] == [label for label, p in row["scores"].items() if p >= thresholds[label]]
        assert row["decision"] == {"fitted_on": "validation", "override": None}


def test_predict_reads_jsonl_and_ignores_labels(pipeline):
    source, output = pipeline["root"] / "new.jsonl", pipeline["root"] / "new_predictions.jsonl"
    source.write_text(json.dumps({"id": 7, "text": "Die Armee beschoss die Stadt.", "labels": ["x"]}) + "\n",
                      encoding="utf-8")
    predict(compose_config("predict", [f"run_dir={pipeline['run']}", f"input={source}", f"output={output}"]))
    [row] = [json.loads(line) for line in output.open()]
    assert row["id"] == "7" and list(row["scores"]) == LABELS


def test_windows_read_long_articles_to_the_end(pipeline):
    from datasets import DatasetDict

    from ereignis.inference import Classifier

    articles = list(DatasetDict.load_from_disk(str(pipeline["dataset"]))["test"])[:24]
    truncated = Classifier.load(pipeline["run"]).score(articles, batch_size=8)
    windowed_classifier = Classifier.load(pipeline["run"], long_articles="windows", stride=32)
    windowed = windowed_classifier.score(articles, batch_size=8)
    n_windows = np.bincount(windowed.windows.owners, minlength=len(articles))
    long = n_windows > 1
    # the first window is the truncated text (title and lead, then the body), so max pooling never scores lower
    assert (windowed.logits >= truncated.logits - 1e-4).all()
    assert long.any() and (windowed.logits[long] > truncated.logits[long] + 1e-3).any()
    assert np.allclose(windowed.logits[~long], truncated.logits[~long], atol=1e-4)
    # every window repeats the title
    tokenizer = windowed_classifier.tokenizer
    title_ids = tokenizer(articles[int(np.flatnonzero(long)[0])]["title"], add_special_tokens=False)["input_ids"]
    for ids, owner in zip(windowed.windows.input_ids, windowed.windows.owners, strict=True):
        if owner == int(np.flatnonzero(long)[0]):
            assert ids[1:1 + len(title_ids)] == title_ids
    with pytest.raises(ValueError, match="truncate' or 'windows"):
        Classifier.load(pipeline["run"], long_articles="chunks")


def test_a_local_model_folder_loads_through_the_from_pretrained_path(pipeline, tmp_path):
    # what a user does offline with a downloaded gbert-base: point model.name_or_path at its folder
    local = pipeline["run"] / "model"
    train(compose_config("train", [
        "model=gbert_base", f"model.name_or_path={local}", "model.max_length=192", "model.learning_rate=1e-3",
        f"data.output_dir={pipeline['dataset']}", f"run_dir={tmp_path / 'run'}", "debug=fast"]))
    manifest = read(tmp_path / "run" / "manifest.json")
    assert manifest["model"]["config"] == "gbert_base" and manifest["model"]["name_or_path"] == str(local)
    assert list(read(tmp_path / "run" / "model" / "config.json")["id2label"].values()) == LABELS


def test_evaluation_refuses_a_dataset_rebuilt_differently(pipeline, tmp_path):
    build_dataset(compose_config("build_data", [f"data.output_dir={pipeline['dataset']}", "data.split.seed=7"]))
    with pytest.raises(ValueError, match="dataset changed since training"):
        evaluate_run(compose_config("eval", [f"run_dir={pipeline['run']}"]))


def test_predict_estimates_event_counts_corrected_for_measured_errors(pipeline):
    articles, _ = synthetic_corpus(n_per_label=2)
    source, output = pipeline["root"] / "unlabelled.jsonl", pipeline["root"] / "counted.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in articles.items()), encoding="utf-8")
    predict(compose_config("predict", [f"run_dir={pipeline['run']}", f"input={source}", f"output={output}",
                                       "prevalence=true"]))
    counts = read(pipeline["root"] / "counted.jsonl.prevalence.json")
    assert counts["reference_split"] == "test" and counts["n_articles"] == len(articles)
    assert set(counts["labels"]) == set(LABELS)
    rows = [json.loads(line) for line in output.open()]
    for label, estimate in counts["labels"].items():
        raw = estimate["classify_and_count"]  # the raw predicted count, with its interval
        assert raw["count"] == pytest.approx(sum(label in row["labels"] for row in rows))
        assert raw["low"] <= raw["count"] <= raw["high"]
