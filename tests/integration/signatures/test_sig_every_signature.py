"""Issue 12, point 8: every ``ds:Signature`` of a document appears in the report -- including
counter-signatures and the ones the engine cannot validate, each with its reason.

Signatures are made by Debian's xmlsec1 (``--node-id`` signs one Signature of several).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sig_realworld import INVOICE, LINE_ID_ATTR, signature, transform
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import (
    C14N,
    EXC_C14N,
    SIGNED_PROPERTIES_TYPE,
    XADES_SP_ID_ATTR,
    describe,
    signature_template,
    xades_signed_properties,
    xmlsec_sign,
)
from sig_xml_vectors import versioned_xades_template

from gateway import namespaces as ns
from gateway.signatures import (
    Indication,
    SignaturePolicy,
    SignedObjectKind,
    SubIndication,
    validate,
)

XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
SIGNATURE_ID_ATTR = f"{ns.DS}:Signature"
COUNTERSIGNED_SIGNATURE_TYPE = "http://uri.etsi.org/01903#CountersignedSignature"
PASSED = (Indication.TOTAL_PASSED, None)
FORMAT_FAILURE = (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)


@pytest.fixture(scope="module")
def plain_policy(policy: SignaturePolicy) -> SignaturePolicy:
    return replace(policy, require_signing_certificate_reference=False)


def verdicts(document: bytes, trust, policy) -> list[tuple[str, tuple[object, object], str]]:
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    return [
        (
            entry.identifier,
            (entry.indication, entry.sub_indication),
            entry.findings[0].message if entry.findings else "",
        )
        for entry in report.signatures
    ]


def _two_signatures(signer, second_transforms: list[str]) -> bytes:
    template = INVOICE.format(
        signature=signature([("#l1", [transform(C14N)])], signature_id="sig-1")
        + signature([("#l2", second_transforms)], signature_id="sig-2")
    )
    id_attrs = (LINE_ID_ATTR, SIGNATURE_ID_ATTR)
    once = xmlsec_sign(template.encode(), signer("company"), id_attrs=id_attrs, node_id="sig-1")
    return xmlsec_sign(once, signer("person"), id_attrs=id_attrs, node_id="sig-2")


def test_a_signature_the_engine_cannot_validate_is_listed_with_its_reason(
    signer, trust, plain_policy
) -> None:
    stylesheet = (
        '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
        '<xsl:template match="/"><xsl:copy-of select="."/></xsl:template></xsl:stylesheet>'
    )
    signed = _two_signatures(signer, [transform(XSLT, stylesheet), transform(C14N)])
    found = verdicts(signed, trust, plain_policy)
    assert [(identifier, result) for identifier, result, _ in found] == [
        ("sig-1", PASSED),
        ("sig-2", FORMAT_FAILURE),
    ], found
    assert XSLT in found[1][2]


def test_a_duplicated_id_lists_every_signature(signer, trust, plain_policy) -> None:
    signed = _two_signatures(signer, [transform(C14N)]).replace(
        b"<Amount>20</Amount>", b'<Amount Id="l1">20</Amount>'
    )
    found = verdicts(signed, trust, plain_policy)
    assert [identifier for identifier, _, _ in found] == ["sig-1", "sig-2"]
    assert all(result == FORMAT_FAILURE for _, result, _ in found)
    assert all("more than once" in message for _, _, message in found)


def test_signatures_beyond_the_limit_are_listed_not_validated(signer, trust, plain_policy) -> None:
    signed = _two_signatures(signer, [transform(C14N)])
    found = verdicts(signed, trust, replace(plain_policy, max_signatures=1))
    assert [(identifier, result) for identifier, result, _ in found] == [
        ("sig-1", PASSED),
        ("sig-2", FORMAT_FAILURE),
    ]
    assert "Not validated" in found[1][2]


def _counter_signed(signer) -> bytes:
    counter = signature_template(
        signature_id="sig-2",
        references=(("#sig-1-value", (EXC_C14N,), f"{ns.XADES}#CountersignedSignature"),),
    )
    unsigned = (
        "<xades:UnsignedProperties><xades:UnsignedSignatureProperties>"
        f"<xades:CounterSignature>{counter}</xades:CounterSignature>"
        "</xades:UnsignedSignatureProperties></xades:UnsignedProperties>"
    )
    properties = xades_signed_properties(
        "sig-1", signer("company").certificate, signing_time=PKI_NOW
    ).replace("</xades:QualifyingProperties>", unsigned + "</xades:QualifyingProperties>")
    main = signature_template(
        references=(
            ("#l1", (EXC_C14N,), None),
            ("#sig-1-sp", (EXC_C14N,), SIGNED_PROPERTIES_TYPE),
        ),
        objects=properties,
    ).replace("<ds:SignatureValue/>", '<ds:SignatureValue Id="sig-1-value"/>', 1)
    template = INVOICE.format(signature=main).encode()
    id_attrs = (LINE_ID_ATTR, XADES_SP_ID_ATTR, f"{ns.DS}:SignatureValue", SIGNATURE_ID_ATTR)
    once = xmlsec_sign(template, signer("company"), id_attrs=id_attrs, node_id="sig-1")
    return xmlsec_sign(once, signer("person"), id_attrs=id_attrs, node_id="sig-2")


def test_a_counter_signature_is_reported_and_names_its_parent(signer, trust, plain_policy) -> None:
    signed = _counter_signed(signer)
    report = validate(signed, policy=plain_policy, trust=trust, now=VALIDATION_TIME)
    entries = [(s.identifier, s.indication, s.counter_signature_of) for s in report.signatures]
    assert entries == [
        ("sig-1", Indication.TOTAL_PASSED, None),
        ("sig-2", Indication.TOTAL_PASSED, "sig-1"),
    ], describe(report)
    assert report.to_dict()["signatures"][1]["counter_signature_of"] == "sig-1"
    # The counter-signature signs the parent's SignatureValue: change it and both fail.
    value_start = signed.index(b'Id="sig-1-value">') + len(b'Id="sig-1-value">') + 10
    flipped = b"A" if signed[value_start : value_start + 1] != b"A" else b"B"
    modified = signed[:value_start] + flipped + signed[value_start + 1 :]
    found = verdicts(modified, trust, plain_policy)
    assert [result for _, result, _ in found] == [
        (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE),
        (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE),
    ], found


@pytest.mark.parametrize("version", ["1.1.1", "1.2.2", "1.3.2", "1.4.1"])
def test_a_counter_signature_in_any_xades_version_names_its_parent(
    version, signer, trust, plain_policy
) -> None:
    """Both halves of issue 12 at once: QualifyingProperties are recognised in every XAdES
    namespace (points 5 and 7) and the counter-signature they hold is reported (point 8)."""
    counter = signature_template(
        signature_id="sig-2",
        references=(("#sig-1-value", (EXC_C14N,), COUNTERSIGNED_SIGNATURE_TYPE),),
    )
    template, sp_id_attr = versioned_xades_template(
        signer("company"),
        version=version,
        signing_time=PKI_NOW,
        unsigned=f"<xades:CounterSignature>{counter}</xades:CounterSignature>",
    )
    template = template.replace(
        b"<ds:SignatureValue/>", b'<ds:SignatureValue Id="sig-1-value"/>', 1
    )
    id_attrs = (sp_id_attr, f"{ns.DS}:SignatureValue", SIGNATURE_ID_ATTR)
    once = xmlsec_sign(template, signer("company"), id_attrs=id_attrs, node_id="sig-1")
    signed = xmlsec_sign(once, signer("person"), id_attrs=id_attrs, node_id="sig-2")
    report = validate(signed, policy=plain_policy, trust=trust, now=VALIDATION_TIME)
    entries = [
        (s.identifier, s.indication, s.counter_signature_of, s.signing_certificate_reference)
        for s in report.signatures
    ]
    assert entries == [
        ("sig-1", Indication.TOTAL_PASSED, None, True),
        ("sig-2", Indication.TOTAL_PASSED, "sig-1", False),
    ], describe(report)
    assert report.signatures[0].claimed_signing_time == PKI_NOW
    kinds = [item.kind for item in report.signatures[0].signed_data_objects]
    assert SignedObjectKind.SIGNED_PROPERTIES in kinds, describe(report)
