"""Which signature format a byte string holds, by its structure (issue 13, point 1).

In this order, so that one format carried inside another is read as the outer one:

* CMS: a ContentInfo whose first bytes are a SEQUENCE header (DER, or BER indefinite length as
  ``openssl cms -stream`` writes) followed by the id-signedData OID (RFC 5652 §3, §5.1). A CMS
  that envelops a PDF holds ``%PDF-`` in its first kilobyte, so this comes before the PDF test;
  PEM ``-----BEGIN PKCS7-----`` / ``CMS`` / ``PKCS #7 SIGNED DATA`` is decoded by
  :func:`unwrap_pem`.
* PDF: ``%PDF-`` at the start (after whitespace).
* ZIP (a local file header, ``PK\x03\x04``, at the start): an ASiC container
  (``gateway.signatures.asic``). Before the lenient PDF test below: a container whose first
  entry is a PDF stored uncompressed holds ``%PDF-`` in its first kilobyte.
* XML: optional byte-order mark and whitespace, then ``<`` (a prolog, a comment or the root
  element), in UTF-8 or -- by its byte-order mark or the pattern of ``<?`` (XML 1.0 Appendix F)
  -- UTF-16 or UTF-32, as Windows tools save XML; libxml2 decodes them. Also before the lenient
  PDF test: XML may mention a PDF header.
* PDF again: ``%PDF-`` within the first 1024 bytes (ISO 32000-1 §7.5.2 lets readers accept a
  header preceded by junk; so do we, and pyHanko decides the rest).
* CMS again: any other DER SEQUENCE (``0x30``): a damaged CMS is reported as one.

A SignedData saved as bare Base64 text (no PEM lines; several web signers and national tools
download ``.p7s``/``.p7m`` files so) is decoded too, by :func:`decode_text`, when the whole file
is Base64 and decodes to a ContentInfo of type id-signedData. Nothing else is guessed.
"""

from __future__ import annotations

import base64
import binascii
import re

from gateway.signatures.report import SignatureFormat

_PEM = re.compile(
    rb"-----BEGIN (PKCS7|CMS|PKCS #7 SIGNED DATA)-----([A-Za-z0-9+/=\s]+)-----END \1-----"
)
_XML_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<")
_WIDE_ENCODINGS = ("utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be")
"""Tried longest unit first: a UTF-32-LE byte-order mark starts like the UTF-16-LE one."""
_SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")
"""DER of OBJECT IDENTIFIER 1.2.840.113549.1.7.2 (id-signedData)."""


def unwrap_pem(document: bytes) -> bytes | None:
    """The DER inside PEM armour, or None when ``document`` is not PEM CMS."""
    head = document.lstrip()[:40]
    if not head.startswith(b"-----BEGIN "):
        return None
    match = _PEM.search(document)
    if match is None:
        return None
    try:
        return base64.b64decode(b"".join(match.group(2).split()), validate=True)
    except (binascii.Error, ValueError):
        return None


_BASE64_TEXT = re.compile(rb"\A[A-Za-z0-9+/\s]*+={0,2}\s*+\Z")  # possessive: linear


def decode_text(document: bytes) -> bytes | None:
    """The DER of a CMS written as text: PEM armour (:func:`unwrap_pem`), or bare Base64 whose
    decoding starts as a SignedData (its DER starts ``MI``); None for anything else."""
    pem = unwrap_pem(document)
    if pem is not None:
        return pem
    if document.lstrip()[:2] != b"MI" or not _BASE64_TEXT.match(document):
        return None
    try:
        decoded = base64.b64decode(b"".join(document.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if looks_like_signed_data(decoded) else None


def _header_length(document: bytes) -> int | None:
    """Octets of a SEQUENCE's tag and length at the start of ``document``, or None."""
    if document[:1] != b"\x30" or len(document) < 2:
        return None
    first = document[1]
    if first < 0x80 or first == 0x80:  # short form, or BER indefinite length
        return 2
    count = first & 0x7F
    if count > 4 or len(document) < 2 + count:
        return None
    return 2 + count


def looks_like_signed_data(document: bytes) -> bool:
    """Whether ``document`` starts as a ContentInfo of type id-signedData."""
    header = _header_length(document)
    return header is not None and document[header : header + len(_SIGNED_DATA_OID)] == (
        _SIGNED_DATA_OID
    )


def detect_format(document: bytes) -> SignatureFormat | None:
    """The format ``document`` is, by structure (order in the module docstring), or None."""
    if looks_like_signed_data(document) or decode_text(document) is not None:
        return SignatureFormat.CADES
    if document.lstrip()[:5] == b"%PDF-":
        return SignatureFormat.PADES
    if document[:4] == b"PK\x03\x04":
        return SignatureFormat.ASIC
    if _XML_START.match(document[:256]) or _wide_xml(document[:256]):
        return SignatureFormat.XADES
    if b"%PDF-" in document[:1024]:
        return SignatureFormat.PADES
    if document[:1] == b"\x30":
        return SignatureFormat.CADES
    return None


def _wide_xml(head: bytes) -> bool:
    """Whether ``head`` starts as XML in UTF-16 or UTF-32 (byte-order mark, or none and ``<?``
    or ``<`` in the encoding's pattern), then whitespace and ``<``."""
    for encoding in _WIDE_ENCODINGS:
        unit = 4 if "32" in encoding else 2
        if len(head) < 2 * unit:
            continue
        try:
            text = head[: len(head) - len(head) % unit].decode(encoding)
        except UnicodeDecodeError:
            continue
        text = text.removeprefix("\ufeff")
        if text.lstrip(" \t\r\n").startswith("<") and "\x00" not in text:
            return True
    return False
