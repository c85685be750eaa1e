"""XAdES over text-heavy documents and over documents that bind the XMLDSig namespace twice,
against xmlsec1 (software we did not write).

Text-heavy documents -- a receipt carrying a large Base64 attachment, plus text and attribute
values that need escaping, non-ASCII and a carriage return -- are canonicalised by
``gateway.signatures.c14n`` rather than libxml2: xmlsec1's signatures must verify, a changed byte
of the payload must be HASH_FAILURE, and our signatures over them must verify with xmlsec1.

A document whose root binds the XMLDSig namespace to another prefix (``dsig``) than the
Signature's own (``ds``) used to come out of the enveloped-signature transform with its
Signature re-prefixed (lxml re-links a re-inserted subtree by namespace URI), so the
SignedProperties digest that follows was computed over ``dsig:`` octets: a false HASH_FAILURE.
Both canonicalisation paths are exercised (a text-heavy document is walked, a small and a
node-heavy one are handed to libxml2).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import (
    C14N,
    EXC_C14N,
    RECEIPT_XML,
    describe,
    only,
    xades_enveloped_template,
    xmlsec1_verify,
    xmlsec_sign,
)

from gateway import namespaces as ns
from gateway.domain.clock import FixedClock
from gateway.pki import DemoPki
from gateway.signatures import Indication, SubIndication, c14n, sign_xades_enveloped, validate

PAYLOAD = base64.b64encode(os.urandom(384 * 1024))
ESCAPED = b"&amp;&lt;&gt;&#13;\xc3\xa9\xe2\x82\xac"  # & < > CR, e-acute, euro sign
MIDDLE = len(PAYLOAD) // 2
ATTACHMENT = (
    b'<rcpt:Attachment name="a&amp;b&#9;c&quot;d">'
    + PAYLOAD[:MIDDLE]
    + ESCAPED
    + PAYLOAD[MIDDLE:]
    + b"</rcpt:Attachment>\n  "
)


def with_attachment(document: bytes) -> bytes:
    return document.replace(b"<rcpt:Decision>", ATTACHMENT + b"<rcpt:Decision>", 1)


@pytest.fixture
def fast_path_used(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """What ``c14n.render`` answered during the test (did the fast path run at all?)."""
    answers: list[bool] = []
    original = c14n.render

    def spy(*args: object, **kwargs: object) -> bool:
        answers.append(original(*args, **kwargs))  # type: ignore[arg-type]
        return answers[-1]

    monkeypatch.setattr(c14n, "render", spy)
    yield answers


def verdict(document: bytes, trust, policy):
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    signature = only(report)
    return report, (signature.indication, signature.sub_indication)


@pytest.mark.parametrize("method", [EXC_C14N, C14N], ids=["exclusive", "inclusive"])
def test_xmlsec1_text_heavy_document_passes(method, signer, trust, policy, fast_path_used) -> None:
    template = xades_enveloped_template(signer("company"), signing_time=PKI_NOW, c14n=method)
    signed = xmlsec_sign(with_attachment(template), signer("company"))
    report, result = verdict(signed, trust, policy)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert True in fast_path_used


@pytest.mark.parametrize(
    "tamper",
    [
        lambda document: document.replace(PAYLOAD[1000:1004], PAYLOAD[1000:1003] + b"A", 1),
        lambda document: document.replace(b"&amp;&lt;&gt;&#13;", b"&amp;&gt;&lt;&#13;", 1),
        lambda document: document.replace(b"&#13;\xc3\xa9", b"&#10;\xc3\xa9", 1),
        lambda document: document.replace(b'b&#9;c&quot;d"', b'b c&quot;d"', 1),
    ],
    ids=["payload", "escaped-characters", "carriage-return", "attribute-tab"],
)
def test_xmlsec1_text_heavy_document_tampered_is_hash_failure(
    tamper, signer, trust, policy, fast_path_used
) -> None:
    template = xades_enveloped_template(signer("company"), signing_time=PKI_NOW)
    signed = xmlsec_sign(with_attachment(template), signer("company"))
    tampered = tamper(signed)
    assert tampered != signed
    report, result = verdict(tampered, trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)
    assert True in fast_path_used


def test_own_xades_of_text_heavy_document_verifies_with_xmlsec1(
    pki: DemoPki, signer, tmp_path: Path, fast_path_used
) -> None:
    company = signer("company")
    signed = sign_xades_enveloped(
        with_attachment(RECEIPT_XML), company.key, company.certificate, clock=FixedClock(PKI_NOW)
    )
    assert True in fast_path_used
    (tmp_path / "signed.xml").write_bytes(signed)
    result = xmlsec1_verify(pki, tmp_path / "signed.xml", VALIDATION_TIME)
    assert result.returncode == 0, result.stderr
    assert "SignedInfo References (ok/all): 2/2" in result.stderr


NODE_HEAVY_ITEMS = b"".join(
    b"<rcpt:Item><rcpt:Notification>N-2026-%06d</rcpt:Notification></rcpt:Item>\n" % number
    for number in range(300)
)


@pytest.mark.parametrize("shape", ["small", "node-heavy", "text-heavy"])
@pytest.mark.parametrize("method", [EXC_C14N, C14N], ids=["exclusive", "inclusive"])
def test_xmldsig_namespace_bound_to_another_prefix_on_the_root(
    shape, method, signer, trust, policy, fast_path_used
) -> None:
    template = xades_enveloped_template(signer("company"), signing_time=PKI_NOW, c14n=method)
    template = template.replace(
        b'<rcpt:Receipt xmlns:rcpt="', f'<rcpt:Receipt xmlns:dsig="{ns.DS}" xmlns:rcpt="'.encode()
    )
    if shape == "node-heavy":
        template = template.replace(b"<rcpt:Decision>", NODE_HEAVY_ITEMS + b"<rcpt:Decision>", 1)
    if shape == "text-heavy":
        template = with_attachment(template)
    signed = xmlsec_sign(template, signer("company"))
    report, result = verdict(signed, trust, policy)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert (True in fast_path_used) is (shape == "text-heavy")
