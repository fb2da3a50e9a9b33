import json
import logging
from collections import Counter

import pytest
import torch
from transformers import AutoTokenizer

from ereignis.labels import Label, LabelSchema
from ereignis.modeling import ModelUnavailableError, load_model, load_tokenizer
from ereignis.modeling.tiny import SPECIAL_TOKENS, wordpiece_vocabulary
from tests.conftest import build_synthetic_dataset, compose_config, synthetic_corpus

SCHEMA = LabelSchema("two", (Label("summit", "Gipfel"), Label("protest", "Protest")))


def test_tiny_tokenizer_is_trained_on_the_texts_and_round_trips(tmp_path):
    texts = list(synthetic_corpus()[0].values())
    tokenizer = load_tokenizer(compose_config("train").model, texts)
    encoded = tokenizer("Die Staats- und Regierungschefs trafen sich zum Gipfel in Brüssel.")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(encoded)[0] == "[CLS]" and tokenizer.unk_token_id not in encoded
    assert "Gipfel" in tokenizer.get_vocab()  # cased: German nouns keep their capital
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded("Gipfel in Brüssel")["input_ids"] == tokenizer("Gipfel in Brüssel")["input_ids"]


def test_tiny_vocabulary_is_deterministic_and_ranked_by_frequency():
    words = Counter({"Gipfel": 5, "Gipfeltreffen": 3, "Treffen": 3, "Abend": 5, "x": 1})
    vocabulary = wordpiece_vocabulary(words, vocab_size=60, min_frequency=2)
    assert vocabulary[:len(SPECIAL_TOKENS)] == SPECIAL_TOKENS
    whole = [w for w in vocabulary if w in words and len(w) > 1]  # single letters come in as characters
    assert whole[:4] == ["Abend", "Gipfel", "Gipfeltreffen", "Treffen"]  # count, then spelling breaks ties
    assert "Gip" in vocabulary and "##fen" in vocabulary  # word starts and endings
    assert len(vocabulary) <= 60
    texts = list(synthetic_corpus()[0].values())
    cfg = compose_config("train").model
    assert load_tokenizer(cfg, texts).get_vocab() == load_tokenizer(cfg, texts).get_vocab()


def test_tiny_model_is_multi_label_with_the_label_map_in_its_config():
    cfg = compose_config("train").model
    tokenizer = load_tokenizer(cfg, list(synthetic_corpus()[0].values()))
    model = load_model(cfg, SCHEMA, tokenizer)
    assert model.config.problem_type == "multi_label_classification"
    assert model.config.id2label == {0: "summit", 1: "protest"} and model.config.label2id == {"summit": 0, "protest": 1}
    out = model(**tokenizer(["Gipfel"], return_tensors="pt"), labels=torch.tensor([[1.0, 0.0]]))
    assert out.logits.shape == (1, 2) and out.loss.item() > 0
    assert model.num_parameters() < 2_000_000  # trains on 2 CPU cores in minutes


@pytest.mark.parametrize("name_or_path", ["ereignis-test/no-such-model", "/nonexistent/gbert-base"])
def test_unavailable_hub_model_says_which_and_how_to_point_at_a_local_copy(name_or_path):
    cfg = compose_config("train", ["model=gbert_base", f"model.name_or_path={name_or_path}"]).model
    with pytest.raises(ModelUnavailableError) as info:
        load_tokenizer(cfg)
    message = str(info.value)
    assert f"cannot load model '{name_or_path}' (config model=gbert_base)" in message
    assert "model.name_or_path=/path/to/" in message


def test_the_build_writes_the_tiny_tokenizer_training_would_build_and_training_reuses_only_a_matching_one(
        tmp_path, caplog):
    from datasets import DatasetDict

    from ereignis.data.build import TOKENIZER_DIR
    from ereignis.modeling.tiny import VOCABULARY_RECORD, texts_fingerprint

    dataset_dir = build_synthetic_dataset(tmp_path)
    train_texts = DatasetDict.load_from_disk(str(dataset_dir))["train"]["text"]
    prebuilt = dataset_dir / TOKENIZER_DIR
    record = json.loads((prebuilt / VOCABULARY_RECORD).read_text())
    assert record == {"vocab_size": 6000, "min_frequency": 2, "texts_sha256": texts_fingerprint(train_texts),
                      "n_texts": len(train_texts)}
    cfg = compose_config("train", ["model.max_length=128"]).model
    fresh = load_tokenizer(cfg, train_texts)
    with caplog.at_level(logging.INFO):
        reused = load_tokenizer(cfg, train_texts, prebuilt=prebuilt)
    assert "reusing the WordPiece vocabulary" in caplog.text and reused.name_or_path == str(prebuilt)
    assert reused.get_vocab() == fresh.get_vocab() and reused.model_max_length == fresh.model_max_length == 128
    assert reused(train_texts[:20])["input_ids"] == fresh(train_texts[:20])["input_ids"]

    for overrides, texts, differing in ((["model.tiny.vocab_size=500"], train_texts, "vocab_size"),
                                        (["model.tiny.min_frequency=3"], train_texts, "min_frequency"),
                                        ([], train_texts[1:], "texts_sha256")):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            tokenizer = load_tokenizer(compose_config("train", overrides).model, texts, prebuilt=prebuilt)
        assert f"({differing} differs)" in caplog.text and not tokenizer.name_or_path
