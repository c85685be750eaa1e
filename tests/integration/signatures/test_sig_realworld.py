"""Issue 12, points 1-3: XML signatures as other tools make them, signed by Debian's xmlsec1.

Each vector (``sig_realworld.VECTORS``) is valid -- TOTAL_PASSED under a policy that accepts
plain XMLDSig -- and has two tampered twins: a content byte changed (HASH_FAILURE) and
whitespace added inside SignedInfo (SIG_CRYPTO_FAILURE). A valid signature reported as failed is
as bad as an invalid one reported passed, so every vector asserts the full indication both ways.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sig_realworld import (
    INVOICE,
    INVOICE_ID_ATTR,
    LINE_ID_ATTR,
    MANIFEST_ID_ATTR,
    MANIFEST_TYPE,
    ORPHANS,
    VECTORS,
    RealWorldVector,
    manifest,
    signature,
    tamper_signed_info,
    transform,
)
from sig_scenarios import VALIDATION_TIME
from sig_vectors import C14N, ENVELOPED, describe, only, xmlsec_sign

from gateway.signatures import (
    Indication,
    SignaturePolicy,
    SignedObjectKind,
    SubIndication,
    ValidationReport,
    validate,
)
from gateway.trust.certificates import TrustStore

PASSED = (Indication.TOTAL_PASSED, None)
HASH_FAILURE = (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
SIG_CRYPTO_FAILURE = (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


@pytest.fixture(scope="module")
def plain_policy(policy: SignaturePolicy) -> SignaturePolicy:
    """Plain XMLDSig (no XAdES signing-certificate reference) is what these tools make."""
    return replace(policy, require_signing_certificate_reference=False)


def check(document: bytes, trust: TrustStore, policy: SignaturePolicy) -> ValidationReport:
    return validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)


def result(report: ValidationReport) -> tuple[Indication, SubIndication | None]:
    signature_report = only(report)
    return signature_report.indication, signature_report.sub_indication


@pytest.fixture(scope="module")
def signed_vectors(signer) -> dict[str, bytes]:
    company = signer("company")
    return {
        vector.name: xmlsec_sign(vector.template.encode(), company, id_attrs=vector.id_attrs)
        for vector in VECTORS
    }


@pytest.mark.parametrize("vector", VECTORS, ids=[vector.name for vector in VECTORS])
def test_xmlsec1_vector_and_its_tampered_twins(
    vector: RealWorldVector, signed_vectors, trust, plain_policy
) -> None:
    signed = signed_vectors[vector.name]
    report = check(signed, trust, plain_policy)
    assert result(report) == PASSED, describe(report)
    assert only(report).signed_data_objects, describe(report)

    assert signed.count(vector.content_needle) == 1
    modified = signed.replace(vector.content_needle, vector.content_replacement)
    report = check(modified, trust, plain_policy)
    assert result(report) == HASH_FAILURE, describe(report)

    report = check(tamper_signed_info(signed), trust, plain_policy)
    assert result(report) == SIG_CRYPTO_FAILURE, describe(report)


def test_several_references_are_each_reported(signed_vectors, trust, plain_policy) -> None:
    report = check(signed_vectors["several-references"], trust, plain_policy)
    objects = only(report).signed_data_objects
    assert [(item.kind, item.identifier, item.element_path) for item in objects] == [
        (SignedObjectKind.XML_DOCUMENT, "", "/"),
        (SignedObjectKind.XML_ELEMENT, "#l1", "/Invoice/Line[1]"),
        (SignedObjectKind.XML_ELEMENT, "#l2", "/Invoice/Line[2]"),
        (SignedObjectKind.XML_ELEMENT, "#inv", "/Invoice"),
    ]
    assert objects[1].transforms == ("c14n11",)
    assert [item.covers_whole_document for item in objects] == [True, False, False, True]


def test_transforms_are_reported_with_the_reference(signed_vectors, trust, plain_policy) -> None:
    report = check(signed_vectors["xpath-not-ancestor-or-self-signature"], trust, plain_policy)
    (item,) = only(report).signed_data_objects
    assert item.transforms == ("xpath: not(ancestor-or-self::dsig:Signature)", "c14n")
    assert report.to_dict()["signatures"][0]["signed_data_objects"][0]["transforms"] == list(
        item.transforms
    )


def test_enveloping_base64_reports_the_object(signed_vectors, trust, plain_policy) -> None:
    report = check(signed_vectors["enveloping-base64-dss"], trust, plain_policy)
    (item,) = only(report).signed_data_objects
    assert item.element_path == "/ds:Signature/ds:Object"
    assert item.transforms == ("base64",)
    assert item.covers_whole_document


def test_invalid_base64_in_the_object_is_a_format_failure(
    signed_vectors, trust, plain_policy
) -> None:
    broken = signed_vectors["enveloping-base64-dss"].replace(b"SGVsbG8g", b"SGVsbG8*")
    report = check(broken, trust, plain_policy)
    assert result(report) == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    assert "Base64" in only(report).findings[0].message


@pytest.mark.parametrize("template", ORPHANS, ids=["attributes", "namespaces"])
def test_orphan_attributes_and_namespaces_are_refused(
    template: str, signer, trust, plain_policy
) -> None:
    signed = xmlsec_sign(template.encode(), signer("company"), id_attrs=(LINE_ID_ATTR,))
    report = check(signed, trust, plain_policy)
    assert result(report) == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    assert "leaves out" in only(report).findings[0].message


def test_references_that_multiply_the_canonicalisation_work_are_refused(
    signer, trust, plain_policy
) -> None:
    """32 references to the whole (node-heavy) document, canonicalised inclusively in Python:
    past eight renderings of the document's elements the engine stops (nodeset.WorkBudget)."""
    lines = "".join(f'<Line Id="n{i}"><Amount>{i}</Amount></Line>' for i in range(1500))
    template = INVOICE.replace("{signature}", lines + "{signature}").format(
        signature=signature([("#inv", [transform(ENVELOPED), transform(C14N)])] * 32)
    )
    signed = xmlsec_sign(template.encode(), signer("company"), id_attrs=(INVOICE_ID_ATTR,))
    report = check(signed, trust, plain_policy)
    assert result(report) == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    assert "too much canonicalisation work" in only(report).findings[0].message
    # Eight renderings are within the budget.
    fewer = INVOICE.replace("{signature}", lines + "{signature}").format(
        signature=signature([("#inv", [transform(ENVELOPED), transform(C14N)])] * 7)
    )
    signed = xmlsec_sign(fewer.encode(), signer("company"), id_attrs=(INVOICE_ID_ATTR,))
    assert result(check(signed, trust, plain_policy)) == PASSED


# --- manifests (XMLDSig §5.1) --------------------------------------------------------------------


def _manifest_vector(signer) -> bytes:
    template = INVOICE.format(
        signature=signature(
            [("#man-1", [transform(C14N)], MANIFEST_TYPE)],
            objects=manifest("man-1", [("#l1", [transform(C14N)]), ("#l2", [])]),
        )
    )
    return xmlsec_sign(
        template.encode(), signer("company"), id_attrs=(LINE_ID_ATTR, MANIFEST_ID_ATTR)
    )


def test_manifest_references_are_checked_and_reported(signer, trust, plain_policy) -> None:
    signed = _manifest_vector(signer)
    report = check(signed, trust, plain_policy)
    assert result(report) == PASSED, describe(report)
    objects = only(report).signed_data_objects
    assert [(item.kind, item.identifier, item.manifest, item.intact) for item in objects] == [
        (SignedObjectKind.MANIFEST, "#man-1", None, True),
        (SignedObjectKind.XML_ELEMENT, "#l1", "#man-1", True),
        (SignedObjectKind.XML_ELEMENT, "#l2", "#man-1", True),
    ]
    assert not only(report).warnings


def test_a_failed_manifest_reference_is_reported_not_ignored(signer, trust, plain_policy) -> None:
    """XMLDSig §5.1: core validation covers the Manifest (its DigestValues), not the data its
    references point at; the application decides. We report each failed entry as not intact,
    with a warning naming it, and never count it towards what the signature covers."""
    signed = _manifest_vector(signer).replace(b">10<", b">11<")
    report = check(signed, trust, plain_policy)
    assert result(report) == PASSED, describe(report)
    entries = {item.identifier: item for item in only(report).signed_data_objects}
    assert entries["#l1"].intact is False and entries["#l2"].intact is True
    assert any("#l1" in warning and "Manifest" in warning for warning in only(report).warnings)
    # The ETSI report lists the Manifest and the intact entry as signed data, not the other.
    reference = re.search(rb'SignersDocumentRef[^>]*VOReference="([^"]*)"', report.to_etsi_xml())
    assert reference is not None and reference.group(1).split() == [b"D-1-1", b"D-1-2"]


def test_a_modified_manifest_is_hash_failure(signer, trust, plain_policy) -> None:
    signed = _manifest_vector(signer)
    start = signed.index(b"<Manifest")
    value_start = signed.index(b"<DigestValue>", start) + len(b"<DigestValue>")
    flipped = b"A" if signed[value_start : value_start + 1] != b"A" else b"B"
    modified = signed[:value_start] + flipped + signed[value_start + 1 :]
    report = check(modified, trust, plain_policy)
    assert result(report) == HASH_FAILURE, describe(report)


def test_a_reference_typed_manifest_to_another_element_is_a_warning(
    signer, trust, plain_policy
) -> None:
    """Type is advisory (XMLDSig §4.4.3.4): the signature is valid, the mismatch is said."""
    template = INVOICE.format(signature=signature([("#l1", [transform(C14N)], MANIFEST_TYPE)]))
    signed = xmlsec_sign(template.encode(), signer("company"), id_attrs=(LINE_ID_ATTR,))
    report = check(signed, trust, plain_policy)
    assert result(report) == PASSED, describe(report)
    assert any("typed Manifest" in warning for warning in only(report).warnings)


# --- a reference without URI (XMLDSig §4.4.3.1: the application supplies the data) ----------------


def _no_uri_signature(signer_, content: bytes) -> bytes:
    """xmlsec1 cannot sign a URI-less reference to external data (it digests something else), so
    this vector is built by hand: SignedInfo is written already in its exclusive canonical form
    and signed with ``cryptography`` -- no gateway code involved."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import Encoding
    from sig_vectors import EXC_C14N, RSA_SHA256_URI, SHA256_URI

    from gateway import namespaces as ns

    digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
    signed_info = (
        f'<ds:SignedInfo xmlns:ds="{ns.DS}">'
        f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod>'
        f'<ds:SignatureMethod Algorithm="{RSA_SHA256_URI}"></ds:SignatureMethod>'
        f'<ds:Reference><ds:DigestMethod Algorithm="{SHA256_URI}"></ds:DigestMethod>'
        f"<ds:DigestValue>{digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
    )
    value = signer_.key.sign(signed_info.encode(), padding.PKCS1v15(), hashes.SHA256())
    certificate = base64.b64encode(signer_.certificate.public_bytes(Encoding.DER)).decode()
    inner = signed_info.replace(f' xmlns:ds="{ns.DS}"', "")
    return (
        f'<ds:Signature xmlns:ds="{ns.DS}">{inner}'
        f"<ds:SignatureValue>{base64.b64encode(value).decode()}</ds:SignatureValue>"
        f"<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate>"
        "</ds:X509Data></ds:KeyInfo></ds:Signature>"
    ).encode()


def test_reference_without_uri_is_the_detached_content(signer, trust, plain_policy) -> None:
    content = b"data the application knows about\n" * 10
    signed = _no_uri_signature(signer("company"), content)
    report = validate(
        signed, detached_content=content, policy=plain_policy, trust=trust, now=VALIDATION_TIME
    )
    assert result(report) == PASSED, describe(report)
    assert only(report).signed_data_objects[0].kind is SignedObjectKind.DETACHED_CONTENT
    report = validate(
        signed,
        detached_content=content.replace(b"data", b"dota", 1),
        policy=plain_policy,
        trust=trust,
        now=VALIDATION_TIME,
    )
    assert result(report) == HASH_FAILURE
    report = validate(
        tamper_signed_info(signed),
        detached_content=content,
        policy=plain_policy,
        trust=trust,
        now=VALIDATION_TIME,
    )
    assert result(report) == SIG_CRYPTO_FAILURE
    report = check(signed, trust, plain_policy)
    assert result(report) == (Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)
