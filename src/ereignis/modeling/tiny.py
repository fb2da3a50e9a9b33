"""A tiny BERT that trains on 2 CPU cores in minutes: for tests, demos and CI, not for results."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from omegaconf import DictConfig
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


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
    normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, clean_text=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = Counter(word for text in texts
                    for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    vocabulary = wordpiece_vocabulary(words, vocab_size, min_frequency)
    tokenizer = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocabulary)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocabulary.index("[CLS]")), ("[SEP]", vocabulary.index("[SEP]"))])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=max_length, unk_token="[UNK]", pad_token="[PAD]",
        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def tiny_bert(tiny: DictConfig, vocab_size: int, max_length: int, id2label: dict[int, str],
              problem_type: str = "multi_label_classification") -> BertForSequenceClassification:
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=tiny.hidden_size, num_hidden_layers=tiny.num_hidden_layers,
        num_attention_heads=tiny.num_attention_heads, intermediate_size=tiny.intermediate_size,
        hidden_dropout_prob=tiny.dropout, attention_probs_dropout_prob=tiny.dropout,
        max_position_embeddings=max_length, num_labels=len(id2label), id2label=id2label,
        label2id={label: i for i, label in id2label.items()}, problem_type=problem_type)
    return BertForSequenceClassification(config)
