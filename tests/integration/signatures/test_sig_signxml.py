"""Issue 12 vectors made by signxml (XML-Security/signxml, a Python XMLDSig library we did not
write): an unprefixed ``Signature`` (``namespaces = {None: ds}``, as .NET writes it) over a
default-namespace document, enveloped and enveloping, with C14N 1.0, C14N 1.1 and exclusive
C14N. Each is TOTAL_PASSED under a plain-XMLDSig policy, with a content-tamper twin
(HASH_FAILURE) and a SignedInfo-tamper twin (SIG_CRYPTO_FAILURE)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from lxml import etree
from sig_realworld import tamper_signed_info
from sig_scenarios import VALIDATION_TIME
from sig_vectors import describe, only
from signxml import XMLSigner, methods, namespaces
from signxml.algorithms import CanonicalizationMethod

from gateway.signatures import Indication, SignaturePolicy, SubIndication, validate

INVOICE = (
    b'<Invoice xmlns="urn:example:invoice" xmlns:x="urn:example:extra" Id="inv">'
    b'<Line Id="l1"><Amount>10</Amount><Note xmlns=""><Free>plain</Free></Note></Line></Invoice>'
)
C14N = [
    CanonicalizationMethod.CANONICAL_XML_1_0,
    CanonicalizationMethod.CANONICAL_XML_1_1,
    CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
]
METHODS = [methods.enveloped, methods.enveloping]


@pytest.fixture(scope="module")
def plain_policy(policy: SignaturePolicy) -> SignaturePolicy:
    return replace(policy, require_signing_certificate_reference=False)


def verdict(document: bytes, trust, policy):
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    return report, (only(report).indication, only(report).sub_indication)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
@pytest.mark.parametrize("c14n", C14N, ids=lambda c: c.name)
def test_signxml_vector_and_its_tampered_twins(c14n, method, pki, trust, plain_policy) -> None:
    credential = pki.client("company")
    signer = XMLSigner(method=method, c14n_algorithm=c14n)
    signer.namespaces = {None: namespaces.ds}
    signed = etree.tostring(
        signer.sign(
            etree.fromstring(INVOICE),
            key=credential.key_path.read_bytes(),
            cert=credential.cert_path.read_bytes(),
        )
    )
    assert b"<Signature " in signed  # unprefixed, as intended
    report, result = verdict(signed, trust, plain_policy)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)

    report, result = verdict(signed.replace(b">10<", b">11<"), trust, plain_policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)

    report, result = verdict(tamper_signed_info(signed), trust, plain_policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE), describe(report)
