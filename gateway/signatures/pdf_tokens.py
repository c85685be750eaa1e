"""Faster drop-in replacements for two of pyHanko's PDF tokenizer routines.

pyHanko reads PDF tokens one byte at a time in pure Python. For a signed PDF the largest token
is the signature's ``/Contents`` hex string (8 KiB of reserved space and more); reading it costs
more than everything else a small PAdES validation does (issue 13, bench row "PAdES 10 KB").
:func:`install` replaces, inside pyHanko's modules:

* ``generic.read_hex_string_from_stream``: the body up to ``>`` is read in chunks and, when it
  holds only hex digits and PDF whitespace, decoded at once; anything else (a comment, a stray
  byte, a missing ``>``) is handed to pyHanko's original from the same position, so errors and
  edge cases stay pyHanko's own;
* ``misc._read_until_class`` (behind ``read_until_delimiter`` and ``read_until_whitespace``):
  chunked reads searched with a compiled pattern instead of byte-by-byte reads;
* ``generic._decode_name``: a name made only of regular printable ASCII characters without
  ``#`` escapes (nearly all names) is built at once; any other goes to pyHanko's original.

Both leave the stream where the originals do and return the same values (a property test runs
the pairs side by side on arbitrary bytes).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from functools import cache
from typing import IO, Any

from pyhanko.pdf_utils import generic, misc

WHITESPACE = misc.PDF_WHITESPACE
_HEX_BODY = re.compile(rb"[0-9A-Fa-f \n\r\t\f\x00]*")
_CHUNK = 64 * 1024
_SHORT_CHUNK = 128

ORIGINAL_READ_HEX_STRING: Callable[[Any], Any] = generic.read_hex_string_from_stream
ORIGINAL_READ_UNTIL_CLASS: Callable[..., tuple[bytes, bool]] = misc._read_until_class
ORIGINAL_DECODE_NAME: Callable[[bytes], Any] = generic._decode_name
# printable ASCII (0x21-0x7E) less the PDF delimiters ()<>[]{}/% and the escape character #
_PLAIN_NAME = re.compile(rb"[!\"$&'*+,\-.0-9:;=?@A-Z\\^_`a-z|~]*")


def decode_name(name_bytes: bytes) -> Any:
    """pyHanko's ``_decode_name`` (the bytes after ``/``), at once for a plain name."""
    if _PLAIN_NAME.fullmatch(name_bytes) is None:
        return ORIGINAL_DECODE_NAME(name_bytes)
    return generic.NameObject("/" + name_bytes.decode("ascii"))


def read_hex_string_from_stream(stream: IO[bytes]) -> Any:
    """pyHanko's ``read_hex_string_from_stream``, reading the body in chunks."""
    opening = stream.tell()
    stream.read(1)
    chunks: list[bytes] = []
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            stream.seek(opening)
            return ORIGINAL_READ_HEX_STRING(stream)
        end = chunk.find(b">")
        if end >= 0:
            chunks.append(chunk[:end])
            break
        chunks.append(chunk)
    body = b"".join(chunks)
    if _HEX_BODY.fullmatch(body) is None:
        stream.seek(opening)
        return ORIGINAL_READ_HEX_STRING(stream)
    stream.seek(opening + 1 + len(body) + 1)
    digits = body.translate(None, WHITESPACE)
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


@cache
def _stop_pattern(class_chars: bytes) -> re.Pattern[bytes]:
    return re.compile(b"[" + re.escape(class_chars) + b"]")


def read_until_class(
    class_chars: bytes, stream: IO[bytes], maxchars: int | None = None
) -> tuple[bytes, bool]:
    """pyHanko's ``_read_until_class``: the bytes before the first of ``class_chars`` (which is
    consumed), and whether the stream ended first; at most ``maxchars`` bytes when given."""
    if maxchars is not None and maxchars <= 0:
        return ORIGINAL_READ_UNTIL_CLASS(class_chars, stream, maxchars=maxchars)
    pattern = _stop_pattern(class_chars)
    limit = maxchars
    parts: list[bytes] = []
    read = 0
    while True:
        want = _SHORT_CHUNK if limit is None else min(_SHORT_CHUNK, limit - read)
        if want <= 0:
            return b"".join(parts), False
        chunk = stream.read(want)
        if not chunk:
            return b"".join(parts), True
        found = pattern.search(chunk)
        if found is not None:
            position = found.start()
            stream.seek(position + 1 - len(chunk), 1)
            parts.append(chunk[:position])
            return b"".join(parts), False
        parts.append(chunk)
        read += len(chunk)


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def pdf_string(raw: bytes) -> Any:
    """pyHanko's ``generic.pdf_string`` for the bytes of a string token, at once when they are
    all printable ASCII (PDFDocEncoding is ASCII there, and no byte-order mark can start them);
    pyHanko's own otherwise. Its PDFDocEncoding decoder runs in Python, character by character:
    a PAdES-LTA file's document information dictionaries and field names cost more through it
    than the rest of their objects."""
    if raw.translate(None, _PRINTABLE_ASCII):
        return generic.pdf_string(raw)
    text = generic.TextStringObject(raw.decode("ascii"))
    text.autodetected_encoding = generic.TextStringEncoding.PDF_DOC
    return text


def install() -> None:
    """Put the faster routines into pyHanko's modules (idempotent)."""
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    misc._read_until_class = read_until_class
    generic._decode_name = decode_name
