"""``gateway.client.receipts.verify_server_receipt``: the client's offline check of a server
receipt (lxml + cryptography, the allow-listed shape the server makes), against hostile input:
every byte the receipt certifies is covered, the signature must be the server's, and no other
shape — wrapped, partial, re-signed, other algorithms — is taken for it."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree

from gateway.client.receipts import ReceiptInvalid, verify_server_receipt
from gateway.domain.clock import FixedClock
from gateway.domain.receipts import (
    Decision,
    ItemOutcome,
    Outcome,
    RegistrationNumber,
    ServerReceipt,
    new_csv_code,
)
from gateway.receipt_xml import build_server_receipt
from gateway.signatures import sign_xades_enveloped

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
DS = "{http://www.w3.org/2000/09/xmldsig#}"
XADES = "{http://uri.etsi.org/01903/v1.3.2#}"


def certificate(key: CertificateIssuerPrivateKeyTypes, name: str) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
            .sign(key, hashes.SHA256()))


SERVER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SERVER = certificate(SERVER_KEY, "NOTESS server")
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = certificate(OTHER_KEY, "someone else")


def content(**changes: object) -> ServerReceipt:
    fields: dict[str, object] = {
        "registration_number": RegistrationNumber(2026, 7), "csv_code": new_csv_code(),
        "issued_at": NOW, "receipt_id": "cd" * 16, "signer": "B76543214",
        "decision": Decision.ACCEPT, "client_ack_digest": "3f" * 32, "recipient": "B80000003",
        "items": (ItemOutcome(1, Outcome.ACCEPTED), ItemOutcome(51, Outcome.ACCEPTED)),
    }
    fields.update(changes)
    return ServerReceipt(**fields)  # type: ignore[arg-type]


def signed(receipt: ServerReceipt | None = None, key: CertificateIssuerPrivateKeyTypes = SERVER_KEY,
           cert: x509.Certificate = SERVER) -> bytes:
    return sign_xades_enveloped(build_server_receipt(receipt or content()), key, cert,  # type: ignore[arg-type]
                                clock=FixedClock(NOW))


def tree(document: bytes) -> etree._Element:
    return etree.fromstring(document)


def text(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def refused(document: bytes, reason: str = "") -> str:
    with pytest.raises(ReceiptInvalid) as caught:
        verify_server_receipt(document, SERVER)
    assert reason in str(caught.value)
    return str(caught.value)


def test_a_server_receipt_verifies_and_says_what_it_certifies() -> None:
    receipt = content()
    verified = verify_server_receipt(signed(receipt), SERVER)
    assert (verified.registration_number, verified.csv_code, verified.receipt_id,
            verified.decision, verified.recipient) == (
        "2026/000000007", receipt.csv_code, "cd" * 16, "ACCEPT", "B80000003")
    assert verified.items == ((1, "ACCEPTED"), (51, "ACCEPTED"))
    assert verified.acknowledgement_sha256 == "3f" * 32
    assert "NOTESS server" in verified.server_certificate


def test_an_ecdsa_server_key_verifies_too() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate(key, "NOTESS server (EC)")
    assert verify_server_receipt(signed(key=key, cert=cert), cert).signer == "B76543214"


@pytest.mark.parametrize(("old", "new"), [
    (b'outcome="ACCEPTED"', b'outcome="REJECTED"'),
    (b'notificationId="51"', b'notificationId="52"'),
    (b"<rcpt:Decision>ACCEPT<", b"<rcpt:Decision>REJECT<"),
    (b"<rcpt:Recipient>B80000003<", b"<rcpt:Recipient>B80000011<"),
    (b"B76543214", b"B76543222"),
])
def test_any_change_to_what_it_certifies_is_refused(old: bytes, new: bytes) -> None:
    document = signed()
    assert old in document
    refused(document.replace(old, new, 1), "digest mismatch")


def test_a_change_to_the_signed_properties_is_refused() -> None:
    root = tree(signed())
    time = root.find(f".//{XADES}SigningTime")
    assert time is not None
    time.text = "2030-01-01T00:00:00Z"
    refused(text(root), "digest mismatch")


def test_another_key_is_refused_even_with_the_server_certificate_embedded() -> None:
    forged = tree(signed(key=OTHER_KEY, cert=OTHER))
    embedded = forged.find(f".//{DS}X509Certificate")
    assert embedded is not None
    embedded.text = base64.b64encode(SERVER.public_bytes(Encoding.DER)).decode()
    digest = forged.find(f".//{XADES}CertDigest/{DS}DigestValue")
    assert digest is not None  # named the server's certificate in the properties as well
    digest.text = base64.b64encode(hashlib.sha256(SERVER.public_bytes(Encoding.DER)).digest()
                                   ).decode()
    refused(text(forged), "signature invalid")


def test_a_receipt_signed_by_another_certificate_is_refused() -> None:
    refused(signed(key=OTHER_KEY, cert=OTHER), "not signed with the given server certificate")


def test_a_wrapped_receipt_is_refused() -> None:
    """The genuine signed receipt moved inside another ServerReceipt (signature wrapping): the
    outer one, whose fields a naive reader would take, is not what was signed."""
    genuine = tree(signed())
    outer = tree(signed(content(items=(ItemOutcome(999, Outcome.ACCEPTED),))))
    outer_signature = outer[-1]
    outer.remove(outer_signature)
    outer.append(genuine[-1])  # the genuine signature, over the genuine content
    refused(text(outer), "digest mismatch")
    # A forged receipt hidden in the signature's unsigned part is never what is read.
    holder = tree(signed())
    holder[-1].find(f"{DS}Object").append(tree(signed(content(  # type: ignore[union-attr]
        items=(ItemOutcome(999, Outcome.ACCEPTED),)))))
    assert verify_server_receipt(text(holder), SERVER).items == ((1, "ACCEPTED"), (51, "ACCEPTED"))


@pytest.mark.parametrize("change", [
    "third reference", "partial document", "no enveloped transform", "signed properties elsewhere",
    "sha1 digest", "rsa-sha1 signature", "xslt transform", "second signature", "signature not last",
])
def test_other_shapes_are_refused(change: str) -> None:
    root = tree(signed())
    signature = root[-1]
    signed_info = signature.find(f"{DS}SignedInfo")
    assert signed_info is not None
    references = signed_info.findall(f"{DS}Reference")
    if change == "third reference":
        signed_info.append(etree.fromstring(etree.tostring(references[1])))
    elif change == "partial document":
        root[0].set("Id", "only-this")
        references[0].set("URI", "#only-this")
    elif change == "no enveloped transform":
        transforms = references[0].find(f"{DS}Transforms")
        assert transforms is not None
        transforms.remove(transforms[0])
    elif change == "signed properties elsewhere":
        properties = signature.find(f".//{XADES}SignedProperties")
        assert properties is not None
        root.insert(0, properties)  # moved out of the signature's QualifyingProperties
    elif change == "sha1 digest":
        method = references[0].find(f"{DS}DigestMethod")
        assert method is not None
        method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")
    elif change == "rsa-sha1 signature":
        method = signed_info.find(f"{DS}SignatureMethod")
        assert method is not None
        method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
    elif change == "xslt transform":
        transforms = references[0].find(f"{DS}Transforms")
        assert transforms is not None
        transforms[1].set("Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116")
    elif change == "second signature":
        root.append(etree.fromstring(etree.tostring(signature)))
    elif change == "signature not last":
        root.remove(signature)
        root.insert(0, signature)
    refused(text(root))


@pytest.mark.parametrize("document", [
    b"not xml", b"<?xml version='1.0'?><x/>",
    (b'<!DOCTYPE r [<!ENTITY e "x">]><rcpt:ServerReceipt xmlns:rcpt="urn:notess:gateway:'
     b'receipt:v1">&e;</rcpt:ServerReceipt>'),
    b'<rcpt:ServerReceipt xmlns:rcpt="urn:notess:gateway:receipt:v1"/>',
])
def test_what_is_not_a_signed_receipt_is_refused(document: bytes) -> None:
    refused(document)
