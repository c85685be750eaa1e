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
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from gateway.client.xmldsig import (
    ENVELOPED,
    EXC_C14N,
    SignatureInvalid,
    c14n,
    digest_name,
    digest_value,
    verify_signature_value,
)

RECEIPT_NS = "urn:notess:gateway:receipt:v1"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
R = f"{{{RECEIPT_NS}}}"
DS = f"{{{DS_NS}}}"
XADES = "{http://uri.etsi.org/01903/v1.3.2#}"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
_BY_ID = etree.XPath("//*[@Id=$i]")


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
    return _embedded_der(root.findtext(f"{{{DS_NS}}}Signature/{{{DS_NS}}}KeyInfo/"
                                       f"{{{DS_NS}}}X509Data/{{{DS_NS}}}X509Certificate"))


def _embedded_der(embedded: str | None) -> bytes | None:
    try:
        return base64.b64decode("".join(embedded.split()), validate=True) if embedded else None
    except ValueError:
        return None


CertificateChoice = x509.Certificate | Callable[[bytes | None], x509.Certificate]
"""The server certificate, or what picks it from the DER the receipt embeds (None when it
embeds none): across a rotation, the accepted certificate the receipt names."""


def verify_server_receipt(document: bytes, server_certificate: CertificateChoice
                          ) -> VerifiedReceipt:
    """Verify ``document`` with the server certificate; return what it certifies.

    The signature must have exactly the shape the server makes (``gateway/receipt_xml.py``):
    one enveloped ``ds:Signature``, last child of the receipt, over exclusive c14n, with two
    references -- the whole document (``URI=""``: enveloped-signature then exclusive c14n) and
    its own ``xades:SignedProperties`` -- on an allow-list of algorithms, made with the given
    certificate (embedded in KeyInfo, and its digest in SigningCertificate(V2)). The digests
    and the value are checked with lxml and ``cryptography`` (``xmldsig``): five times faster
    than a general XAdES verifier, which the batch agent felt (one receipt per recipient of
    every batch, bench/e2e_agent.py). What is returned is read from the root, all of which but
    the Signature the first reference covers."""
    try:
        root = etree.fromstring(document, _parser())
    except etree.XMLSyntaxError as exc:
        raise ReceiptInvalid(f"not well-formed XML: {exc}") from exc
    if root.tag != R + "ServerReceipt":
        raise ReceiptInvalid(f"not a ServerReceipt but {root.tag}")
    signatures = root.findall(f"{DS}Signature")
    if len(signatures) != 1 or root[-1] is not signatures[0]:
        raise ReceiptInvalid("expected exactly one enveloped ds:Signature as the last child")
    signature = signatures[0]
    embedded = signature.findtext(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    if not isinstance(server_certificate, x509.Certificate):  # chosen by what it embeds
        server_certificate = server_certificate(_embedded_der(embedded))
    identity = _identity(server_certificate)
    if embedded is None or "".join(embedded.split()) != identity.der_base64:
        raise ReceiptInvalid("the receipt was not signed with the given server certificate")
    try:
        document_reference, properties_reference, properties = _signed_parts(root, signature)
        _check_signing_certificate(properties, identity.der)
        if digest_value(document_reference) != hashlib.new(
                digest_name(document_reference), _enveloped_c14n(root, signature)).digest() \
                or digest_value(properties_reference) != hashlib.new(
                    digest_name(properties_reference), c14n(properties)).digest():
            raise SignatureInvalid("digest mismatch")
        verify_signature_value(signature, server_certificate)
    except SignatureInvalid as exc:
        raise ReceiptInvalid(f"signature invalid: {exc}") from exc
    return VerifiedReceipt(
        registration_number=_text(root, "RegistrationNumber"),
        csv_code=_text(root, "CsvCode"),
        issued_at=_text(root, "IssuedAt"),
        receipt_id=_text(root, "ReceiptId"),
        signer=_text(root, "Signer"),
        decision=_text(root, "Decision"),
        acknowledgement_sha256=_text(root, "AcknowledgementDigest"),
        items=tuple((int(item.get("notificationId", "0")), item.get("outcome", ""))
                    for item in root.iterfind(R + "Item")),
        server_certificate=identity.subject,
        recipient=root.findtext(R + "Recipient"),
    )


def _signed_parts(root: etree._Element, signature: etree._Element
                  ) -> tuple[etree._Element, etree._Element, etree._Element]:
    """(the whole-document reference, the SignedProperties reference, the SignedProperties),
    refusing any other shape."""
    references = signature.findall(f"{DS}SignedInfo/{DS}Reference")
    if len(references) != 2:
        raise SignatureInvalid(f"{len(references)} references, expected 2")
    document, properties_reference = (references if references[0].get("URI") == ""
                                      else references[::-1])
    if document.get("URI") != "" or _transforms(document) != [ENVELOPED, EXC_C14N]:
        raise SignatureInvalid("it does not cover the whole receipt")
    properties_id = (properties_reference.get("URI") or "")[1:]
    candidates = signature.findall(
        f"{DS}Object/{XADES}QualifyingProperties/{XADES}SignedProperties")
    properties = next((p for p in candidates if p.get("Id") == properties_id), None)
    if properties is None or not properties_id \
            or properties_reference.get("Type") != SIGNED_PROPERTIES_TYPE \
            or _transforms(properties_reference) not in ([], [EXC_C14N]) \
            or properties.getparent().get("Target") != f"#{signature.get('Id')}" \
            or len(_BY_ID(root, i=properties_id)) != 1:
        raise SignatureInvalid("no signed XAdES SignedProperties")
    return document, properties_reference, properties


def _transforms(reference: etree._Element) -> list[str | None]:
    transforms = reference.findall(f"{DS}Transforms/{DS}Transform")
    if any(len(transform) for transform in transforms):  # no parameters (InclusiveNamespaces)
        raise SignatureInvalid("reference transforms not accepted")
    return [transform.get("Algorithm") for transform in transforms]


def _enveloped_c14n(root: etree._Element, signature: etree._Element) -> bytes:
    """The document without its Signature, canonicalised: the enveloped-signature transform.
    The Signature is taken out of the tree and put back (with any text after it)."""
    tail, signature.tail = signature.tail, None
    root.remove(signature)
    try:
        if tail:
            last = root[-1] if len(root) else None
            if last is not None:
                last.tail = (last.tail or "") + tail
            else:
                root.text = (root.text or "") + tail
        return c14n(root)
    finally:
        if tail:
            if len(root):
                root[-1].tail = (root[-1].tail or "")[:-len(tail)] or None
            else:
                root.text = (root.text or "")[:-len(tail)] or None
        root.append(signature)
        signature.tail = tail


def _check_signing_certificate(properties: etree._Element, der: bytes) -> None:
    """XAdES: the signed properties name the certificate that signed (by its digest)."""
    for container in properties.iterfind(f"{XADES}SignedSignatureProperties/*"):
        if container.tag not in (f"{XADES}SigningCertificateV2", f"{XADES}SigningCertificate"):
            continue
        for digest in container.iterfind(f"{XADES}Cert/{XADES}CertDigest"):
            try:
                if digest_value(digest) == hashlib.new(digest_name(digest), der).digest():
                    return
            except SignatureInvalid:
                continue
    raise SignatureInvalid("the signing certificate named in the signed properties is not the "
                           "server's")


@dataclass(frozen=True)
class _Identity:
    der: bytes
    der_base64: str
    subject: str


@functools.lru_cache(maxsize=8)
def _identity(certificate: x509.Certificate) -> _Identity:
    """What the checks compare with, computed once per certificate."""
    der = certificate.public_bytes(Encoding.DER)
    return _Identity(der, _b64(der), certificate.subject.rfc4514_string())


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
