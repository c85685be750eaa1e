"""Values of XML Signature elements: Base64 content (``ds:DigestValue``, ``ds:SignatureValue``,
``ds:X509Certificate``; XMLDSig 1.1 §4.3.3.5, §4.2, RFC 2045 §6.8) and element children
(comments and processing instructions between them carry no meaning in the structure)."""

from __future__ import annotations

import binascii

from lxml import etree


def decode_base64_text(element: etree._Element, what: str) -> bytes:
    """Strict Base64 of an element's text (whitespace ignored); ``ValueError`` saying what is
    wrong. Shared with ``gateway.signatures``, which reports the error its own way."""
    text = element.text or ""
    try:
        # xmlsec and zeep wrap at 64 columns with bare newlines: dropping those is enough, and
        # cheaper than splitting. Strict mode refuses any other whitespace, so a success here is
        # exactly a success of the general form below.
        value = binascii.a2b_base64(text.replace("\n", ""), strict_mode=True)
    except (binascii.Error, ValueError):
        try:
            value = binascii.a2b_base64("".join(text.split()), strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"{what} is not valid Base64") from exc
    if not value:
        raise ValueError(f"{what} is empty")
    return value


def element_children(parent: etree._Element) -> list[etree._Element]:
    """The child elements of ``parent``, without comments and processing instructions."""
    return [child for child in parent if isinstance(child.tag, str)]
