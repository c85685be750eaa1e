"""SubmitReceipt with the acknowledgement signed as an enveloping XAdES (inside ``ds:Object``,
as XML or as Base64) and as a detached XAdES over it, by xmlsec1 (issue 12), over the real server.

Each form is accepted; every tampered twin (content, SignedInfo, SignedProperties, signature
value, a substituted Object or document, an Object holding more than the acknowledgement) is
refused with the notifications and receipt tables unchanged. The refused twins are tried first,
with the same prepared acknowledgement the good signature then uses: a refusal consumes nothing.
Notifications: positions 81-90 of the company's reserved pool (``test_soap_receipts.pool``).
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

import pytest
import xmlsec_xades
from receipt_answers import outcomes_of
from test_soap_receipts import pool, prepare, refused

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres


def _first_digest_value(signed: bytes) -> bytes:
    match = re.search(rb"<ds:DigestValue>([^<]+)</ds:DigestValue>", signed)
    assert match is not None
    value = bytearray(base64.b64decode(match.group(1)))
    value[0] ^= 0x01
    return signed.replace(match.group(1), base64.b64encode(bytes(value)), 1)


def _signing_time_changed(signed: bytes) -> bytes:
    changed = re.sub(rb"<xades:SigningTime>(\d{4})", lambda m: b"<xades:SigningTime>" +
                     str(int(m.group(1)) - 1).encode(), signed)
    assert changed != signed
    return changed


def _signature_value_changed(signed: bytes) -> bytes:
    match = re.search(rb"<ds:SignatureValue>([^<]+)</ds:SignatureValue>", signed)
    assert match is not None
    value = bytearray(base64.b64decode(match.group(1)))
    value[len(value) // 2] ^= 0x01
    return signed.replace(match.group(1), base64.b64encode(bytes(value)), 1)


def _submit(gateway: RunningGateway, signed: bytes, detached: bytes | None = None) -> Any:
    return gateway.client("company").service.SubmitReceipt(
        signedReceipt=signed, detachedContent=detached)


def test_enveloping_xades_with_the_acknowledgement_as_xml(gateway: RunningGateway,
                                                          gw_code: Any) -> None:
    ids = pool(gateway, 81, 83)
    acknowledgement = prepare(gateway, ids).receipt
    other = prepare(gateway, pool(gateway, 83, 84)).receipt
    company = gateway.pki.client("company")
    signed = xmlsec_xades.enveloping(company, acknowledgement)
    nonce = re.search(rb"<rcpt:Nonce>([^<]+)</rcpt:Nonce>", signed)
    assert nonce is not None
    twins = {
        "content": (signed.replace(nonce.group(1), nonce.group(1)[::-1]), "HASH_FAILURE"),
        "signed-info": (_first_digest_value(signed), "SIG_CRYPTO_FAILURE"),
        "signed-properties": (_signing_time_changed(signed), "HASH_FAILURE"),
        "signature-value": (_signature_value_changed(signed), "SIG_CRYPTO_FAILURE"),
        # Another acknowledgement put in the signed Object's place.
        "substituted": (_substituted(signed, other), "HASH_FAILURE"),
    }
    for name, (twin, code) in twins.items():
        assert twin != signed, name
        refused(gateway, gw_code, lambda twin=twin: _submit(gateway, twin), code)
    # Signed correctly, but the Object holds the acknowledgement and something else.
    crowded = xmlsec_xades.xades(
        company, [xmlsec_xades.reference("#data", (xmlsec_xades.EXC_C14N,))],
        objects='<ds:Object Id="data">' + _body(acknowledgement) + "<extra/></ds:Object>",
        object_ids=True)
    refused(gateway, gw_code, lambda: _submit(gateway, crowded), "MALFORMED_RECEIPT")
    receipt = _submit(gateway, signed)
    assert outcomes_of(receipt) == dict.fromkeys(ids, "ACCEPTED")


def test_enveloping_xades_with_the_acknowledgement_in_base64(gateway: RunningGateway,
                                                             gw_code: Any) -> None:
    ids = pool(gateway, 84, 86)
    acknowledgement = prepare(gateway, ids).receipt
    signed = xmlsec_xades.enveloping(
        gateway.pki.client("company"), acknowledgement, as_base64=True)
    encoded = base64.b64encode(acknowledgement)
    assert encoded in signed
    position = len(encoded) // 2
    flipped = encoded[:position] + (b"A" if encoded[position:position + 1] != b"A" else b"B") \
        + encoded[position + 1:]
    twins = {
        "content": (signed.replace(encoded, flipped), "HASH_FAILURE"),
        "signed-info": (_first_digest_value(signed), "SIG_CRYPTO_FAILURE"),
        "signed-properties": (_signing_time_changed(signed), "HASH_FAILURE"),
        "signature-value": (_signature_value_changed(signed), "SIG_CRYPTO_FAILURE"),
    }
    for name, (twin, code) in twins.items():
        assert twin != signed, name
        refused(gateway, gw_code, lambda twin=twin: _submit(gateway, twin), code)
    receipt = _submit(gateway, signed)
    assert outcomes_of(receipt) == dict.fromkeys(ids, "ACCEPTED")


def test_detached_xades_over_the_acknowledgement(gateway: RunningGateway, gw_code: Any) -> None:
    ids = pool(gateway, 86, 88)
    acknowledgement = prepare(gateway, ids).receipt
    other = prepare(gateway, pool(gateway, 88, 89)).receipt
    signed = xmlsec_xades.detached(gateway.pki.client("company"), {"ack.xml": acknowledgement})
    twins = {
        "content": (signed, acknowledgement.replace(b"ACCEPT", b"REJECT"), "HASH_FAILURE"),
        "other-document": (signed, other, "HASH_FAILURE"),
        "signed-info": (_first_digest_value(signed), acknowledgement, "SIG_CRYPTO_FAILURE"),
        "signed-properties": (_signing_time_changed(signed), acknowledgement, "HASH_FAILURE"),
        "signature-value": (_signature_value_changed(signed), acknowledgement,
                            "SIG_CRYPTO_FAILURE"),
        "no-content": (signed, None, "SIGNED_DATA_NOT_FOUND"),
    }
    for name, (twin, content, code) in twins.items():
        assert (twin, content) != (signed, acknowledgement), name
        refused(gateway, gw_code,
                lambda twin=twin, content=content: _submit(gateway, twin, content), code)
    receipt = _submit(gateway, signed, acknowledgement)
    assert outcomes_of(receipt) == dict.fromkeys(ids, "ACCEPTED")


def _body(document: bytes) -> str:
    text = document.decode("utf-8")
    return text[text.index("?>") + 2:].lstrip() if text.startswith("<?xml") else text


def _substituted(signed: bytes, other: bytes) -> bytes:
    """The enveloping signature with its Object's acknowledgement replaced by ``other``."""
    from lxml import etree

    from gateway import namespaces as ns

    root = etree.fromstring(signed)
    data = root.find(f"{{{ns.DS}}}Object[@Id='data']")
    assert data is not None
    for child in list(data):
        data.remove(child)
    data.append(etree.fromstring(other))
    return etree.tostring(root)
