"""Several detached documents, matched to a XAdES's references by URI (issue 12, point 3).

xmlsec1 signs a detached XAdES over two files named by relative, percent-encoded URIs
(``annex%201.xml``, ``docs/contract.pdf``); the engine pairs the documents the caller names with
those references whatever their order, by path or by file name, and a reference left without its
document is SIGNED_DATA_NOT_FOUND. A reference with no ``URI`` attribute ("the application
supplies the content") takes the one document supplied.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import (
    EXC_C14N,
    RSA_SHA256_URI,
    SHA256_URI,
    SIGNED_PROPERTIES_TYPE,
    describe,
    only,
    signature_template,
    xades_signed_properties,
    xmlsec_sign,
)

from gateway import namespaces as ns
from gateway.signatures import (
    DetachedDocument,
    Indication,
    SignedObjectKind,
    SubIndication,
    validate,
)

ANNEX = b"<annex>first detached document</annex>"
CONTRACT = b"%PDF-1.7 second detached document\n" * 50
PASSED = (Indication.TOTAL_PASSED, None)
NOT_FOUND = (Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)
MODIFIED = (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


def two_documents_xades(signer) -> bytes:
    references = (
        ("annex%201.xml", (), None),
        ("docs/contract.pdf", (), None),
        ("#sig-1-sp", (EXC_C14N,), SIGNED_PROPERTIES_TYPE),
    )
    objects = xades_signed_properties("sig-1", signer.certificate, signing_time=PKI_NOW)
    template = signature_template(references=references, objects=objects).encode()
    return xmlsec_sign(
        template,
        signer,
        beside={"annex 1.xml": ANNEX, "docs/contract.pdf": CONTRACT},
    )


def judge(document: bytes, trust, policy, *documents: DetachedDocument, content=None):
    report = validate(
        document,
        detached_content=content,
        detached=documents,
        policy=policy,
        trust=trust,
        now=VALIDATION_TIME,
    )
    signature = only(report)
    return (signature.indication, signature.sub_indication), signature, report


def test_two_detached_documents_are_matched_by_uri(signer, trust, policy) -> None:
    signed = two_documents_xades(signer("company"))
    annex = DetachedDocument(ANNEX, "annex 1.xml")  # the URI percent-decoded
    contract = DetachedDocument(CONTRACT, "docs/contract.pdf")
    for documents in ((annex, contract), (contract, annex)):
        result, signature, report = judge(signed, trust, policy, *documents)
        assert result == PASSED, describe(report)
        detached = [
            item.identifier
            for item in signature.signed_data_objects
            if item.kind is SignedObjectKind.DETACHED_CONTENT
        ]
        assert detached == ["annex%201.xml", "docs/contract.pdf"]
    # By file name alone (the path as the caller stores it differs), and with "./".
    result, _, report = judge(
        signed,
        trust,
        policy,
        DetachedDocument(ANNEX, "/srv/in/annex 1.xml"),
        DetachedDocument(CONTRACT, "./docs/contract.pdf"),
    )
    assert result == PASSED, describe(report)


def test_a_missing_or_swapped_document_is_reported(signer, trust, policy) -> None:
    signed = two_documents_xades(signer("company"))
    result, signature, report = judge(signed, trust, policy, DetachedDocument(ANNEX, "annex 1.xml"))
    assert result == NOT_FOUND, describe(report)
    assert any("docs/contract.pdf" in f.message for f in signature.findings)
    # A document whose name matches no reference answers none.
    result, _, report = judge(
        signed,
        trust,
        policy,
        DetachedDocument(ANNEX, "annex 1.xml"),
        DetachedDocument(CONTRACT, "other.pdf"),
    )
    assert result == NOT_FOUND, describe(report)
    # Contents swapped between the names: the digests say so.
    result, _, report = judge(
        signed,
        trust,
        policy,
        DetachedDocument(CONTRACT, "annex 1.xml"),
        DetachedDocument(ANNEX, "docs/contract.pdf"),
    )
    assert result == MODIFIED, describe(report)
    # One byte of one document changed.
    result, _, report = judge(
        signed,
        trust,
        policy,
        DetachedDocument(ANNEX, "annex 1.xml"),
        DetachedDocument(CONTRACT[:-1] + b"!", "docs/contract.pdf"),
    )
    assert result == MODIFIED, describe(report)
    # Two documents with the same file name in different folders cannot be told apart.
    result, _, report = judge(
        signed,
        trust,
        policy,
        DetachedDocument(ANNEX, "a/annex 1.xml"),
        DetachedDocument(ANNEX, "b/annex 1.xml"),
        DetachedDocument(CONTRACT, "docs/contract.pdf"),
    )
    assert result == NOT_FOUND, describe(report)


def _no_uri_xades(signer, content: bytes) -> bytes:
    """A XAdES whose data reference has no URI attribute, signed with the signer's key."""
    template = signature_template(
        references=(
            ("@NO-URI@", (), None),
            ("#sig-1-sp", (EXC_C14N,), SIGNED_PROPERTIES_TYPE),
        ),
        objects=xades_signed_properties("sig-1", signer.certificate, signing_time=PKI_NOW),
    ).replace(' URI="@NO-URI@"', "")
    root = etree.fromstring(template.encode())
    ds = f"{{{ns.DS}}}"
    data_reference, properties_reference = root.iter(f"{ds}Reference")
    data_reference.find(f"{ds}DigestValue").text = base64.b64encode(
        hashlib.sha256(content).digest()
    ).decode()
    properties = root.find(f".//{{{ns.XADES}}}SignedProperties")
    properties_reference.find(f"{ds}DigestValue").text = base64.b64encode(
        hashlib.sha256(etree.tostring(properties, method="c14n", exclusive=True)).digest()
    ).decode()
    signed_info = root.find(f"{ds}SignedInfo")
    value = signer.key.sign(
        etree.tostring(signed_info, method="c14n", exclusive=True),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    root.find(f"{ds}SignatureValue").text = base64.b64encode(value).decode()
    certificate = etree.SubElement(root.find(f"{ds}KeyInfo/{ds}X509Data"), f"{ds}X509Certificate")
    certificate.text = base64.b64encode(signer.certificate.public_bytes(Encoding.DER)).decode()
    assert signed_info.find(f"{ds}SignatureMethod").get("Algorithm") == RSA_SHA256_URI
    assert data_reference.find(f"{ds}DigestMethod").get("Algorithm") == SHA256_URI
    return etree.tostring(root)


def test_a_reference_without_uri_takes_the_one_document(signer, trust, policy) -> None:
    content = b"content the application supplies"
    signed = _no_uri_xades(signer("company"), content)
    assert b"<ds:Reference>" in signed
    result, signature, report = judge(signed, trust, policy, content=content)
    assert result == PASSED, describe(report)
    assert signature.signed_data_objects[0].kind is SignedObjectKind.DETACHED_CONTENT
    result, _, report = judge(signed, trust, policy, DetachedDocument(content, "any-name.bin"))
    assert result == PASSED, describe(report)
    result, _, report = judge(signed, trust, policy, content=content + b"!")
    assert result == MODIFIED, describe(report)
    result, _, report = judge(signed, trust, policy)
    assert result == NOT_FOUND, describe(report)


def test_cades_takes_one_detached_document(signer, trust, policy) -> None:
    from sig_vectors import own_sign

    vector = own_sign("cades", signer("company"), at=PKI_NOW)
    result, _, report = judge(
        vector.document,
        trust,
        policy,
        DetachedDocument(b"one", "a.txt"),
        DetachedDocument(b"two", "b.txt"),
    )
    assert result == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE), describe(report)
