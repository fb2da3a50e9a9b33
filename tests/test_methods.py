"""The two ways to use an encoder (fine-tuned, frozen with a trained head), cross-validation, and
the Python API, on a small synthetic corpus with the tiny model standing in for a pretrained one."""

import json

import numpy as np
import pytest
from transformers import pipeline

import ereignis
from ereignis.card import write_card
from ereignis.data import build_dataset
from ereignis.evaluation import evaluate_run
from ereignis.inference import as_article
from ereignis.training import train
from ereignis.training.cv import cross_validate
from tests.conftest import build_synthetic_dataset, compose_config, synthetic_corpus, write_folder

pytestmark = pytest.mark.slow  # trains several small models


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    build_synthetic_dataset(root, n_per_label=8)
    build_dataset(compose_config("build_data", [f"data.input={root / 'articles'}", f"data.output_dir={root / 'folds'}",
                                                "data.split.mode=kfold", "data.split.folds=3"]))
    # the fine-tuned tiny model's folder plays the pretrained encoder for the frozen method
    train(compose_config("train", [f"data.output_dir={root / 'dataset'}", f"run_dir={root / 'encoder'}",
                                   "experiment=demo", "train.epochs=4", "model.max_length=128"]))
    return root


def frozen_overrides(root):
    return ["model=gbert_base", f"model.name_or_path={root / 'encoder' / 'model'}", "model.head=mean",
            "model.max_length=128", "train.method=frozen_head", "encoding.long_articles=windows",
            "encoding.pooling=mean", "encoding.stride=16", f"paths.cache_dir={root / 'cache'}"]


def test_frozen_encoder_with_a_head_runs_through_the_same_path(corpus, caplog):
    run = corpus / "frozen"
    result = train(compose_config("train", [*frozen_overrides(corpus), f"data.output_dir={corpus / 'dataset'}",
                                            f"run_dir={run}"]))
    assert read(run / "model" / "config.json")["architectures"] == ["BertMeanPoolingForSequenceClassification"]
    assert read(run / "manifest.json")["method"] == "frozen_head" and result["test_macro_f1"] > 0.5
    assert len(list((corpus / "cache" / "embeddings").glob("*.npz"))) == 1
    evaluate_run(compose_config("eval", [f"run_dir={run}", "eval.bootstrap.n_resamples=50"]))
    metrics = read(run / "eval" / "metrics.json")
    assert metrics["long_articles"] == "windows" and metrics["window_pooling"] == "mean"
    # the head was fitted on mean window embeddings; evaluation pools window logits by their mean: the same
    assert metrics["splits"]["test"]["systems"]["model"]["macro_f1"] == pytest.approx(result["test_macro_f1"])
    caplog.set_level("INFO", logger="ereignis")
    train(compose_config("train", [*frozen_overrides(corpus), f"data.output_dir={corpus / 'dataset'}",
                                   f"run_dir={corpus / 'frozen_again'}", "train.head.C=0.1"]))
    assert any("0 computed" in record.getMessage() for record in caplog.records)  # every embedding from the cache


def test_cross_validation_scores_every_article_once(corpus):
    run = corpus / "cv"
    cfg = compose_config("cv", [*frozen_overrides(corpus), f"data.output_dir={corpus / 'folds'}", f"run_dir={run}",
                                "cv.headline_labels=[summit,protest]", "eval.baseline_folds=3"])
    cross_validate(cfg)
    result = read(run / "cv.json")
    assert result["folds"] == ["fold_0", "fold_1", "fold_2"] and sorted(p.name for p in (run / "folds").iterdir()) == \
        ["0", "1", "2"]
    n_articles = sum(read(run / "folds" / k / "manifest.json")["dataset"]["n_articles"]["test"] for k in "012")
    for system in ("model", "tfidf_word", "tfidf_char", "prior"):
        assert len(result["per_fold"][system]) == 3
        assert result["pooled"][system]["fitted"]["n_examples"] == n_articles == 64 + 8  # labelled plus negatives
        assert set(result["summary"][system]) >= {"macro_f1", "macro_f1_headline"}
    assert result["decision"]["fitted_on"] == "out_of_fold" and read(run / "decision.json") == result["decision"]
    assert read(run / "folds" / "1" / "manifest.json")["dataset"]["test_fold"] == "fold_1"
    assert "| model: gbert_base (frozen_head)" in (run / "cv.md").read_text()


def test_the_api_predicts_like_the_cli_and_like_a_plain_pipeline(corpus):
    run = corpus / "encoder"
    texts = ["Gipfel in Brüssel\n\nDie Staats- und Regierungschefs trafen sich zum Gipfel in Brüssel.",
             "Demo\n\nZehntausende demonstrierten auf dem Hauptplatz gegen die Regierung."]
    classifier = ereignis.load(run)
    rows = classifier.predict(texts)
    scored = classifier.score(texts)
    thresholds = read(run / "decision.json")["thresholds"]
    for row, scores in zip(rows, scored.scores, strict=True):
        assert row["labels"] == [label for label, p in zip(thresholds, scores, strict=True) if p >= thresholds[label]]
        assert set(row["evidence"]) == set(row["labels"])
        assert all(evidence["sentence"] in texts[0] + texts[1] for evidence in row["evidence"].values())
    # a transformers user with the model folder and config.json's copy of the rule gets the same scores
    plain = pipeline("text-classification", model=str(run / "model"), top_k=None, function_to_apply="none")
    stored = plain.model.config.ereignis["decision"]
    for text, row in zip(texts, rows, strict=True):
        logits = {item["label"]: item["score"] for item in plain([as_article(text)["text"]], truncation=True)[0]}
        expected = {label: 1 / (1 + np.exp(-logit / stored["temperature"])) for label, logit in logits.items()}
        assert row["scores"] == pytest.approx(expected, abs=1e-4)
    quantized = ereignis.load(run, quantize=True).score(texts)  # int8 linear layers: the same decisions here
    assert (quantized.decisions == scored.decisions).mean() >= 0.9
    assert np.allclose(quantized.scores, scored.scores, atol=0.05)
    cfg = ereignis.compose("predict", [f"run_dir={run}", "input=x.jsonl"])
    assert cfg.run_dir == str(run) and cfg.threshold is None
    with pytest.raises(ValueError, match="unknown stage"):
        ereignis.compose("fly")


def test_a_single_label_task_trains_on_windows_and_evaluates_end_to_end(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "topics.yaml").write_text(
        "name: topics\ntask: single_label\nlabels:\n  - {id: summit, name: S}\n  - {id: protest, name: P}\n"
        "  - {id: weather, name: W}\n")
    articles, labels = synthetic_corpus(n_per_label=8)
    topic = {article_id: ([names[0]] if names and names[0] in ("summit", "protest") else ["weather"])
             for article_id, names in labels.items()}
    folder = write_folder(tmp_path / "articles", articles, topic)
    search = f"hydra.searchpath=[file://{tmp_path}]"
    build_dataset(compose_config("build_data", [search, "labels=topics", f"data.input={folder}",
                                                f"data.output_dir={tmp_path / 'dataset'}"]))
    train(compose_config("train", [f"data.output_dir={tmp_path / 'dataset'}", f"run_dir={tmp_path / 'run'}",
                                   "experiment=demo", "train.epochs=3", "model.max_length=32",
                                   "encoding.long_articles=windows", "encoding.stride=8"]))
    decision = read(tmp_path / "run" / "decision.json")
    assert decision["task"] == "single_label" and decision["thresholds"] == {}
    manifest = read(tmp_path / "run" / "manifest.json")
    assert manifest["windows"]["train"] > manifest["dataset"]["n_articles"]["train"]  # long articles: several
    evaluate_run(compose_config("eval", [f"run_dir={tmp_path / 'run'}", "eval.bootstrap.n_resamples=50"]))
    metrics = read(tmp_path / "run" / "eval" / "metrics.json")
    test = metrics["splits"]["test"]
    assert metrics["task"] == "single_label" and "accuracy" in test["systems"]["model"]
    rows = [json.loads(line) for line in (tmp_path / "run" / "eval" / "predictions.jsonl").open()]
    assert all(len(row["predicted"]) == 1 for row in rows)  # exactly one class per article
    assert (tmp_path / "run" / "eval" / "report.html").is_file()
    card = write_card(compose_config("card", [f"run_dir={tmp_path / 'run'}"])).read_text()
    assert "single" in card.lower() and "accuracy" in card.lower()
