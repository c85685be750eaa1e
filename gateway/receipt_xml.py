"""The receipt documents on the wire (``xsd/receipt.xsd``, namespace ``urn:notess:gateway:receipt:v1``).

Two documents: the ``Acknowledgement`` the server prepares and the caller signs (XAdES-BES
enveloped, enveloping -- inside ``ds:Object``, as XML or Base64: ``enveloped_object_content`` --
or detached, or CAdES-BES over these exact bytes), and the ``ServerReceipt`` the server signs. The
builders write them, the parsers read them strictly: every element in its place, nothing unknown
(apart from one ``ds:Signature`` as the last child of an enveloped-signed document), so what is
parsed is what the signature covered. Library errors are translated here (STYLE.md habit 2).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NoReturn

from lxml import etree

from gateway import namespaces as ns
from gateway.domain.receipts import (
    AcknowledgedItem,
    Acknowledgement,
    Decision,
    DocumentDigest,
    ItemOutcome,
    Outcome,
    RegistrationNumber,
    ServerReceipt,
)
from gateway.errors import GatewayError, InvalidRequest
from gateway.xmlsafe import parse_xml
from gateway.xmlsig.references import IdIndex

R = f"{{{ns.RECEIPT}}}"
_SIGNATURE = ns.qname(ns.DS, "Signature")
_OBJECT = ns.qname(ns.DS, "Object")
_PLAIN_C14N = frozenset({"c14n", "c14n11", "exc-c14n"})
"""Transforms (report names) an XML acknowledgement may be signed with: canonicalisation without
comments, which leaves the acknowledgement as parsed."""
_NSMAP = {"rcpt": ns.RECEIPT}


def _time(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _child(parent: etree._Element, name: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, R + name)
    element.text = text
    return element


def build_acknowledgement(ack: Acknowledgement) -> bytes:
    root = etree.Element(R + "Acknowledgement", nsmap=_NSMAP)
    _child(root, "ReceiptId", ack.receipt_id)
    _child(root, "Signer", ack.signer)
    _child(root, "Decision", ack.decision.value)
    _child(root, "Nonce", ack.nonce)
    _child(root, "IssuedAt", _time(ack.issued_at))
    _child(root, "ExpiresAt", _time(ack.expires_at))
    for item in ack.items:
        entry = etree.SubElement(root, R + "Item", notificationId=str(item.notification_id))
        for document in item.documents:
            etree.SubElement(entry, R + "Document", position=str(document.position),
                             role=document.role, sha256=document.sha256)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def build_server_receipt(receipt: ServerReceipt) -> bytes:
    root = etree.Element(R + "ServerReceipt", nsmap=_NSMAP)
    _child(root, "RegistrationNumber", str(receipt.registration_number))
    _child(root, "CsvCode", receipt.csv_code)
    _child(root, "IssuedAt", _time(receipt.issued_at))
    _child(root, "ReceiptId", receipt.receipt_id)
    _child(root, "Signer", receipt.signer)
    _child(root, "Decision", receipt.decision.value)
    _child(root, "AcknowledgementDigest", receipt.client_ack_digest).set("algorithm", "SHA-256")
    if receipt.recipient is not None:
        _child(root, "Recipient", receipt.recipient)
    for item in receipt.items:
        etree.SubElement(root, R + "Item", notificationId=str(item.notification_id),
                         outcome=item.outcome.value)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


class _Reader:
    """Walks the children of one element in order; any surprise is MALFORMED_RECEIPT."""

    def __init__(self, root: etree._Element, expected: str, *, allow_signature: bool) -> None:
        if root.tag != R + expected:
            _malformed(f"the document is not a {expected}")
        children = [c for c in root if isinstance(c.tag, str)]
        if children and children[-1].tag == _SIGNATURE and allow_signature:
            children = children[:-1]
        if any(c.tag == _SIGNATURE for c in children):
            _malformed("a signature may only be the last child of the document")
        self._children: Iterator[etree._Element] = iter(children)
        self._pending: etree._Element | None = next(self._children, None)

    def text(self, name: str) -> str:
        element = self._take(name)
        if element is None:
            raise InvalidRequest(f"malformed receipt document: {name} is missing",
                                 code="MALFORMED_RECEIPT")
        if len(element):
            _malformed(f"{name} must hold text only")
        return (element.text or "").strip()

    def optional_text(self, name: str) -> str | None:
        if self._pending is None or self._pending.tag != R + name:
            return None
        return self.text(name)

    def repeated(self, name: str) -> list[etree._Element]:
        found = []
        while (element := self._take(name)) is not None:
            found.append(element)
        return found

    def finish(self) -> None:
        if self._pending is not None:
            _malformed(f"unexpected element {etree.QName(self._pending).localname}")

    def _take(self, name: str) -> etree._Element | None:
        element = self._pending
        if element is None or element.tag != R + name:
            return None
        self._pending = next(self._children, None)
        return element


def _malformed(message: str) -> NoReturn:
    raise InvalidRequest(f"malformed receipt document: {message}", code="MALFORMED_RECEIPT")


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(f"malformed receipt document: bad instant {text!r}",
                             code="MALFORMED_RECEIPT") from exc
    if value.tzinfo is None:
        _malformed(f"instant {text!r} has no offset")
    return value


def _int(text: str | None) -> int:
    if text is None or not text.isdigit():
        raise InvalidRequest("malformed receipt document: bad number", code="MALFORMED_RECEIPT")
    return int(text)


def _enum(enum: type[Decision | Outcome], text: str | None) -> object:
    try:
        return enum(text)
    except ValueError as exc:
        raise InvalidRequest(f"malformed receipt document: unknown code {text!r}",
                             code="MALFORMED_RECEIPT") from exc


def _root(document: bytes | etree._Element) -> etree._Element:
    return parse_xml(document) if isinstance(document, bytes) else document


def parse_acknowledgement(document: bytes | etree._Element, *,
                          allow_signature: bool = True) -> Acknowledgement:
    reader = _Reader(_root(document), "Acknowledgement", allow_signature=allow_signature)
    receipt_id = reader.text("ReceiptId")
    signer = reader.text("Signer")
    decision = _enum(Decision, reader.text("Decision"))
    nonce = reader.text("Nonce")
    issued_at = _instant(reader.text("IssuedAt"))
    expires_at = _instant(reader.text("ExpiresAt"))
    items = []
    for entry in reader.repeated("Item"):
        documents = []
        for child in entry:
            if not isinstance(child.tag, str):
                continue
            if child.tag != R + "Document" or len(child):
                _malformed("an Item holds Document elements only")
            documents.append(DocumentDigest(_int(child.get("position")), child.get("role") or "",
                                            child.get("sha256") or ""))
        items.append(AcknowledgedItem(_int(entry.get("notificationId")), tuple(documents)))
    reader.finish()
    assert isinstance(decision, Decision)
    return Acknowledgement(receipt_id, signer, decision, nonce, issued_at, expires_at,
                           tuple(items))


def parse_server_receipt(document: bytes | etree._Element) -> ServerReceipt:
    reader = _Reader(_root(document), "ServerReceipt", allow_signature=True)
    registration = RegistrationNumber.parse(reader.text("RegistrationNumber"))
    csv_code = reader.text("CsvCode")
    issued_at = _instant(reader.text("IssuedAt"))
    receipt_id = reader.text("ReceiptId")
    signer = reader.text("Signer")
    decision = _enum(Decision, reader.text("Decision"))
    digest = reader.text("AcknowledgementDigest")
    recipient = reader.optional_text("Recipient")
    items = []
    for entry in reader.repeated("Item"):
        outcome = _enum(Outcome, entry.get("outcome"))
        assert isinstance(outcome, Outcome)
        items.append(ItemOutcome(_int(entry.get("notificationId")), outcome))
    reader.finish()
    assert isinstance(decision, Decision)
    return ServerReceipt(registration, csv_code, issued_at, receipt_id, signer, decision, digest,
                         tuple(items), recipient)


def is_signature_document(document: bytes) -> bool:
    """Whether the document's root is a ``ds:Signature`` (enveloping or detached XAdES)."""
    return bool(_root(document).tag == _SIGNATURE)


def enveloped_object_content(document: bytes, uri: str, transforms: tuple[str, ...]) -> bytes:
    """The data an enveloping signature's reference ``uri`` signs: a ``ds:Object`` child of the
    ``ds:Signature`` root, holding one XML element (returned as exclusive C14N without comments:
    the octets that were digested, up to the namespaces it does not use) or, with the one
    transform ``base64``, Base64 text (returned decoded). The reference must be a bare-name
    ``#id``; anything else is refused, so that what is parsed is what was signed."""
    root = _root(document)
    if root.tag != _SIGNATURE or not uri.startswith("#"):
        _malformed("the signed acknowledgement must be a ds:Object of the signature (#id)")
    try:
        element = IdIndex.build(root).resolve(uri)
    except GatewayError:
        _malformed("the signed ds:Object is not found")
    if element.tag != _OBJECT or element.getparent() is not root:
        _malformed("the signed acknowledgement must be a ds:Object of the signature")
    if transforms == ("base64",):
        text = "".join(element.xpath("string(.)").split())  # text nodes only, as the transform
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            _malformed("the signed ds:Object is not Base64")
    if len(transforms) > 1 or not set(transforms) <= _PLAIN_C14N:
        raise InvalidRequest("sign the acknowledgement's ds:Object with canonicalisation or "
                             "Base64 only", code="UNSUPPORTED_FORMAT", field="signedReceipt")
    children = [child for child in element if isinstance(child.tag, str)]
    stray = (element.text or "").strip() or any((child.tail or "").strip() for child in element)
    if len(children) != 1 or stray:
        _malformed("the signed ds:Object must hold the acknowledgement alone")
    return bytes(etree.tostring(children[0], method="c14n", exclusive=True, with_comments=False))


def cms_encapsulated_content(der: bytes) -> bytes | None:
    """The eContent of an attached CMS SignedData, ``None`` when detached or unreadable (the
    signature validation that ran before says why)."""
    from gateway.signatures.cms import PARSE_ERRORS, load_signed_data, present
    from gateway.signatures.findings import FormatError

    try:
        embedded = load_signed_data(der)["encap_content_info"]["content"]
        return bytes(embedded) if present(embedded) else None
    except (FormatError, *PARSE_ERRORS):
        return None
