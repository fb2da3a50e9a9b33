"""What the evaluation does to scale to 100,000 test articles leaves its outputs as they were:
articles encoded in chunks give the windows of one pass, and the prediction rows round each score
as `round(float(p), 4)` of each element did."""

import numpy as np
import pytest
from datasets import Dataset

from ereignis import encoding
from ereignis.encoding import EncodingSettings, encode_articles
from ereignis.evaluation.run import EXCERPT_CHARS, _rows
from ereignis.modeling.tiny import train_wordpiece
from tests.conftest import synthetic_corpus


@pytest.mark.parametrize("settings", [EncodingSettings("truncate"), EncodingSettings("windows", 4, 4)])
def test_articles_encoded_in_chunks_give_the_windows_of_one_pass(monkeypatch, settings):
    from ereignis.inference import as_article

    texts = list(synthetic_corpus()[0].values())
    articles = [as_article(text) for text in texts]
    tokenizer = train_wordpiece(texts, 800, 2, 64)
    whole = encode_articles(tokenizer, articles, 32, settings)
    monkeypatch.setattr(encoding, "ENCODE_CHUNK", 7)
    chunked = encode_articles(tokenizer, articles, 32, settings)
    assert len(whole.input_ids) > len(articles) or settings.long_articles == "truncate"  # several windows each
    assert chunked.input_ids == whole.input_ids and chunked.spans == whole.spans
    assert np.array_equal(chunked.owners, whole.owners) and np.array_equal(chunked.article_tokens, whole.article_tokens)
    assert chunked.n_articles == whole.n_articles == len(articles)


def _rows_one_value_at_a_time(name, split, labels, scores, predicted, evidence):
    """The rows as commit 25c0513 built them, one Python round per (article, label, system)."""
    rows = []
    for i, (article_id, gold, text) in enumerate(zip(split["id"], split["labels"], split["text"], strict=True)):
        rows.append({"id": article_id, "split": name, "gold": list(gold),
                     "predicted": [label for label, chosen in zip(labels, predicted[i], strict=True) if chosen],
                     "scores": {label: round(float(p), 4) for label, p in zip(labels, scores["model"][i], strict=True)},
                     "baseline_scores": {system: {label: round(float(p), 4)
                                                  for label, p in zip(labels, values[i], strict=True)}
                                         for system, values in scores.items() if system != "model"},
                     "evidence": evidence[i], "excerpt": text[:EXCERPT_CHARS]})
    return rows


def test_prediction_rows_are_those_of_one_round_per_value():
    rng = np.random.default_rng(0)
    n, labels = 500, ("a", "b", "c")
    # values on and next to the rounding boundaries (x.xxxx5), in float64 and float32
    boundaries = (np.floor(rng.random((n, 3)) * 1e4) + 0.5) / 1e4
    scores = {"model": boundaries, "tfidf_word": boundaries.astype(np.float32),
              "prior": np.nextafter(boundaries, 1.0), "tfidf_char": rng.random((n, 3))}
    split = Dataset.from_dict({"id": [f"x{i}" for i in range(n)], "labels": [["a"] if i % 3 else [] for i in range(n)],
                               "text": ["Text " * (i % 90) for i in range(n)]})
    predicted = scores["model"] >= 0.5
    evidence = [{"a": {"window": 0, "sentence": "Satz"}} if i % 2 else {} for i in range(n)]
    assert (_rows("test", split, split["text"], labels, scores, predicted, evidence)
            == _rows_one_value_at_a_time("test", split, labels, scores, predicted, evidence))


def test_truncation_spans_end_where_the_last_token_read_ends():
    from ereignis.inference import as_article

    texts = list(synthetic_corpus()[0].values())
    tokenizer = train_wordpiece(texts, 800, 2, 64)
    windows = encode_articles(tokenizer, [as_article(text) for text in texts], 24, EncodingSettings("truncate"))
    cut = [w for w, tokens in enumerate(windows.article_tokens) if tokens > 24]
    assert cut and len(cut) < len(texts)  # some articles cut, some whole
    for w, text in enumerate(texts):
        start, end = windows.spans[w]
        if w in cut:  # the text up to the span's end is exactly what the model read
            assert start == 0 and end < len(text)
            assert tokenizer(text[:end])["input_ids"][:-1] == windows.input_ids[w][:-1]
        else:
            assert (start, end) == (0, len(text))


def test_evidence_scored_a_chunk_of_windows_at_a_time_cites_what_one_pass_cites(tmp_path, monkeypatch):
    from ereignis import inference
    from ereignis.inference import Classifier
    from tests.conftest import tiny_model_folder

    texts = list(synthetic_corpus()[0].values())
    classifier = Classifier.load(tiny_model_folder(tmp_path / "model"), device="cpu", long_articles="truncate")
    classifier.max_length = 24  # most articles are cut: evidence must come from the part read
    scored = classifier.score(texts, batch_size=8)
    whole = classifier.evidence(scored, texts, batch_size=8)
    monkeypatch.setattr(inference, "EVIDENCE_WINDOWS", 3)
    assert classifier.evidence(scored, texts, batch_size=8) == whole
    cited = [(i, entry["sentence"]) for i, article in enumerate(whole) for entry in article.values()]
    assert cited and all(sentence for _, sentence in cited)
    for i, sentence in cited:
        start, end = scored.windows.spans[i]
        assert sentence in texts[i][start:end]  # never a sentence after the cut
