"""`ereignis-export`: a run's model as ONNX Runtime graphs, for CPU prediction without PyTorch.

Writes `<run dir>/model/onnx/` as one folder, atomically (a reader sees the old folder or the new
one whole, never a mix):

    model.onnx       the classifier in fp32: inputs `input_ids` and `attention_mask` (int64, [batch,
                     sequence], both axes dynamic), output `logits` (float32, [batch, labels]); the
                     head, mean pooling included, is inside the graph
    model.int8.onnx  the same graph with int8 weights in its matrix products and attention (ONNX
                     Runtime dynamic quantisation, one scale per output channel); activations are
                     quantised on the fly
    export.json      {"exporter", "opset", "versions", "fused_operators", "quantization",
                      "check": {"texts", "tokens", "max_abs_logit_difference": {"fp32", "int8"}}}:
                     how the graphs were made and how far their logits are from PyTorch's on a
                     check batch of padded sequences up to the model's max length

`Classifier.load(run, backend="onnx")` (`ereignis-predict backend=onnx`, `quantize=true` for the
int8 graph) reads them; tokenisation, windows, decisions and evidence stay ereignis's own.

Export path, and why: the model is traced with eager attention by PyTorch's TorchScript exporter
(`dynamo=False`), because ONNX Runtime's transformer optimizer recognises that graph and fuses each
layer's attention into one `Attention` operator (also LayerNorm with the residual, GELU with its
bias); with SDPA attention (the default), or from the dynamo exporter, nothing fuses and the graph
runs slower than PyTorch itself (benchmarks/README.md, "Prediction on CPU").
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from ereignis.io import atomic_directory
from ereignis.runs import RunDir

OPSET = 17
FP32_FILE, INT8_FILE, RECORD_FILE = "model.onnx", "model.int8.onnx", "export.json"
INPUTS, OUTPUT = ("input_ids", "attention_mask"), "logits"
CHECK_TEXT = ("Die Staats- und Regierungschefs trafen sich zum Gipfel in Brüssel und verhandelten über neue "
              "Sanktionen, während Zehntausende auf dem Hauptplatz demonstrierten. ")
EXPORT_HINT = "`make export RUN={run}` (console: `ereignis-export run_dir={run}`)"
INSTALL_HINT = 'pip install "ereignis[onnx]"'


def onnx_dir(model_dir: str | Path) -> Path:
    return Path(model_dir) / "onnx"


def require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError(f"the ONNX backend needs onnxruntime: {INSTALL_HINT}") from err
    return onnxruntime


def session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime session on the CPU: every graph optimisation, one intra-op thread per core
    (`threads`), and threads that sleep instead of spinning between operators, since spinning burns
    the CPU time of a machine shared with other work and buys nothing at these operator sizes."""
    ort = require_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def exported_graph(model_dir: str | Path, quantize: bool) -> Path:
    """The exported fp32 or int8 graph of a model folder; FileNotFoundError naming the command if absent."""
    path = onnx_dir(model_dir) / (INT8_FILE if quantize else FP32_FILE)
    if not path.is_file():
        run = Path(model_dir).parent if Path(model_dir).name == "model" else Path(model_dir)
        raise FileNotFoundError(f"{path}: no ONNX export of this model; make one with {EXPORT_HINT.format(run=run)}")
    return path


class _LogitsOnly(torch.nn.Module):
    """input_ids, attention_mask -> logits: the graph's whole interface (no token_type_ids, no loss)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def _check_batch(tokenizer: Any, max_length: int) -> dict[str, torch.Tensor]:
    """Sequences of 1, a few dozen and max_length tokens, padded: the mask and both axes are exercised."""
    texts = ["Gipfel.", CHECK_TEXT, CHECK_TEXT * (max_length // 10)]
    return tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")


def _fuse(source: Path, target: Path, config: Any) -> dict[str, int]:
    """ONNX Runtime's transformer fusions (BERT family); the operators fused, by kind."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(source), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size)
    optimized.save_model_to_file(str(target))
    return {name: count for name, count in optimized.get_fused_operator_statistics().items() if count}


def export_model(model_dir: str | Path) -> Path:
    """Export the model folder's classifier to `<model_dir>/onnx/` (see the module docstring)."""
    require_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoConfig, AutoTokenizer

    from ereignis.inference import model_class

    model_dir = Path(model_dir)
    config = AutoConfig.from_pretrained(model_dir)
    model = model_class(config).from_pretrained(model_dir, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    batch = _check_batch(tokenizer, min(tokenizer.model_max_length, config.max_position_embeddings))
    inputs = tuple(batch[name] for name in INPUTS)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in INPUTS} | {OUTPUT: {0: "batch"}}
    quantization = {"method": "onnxruntime.quantization.quantize_dynamic", "weights": "int8, per output channel",
                    "operators": ["MatMul", "Attention"]}
    with atomic_directory(onnx_dir(model_dir)) as folder, torch.inference_mode():
        expected = _LogitsOnly(model)(*inputs).numpy()  # before tracing: the exporter leaves the model changed
        traced = folder / "traced.onnx"
        torch.onnx.export(_LogitsOnly(model), inputs, str(traced), input_names=list(INPUTS), output_names=[OUTPUT],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
        fused = _fuse(traced, folder / FP32_FILE, config)
        traced.unlink()
        quantize_dynamic(folder / FP32_FILE, folder / INT8_FILE, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=quantization["operators"],
                         extra_options={"DefaultTensorType": 1})  # float: the fused operators carry no type info
        feed = {name: batch[name].numpy() for name in INPUTS}
        difference = {name: float(np.abs(session(folder / file).run([OUTPUT], feed)[0] - expected).max())
                      for name, file in (("fp32", FP32_FILE), ("int8", INT8_FILE))}
        record = {"exporter": "torch.onnx.export (TorchScript, dynamo=False), eager attention", "opset": OPSET,
                  "versions": {package: version(package) for package in ("torch", "transformers", "onnx",
                                                                         "onnxruntime")},
                  "fused_operators": fused, "quantization": quantization,
                  "check": {"texts": len(batch["input_ids"]), "tokens": batch["attention_mask"].sum(1).tolist(),
                            "max_abs_logit_difference": difference}}
        (folder / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return onnx_dir(model_dir)


def export(cfg: DictConfig) -> Path:
    """The stage: export a complete run's model."""
    return export_model(RunDir(cfg.run_dir).validate().model_dir)
