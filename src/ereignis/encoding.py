"""How an article becomes model input, and how per-window outputs become per-article scores.

The one place that decides it: training, evaluation, prediction and the Python API all call
`encode_articles`, so what the model reads in production is what it read in training.

- `truncate`: one sequence per article, its composed text (title, lead, key points, body) cut at
  the model's max length. This is also what a plain `transformers.pipeline()` user feeds the model.
- `windows`: the title and lead, then a window of the rest (key points and body); the windows
  overlap by `stride` tokens and cover the whole article (at most `max_windows`), so an event in
  paragraph eight is read. Title and lead are repeated in every window because they say what the
  story is about; a window of body text alone is often ambiguous.

Per-window logits are pooled per article (`max`: a label is as present as in its strongest
window, suits rare events mentioned once; `mean`: an average over the article, equal to a linear
head on the article's mean embedding). The window that scored highest for a label is its evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from transformers import PreTrainedTokenizerBase

MODES = ("truncate", "windows")
POOLINGS = ("max", "mean")
ENCODE_CHUNK = 1_000  # articles tokenised at a time: uncut ids of 100,000 articles would take about 4 GB


@dataclass(frozen=True)
class EncodingSettings:
    long_articles: str = "truncate"
    stride: int = 64
    max_windows: int = 16
    pooling: str = "max"

    def __post_init__(self) -> None:
        if self.long_articles not in MODES:
            raise ValueError(f"long_articles must be 'truncate' or 'windows', got {self.long_articles!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"window pooling must be 'max' or 'mean', got {self.pooling!r}")
        if self.stride < 0 or self.max_windows < 1:
            raise ValueError(f"window stride must be >= 0 and max_windows >= 1, got {self.stride}, {self.max_windows}")

    @classmethod
    def from_mapping(cls, values: Mapping) -> EncodingSettings:
        keys = ("long_articles", "stride", "max_windows", "pooling")
        return cls(**{key: values[key] for key in keys if key in values})

    def to_dict(self) -> dict:
        return {"long_articles": self.long_articles, "stride": self.stride, "max_windows": self.max_windows,
                "pooling": self.pooling}


@dataclass(frozen=True)
class Windows:
    """Token sequences (with special tokens) and, for each, its article and its character span in
    the article's text (what the window read beyond the repeated title and lead)."""
    input_ids: list[list[int]]
    owners: np.ndarray
    spans: list[tuple[int, int]]
    n_articles: int
    article_tokens: np.ndarray | None = None  # each article's length in tokens, uncut (what truncation loses)

    def select(self, articles: list[int]) -> Windows:
        """The windows of `articles` only, renumbered 0..len(articles)-1."""
        position = {article: i for i, article in enumerate(articles)}
        keep = [w for w, owner in enumerate(self.owners) if owner in position]
        return Windows([self.input_ids[w] for w in keep], np.array([position[self.owners[w]] for w in keep], dtype=int),
                       [self.spans[w] for w in keep], len(articles))

    def pool(self, window_logits: np.ndarray, pooling: str) -> tuple[np.ndarray, np.ndarray]:
        """Per-article logits and, per article and label, the index of the window that scored highest."""
        n_labels = window_logits.shape[1]
        pooled = np.full((self.n_articles, n_labels), -np.inf if pooling == "max" else 0.0)
        best = np.zeros((self.n_articles, n_labels), dtype=int)
        best_value = np.full((self.n_articles, n_labels), -np.inf)
        counts = np.bincount(self.owners, minlength=self.n_articles)
        for window, (owner, logits) in enumerate(zip(self.owners, window_logits, strict=True)):
            better = logits > best_value[owner]
            best[owner, better], best_value[owner, better] = window, logits[better]
            if pooling == "max":
                pooled[owner] = np.maximum(pooled[owner], logits)
            else:
                pooled[owner] += logits / counts[owner]
        return pooled, best


def special_tokens(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one sequence ([CLS] ... [SEP], <s> ... </s>), read
    off a probe, since transformers 5's tokenizer backends do not all expose a method for it."""
    plain = tokenizer("Probe", add_special_tokens=False)["input_ids"]
    full = tokenizer("Probe")["input_ids"]
    start = next(i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain)
    return full[:start], full[start + len(plain):]


def article_parts(article: Mapping) -> tuple[str, str, str]:
    """(header, rest, text) of a dataset row or parsed article: title and lead, key points and body,
    and the full composed text."""
    header = "\n\n".join(part for part in (article["title"], article["lead"]) if part)
    rest = "\n\n".join(part for part in ("\n".join(article["bullets"]), article["body"]) if part)
    return header, rest, article["text"]


def encode_articles(tokenizer: PreTrainedTokenizerBase, articles: Iterable[Mapping], max_length: int,
                    settings: EncodingSettings) -> Windows:
    """Windows over `articles` (dataset rows or `Article`-like mappings with title, lead, bullets,
    body and text) under `settings`. Articles are tokenised `ENCODE_CHUNK` at a time, so only the
    windows kept, not every article's uncut token ids, are held."""
    parts = [article_parts(article) for article in articles]
    special = special_tokens(tokenizer)
    encode = _truncated if settings.long_articles == "truncate" else _windowed
    input_ids, owners, spans, lengths = [], [], [], []
    for first in range(0, len(parts), ENCODE_CHUNK):
        chunk = encode(tokenizer, parts[first:first + ENCODE_CHUNK], max_length, settings, special)
        input_ids += chunk.input_ids
        owners += [first + owner for owner in chunk.owners]
        spans += chunk.spans
        lengths += chunk.lengths
    return Windows(input_ids, np.asarray(owners, dtype=int), spans, len(parts), np.array(lengths, dtype=int))


@dataclass
class _Chunk:
    input_ids: list[list[int]]
    owners: list[int]  # within the chunk
    spans: list[tuple[int, int]]
    lengths: list[int]  # per article, uncut


def _truncated(tokenizer: PreTrainedTokenizerBase, parts: list[tuple[str, str, str]], max_length: int,
               settings: EncodingSettings, special: tuple[list[int], list[int]]) -> _Chunk:
    """One sequence per article. Tokenised once, uncut, then cut as the tokenizer's own truncation
    does: the content's end goes, the closing special tokens stay. The span ends where the last token
    read ends, so evidence never cites text after the cut."""
    suffix = special[1]
    keep = max_length - len(suffix)
    encoded = tokenizer([text for _, _, text in parts], verbose=False, return_offsets_mapping=True)
    full, offsets = encoded["input_ids"], encoded["offset_mapping"]
    return _Chunk([tokens if len(tokens) <= max_length else tokens[:keep] + suffix for tokens in full],
                  list(range(len(parts))),
                  [(0, len(text)) if len(tokens) <= max_length else (0, max(end for _, end in cut[:keep]))
                   for (_, _, text), tokens, cut in zip(parts, full, offsets, strict=True)],
                  [len(tokens) for tokens in full])


def _windowed(tokenizer: PreTrainedTokenizerBase, parts: list[tuple[str, str, str]], max_length: int,
              settings: EncodingSettings, special: tuple[list[int], list[int]]) -> _Chunk:
    """Overlapping windows of key points and body, each after the title and lead."""
    prefix, suffix = special
    budget = max_length - len(prefix) - len(suffix)
    headers = tokenizer([header for header, _, _ in parts], add_special_tokens=False)["input_ids"]
    rests = tokenizer([rest for _, rest, _ in parts], add_special_tokens=False, return_offsets_mapping=True)
    input_ids, owners, spans = [], [], []
    for index, ((header, rest, text), header_ids, rest_ids, offsets) in enumerate(
            zip(parts, headers, rests["input_ids"], rests["offset_mapping"], strict=True)):
        header_ids = header_ids[:budget // 2]  # an overlong title and lead leave room for the body
        room = budget - len(header_ids)
        step = max(room - settings.stride, 1)
        rest_start = text.find(rest) if rest else len(text)  # where `rest` sits inside the composed text
        starts = list(range(0, max(len(rest_ids) - settings.stride, 1), step))[:settings.max_windows] or [0]
        for start in starts:
            chunk = rest_ids[start:start + room]
            input_ids.append(prefix + header_ids + chunk + suffix)
            owners.append(index)
            spans.append((rest_start + offsets[start][0], rest_start + offsets[start + len(chunk) - 1][1])
                         if chunk else (0, len(header)))
    return _Chunk(input_ids, owners, spans, [len(prefix) + len(h) + len(r) + len(suffix)
                                             for h, r in zip(headers, rests["input_ids"], strict=True)])
