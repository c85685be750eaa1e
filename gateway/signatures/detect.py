"""Which signature format a byte string holds, from its first bytes.

* PDF: ``%PDF-`` within the first 1024 bytes (ISO 32000-1 §7.5.2 lets readers accept a header
  preceded by junk; so do we, and pyHanko decides the rest).
* XML: optional UTF-8 BOM and whitespace, then ``<`` (a prolog, a comment or the root element).
* CMS: a DER SEQUENCE (``0x30``) -- or PEM ``-----BEGIN PKCS7-----`` / ``CMS`` / ``PKCS #7
  SIGNED DATA``, which :func:`unwrap_pem` decodes to DER.

Nothing else is guessed: Base64 without PEM armour is the transport layer's business.
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


def detect_format(document: bytes) -> SignatureFormat | None:
    """The format ``document`` looks like, or None."""
    if b"%PDF-" in document[:1024]:
        return SignatureFormat.PADES
    if document[:1] == b"\x30" or unwrap_pem(document) is not None:
        return SignatureFormat.CADES
    if _XML_START.match(document[:256]):
        return SignatureFormat.XADES
    return None
