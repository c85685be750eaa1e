"""XAdES validation against signatures made by Debian's xmlsec1 (software we did not write).

xmlsec1 signs a template we build -- enveloped, enveloping and detached, with XAdES
QualifyingProperties where the case needs them -- so the XMLDSig core (references, transforms,
canonicalisation, signature value) is produced independently; our signer's output is in turn
verified by xmlsec1.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import (
    C14N,
    ENVELOPED,
    EXC_C14N,
    RECEIPT_XML,
    SHA1_URI,
    SIGNED_PROPERTIES_TYPE,
    XADES_SP_ID_ATTR,
    describe,
    only,
    own_sign,
    signature_template,
    tamper_signature,
    xades_enveloped_template,
    xades_signed_properties,
    xmlsec1_verify,
    xmlsec_sign,
)

from gateway import namespaces as ns
from gateway.pki import DemoPki
from gateway.signatures import (
    Indication,
    SignedObjectKind,
    SubIndication,
    validate,
)

RECEIPT_ID_ATTR = f"{ns.RECEIPT}:Receipt"


def verdict(document: bytes, trust, policy, *, detached: bytes | None = None):
    report = validate(
        document, detached_content=detached, policy=policy, trust=trust, now=VALIDATION_TIME
    )
    signature = only(report)
    return report, signature, (signature.indication, signature.sub_indication)


@pytest.mark.parametrize("c14n", [EXC_C14N, C14N], ids=["exclusive", "inclusive"])
@pytest.mark.parametrize("client", ["company", "company_ec", "person", "representative"])
def test_xmlsec1_xades_enveloped_passes(client, c14n, signer, trust, policy) -> None:
    template = xades_enveloped_template(signer(client), signing_time=PKI_NOW, c14n=c14n)
    report, signature, result = verdict(xmlsec_sign(template, signer(client)), trust, policy)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "XAdES-BASELINE-B"
    assert signature.claimed_signing_time == PKI_NOW
    assert signature.covers_whole_document
    kinds = [item.kind for item in signature.signed_data_objects]
    assert kinds == [SignedObjectKind.XML_DOCUMENT, SignedObjectKind.SIGNED_PROPERTIES]


def test_xmlsec1_modified_content_is_hash_failure(signer, trust, policy) -> None:
    signed = xmlsec_sign(
        xades_enveloped_template(signer("company"), signing_time=PKI_NOW), signer("company")
    )
    _, _, result = verdict(signed.replace(b">100.00<", b">999.99<"), trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


def test_xmlsec1_modified_signing_time_is_hash_failure(signer, trust, policy) -> None:
    signed = xmlsec_sign(
        xades_enveloped_template(signer("company"), signing_time=PKI_NOW), signer("company")
    )
    stamp = PKI_NOW.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    earlier = (PKI_NOW.replace(year=PKI_NOW.year - 1)).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    _, _, result = verdict(signed.replace(stamp, earlier), trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


def test_xmlsec1_modified_signature_value(signer, trust, policy) -> None:
    from sig_vectors import Vector

    signed = xmlsec_sign(
        xades_enveloped_template(signer("company"), signing_time=PKI_NOW), signer("company")
    )
    _, _, result = verdict(tamper_signature("xades", Vector(signed)).document, trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


def test_xmlsec1_untrusted_signer(signer, trust, policy) -> None:
    signed = xmlsec_sign(
        xades_enveloped_template(signer("untrusted"), signing_time=PKI_NOW), signer("untrusted")
    )
    _, _, result = verdict(signed, trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)


def test_xmlsec1_revoked_signer(signer, trust, policy) -> None:
    signed = xmlsec_sign(
        xades_enveloped_template(signer("revoked"), signing_time=PKI_NOW), signer("revoked")
    )
    _, _, result = verdict(signed, trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE)


def test_xmlsec1_sha1_digest_is_crypto_constraints_failure(signer, trust, policy) -> None:
    template = xades_enveloped_template(
        signer("company"), signing_time=PKI_NOW, digest_method=SHA1_URI
    )
    report, signature, result = verdict(xmlsec_sign(template, signer("company")), trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE), describe(
        report
    )
    assert "sha1" in signature.findings[0].message


def test_xmlsec1_rsa_sha1_signature_method_is_crypto_constraints_failure(
    signer, trust, policy
) -> None:
    template = xades_enveloped_template(signer("company"), signing_time=PKI_NOW).replace(
        b"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        b"http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    )
    _, _, result = verdict(xmlsec_sign(template, signer("company")), trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)


def test_signed_properties_not_signed_is_format_failure(signer, trust, policy) -> None:
    template = xades_enveloped_template(signer("company"), signing_time=PKI_NOW, sp_reference=False)
    _, signature, result = verdict(xmlsec_sign(template, signer("company")), trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    assert "not covered" in signature.findings[0].message


def test_duplicated_signed_properties_is_format_failure(signer, trust, policy) -> None:
    template = xades_enveloped_template(signer("company"), signing_time=PKI_NOW)
    start = template.index(b"<xades:SignedProperties")
    end = template.index(b"</xades:SignedProperties>") + len(b"</xades:SignedProperties>")
    second = template[start:end].replace(b'Id="sig-1-sp"', b'Id="sig-1-sp-forged"')
    duplicated = template[:end] + second + template[end:]
    _, _, result = verdict(xmlsec_sign(duplicated, signer("company")), trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)


def test_duplicated_qualifying_properties_is_format_failure(signer, trust, policy) -> None:
    extra = xades_signed_properties(
        "sig-1", signer("person").certificate, signing_time=PKI_NOW, properties_id="sig-1-sp-2"
    )
    template = xades_enveloped_template(
        signer("company"), signing_time=PKI_NOW, extra_objects=extra
    )
    _, _, result = verdict(xmlsec_sign(template, signer("company")), trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)


def test_signing_certificate_digest_mismatch(signer, trust, policy) -> None:
    template = xades_enveloped_template(
        signer("company"), signing_time=PKI_NOW, cert_digest_of=signer("person").certificate
    )
    report, _, result = verdict(xmlsec_sign(template, signer("company")), trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND), (
        describe(report)
    )


def test_signed_properties_reference_to_another_element(signer, trust, policy) -> None:
    references = (
        ("", (ENVELOPED, EXC_C14N), None),
        ("#receipt-1", (EXC_C14N,), SIGNED_PROPERTIES_TYPE),
    )
    template = RECEIPT_XML.replace(
        b"</rcpt:Receipt>",
        signature_template(
            references=references,
            objects=xades_signed_properties(
                "sig-1", signer("company").certificate, signing_time=PKI_NOW
            ),
        ).encode()
        + b"</rcpt:Receipt>",
    )
    signed = xmlsec_sign(template, signer("company"), id_attrs=(XADES_SP_ID_ATTR, RECEIPT_ID_ATTR))
    _, _, result = verdict(signed, trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)


def test_plain_xmldsig_is_reported_not_ades(signer, trust, policy) -> None:
    template = RECEIPT_XML.replace(
        b"</rcpt:Receipt>", signature_template().encode() + b"</rcpt:Receipt>"
    )
    signed = xmlsec_sign(template, signer("company"), id_attrs=())
    report, signature, result = verdict(signed, trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND), (
        describe(report)
    )
    assert signature.level == "XML-NOT-ETSI"
    assert signature.signer is not None and signature.covers_whole_document
    relaxed = replace(policy, require_signing_certificate_reference=False)
    _, signature, result = verdict(signed, trust, relaxed)
    assert result == (Indication.TOTAL_PASSED, None)
    assert signature.claimed_signing_time is None


def _detached_template(signer_, uri: str) -> bytes:
    references = ((uri, (), None), ("#sig-1-sp", (EXC_C14N,), SIGNED_PROPERTIES_TYPE))
    objects = xades_signed_properties("sig-1", signer_.certificate, signing_time=PKI_NOW)
    return signature_template(references=references, objects=objects).encode()


def test_xmlsec1_detached_xades(signer, trust, policy) -> None:
    content = b"%PDF-like detached payload\n" * 100
    uri = "https://docs.example.test/notification.bin"
    signed = xmlsec_sign(
        _detached_template(signer("company"), uri), signer("company"), url_map={uri: content}
    )
    report, signature, result = verdict(signed, trust, policy, detached=content)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.signed_data_objects[0].kind is SignedObjectKind.DETACHED_CONTENT
    assert signature.signed_data_objects[0].identifier == uri
    _, _, result = verdict(signed, trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)
    _, _, result = verdict(signed, trust, policy, detached=content + b"x")
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


def test_xmlsec1_enveloping_xades(signer, trust, policy) -> None:
    data = b'<ds:Object Id="data-1"><rcpt:Receipt xmlns:rcpt="urn:notess:gateway:receipt:v1">ok</rcpt:Receipt></ds:Object>'
    references = (
        ("#data-1", (EXC_C14N,), None),
        ("#sig-1-sp", (EXC_C14N,), SIGNED_PROPERTIES_TYPE),
    )
    objects = data.decode() + xades_signed_properties(
        "sig-1", signer("company").certificate, signing_time=PKI_NOW
    )
    template = signature_template(references=references, objects=objects).encode()
    signed = xmlsec_sign(
        template, signer("company"), id_attrs=(XADES_SP_ID_ATTR, f"{ns.DS}:Object")
    )
    report, signature, result = verdict(signed, trust, policy)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.covers_whole_document
    assert signature.signed_data_objects[0].element_path == "/ds:Signature/ds:Object[1]"


def test_signature_wrapping_is_reported(signer, trust, policy) -> None:
    """XSW: the signed receipt moved into a wrapper under a forged one. The crypto still verifies
    (it covers the moved element), but the report says exactly which element that is."""
    template = xades_enveloped_template(
        signer("company"), signing_time=PKI_NOW, document_uri="#receipt-1"
    )
    signed = xmlsec_sign(template, signer("company"), id_attrs=(XADES_SP_ID_ATTR, RECEIPT_ID_ATTR))
    original = etree.fromstring(signed)
    signature_element = original.find(f"{{{ns.DS}}}Signature")
    assert signature_element is not None
    original.remove(signature_element)
    forged = etree.fromstring(
        b'<rcpt:Receipt xmlns:rcpt="urn:notess:gateway:receipt:v1" Id="forged">'
        b"<rcpt:Decision>REJECT</rcpt:Decision><Wrapper/></rcpt:Receipt>"
    )
    forged.append(signature_element)
    forged.find("Wrapper").append(original)
    attack = etree.tostring(forged)

    report, signature, result = verdict(attack, trust, policy)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert not signature.covers_whole_document
    assert report.to_dict()["signatures"][0]["covers_whole_document"] is False
    document_object = signature.signed_data_objects[0]
    assert document_object.kind is SignedObjectKind.XML_ELEMENT
    assert document_object.element_path == "/rcpt:Receipt/Wrapper/rcpt:Receipt"

    strict = replace(policy, require_whole_document=True)
    _, _, result = verdict(attack, trust, strict)
    assert result == (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE)
    # Unwrapped, the same signature covers its whole document.
    _, signature, result = verdict(signed, trust, strict)
    assert result == (Indication.TOTAL_PASSED, None) and signature.covers_whole_document


def test_duplicate_ids_are_format_failure(signer, trust, policy) -> None:
    template = xades_enveloped_template(
        signer("company"), signing_time=PKI_NOW, document_uri="#receipt-1"
    )
    signed = xmlsec_sign(template, signer("company"), id_attrs=(XADES_SP_ID_ATTR, RECEIPT_ID_ATTR))
    doubled = signed.replace(b"<rcpt:Decision>", b'<rcpt:Decision Id="receipt-1">', 1)
    _, _, result = verdict(doubled, trust, policy)
    assert result == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)


def test_comment_inside_signed_content_is_a_warning(signer, trust, policy) -> None:
    signed = xmlsec_sign(
        xades_enveloped_template(signer("company"), signing_time=PKI_NOW), signer("company")
    )
    commented = signed.replace(b">100.00<", b">100<!-- x -->.00<")
    report, signature, result = verdict(commented, trust, policy)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert any("comments" in warning for warning in signature.warnings)


def test_own_xades_verifies_with_xmlsec1(pki: DemoPki, signer, tsa, tmp_path: Path) -> None:
    signed = own_sign("xades", signer("company"), at=PKI_NOW, tsa=tsa).document
    (tmp_path / "signed.xml").write_bytes(signed)
    result = xmlsec1_verify(pki, tmp_path / "signed.xml", VALIDATION_TIME)
    assert result.returncode == 0, result.stderr
    assert "SignedInfo References (ok/all): 2/2" in result.stderr


def test_own_xades_of_an_element_leaves_it_unchanged(signer, trust, policy) -> None:
    from gateway.domain.clock import FixedClock
    from gateway.signatures import sign_xades_enveloped

    element = etree.fromstring(RECEIPT_XML)
    before = etree.tostring(element)
    signed = sign_xades_enveloped(
        element, signer("company").key, signer("company").certificate, clock=FixedClock(PKI_NOW)
    )
    assert etree.tostring(element) == before
    _, _, result = verdict(signed, trust, policy)
    assert result == (Indication.TOTAL_PASSED, None)


def test_key_value_without_certificate(signer, trust, policy) -> None:
    template = xades_enveloped_template(signer("company"), signing_time=PKI_NOW).replace(
        b"<ds:X509Data/>", b"<ds:KeyValue/>"
    )
    report, signature, result = verdict(xmlsec_sign(template, signer("company")), trust, policy)
    assert result == (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND), (
        describe(report)
    )
    assert signature.signer is None
