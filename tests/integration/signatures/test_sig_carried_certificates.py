"""Certificates carried by the signature (issue 12, point 7): KeyInfo X509Data and XAdES
CertificateValues complete the path to a trust anchor; a signature with only a KeyValue, or no
KeyInfo at all, is verified when its SigningCertificate reference finds the certificate among the
carried or trusted ones -- and says so.

The intermediate CA below is issued by the demo root but is *not* in the trust directory: only
the signature holds it. xmlsec1 signs every vector; the ones it can check on its own (KeyInfo
with the intermediate) are cross-checked with the shared ``xmlsec1_verify`` helper (root
trusted, issuing CA untrusted, so the intermediate must come from the document).
"""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import (
    Signer,
    describe,
    only,
    trust_store,
    xades_enveloped_template,
    xmlsec1_verify,
    xmlsec_sign,
)
from sig_xml_vectors import carried_path, flip_signature_value, versioned_xades_template

from gateway import namespaces as ns
from gateway.pki import DemoPki
from gateway.signatures import Indication, SubIndication, validate

PASSED = (Indication.TOTAL_PASSED, None)
NO_CHAIN = (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
NO_SIGNER = (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
FORGED = (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)
MODIFIED = (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
X509_DATA_TEMPLATE = b"<ds:KeyInfo><ds:X509Data/></ds:KeyInfo>"


@pytest.fixture(scope="module")
def path(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory):
    return carried_path(pki, tmp_path_factory.mktemp("carried"), PKI_NOW)


def with_chain(signer: Signer, *extra: Signer) -> Signer:
    """xmlsec1 puts every certificate of ``--privkey-pem key,cert,...`` into X509Data."""
    listed = ",".join(str(item.cert_path) for item in (signer, *extra))
    return replace(signer, cert_path=Path(listed))


def encapsulated(*signers: Signer) -> str:
    values = "".join(
        "<xades:EncapsulatedX509Certificate>"
        + base64.b64encode(item.certificate.public_bytes(serialization.Encoding.DER)).decode()
        + "</xades:EncapsulatedX509Certificate>"
        for item in signers
    )
    return f"<xades:CertificateValues>{values}</xades:CertificateValues>"


def judge(document: bytes, trust, policy):
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    signature = only(report)
    return (signature.indication, signature.sub_indication), signature, report


def without_key_info(document: bytes) -> bytes:
    """KeyInfo is not covered by these signatures: removing it keeps them valid."""
    root = etree.fromstring(document)
    key_info = root.find(f".//{{{ns.DS}}}KeyInfo")
    assert key_info is not None
    key_info.getparent().remove(key_info)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def test_intermediate_only_in_key_info(path, pki, trust, policy, tmp_path) -> None:
    template = xades_enveloped_template(path.leaf, signing_time=PKI_NOW)
    document = xmlsec_sign(template, with_chain(path.leaf, path.intermediate))
    assert document.count(b"<ds:X509Certificate>") == 2
    result, signature, report = judge(document, trust, policy)
    assert result == PASSED, describe(report)
    chain = [item.subject for item in signature.certificate_chain]
    assert chain[1] == path.intermediate.certificate.subject.rfc4514_string()
    assert len(chain) == 3
    # The peer agrees (the intermediate can only come from the document).
    (tmp_path / "signed.xml").write_bytes(document)
    peer = xmlsec1_verify(pki, tmp_path / "signed.xml", VALIDATION_TIME)
    assert peer.returncode == 0, peer.stderr
    assert judge(document.replace(b">100.00<", b">900.00<"), trust, policy)[0] == MODIFIED
    assert judge(flip_signature_value(document), trust, policy)[0] == FORGED


def test_chain_listed_root_first_in_key_info(path, pki, trust, policy) -> None:
    """Plain XMLDSig: the signer is the KeyInfo end entity, whatever the order (here root,
    intermediate, leaf)."""
    template = xades_enveloped_template(path.leaf, signing_time=PKI_NOW, sp_reference=False)
    template = template.split(b"<ds:Object>")[0] + b"</ds:Signature></rcpt:Receipt>\n"
    listed = Path(f"{pki.root_ca.cert_path},{path.intermediate.cert_path},{path.leaf.cert_path}")
    document = xmlsec_sign(template, replace(path.leaf, cert_path=listed), id_attrs=())
    first = document.index(b"<ds:X509Certificate>")
    root_der = pki.root_ca.certificate().public_bytes(serialization.Encoding.DER)
    assert document[first + 20 : first + 60] == base64.b64encode(root_der)[:40]
    lenient = replace(
        policy, require_signing_certificate_reference=False, require_signing_time=False
    )
    result, signature, report = judge(document, trust, lenient)
    assert result == PASSED, describe(report)
    assert signature.signer.subject == path.leaf.certificate.subject.rfc4514_string()
    assert judge(document, trust, policy)[0] == NO_SIGNER
    assert judge(flip_signature_value(document), trust, lenient)[0] == FORGED


def test_intermediate_only_in_certificate_values(path, trust, policy) -> None:
    template, id_attr = versioned_xades_template(
        path.leaf,
        version="1.3.2",
        signing_time=PKI_NOW,
        v2=True,
        unsigned=encapsulated(path.intermediate),
    )
    document = xmlsec_sign(template, path.leaf, id_attrs=(id_attr,))
    assert document.count(b"<ds:X509Certificate>") == 1
    result, _, report = judge(document, trust, policy)
    assert result == PASSED, describe(report)
    assert judge(flip_signature_value(document), trust, policy)[0] == FORGED


def test_no_key_info_signer_in_certificate_values(path, trust, policy) -> None:
    template, id_attr = versioned_xades_template(
        path.leaf,
        version="1.3.2",
        signing_time=PKI_NOW,
        v2=True,
        unsigned=encapsulated(path.leaf, path.intermediate),
    )
    document = without_key_info(xmlsec_sign(template, path.leaf, id_attrs=(id_attr,)))
    result, signature, report = judge(document, trust, policy)
    assert result == PASSED, describe(report)
    assert any("CertificateValues" in warning for warning in signature.warnings)
    assert judge(flip_signature_value(document), trust, policy)[0] == FORGED


def test_key_value_only_signer_in_certificate_values(path, trust, policy) -> None:
    template, id_attr = versioned_xades_template(
        path.leaf,
        version="1.2.2",
        signing_time=PKI_NOW,
        unsigned=encapsulated(path.leaf, path.intermediate),
    )
    template = template.replace(X509_DATA_TEMPLATE, b"<ds:KeyInfo><ds:KeyValue/></ds:KeyInfo>")
    document = xmlsec_sign(template, path.leaf, id_attrs=(id_attr,))
    assert b"RSAKeyValue" in document and b"<ds:X509Certificate>" not in document
    result, signature, report = judge(document, trust, policy)
    assert result == PASSED, describe(report)
    assert any("not in KeyInfo" in warning for warning in signature.warnings)
    assert judge(flip_signature_value(document), trust, policy)[0] == FORGED


def test_no_key_info_signer_in_trust_store(pki, signer, policy) -> None:
    company = signer("company")
    trust_with_leaf = trust_store(pki, [])
    trust_with_leaf = type(trust_with_leaf)([*trust_with_leaf.certificates, company.certificate])
    document = without_key_info(
        xmlsec_sign(xades_enveloped_template(company, signing_time=PKI_NOW), company)
    )
    result, signature, report = judge(document, trust_with_leaf, policy)
    assert result == PASSED, describe(report)
    assert any("trust store" in warning for warning in signature.warnings)
    assert judge(flip_signature_value(document), trust_with_leaf, policy)[0] == FORGED


def test_no_key_info_and_nowhere_to_find_the_signer(path, trust, policy) -> None:
    document = without_key_info(
        xmlsec_sign(xades_enveloped_template(path.leaf, signing_time=PKI_NOW), path.leaf)
    )
    result, _, report = judge(document, trust, policy)
    assert result == NO_SIGNER, describe(report)


def test_carried_root_is_never_an_anchor(path, trust, policy, pki, tmp_path) -> None:
    template = xades_enveloped_template(path.rogue_leaf, signing_time=PKI_NOW)
    document = xmlsec_sign(
        template, with_chain(path.rogue_leaf, path.rogue_intermediate, path.rogue_root)
    )
    assert document.count(b"<ds:X509Certificate>") == 3
    result, _, report = judge(document, trust, policy)
    assert result == NO_CHAIN, describe(report)
    (tmp_path / "rogue.xml").write_bytes(document)
    assert xmlsec1_verify(pki, tmp_path / "rogue.xml", VALIDATION_TIME).returncode != 0


def test_carried_intermediates_stay_out_of_the_trust_store(path, trust, policy) -> None:
    """Validating one signature must not teach the shared store (or its cache) the CA."""
    document = xmlsec_sign(
        xades_enveloped_template(path.leaf, signing_time=PKI_NOW),
        with_chain(path.leaf, path.intermediate),
    )
    assert judge(document, trust, policy)[0] == PASSED
    stripped = xmlsec_sign(xades_enveloped_template(path.leaf, signing_time=PKI_NOW), path.leaf)
    assert judge(stripped, trust, policy)[0] == NO_CHAIN
    assert path.intermediate.certificate not in trust.certificates


def plain_key_value_signature(signer: Signer) -> bytes:
    """A plain XMLDSig (no XAdES) whose KeyInfo holds only a KeyValue: xmlsec1's RSAKeyValue, or
    (xmlsec1 1.2 writes no ECKeyValue) a dsig11:ECKeyValue built here in place of its X509Data."""
    template = xades_enveloped_template(signer, signing_time=PKI_NOW, sp_reference=False)
    template = template.split(b"<ds:Object>")[0] + b"</ds:Signature></rcpt:Receipt>\n"
    if not isinstance(signer.key, ec.EllipticCurvePrivateKey):
        template = template.replace(X509_DATA_TEMPLATE, b"<ds:KeyInfo><ds:KeyValue/></ds:KeyInfo>")
        return xmlsec_sign(template, signer, id_attrs=())
    root = etree.fromstring(xmlsec_sign(template, signer, id_attrs=()))
    key_info = root.find(f".//{{{ns.DS}}}KeyInfo")
    assert key_info is not None
    point = signer.key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    replacement = etree.fromstring(
        f'<ds:KeyInfo xmlns:ds="{ns.DS}" xmlns:dsig11="{ns.DS11}"><ds:KeyValue>'
        '<dsig11:ECKeyValue><dsig11:NamedCurve URI="urn:oid:1.2.840.10045.3.1.7"/>'
        f"<dsig11:PublicKey>{base64.b64encode(point).decode()}</dsig11:PublicKey>"
        "</dsig11:ECKeyValue></ds:KeyValue></ds:KeyInfo>"
    )
    key_info.getparent().replace(key_info, replacement)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


@pytest.mark.parametrize("client", ["company", "company_ec"])
def test_key_value_only_is_still_checked(client, signer, trust, policy) -> None:
    """No certificate anywhere: INDETERMINATE, but a forgery under the named key is TOTAL_FAILED."""
    document = plain_key_value_signature(signer(client))
    assert b"KeyValue>" in document and b"<ds:X509Certificate>" not in document
    result, signature, report = judge(document, trust, policy)
    assert result == NO_SIGNER, describe(report)
    assert any("verifies with the KeyInfo KeyValue" in w for w in signature.warnings)
    assert judge(flip_signature_value(document), trust, policy)[0] == FORGED


def test_key_value_of_another_key_is_reported(signer, trust, policy) -> None:
    template = xades_enveloped_template(signer("company"), signing_time=PKI_NOW).replace(
        X509_DATA_TEMPLATE, b"<ds:KeyInfo><ds:KeyValue/><ds:X509Data/></ds:KeyInfo>"
    )
    document = etree.fromstring(xmlsec_sign(template, signer("company")))
    other = etree.fromstring(plain_key_value_signature(signer("person")))
    ds = f"{{{ns.DS}}}"
    mine, theirs = document.find(f".//{ds}KeyValue"), other.find(f".//{ds}KeyValue")
    assert mine is not None and theirs is not None
    mine.getparent().replace(mine, theirs)
    signed = etree.tostring(document.getroottree(), xml_declaration=True, encoding="UTF-8")
    result, signature, report = judge(signed, trust, policy)
    assert result == PASSED, describe(report)
    assert any("not the signing certificate's key" in w for w in signature.warnings)
