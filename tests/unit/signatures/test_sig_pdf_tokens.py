"""The faster tokenizer routines (``pdf_tokens``) behave byte for byte like pyHanko's originals:
same value (or same exception type), same stream position afterwards, on arbitrary bytes and on
the shapes PDFs actually hold (hex strings with whitespace and comments, names with escapes)."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic, misc

from gateway.signatures import pdf_tokens

PDF_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(
        st.sampled_from(
            [b"0", b"9", b"a", b"F", b"g", b" ", b"\n", b"\r", b"\x00", b"\x0c", b"\t", b">",
             b"<", b"%", b"#", b"#41", b"#4", b"/", b"(", b")", b"[", b"]", b"\xe9", b"\x7f"]
        ),
        max_size=120,
    ).map(b"".join),
)  # fmt: skip


def outcome(function: Any, stream: BytesIO, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    try:
        value = function(*args, stream, **kwargs) if args else function(stream, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the type of the error is what is compared
        return ("raised", type(exc), stream.tell())
    return ("value", type(value), value, stream.tell())


@settings(max_examples=400, deadline=None)
@given(body=PDF_BYTES, start=st.integers(0, 8))
def test_hex_string_reading_matches_pyhanko(body: bytes, start: int) -> None:
    data = b"x" * start + b"<" + body
    expected = outcome(pdf_tokens.ORIGINAL_READ_HEX_STRING, _at(data, start))
    assert outcome(pdf_tokens.read_hex_string_from_stream, _at(data, start)) == expected


@settings(max_examples=400, deadline=None)
@given(
    data=PDF_BYTES,
    start=st.integers(0, 8),
    classes=st.sampled_from(
        [misc.PDF_WHITESPACE, misc.PDF_WHITESPACE + misc.PDF_DELIMITERS, b">", b"%\n"]
    ),
    maxchars=st.one_of(st.none(), st.integers(-2, 400)),
)
def test_read_until_class_matches_pyhanko(
    data: bytes, start: int, classes: bytes, maxchars: int | None
) -> None:
    original = outcome(
        pdf_tokens.ORIGINAL_READ_UNTIL_CLASS, _at(data, start), classes, maxchars=maxchars
    )
    fast = outcome(pdf_tokens.read_until_class, _at(data, start), classes, maxchars=maxchars)
    assert fast == original


@settings(max_examples=400, deadline=None)
@given(name=PDF_BYTES)
def test_name_decoding_matches_pyhanko(name: bytes) -> None:
    def decode(original: Any, raw: bytes) -> tuple[Any, ...]:
        try:
            value = original(raw)
        except Exception as exc:  # noqa: BLE001 - the type of the error is what is compared
            return ("raised", type(exc))
        return ("value", type(value), value)

    assert decode(pdf_tokens.decode_name, name) == decode(pdf_tokens.ORIGINAL_DECODE_NAME, name)


def test_installed_in_pyhankos_reader() -> None:
    import gateway.signatures.pades  # noqa: F401 - installs the routines

    assert generic.read_hex_string_from_stream is pdf_tokens.read_hex_string_from_stream
    assert misc._read_until_class is pdf_tokens.read_until_class
    assert generic._decode_name is pdf_tokens.decode_name
    # a comment inside a hex string (pyHanko skips it), an odd digit count (padded with 0)
    commented = b"<3082 01\n0a 00%c>\n>"
    assert generic.read_object(BytesIO(commented), None) == generic.pdf_string(
        b"\x30\x82\x01\x0a\x00"
    )
    assert generic.read_object(BytesIO(b"<30 8 >"), None) == generic.pdf_string(b"\x30\x80")


def _at(data: bytes, start: int) -> BytesIO:
    stream = BytesIO(data)
    stream.seek(min(start, len(data)))
    return stream


def test_long_hex_strings_across_chunks_match_pyhanko() -> None:
    # a /Contents-sized body and more: several 64 KiB chunks, line breaks, an odd digit count
    body = (bytes(range(256)).hex().encode() + b"\n") * 600 + b"a"
    for tail in (b">", b"> trailing", b"%comment\n>", b""):
        data = b"<" + body + tail
        expected = outcome(pdf_tokens.ORIGINAL_READ_HEX_STRING, _at(data, 0))
        assert outcome(pdf_tokens.read_hex_string_from_stream, _at(data, 0)) == expected


STRING_BYTES = st.one_of(
    st.binary(max_size=80),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(
        str.encode
    ),
    st.lists(
        st.sampled_from([b"D:2026", b"Z", b" ", b"\x7f", b"\x1f", b"\x09", b"\x0a", b"\xfe\xff",
                         b"\xff\xfe", b"\xef\xbb\xbf", b"\x00A", b"\xe9", b"\x80", b"\xad"]),
        max_size=20,
    ).map(b"".join),
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(raw=STRING_BYTES)
def test_pdf_string_matches_pyhanko(raw: bytes) -> None:
    """Same class, same value, same detected encoding as pyHanko's ``pdf_string``."""
    expected = generic.pdf_string(raw)
    found = pdf_tokens.pdf_string(raw)
    assert type(found) is type(expected)
    assert found == expected
    assert getattr(found, "autodetected_encoding", None) == getattr(
        expected, "autodetected_encoding", None
    )
