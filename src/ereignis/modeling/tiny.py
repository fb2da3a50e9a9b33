"""A tiny BERT that trains on 2 CPU cores in minutes: for tests, demos and CI, not for results."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from omegaconf import DictConfig
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCABULARY_RECORD = "ereignis_vocabulary.json"  # beside a saved tiny tokenizer: what it was built from

log = logging.getLogger(__name__)


class WordCounts:
    """The words of texts as the tiny tokenizer splits them, counted as the texts stream by, and the
    texts' fingerprint (sha256 over each text's length and UTF-8 bytes, in order), so a vocabulary can
    be built without holding the texts and later matched against the texts it is meant for."""

    def __init__(self) -> None:
        self.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, clean_text=True)
        self.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        self.words: Counter[str] = Counter()
        self.hasher = hashlib.sha256()
        self.n_texts = 0

    def add(self, texts: Iterable[str], count_words: bool = True) -> WordCounts:
        for text in texts:
            encoded = text.encode("utf-8")
            self.hasher.update(len(encoded).to_bytes(8, "little") + encoded)
            self.n_texts += 1
            if count_words:
                self.words.update(word for word, _ in self.pre_tokenizer.pre_tokenize_str(
                    self.normalizer.normalize_str(text)))
        return self

    @property
    def fingerprint(self) -> str:
        return self.hasher.hexdigest()


def texts_fingerprint(texts: Iterable[str]) -> str:
    """The fingerprint `WordCounts` records, without counting words."""
    return WordCounts().add(texts, count_words=False).fingerprint


def wordpiece_vocabulary(words: Counter[str], vocab_size: int, min_frequency: int) -> list[str]:
    """A deterministic WordPiece vocabulary: special tokens, every character (alone and as `##`
    continuation), then the most frequent whole words, word starts and `##` word endings.

    `tokenizers`' own WordPiece trainer breaks ties in hash order, so two runs on the same texts
    give different vocabularies, and therefore different models. Here every choice is sorted by
    (count, string), so the same texts always give the same tokenizer.
    """
    characters = sorted({c for word in words for c in word})
    vocabulary = dict.fromkeys([*SPECIAL_TOKENS, *characters, *(f"##{c}" for c in characters)])
    starts, endings = Counter(), Counter()
    for word, count in words.items():
        for length in range(3, min(len(word), 10)):
            starts[word[:length]] += count
            endings["##" + word[-length:]] += count

    def most_frequent(counts: Counter[str], budget: int) -> list[str]:
        ranked = sorted((item for item in counts.items() if item[1] >= min_frequency and item[0] not in vocabulary),
                        key=lambda item: (-item[1], item[0]))
        return [token for token, _ in ranked[:max(budget, 0)]]

    room = vocab_size - len(vocabulary)
    for token in most_frequent(words, room // 2):
        vocabulary[token] = None
    room = vocab_size - len(vocabulary)
    for token in most_frequent(starts, room // 2) + most_frequent(endings, room - room // 2):
        vocabulary[token] = None
    return list(vocabulary)


def train_wordpiece(texts: Sequence[str], vocab_size: int, min_frequency: int,
                    max_length: int) -> PreTrainedTokenizerFast:
    """A cased WordPiece tokenizer (German nouns keep their capitals) fitted to `texts`."""
    return wordpiece_tokenizer(WordCounts().add(texts), vocab_size, min_frequency, max_length)


def wordpiece_tokenizer(counts: WordCounts, vocab_size: int, min_frequency: int,
                        max_length: int) -> PreTrainedTokenizerFast:
    """The tokenizer of `train_wordpiece`, from words already counted."""
    vocabulary = wordpiece_vocabulary(counts.words, vocab_size, min_frequency)
    tokenizer = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocabulary)}, unk_token="[UNK]"))
    tokenizer.normalizer = counts.normalizer
    tokenizer.pre_tokenizer = counts.pre_tokenizer
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocabulary.index("[CLS]")), ("[SEP]", vocabulary.index("[SEP]"))])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=max_length, unk_token="[UNK]", pad_token="[PAD]",
        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def save_vocabulary(tokenizer: PreTrainedTokenizerFast, folder: Path, counts: WordCounts, vocab_size: int,
                    min_frequency: int) -> dict:
    """Save a tiny tokenizer with the record `saved_vocabulary` checks before reusing it."""
    record = {"vocab_size": vocab_size, "min_frequency": min_frequency, "texts_sha256": counts.fingerprint,
              "n_texts": counts.n_texts}
    tokenizer.save_pretrained(str(folder))
    (folder / VOCABULARY_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def saved_vocabulary(folder: Path, vocab_size: int, min_frequency: int, max_length: int,
                     texts: Sequence[str]) -> PreTrainedTokenizerFast | None:
    """The tokenizer saved in `folder` if it was built with these settings from exactly `texts` (their
    fingerprint), read with `max_length` (which does not change the vocabulary); else None, and the log
    says why it is not used."""
    record_path = Path(folder) / VOCABULARY_RECORD
    if not record_path.is_file():
        return None
    record = json.loads(record_path.read_text(encoding="utf-8"))
    wanted = {"vocab_size": vocab_size, "min_frequency": min_frequency, "texts_sha256": texts_fingerprint(texts)}
    differing = [key for key, value in wanted.items() if record.get(key) != value]
    if differing:
        log.info("the WordPiece vocabulary in %s does not fit this training (%s differ%s): building a new one",
                 folder, ", ".join(differing), "s" if len(differing) == 1 else "")
        return None
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder), model_max_length=max_length)
    log.info("reusing the WordPiece vocabulary built by the data build (%s)", folder)
    return tokenizer


def tiny_bert(tiny: DictConfig, vocab_size: int, max_length: int, id2label: dict[int, str],
              problem_type: str = "multi_label_classification") -> BertForSequenceClassification:
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=tiny.hidden_size, num_hidden_layers=tiny.num_hidden_layers,
        num_attention_heads=tiny.num_attention_heads, intermediate_size=tiny.intermediate_size,
        hidden_dropout_prob=tiny.dropout, attention_probs_dropout_prob=tiny.dropout,
        max_position_embeddings=max_length, num_labels=len(id2label), id2label=id2label,
        label2id={label: i for i, label in id2label.items()}, problem_type=problem_type)
    return BertForSequenceClassification(config)
