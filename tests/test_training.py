import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from ereignis.data import build_dataset
from ereignis.runs import RunDir
from ereignis.training import train
from ereignis.training.train import positive_weights
from tests.conftest import build_synthetic_dataset, compose_config


def test_positive_weights_balance_rare_labels_within_the_cap():
    y = np.array([[1, 0, 0]] * 2 + [[0, 1, 0]] * 1 + [[0, 0, 0]] * 37)
    weights = positive_weights(y, "balanced", max_weight=10.0).tolist()
    assert weights == [10.0 if 38 / 2 > 10 else 19.0, 10.0, 1.0]  # 38/2 and 39/1 capped; no positive -> 1
    assert positive_weights(y, "none", 10.0) is None
    with pytest.raises(ValueError, match="balanced"):
        positive_weights(y, "inverse", 10.0)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    return build_synthetic_dataset(tmp_path_factory.mktemp("training"))


def _short_run(dataset_dir, run_dir):
    return train(compose_config("train", [f"data.output_dir={dataset_dir}", f"run_dir={run_dir}", "debug=fast",
                                          "train.max_steps=6"]))


@pytest.mark.slow
def test_same_seed_same_model(dataset_dir, tmp_path, caplog):
    caplog.set_level("INFO", logger="ereignis")
    first, second = _short_run(dataset_dir, tmp_path / "a"), _short_run(dataset_dir, tmp_path / "b")
    weights_a = load_file(tmp_path / "a" / "model" / "model.safetensors")
    weights_b = load_file(tmp_path / "b" / "model" / "model.safetensors")
    assert weights_a.keys() == weights_b.keys()
    assert all(np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert first["validation_macro_f1"] == second["validation_macro_f1"]
    assert any("eval_macro_f1=" in record.getMessage() for record in caplog.records)  # the training log
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["experiment"] == "debug" and manifest["pos_weight"]["phone_call"] >= 1.0


def test_training_refuses_a_missing_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `make data` first"):
        _short_run(tmp_path / "nowhere", tmp_path / "run")


@pytest.mark.slow
def test_a_one_label_taxonomy_trains_and_evaluates(tmp_path):
    from ereignis.evaluation import evaluate_run
    from tests.conftest import synthetic_corpus, write_folder

    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "one.yaml").write_text("name: one\nlabels:\n  - {id: summit, name: Gipfeltreffen}\n")
    articles, labels = synthetic_corpus()
    labels = {k: [x for x in v if x == "summit"] for k, v in labels.items()}
    folder = write_folder(tmp_path / "articles", articles, labels)
    search = f"hydra.searchpath=[file://{tmp_path}]"
    build_dataset(compose_config("build_data", [search, "labels=one", f"data.input={folder}",
                                                f"data.output_dir={tmp_path / 'dataset'}"]))
    _short_run(tmp_path / "dataset", tmp_path / "run")
    evaluate_run(compose_config("eval", [f"run_dir={tmp_path / 'run'}", "eval.bootstrap.n_resamples=20"]))
    metrics = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())
    assert list(metrics["splits"]["test"]["systems"]["tfidf_word"]["per_label"]) == ["summit"]


# The tiny model's per-epoch validation on the synthetic corpus. Under the pinned torch on CPU the run is
# bit-deterministic (test_same_seed_same_model), so a change here is a change of what training does: re-pin
# deliberately and say why in the commit. The loss is compared to 1e-6, in case another CPU picks other kernels.
PINNED_EPOCHS = [  # (epoch, eval_loss, eval_macro_f1)
    (1.0, 1.2420560121536255, 0.18055555555555555),
    (2.0, 1.2427932024002075, 0.21180555555555555),
    (3.0, 1.24278724193573, 0.2743055555555556),
]


@pytest.mark.slow
def test_per_epoch_validation_numbers_are_pinned(dataset_dir, tmp_path):
    train(compose_config("train", [f"data.output_dir={dataset_dir}", f"run_dir={tmp_path}", "train.epochs=3",
                                   "train.batch_size=8", "train.use_cpu=true"]))
    history = json.loads(RunDir(tmp_path).metrics_json("train").read_text())["log_history"]
    epochs = [(entry["epoch"], entry["eval_loss"], entry["eval_macro_f1"]) for entry in history if "eval_loss" in entry]
    assert [(epoch, f1) for epoch, _, f1 in epochs] == [(epoch, f1) for epoch, _, f1 in PINNED_EPOCHS]
    assert [loss for _, loss, _ in epochs] == pytest.approx([loss for _, loss, _ in PINNED_EPOCHS], abs=1e-6)
    # the numbers were pinned when training built its own vocabulary: the build's, reused here, is the same
    assert json.loads((tmp_path / "manifest.json").read_text())["model"]["vocabulary"] == str(dataset_dir / "tokenizer")
