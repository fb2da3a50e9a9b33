"""From the bytes users have to the text the pipeline reads: encodings, invisible characters, NFC.

Encodings. UTF-8 (with or without a byte-order mark) is read, and so are UTF-16 and UTF-32 when a
byte-order mark says so (Excel's "Unicode text"). Anything else is rejected with the line, the byte
offset, charset-normalizer's guess and the `iconv` command that converts it, unless the caller names
a `fallback_encoding`: then text that is not UTF-8 is read in that encoding, and the caller logs it.
There is no silent guessing, because for short German texts the candidates (cp1252, latin-1,
mac_roman, cp850) differ exactly in the umlauts and quotes, and a wrong guess corrupts them without
any error.

Invisible characters are removed and counted, not rejected: NUL padding from broken exports, colour
codes from terminal captures, soft hyphens and zero-width spaces from web pages and bidirectional
overrides carry no meaning for an event, the user cannot see them to fix them by hand, and removing
them loses nothing a reader of the article would notice. Other line breaks (form feed, vertical tab,
U+2028) become newlines, so removal never glues two paragraphs together. Text ends up in Unicode NFC,
so "ö" typed on a Mac (o + combining diaeresis) and on Windows is one string.
"""

from __future__ import annotations

import codecs
import re
import shlex
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import AnyStr

from charset_normalizer import from_bytes

# Longest first: the UTF-32-LE mark begins with the UTF-16-LE one.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
                    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# The encodings German text plausibly has besides UTF-8 (Windows, ISO, old Mac and DOS code pages), with
# their iconv names. Left to choose among all encodings, charset-normalizer calls German latin-1 "cp1250".
GERMAN_LEGACY_ENCODINGS = {"cp1252": "CP1252", "latin_1": "LATIN1", "iso8859_15": "ISO-8859-15",
                           "mac_roman": "MACINTOSH", "cp850": "CP850"}
GERMAN_CHARACTERS = frozenset("äöüÄÖÜß„“‚‘–€")  # where those encodings differ, and German text has them
GUESS_WINDOW = 32_768  # bytes either side of the first bad byte that charset-normalizer sees

LINE_END = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")
LINE_END_BYTES = re.compile(rb"(?<=\n)|(?<=\r)(?!\n)")
LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Terminal escape sequences (CSI colour codes like ESC[31m, OSC titles, ESC(B and other short ones), whole, so no
# "[31m" is left behind; an unterminated title ends at the line's end, not the article's.
ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|[ -/]*[0-~])")
# Control characters but tab and newline, lone surrogates (half an emoji from a broken JSON export), soft
# hyphen, zero-width space, a byte-order mark inside the text, bidirectional embeddings and isolates.
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u00ad\u200b\ufeff\u202a-\u202e\u2066-\u2069]")
# Any character the three patterns above act on (ESC and CR are control characters too).
NEEDS_CLEANING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u00ad\u200b\ufeff\u202a-\u202e\u2066-\u2069"
                            "\u2028\u2029]")


class EncodingProblem(ValueError):
    """Bytes that are no text in a readable encoding; `line` is 1-based, `str()` says how to convert them."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


def clean_text(text: str) -> tuple[str, int]:
    """The text with line breaks unified, invisible characters and escape sequences removed, in NFC;
    and how many characters or sequences were removed."""
    if not NEEDS_CLEANING.search(text):  # most texts: one scan instead of three
        return unicodedata.normalize("NFC", text), 0
    text = LINE_BREAKS.sub("\n", text)
    text, n_sequences = ESCAPE_SEQUENCE.subn("", text)
    text, n_characters = INVISIBLE.subn("", text)
    return unicodedata.normalize("NFC", text), n_sequences + n_characters


def decode_bytes(data: bytes, path: Path, fallback_encoding: str | None) -> tuple[str, str]:
    """`data` (the content of `path`) as text, and the encoding it was read in."""
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as err:
                line = data[:err.start].decode(encoding, errors="replace").count("\n") + 1
                raise EncodingProblem(line, f"not valid {encoding.upper()} although it starts with a {encoding.upper()}"
                                            f" byte-order mark: {err.reason} at byte offset {err.start}") from None
    return _decode_unmarked(data, path, fallback_encoding, first_line=1, first_offset=0)


def iter_lines(path: Path, fallback_encoding: str | None) -> Iterator[tuple[int, str, str]]:
    """(line number, text with its line end, encoding) of each line. Lines end at LF, CRLF or a lone CR (Excel
    for Mac's CSV); UTF-8 is decoded line by line, so memory stays at one line however large the file."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        if any(head.startswith(mark) for mark, encoding in BYTE_ORDER_MARKS if encoding != "utf-8-sig"):
            # a UTF-16/32 newline is two or four bytes, so bytes cannot be split at b"\n": decode it whole
            text, encoding = decode_bytes(head + handle.read(), path, fallback_encoding)
            for line_no, line in enumerate(_split_lines(text), start=1):
                yield line_no, line, encoding
            return
        offset = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
        handle.seek(offset)
        line_no = 0
        for chunk in handle:
            for raw in _split_lines(chunk):
                line_no += 1
                text, encoding = _decode_unmarked(raw, path, fallback_encoding, first_line=line_no, first_offset=offset)
                yield line_no, text, encoding
                offset += len(raw)


def _split_lines(text: AnyStr) -> list[AnyStr]:
    """Lines with their ends, split only at CR, LF and CRLF (`str.splitlines` also splits at form feeds,
    U+2028 and more, which JSON strings and CSV cells may hold)."""
    if isinstance(text, bytes):
        return [line for line in LINE_END_BYTES.split(text) if line] if b"\r" in text else [text]
    return [line for line in LINE_END.split(text) if line]


def _decode_unmarked(data: bytes, path: Path, fallback_encoding: str | None, first_line: int,
                     first_offset: int) -> tuple[str, str]:
    """UTF-8, or `fallback_encoding` when set; `data` starts at `first_offset` of the file, on `first_line`."""
    utf16 = _utf16_without_mark(data)
    if utf16:
        raise EncodingProblem(first_line, f"looks like {utf16} without a byte-order mark (every other byte is NUL);"
                                          f" convert it with: {_iconv(path, utf16)}")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        failure, tried = utf8_error, "not UTF-8"
    if fallback_encoding:
        try:
            return data.decode(fallback_encoding), fallback_encoding
        except UnicodeDecodeError as fallback_error:
            failure, tried = fallback_error, f"neither UTF-8 nor {fallback_encoding} (data.fallback_encoding)"
    line = first_line + data.count(b"\n", 0, failure.start)
    guess = _guess_encoding(data[max(failure.start - GUESS_WINDOW, 0):failure.start + GUESS_WINDOW])
    raise EncodingProblem(line, f"{tried}: byte 0x{data[failure.start]:02x} at byte offset"
                                f" {first_offset + failure.start} cannot be decoded; it looks like {guess}."
                                f" Convert the file with: {_iconv(path, GERMAN_LEGACY_ENCODINGS[guess])}, or read"
                                f" every file that is not UTF-8 as {guess} with data.fallback_encoding={guess}")


def _utf16_without_mark(data: bytes) -> str | None:
    """'UTF-16LE' or 'UTF-16BE' when NULs fill one byte position of each pair and not the other: UTF-16
    text of Latin letters, saved without a byte-order mark (NUL padding fills both)."""
    if len(data) < 4 or b"\x00" not in data:
        return None
    half = len(data) // 2
    nul_even, nul_odd = data[0::2].count(0), data[1::2].count(0)
    if nul_odd > 0.4 * half and nul_even < 0.1 * half:
        return "UTF-16LE"
    if nul_even > 0.4 * half and nul_odd < 0.1 * half:
        return "UTF-16BE"
    return None


def _guess_encoding(sample: bytes) -> str:
    """charset-normalizer's candidate that reads as the most German: on a short sample it may rank mac_roman
    first for latin-1 text, where "ü" becomes a cedilla."""
    candidates = [match for match in from_bytes(sample, cp_isolation=list(GERMAN_LEGACY_ENCODINGS))
                  if match.encoding in GERMAN_LEGACY_ENCODINGS]
    if not candidates:
        return "cp1252"  # what Windows programs write in Germany
    return max(candidates, key=lambda match: sum(char in GERMAN_CHARACTERS for char in str(match))).encoding


def _iconv(path: Path, iconv_encoding: str) -> str:
    source, converted = shlex.quote(str(path)), shlex.quote(f"{path}.utf8")
    return f"iconv -f {iconv_encoding} -t UTF-8 {source} > {converted} && mv {converted} {source}"
