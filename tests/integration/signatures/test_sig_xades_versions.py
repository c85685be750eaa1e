"""XAdES 1.1.1, 1.2.2, 1.3.2 and 1.4.1 (issue 12, point 5): signing time, signing certificate
(v1 with IssuerSerial, v2) and the EPES signature policy, whatever the namespace.

Vectors are templates in each version's namespace signed by xmlsec1, plus signxml's XAdES-EPES;
each row has its expected indication and a tampered twin (the signed SigningTime changed:
TOTAL_FAILED/HASH_FAILURE). Before issue 12 the two older namespaces were read as plain XMLDSig:
no signing time, no signing-certificate check, XML-NOT-ETSI.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import SHA1_URI, SHA256_URI, describe, only, xmlsec_sign
from sig_xml_vectors import PolicyReference, versioned_xades_template

from gateway.signatures import Indication, SubIndication, validate

PASSED = (Indication.TOTAL_PASSED, None)
VERSIONS = ["1.1.1", "1.2.2", "1.3.2", "1.4.1"]
STAMP = PKI_NOW.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
POLICY = PolicyReference(
    "urn:oid:2.16.724.1.3.1.1.2.1.9", SHA256_URI, hashlib.sha256(b"policy document").digest()
)
UNSIGNED_141 = (
    '<xades141:TimeStampValidationData xmlns:xades141="http://uri.etsi.org/01903/v1.4.1#"/>'
)


def sign(signer, version: str, **options) -> bytes:
    template, id_attr = versioned_xades_template(
        signer, version=version, signing_time=PKI_NOW, **options
    )
    return xmlsec_sign(template, signer, id_attrs=(id_attr,))


def judge(document: bytes, trust, policy):
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    signature = only(report)
    return (signature.indication, signature.sub_indication), signature, report


def earlier(document: bytes) -> bytes:
    changed = PKI_NOW.replace(year=PKI_NOW.year - 1).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    assert document.count(STAMP) == 1
    return document.replace(STAMP, changed)


# SigningCertificateV2 exists from EN 319 132-1 (namespace 1.3.2) on.
VERSION_ROWS = [(version, False) for version in VERSIONS] + [("1.3.2", True), ("1.4.1", True)]


@pytest.mark.parametrize(
    ("version", "v2"),
    VERSION_ROWS,
    ids=[f"{v}-{'SigningCertificateV2' if v2 else 'SigningCertificate'}" for v, v2 in VERSION_ROWS],
)
@pytest.mark.parametrize("client", ["company", "company_ec"])
def test_versions_pass_with_their_properties(version, v2, client, signer, trust, policy) -> None:
    unsigned = UNSIGNED_141 if version == "1.4.1" else ""
    document = sign(signer(client), version, v2=v2, unsigned=unsigned)
    result, signature, report = judge(document, trust, policy)
    assert result == PASSED, describe(report)
    assert signature.claimed_signing_time == PKI_NOW
    assert signature.signing_certificate_reference
    assert signature.level == "XAdES-BASELINE-B"
    twin, _, report = judge(earlier(document), trust, policy)
    assert twin == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)


@pytest.mark.parametrize("version", VERSIONS)
def test_signing_certificate_of_another_signer(version, signer, trust, policy) -> None:
    """The signed reference names a certificate the signature does not carry."""
    document = sign(signer("company"), version, cert_digest_of=signer("person").certificate)
    result, _, report = judge(document, trust, policy)
    assert result == (
        Indication.INDETERMINATE,
        SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
    ), describe(report)


@pytest.mark.parametrize("version", VERSIONS)
def test_epes_policy_identifier_and_digest_reported(version, signer, trust, policy) -> None:
    document = sign(signer("company"), version, policy=POLICY)
    result, signature, report = judge(document, trust, policy)
    assert result == PASSED, describe(report)
    assert signature.signature_policy_identifier == POLICY.identifier
    assert signature.signature_policy_digest_algorithm == "sha256"
    assert signature.signature_policy_digest == POLICY.digest
    as_json = report.to_json()
    assert POLICY.identifier in as_json
    twin, _, report = judge(earlier(document), trust, policy)
    assert twin == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)


def test_epes_with_sha1_policy_hash_is_reported_not_judged(signer, trust, policy) -> None:
    """The policy document is not fetched, so its digest is reported, not checked (nor judged)."""
    weak = PolicyReference("urn:oid:1.2.3.4", SHA1_URI, hashlib.sha1(b"policy").digest())
    document = sign(signer("company"), "1.2.2", policy=weak)
    result, signature, report = judge(document, trust, policy)
    assert result == PASSED, describe(report)
    assert signature.signature_policy_digest_algorithm == "sha1"


def test_implied_policy(signer, trust, policy) -> None:
    document = sign(signer("company"), "1.3.2", implied_policy=True)
    result, signature, report = judge(document, trust, policy)
    assert result == PASSED, describe(report)
    assert signature.signature_policy_identifier is None
    assert any("implied" in warning for warning in signature.warnings), describe(report)


def test_signxml_epes(signer, trust, policy) -> None:
    """signxml's XAdESSigner (1.3.2) writes the SignaturePolicyIdentifier itself."""
    import base64

    from sig_xml_vectors import signxml_xades
    from signxml import DigestAlgorithm, SignatureMethod
    from signxml.xades import XAdESSignaturePolicy

    digest = hashlib.sha256(b"the policy").digest()
    document = signxml_xades(
        signer("company"),
        SignatureMethod.RSA_SHA256,
        policy=XAdESSignaturePolicy(
            Identifier="urn:oid:1.3.6.1.4.1.99999.1",
            Description="test policy",
            DigestMethod=DigestAlgorithm.SHA256,
            DigestValue=base64.b64encode(digest).decode(),
        ),
    )
    result, signature, report = judge(document, trust, policy)
    assert result == PASSED, describe(report)
    assert signature.signature_policy_identifier == "urn:oid:1.3.6.1.4.1.99999.1"
    assert signature.signature_policy_digest == digest


def add_signature_timestamp(document: bytes, version: str, tsa, *, imprint_of: bytes | None = None):
    """Time-stamp the SignatureValue (exclusive C14N) with ``tsa`` and add SignatureTimeStamp the
    way ``version`` writes it: 1.1.1/1.2.2 name the canonicalisation in HashDataInfo's
    Transforms, 1.3.2 in a ds:CanonicalizationMethod."""
    from lxml import etree
    from sig_vectors import EXC_C14N
    from sig_xml_vectors import XADES_NAMESPACES

    root = etree.fromstring(document)
    ds = "{http://www.w3.org/2000/09/xmldsig#}"
    value = root.find(f".//{ds}SignatureValue")
    value.set("Id", "sig-1-value")
    octets = imprint_of or etree.tostring(value, method="c14n", exclusive=True)
    token = tsa.timestamp(hashlib.sha256(octets).digest(), "sha256")
    xades = XADES_NAMESPACES["1.3.2" if version == "1.4.1" else version]
    method = (
        f'<xades:HashDataInfo uri="#sig-1-value"><ds:Transforms>'
        f'<ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms></xades:HashDataInfo>'
        if version in ("1.1.1", "1.2.2")
        else f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
    )
    unsigned = etree.fromstring(
        f'<xades:UnsignedProperties xmlns:xades="{xades}" xmlns:ds="{ds[1:-1]}">'
        "<xades:UnsignedSignatureProperties><xades:SignatureTimeStamp>"
        f"{method}<xades:EncapsulatedTimeStamp>{base64.b64encode(token).decode()}"
        "</xades:EncapsulatedTimeStamp></xades:SignatureTimeStamp>"
        "</xades:UnsignedSignatureProperties></xades:UnsignedProperties>"
    )
    root.find(f".//{{{xades}}}QualifyingProperties").append(unsigned)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize("version", VERSIONS)
def test_signature_timestamp_gives_level_t(version, pki, signer, trust, policy) -> None:
    """openssl ts (the peer TSA) stamps the SignatureValue; each version's way of naming the
    canonicalisation must be followed, or the stamp proves nothing (level B)."""
    from sig_vectors import OpenSslTsa

    tsa = OpenSslTsa(pki.tsa)
    document = add_signature_timestamp(sign(signer("company"), version), version, tsa)
    result, signature, report = judge(document, trust, policy)
    assert result == PASSED, describe(report)
    assert signature.level == "XAdES-BASELINE-T", describe(report)
    # Twin: a token over other octets is no proof of existence. The time-stamp itself fails
    # (TOTAL_FAILED/HASH_FAILURE, in the JSON and the ETSI report); the signature stays at B.
    other = add_signature_timestamp(
        sign(signer("company"), version), version, tsa, imprint_of=b"other octets"
    )
    result, signature, report = judge(other, trust, policy)
    assert result == PASSED and signature.level == "XAdES-BASELINE-B", describe(report)
    assert signature.proof_of_existence is None
    [stamp] = signature.timestamps
    assert (stamp.indication, stamp.sub_indication) == (
        Indication.TOTAL_FAILED,
        SubIndication.HASH_FAILURE,
    )
    [stamp_json] = report.to_dict()["signatures"][0]["timestamps"]
    assert (stamp_json["indication"], stamp_json["sub_indication"]) == (
        "TOTAL_FAILED",
        "HASH_FAILURE",
    )
    assert b"urn:etsi:019102:mainindication:total-failed" in report.to_etsi_xml()
    assert any("time-stamp is not valid (HASH_FAILURE)" in w for w in signature.warnings)
