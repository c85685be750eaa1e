"""Format detection from the first bytes."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.signatures import SignatureFormat
from gateway.signatures.detect import (
    decode_text,
    detect_format,
    looks_like_signed_data,
    unwrap_pem,
)

SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"%PDF-1.7\n...", SignatureFormat.PADES),
        (b"junk before the header %PDF-1.4", SignatureFormat.PADES),
        (b"<?xml version='1.0'?><a/>", SignatureFormat.XADES),
        (b"\xef\xbb\xbf  \n<a/>", SignatureFormat.XADES),
        (b"<!-- c --><a/>", SignatureFormat.XADES),
        # UTF-16 and UTF-32, with a byte-order mark or a declaration (XML 1.0 Appendix F), as
        # Windows tools save XML.
        ("\ufeff<?xml version='1.0' encoding='UTF-16'?><a/>".encode("utf-16-le"),
         SignatureFormat.XADES),
        ("\ufeff\r\n<a/>".encode("utf-16-be"), SignatureFormat.XADES),
        ("<?xml version='1.0' encoding='UTF-16LE'?><a/>".encode("utf-16-le"),
         SignatureFormat.XADES),
        ("<?xml version='1.0' encoding='UTF-16BE'?><a/>".encode("utf-16-be"),
         SignatureFormat.XADES),
        ("\ufeff<a/>".encode("utf-32-le"), SignatureFormat.XADES),
        ("hello".encode("utf-16"), None),
        (b"\x30\x82\x01\x00", SignatureFormat.CADES),
        # A CMS that envelops a PDF is CMS: the structure decides, not a %PDF- near the start.
        (b"\x30\x80" + SIGNED_DATA + b"\xa0\x80...%PDF-1.7", SignatureFormat.CADES),
        (b"\x30\x82\x04\x00" + SIGNED_DATA + b"%PDF-1.4", SignatureFormat.CADES),
        (b"\x30\x81\x90" + SIGNED_DATA, SignatureFormat.CADES),
        # A SEQUENCE that is not SignedData, with a PDF header after it: junk before a PDF.
        (b"\x30\x03\x02\x01\x00%PDF-1.4", SignatureFormat.PADES),
        (
            b"-----BEGIN PKCS7-----\n" + base64.encodebytes(b"\x30\x00") + b"-----END PKCS7-----\n",
            SignatureFormat.CADES,
        ),
        (b"-----BEGIN CMS-----\nMAA=\n-----END CMS-----", SignatureFormat.CADES),
        (b"", None),
        (b"hello", None),
        (b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----", None),
        (b"MIIB", None),
        # A .p7s/.p7m saved as bare Base64 text (no PEM lines), as web signers download it.
        (base64.encodebytes(b"\x30\x82\x01\x00" + SIGNED_DATA + bytes(20)), SignatureFormat.CADES),
        (base64.b64encode(b"\x30\x80" + SIGNED_DATA + bytes(20)) + b"\r\n", SignatureFormat.CADES),
        (base64.encodebytes(b"\x30\x03\x02\x01\x00"), None),
        (b"PK\x03\x04\x14\x00\x00\x00", SignatureFormat.ASIC),
        # A container whose first entry is a PDF stored uncompressed (as ASiC tools store data
        # objects) holds %PDF- in its first kilobyte: the ZIP structure decides.
        (b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + bytes(20) + b"scan.pdf%PDF-1.7\n",
         SignatureFormat.ASIC),
        # So does XML that mentions a PDF header in its first kilobyte.
        (b"<?xml version='1.0'?><doc><note>starts with %PDF-1.4</note></doc>",
         SignatureFormat.XADES),
        ("<a>%PDF-1.4</a>".encode("utf-16"), SignatureFormat.XADES),
    ],
)
def test_detection(data, expected) -> None:
    assert detect_format(data) is expected


def test_bare_base64_signed_data_is_decoded() -> None:
    der = b"\x30\x82\x01\x00" + SIGNED_DATA + bytes(20)
    assert decode_text(base64.encodebytes(der)) == der
    assert decode_text(b"-----BEGIN CMS-----\nMAA=\n-----END CMS-----\n") == b"\x30\x00"
    assert decode_text(base64.encodebytes(b"\x30\x03\x02\x01\x00")) is None  # not SignedData
    assert decode_text(base64.encodebytes(der) + b"!") is None
    assert decode_text(der) is None


def test_pem_is_unwrapped() -> None:
    assert unwrap_pem(b"-----BEGIN CMS-----\nMAA=\n-----END CMS-----\n") == b"\x30\x00"
    assert unwrap_pem(b"-----BEGIN CMS-----\n!!!\n-----END CMS-----\n") is None
    assert unwrap_pem(b"\x30\x00") is None


@given(st.binary(max_size=2048))
def test_detection_never_raises(data: bytes) -> None:
    assert detect_format(data) in (None, *SignatureFormat)
    assert isinstance(looks_like_signed_data(data), bool)
