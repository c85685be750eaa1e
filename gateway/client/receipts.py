"""Server receipts checked offline: the XAdES signature valid and made with the server
certificate, and the signed acknowledgement they certify.

The receipt is the ``ServerReceipt`` document (``xsd/receipt.xsd``) that SubmitReceipt and
GetReceipt return and that the batch agent stores in ``<archive>/<recipient>/receipts/`` (one
receipt per recipient; ``<archive>/receipts/`` for receipts from before). The check needs no
network: the XML signature (enveloped XAdES-BES, ETSI EN 319 132-1) must verify with the key of
the given server certificate, the certificate in the signature's KeyInfo must be that very
certificate, and the XAdES signing-certificate digest must match it.

The signed acknowledgement the client sent (``<archive>/acknowledgements/<receipt id>.xml``,
older archives ``<number>-ack.xml`` beside the receipt) must have the receipt's
``AcknowledgementDigest`` as its SHA-256; the documents' SHA-256 it lists bind the archived
content to the receipt.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml import InvalidInput, InvalidSignature
from signxml.xades import XAdESVerifier

RECEIPT_NS = "urn:notess:gateway:receipt:v1"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
R = f"{{{RECEIPT_NS}}}"


class ReceiptInvalid(Exception):
    """The receipt (or acknowledgement) must not be trusted; the message says why."""


@dataclass(frozen=True)
class VerifiedReceipt:
    """What the server signed (nothing else from the file is reported)."""

    registration_number: str
    csv_code: str
    issued_at: str
    receipt_id: str
    signer: str
    decision: str
    acknowledgement_sha256: str
    items: tuple[tuple[int, str], ...]
    server_certificate: str  # subject of the certificate that signed
    recipient: str | None = None  # whose items (absent on receipts from before the split)


@dataclass(frozen=True)
class VerifiedAcknowledgement:
    """The client's acknowledgement the receipt certifies: per notification, its documents'
    (position, sha256)."""

    sha256: str
    documents: dict[int, tuple[tuple[int, str], ...]]


def _parser() -> etree.XMLParser:
    # Hardened: no DTD, no entities, no network (the file may come from anywhere).
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=False)


def load_certificate(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    try:
        return (x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data
                else x509.load_der_x509_certificate(data))
    except ValueError as exc:
        raise ReceiptInvalid(f"{path} is not an X.509 certificate: {exc}") from exc


def receipt_signer(document: bytes) -> bytes | None:
    """The DER of the certificate a receipt's signature embeds (to choose which accepted server
    certificate it must verify with, across a rotation), or None."""
    try:
        root = etree.fromstring(document, _parser())
    except etree.XMLSyntaxError:
        return None
    embedded = root.findtext(f"{{{DS_NS}}}Signature/{{{DS_NS}}}KeyInfo/{{{DS_NS}}}X509Data/"
                             f"{{{DS_NS}}}X509Certificate")
    try:
        return base64.b64decode("".join(embedded.split()), validate=True) if embedded else None
    except ValueError:
        return None


def verify_server_receipt(document: bytes, server_certificate: x509.Certificate) -> VerifiedReceipt:
    """Verify ``document`` with the server certificate; return what it certifies."""
    pem = server_certificate.public_bytes(Encoding.PEM)
    try:
        root = etree.fromstring(document, _parser())
    except etree.XMLSyntaxError as exc:
        raise ReceiptInvalid(f"not well-formed XML: {exc}") from exc
    if root.tag != R + "ServerReceipt":
        raise ReceiptInvalid(f"not a ServerReceipt but {root.tag}")
    signatures = root.findall(f"{{{DS_NS}}}Signature")
    if len(signatures) != 1 or root[-1] is not signatures[0]:
        raise ReceiptInvalid("expected exactly one enveloped ds:Signature as the last child")
    embedded = signatures[0].findtext(f"{{{DS_NS}}}KeyInfo/{{{DS_NS}}}X509Data/"
                                      f"{{{DS_NS}}}X509Certificate")
    der = server_certificate.public_bytes(Encoding.DER)
    if embedded is None or "".join(embedded.split()) != _b64(der):
        raise ReceiptInvalid("the receipt was not signed with the given server certificate")
    try:
        # Two references: the whole document (enveloped) and the XAdES SignedProperties.
        results = XAdESVerifier().verify(document, x509_cert=pem, expect_references=2)
    except (InvalidSignature, InvalidInput) as exc:
        raise ReceiptInvalid(f"signature invalid: {exc}") from exc
    signed = next((r.signed_xml for r in results
                   if r.signed_xml is not None and r.signed_xml.tag == R + "ServerReceipt"), None)
    if signed is None:
        raise ReceiptInvalid("the signature does not cover the receipt")
    return VerifiedReceipt(
        registration_number=_text(signed, "RegistrationNumber"),
        csv_code=_text(signed, "CsvCode"),
        issued_at=_text(signed, "IssuedAt"),
        receipt_id=_text(signed, "ReceiptId"),
        signer=_text(signed, "Signer"),
        decision=_text(signed, "Decision"),
        acknowledgement_sha256=_text(signed, "AcknowledgementDigest"),
        items=tuple((int(item.get("notificationId", "0")), item.get("outcome", ""))
                    for item in signed.iterfind(R + "Item")),
        server_certificate=server_certificate.subject.rfc4514_string(),
        recipient=signed.findtext(R + "Recipient"),
    )


def verify_acknowledgement(document: bytes, receipt: VerifiedReceipt) -> VerifiedAcknowledgement:
    """The acknowledgement whose SHA-256 the receipt certifies, and the document digests in it."""
    sha256 = hashlib.sha256(document).hexdigest()
    if sha256 != receipt.acknowledgement_sha256:
        raise ReceiptInvalid(f"acknowledgement SHA-256 {sha256} is not the receipt's "
                             f"{receipt.acknowledgement_sha256}")
    try:
        root = etree.fromstring(document, _parser())
    except etree.XMLSyntaxError as exc:
        raise ReceiptInvalid(f"acknowledgement not well-formed: {exc}") from exc
    if root.findtext(R + "ReceiptId") != receipt.receipt_id:
        raise ReceiptInvalid("the acknowledgement is for another receipt id")
    documents = {
        int(item.get("notificationId", "0")): tuple(
            (int(d.get("position", "0")), d.get("sha256", "")) for d in item.iterfind(R + "Document"))
        for item in root.iterfind(R + "Item")}
    return VerifiedAcknowledgement(sha256, documents)


def _text(root: etree._Element, name: str) -> str:
    value = root.findtext(R + name)
    if value is None:
        raise ReceiptInvalid(f"the signed receipt has no {name}")
    return value


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def acknowledgement_of(receipt_path: Path, receipt_id: str) -> Path | None:
    """Where ``batch_agent.py`` keeps the signed acknowledgement a receipt certifies:
    ``acknowledgements/<receipt id>.xml`` at the archive's root (a folder or two above the
    receipt), or ``<number>-ack.xml`` beside it (archives written before receipts were split
    per recipient); ``None`` when there is none."""
    beside = receipt_path.with_name(f"{receipt_path.stem}-ack.xml")
    if beside.is_file():
        return beside
    for folder in list(receipt_path.resolve().parents)[:3]:
        candidate = folder / "acknowledgements" / f"{receipt_id}.xml"
        if candidate.is_file():
            return candidate
    return None
