"""`ereignis-export` and the ONNX backend: the graphs give PyTorch's logits, the Classifier's decisions
do not depend on the backend, and a missing export or onnxruntime says what to do."""

import json

import numpy as np
import pytest
import torch

from ereignis.export import INPUTS, export_model, session
from ereignis.inference import Classifier, load_model_folder
from tests.conftest import synthetic_corpus, tiny_model_folder

pytest.importorskip("onnxruntime")

TEXTS = list(synthetic_corpus()[0].values())


@pytest.fixture(scope="module", params=["cls", "mean_pooling"])
def exported(request, tmp_path_factory):
    folder = tiny_model_folder(tmp_path_factory.mktemp(request.param) / "model", request.param == "mean_pooling")
    export_model(folder)
    return folder


def test_exported_graphs_give_the_torch_logits_on_any_batch_and_length(exported):
    model, tokenizer = load_model_folder(exported, "cpu")
    record = json.loads((exported / "onnx" / "export.json").read_text())
    assert record["check"]["max_abs_logit_difference"]["fp32"] < 1e-4
    assert record["fused_operators"]["Attention"] == model.config.num_hidden_layers  # the fast path was taken
    # shapes other than the traced ones: the batch and sequence axes are dynamic, padding is masked
    batch = tokenizer(TEXTS[:5], padding=True, truncation=True, max_length=100, return_tensors="pt")
    with torch.inference_mode():
        expected = model(**batch).logits.numpy()
    feed = {name: batch[name].numpy() for name in INPUTS}
    fp32 = session(exported / "onnx" / "model.onnx").run(["logits"], feed)[0]
    int8 = session(exported / "onnx" / "model.int8.onnx").run(["logits"], feed)[0]
    assert np.abs(fp32 - expected).max() < 1e-4
    assert np.abs(int8 - expected).max() < 0.1 * np.abs(expected).max() + 0.05


def test_onnx_backend_decides_as_torch_with_the_same_windows_and_evidence(exported):
    torch_classifier = Classifier.load(exported, device="cpu", long_articles="windows", stride=8)
    onnx_classifier = Classifier.load(exported, backend="onnx", long_articles="windows", stride=8)
    expected, got = torch_classifier.score(TEXTS, batch_size=4), onnx_classifier.score(TEXTS, batch_size=4)
    assert np.abs(got.logits - expected.logits).max() < 1e-4
    assert (got.decisions == expected.decisions).all() and (got.best_window == expected.best_window).all()
    assert onnx_classifier.predict(TEXTS[:6]) == torch_classifier.predict(TEXTS[:6])


def test_a_model_without_export_names_the_command(tmp_path):
    folder = tiny_model_folder(tmp_path / "run" / "model", mean_pooling=False)
    with pytest.raises(FileNotFoundError, match=r"no ONNX export.*make export RUN=.*ereignis-export run_dir="):
        Classifier.load(folder, backend="onnx")
    with pytest.raises(ValueError, match="backend must be one of"):
        Classifier.load(folder, backend="tensorrt")


def test_missing_onnxruntime_names_the_extra(tmp_path, monkeypatch):
    import sys

    from ereignis.export import require_onnxruntime

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an import of an absent package raises
    with pytest.raises(ImportError, match=r'pip install "ereignis\[onnx\]"'):
        require_onnxruntime()

