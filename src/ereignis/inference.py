"""A trained classifier with its encoding and decision rule: what evaluation, prediction and the
Python API use to turn articles into scores, decisions and evidence.

`Classifier.load` takes a run dir (reads `decision.json` and the encoding in `manifest.json`), a
model folder or a hub id (reads the copies of both in `config.json`). The backend turns a padded
batch (input_ids, attention_mask) into logits and nothing else: PyTorch (`TorchLogits`) or the
graph `ereignis-export` wrote (`OnnxLogits`); encoding, pooling, decisions and evidence are shared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ereignis.data.articles import parse_article
from ereignis.encoding import EncodingSettings, Windows, encode_articles
from ereignis.io import read_json
from ereignis.modeling.pooling import CUSTOM_ARCHITECTURES
from ereignis.task import Decision

EVIDENCE_CHARS = 300
EVIDENCE_WINDOWS = 1_000  # windows whose sentences are scored together
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ\"„])|\n+")
BACKENDS = ("torch", "onnx")


def split_sentences(text: str) -> list[str]:
    """Sentences and paragraph lines of a news text (a full stop followed by a capital starts a sentence)."""
    return [part.strip() for part in SENTENCE_END.split(text) if len(part.strip()) > 1]


def model_class(config: PretrainedConfig) -> type:
    """The class that loads a model folder with this config: ereignis's own heads by their `architectures` entry."""
    return CUSTOM_ARCHITECTURES.get((config.architectures or [""])[0], AutoModelForSequenceClassification)


def load_model_folder(model_dir: str | Path, device: str | None = None,
                      quantize: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer from a model folder or hub id, on `device` (default: the GPU when there is one).

    `quantize`: dynamic int8 quantisation of the linear layers, for CPU inference (weights stored as
    int8, activations quantised on the fly); the decisions agree with fp32 on all but a few borderline
    labels (`benchmarks/predict.py` measures the agreement and the speed-up)."""
    model = model_class(AutoConfig.from_pretrained(model_dir)).from_pretrained(model_dir)
    model.to(device or ("cuda" if torch.cuda.is_available() and not quantize else "cpu")).eval()
    if quantize:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model, AutoTokenizer.from_pretrained(model_dir)


@torch.inference_mode()
def over_windows(device: torch.device, tokenizer: PreTrainedTokenizerBase, windows: Windows, batch_size: int,
                 width: int, forward: Callable[[dict], torch.Tensor]) -> np.ndarray:
    """`forward(padded batch on device)` for every window, (n_windows, width); windows are batched by
    length so each batch pads little, and the rows come back in window order."""
    order = np.argsort([len(ids) for ids in windows.input_ids], kind="stable")
    result = np.zeros((len(windows.input_ids), width), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        encoded = tokenizer.pad({"input_ids": [windows.input_ids[i] for i in batch]}, return_tensors="pt").to(device)
        result[batch] = forward(encoded).float().cpu().numpy()
    return result


class TorchLogits:
    """Logits from the PyTorch model; `bfloat16`: matrix products in bfloat16 under autocast (on CPUs
    with AMX or AVX512-BF16 about twice as fast; accumulation, softmax and LayerNorm stay fp32)."""

    def __init__(self, model: PreTrainedModel, bfloat16: bool = False):
        self.model, self.bfloat16 = model, bfloat16
        self.device = next(model.parameters()).device

    def __call__(self, encoded: Mapping[str, torch.Tensor]) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bfloat16):
            return self.model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).logits.float()


class OnnxLogits:
    """Logits from an ONNX Runtime graph written by `ereignis-export` (CPU)."""

    device = torch.device("cpu")

    def __init__(self, graph: Path, threads: int | None = None):
        from ereignis.export import INPUTS, OUTPUT, session

        self.graph, self.session, self.inputs, self.output = graph, session(graph, threads), INPUTS, OUTPUT

    def __call__(self, encoded: Mapping[str, torch.Tensor]) -> torch.Tensor:
        feed = {name: encoded[name].numpy() for name in self.inputs}
        return torch.from_numpy(self.session.run([self.output], feed)[0])


Logits = TorchLogits | OnnxLogits


def window_logits(logits: Logits, tokenizer: PreTrainedTokenizerBase, windows: Windows, n_labels: int,
                  batch_size: int = 32) -> np.ndarray:
    """Logits per window."""
    return over_windows(logits.device, tokenizer, windows, batch_size, n_labels, logits)


@dataclass
class Scored:
    """Per-article logits, calibrated scores and decisions, and the windows behind them."""
    logits: np.ndarray
    scores: np.ndarray
    decisions: np.ndarray
    best_window: np.ndarray
    windows: Windows


def as_article(text_or_article: str | Mapping) -> Mapping:
    """A raw article string is parsed into title, lead, key points and body as the data stage does."""
    if isinstance(text_or_article, str):
        article = parse_article(text_or_article)
        return {"title": article.title, "lead": article.lead, "bullets": list(article.bullets), "body": article.body,
                "text": article.text}
    return text_or_article


class Classifier:
    """Articles in, calibrated scores, decided labels and evidence out."""

    def __init__(self, logits: Logits, config: PretrainedConfig, tokenizer: PreTrainedTokenizerBase,
                 decision: Decision, encoding: EncodingSettings):
        self.logits, self.config, self.tokenizer, self.decision, self.encoding = (logits, config, tokenizer, decision,
                                                                                  encoding)
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        if tuple(self.labels) != decision.labels:
            raise ValueError(f"the model's labels {self.labels} differ from the decision rule's "
                             f"{list(decision.labels)}")
        self.max_length = min(tokenizer.model_max_length, config.max_position_embeddings)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None, quantize: bool = False, backend: str = "torch",
             bfloat16: bool = False, **encoding_overrides: Any) -> Classifier:
        """From a run dir, a model folder or a hub id; `encoding_overrides` (long_articles, stride,
        max_windows, pooling) replace the run's encoding settings. `backend`: "torch", or "onnx" for
        the graph `ereignis-export` wrote (CPU); `quantize`: int8 weights (torch: dynamic quantisation
        of the linear layers; onnx: the int8 graph); `bfloat16`: torch's matrix products in bfloat16."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        run_dir = Path(path)
        is_run = (run_dir / "manifest.json").is_file() and (run_dir / "model" / "config.json").is_file()
        if not is_run and run_dir.exists() and not (run_dir / "config.json").is_file():
            raise FileNotFoundError(f"{run_dir}: neither a run dir (manifest.json, model/) nor a model folder "
                                    "(config.json)")
        model_dir = run_dir / "model" if is_run else path
        if backend == "onnx":
            from ereignis.export import exported_graph

            logits: Logits = OnnxLogits(exported_graph(model_dir, quantize))
            config, tokenizer = AutoConfig.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
        else:
            model, tokenizer = load_model_folder(model_dir, device, quantize)
            logits, config = TorchLogits(model, bfloat16), model.config
        stored = getattr(config, "ereignis", None) or {}
        if is_run and (run_dir / "decision.json").is_file():
            decision = Decision.load(run_dir / "decision.json")
        elif "decision" in stored:
            decision = Decision.from_dict(stored["decision"])
        else:  # a model trained elsewhere: its own problem type, the conventional 0.5
            task = "single_label" if config.problem_type == "single_label_classification" else "multi_label"
            decision = Decision.default(task, [config.id2label[i] for i in range(config.num_labels)])
        encoding = read_json(run_dir / "manifest.json").get("encoding", {}) if is_run else stored.get("encoding", {})
        settings = {**encoding, **{k: v for k, v in encoding_overrides.items() if v is not None}}
        return cls(logits, config, tokenizer, decision, EncodingSettings.from_mapping(settings))

    def score(self, articles: Sequence[str | Mapping], batch_size: int = 32) -> Scored:
        windows = encode_articles(self.tokenizer, [as_article(a) for a in articles], self.max_length, self.encoding)
        logits, best = windows.pool(window_logits(self.logits, self.tokenizer, windows, len(self.labels), batch_size),
                                    self.encoding.pooling)
        scores = self.decision.probabilities(logits)
        return Scored(logits, scores, self.decision.decide(scores), best, windows)

    def evidence(self, scored: Scored, texts: Sequence[str], batch_size: int = 32) -> list[dict[str, dict[str, Any]]]:
        """Per article, for each predicted label: the window that scored highest and, within it, the
        sentence that scores highest on its own (one extra pass over those windows' sentences, a chunk
        of windows at a time so memory stays bounded at any number of articles)."""
        wanted = [(int(i), int(j)) for i, j in zip(*np.nonzero(scored.decisions), strict=True)]
        labels_in: dict[int, list[tuple[int, int]]] = {}  # best window -> the (article, label) pairs it explains
        for i, j in wanted:
            labels_in.setdefault(int(scored.best_window[i, j]), []).append((i, j))
        cited: dict[tuple[int, int], str] = {}
        windows = list(labels_in)
        for first in range(0, len(windows), EVIDENCE_WINDOWS):
            chunk = windows[first:first + EVIDENCE_WINDOWS]
            sentences = [split_sentences(texts[scored.windows.owners[w]][slice(*scored.windows.spans[w])])
                         for w in chunk]
            logits = self._sentence_logits([s for items in sentences for s in items], batch_size)
            row = 0
            for window, items in zip(chunk, sentences, strict=True):
                for i, j in labels_in[window]:
                    cited[i, j] = items[int(logits[row:row + len(items), j].argmax())] if items else ""
                row += len(items)
        first_window = {int(owner): int(w) for w, owner in reversed(list(enumerate(scored.windows.owners)))}
        evidence: list[dict[str, dict[str, Any]]] = [{} for _ in range(scored.windows.n_articles)]
        for i, j in wanted:  # labels in their order within each article
            evidence[i][self.labels[j]] = {"window": int(scored.best_window[i, j]) - first_window[i],
                                           "sentence": cited[i, j][:EVIDENCE_CHARS]}
        return evidence

    def _sentence_logits(self, sentences: list[str], batch_size: int) -> np.ndarray:
        if not sentences:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        encoded = self.tokenizer(sentences, truncation=True, max_length=self.max_length)
        windows = Windows(encoded["input_ids"], np.arange(len(sentences)), [(0, 0)] * len(sentences), len(sentences))
        return window_logits(self.logits, self.tokenizer, windows, len(self.labels), batch_size)

    def rows(self, scored: Scored, articles: Sequence[Mapping], batch_size: int = 32) -> list[dict[str, Any]]:
        """One dict per scored article: `labels` (decided), `scores` (calibrated, per label), `evidence`."""
        evidence = self.evidence(scored, [article["text"] for article in articles], batch_size)
        return [{"labels": [label for label, chosen in zip(self.labels, scored.decisions[i], strict=True) if chosen],
                 "scores": {label: round(float(p), 4) for label, p in zip(self.labels, scored.scores[i], strict=True)},
                 "evidence": evidence[i]}
                for i in range(len(articles))]

    def predict(self, articles: Sequence[str | Mapping], batch_size: int = 32) -> list[dict[str, Any]]:
        """One dict per article (raw strings are parsed as the data stage does): see `rows`."""
        parsed = [as_article(a) for a in articles]
        return self.rows(self.score(parsed, batch_size), parsed, batch_size)
