"""The issuer's evidence document (``GetEvidence``, issue 17; namespace
``urn:notess:gateway:evidence:v1``): an item's life as the gateway certifies it.

``Evidence`` holds the item (issuer, reference, id, kind, recipient), its documents by SHA-256,
then one ``Event`` per step -- ``MADE_AVAILABLE``, ``ACCESSED`` (first access: detail opened,
receipt prepared or content released), then the final state (``ACCEPTED``, ``REJECTED``,
``EXPIRED``, ``READ`` or ``CANCELLED`` with the issuer's reason) -- each at its official time (UTC, ``Z``) with the identifier who acted,
and the ``Receipt`` that made it final with the SHA-256 of its signed XML. The server signs it
XAdES-BES enveloped (``signatures.sign_xades_enveloped``), so ``gateway validate`` and
``xmlsec1 --verify`` both check it. Rendering only: no I/O, no clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from gateway import namespaces as ns
from gateway.domain.issuers import ItemEvidence, StateChange
from gateway.domain.model import Status

E = f"{{{ns.EVIDENCE}}}"

EVENT_OF_STATUS = {Status.AVAILABLE: "MADE_AVAILABLE", Status.ACCEPTED: "ACCEPTED",
                   Status.REJECTED: "REJECTED", Status.EXPIRED: "EXPIRED", Status.READ: "READ",
                   Status.CANCELLED: "CANCELLED"}


def official(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def events(evidence: ItemEvidence) -> list[tuple[str, StateChange]]:
    """The steps in order: made available, accessed (if ever), the final state (if any)."""
    changes = list(evidence.status.changes)
    steps = [(EVENT_OF_STATUS[changes[0].status], changes[0])]
    if evidence.accessed is not None:
        steps.append(("ACCESSED", evidence.accessed))
    steps += [(EVENT_OF_STATUS[c.status], c) for c in changes[1:]]
    return steps


def build_evidence(evidence: ItemEvidence) -> bytes:
    """The unsigned evidence document."""
    status = evidence.status
    root = etree.Element(E + "Evidence", nsmap={"ev": ns.EVIDENCE})
    for name, text in (("Issuer", evidence.issuer), ("IssuerReference", status.issuer_reference),
                       ("NotificationId", str(status.notification_id)),
                       ("Kind", status.kind.value), ("Recipient", evidence.recipient),
                       ("Status", status.status.value),
                       ("GeneratedAt", official(evidence.generated_at))):
        etree.SubElement(root, E + name).text = text
    if status.deadline_at is not None:
        etree.SubElement(root, E + "DeadlineAt").text = official(status.deadline_at)
    documents = etree.SubElement(root, E + "Documents")
    for d in evidence.documents:
        etree.SubElement(documents, E + "Document", position=str(d.position), role=d.role,
                         name=d.name, size=str(d.size), sha256=d.sha256)
    life = etree.SubElement(root, E + "Events")
    for kind, change in events(evidence):
        event = etree.SubElement(life, E + "Event", type=kind, at=official(change.at))
        if change.acted_by:
            event.set("actedBy", change.acted_by)
        if kind == "CANCELLED" and evidence.cancel_reason:
            event.set("reason", evidence.cancel_reason)
    if status.receipt is not None:
        etree.SubElement(root, E + "Receipt",
                         registrationNumber=status.receipt.registration_number,
                         issuedAt=official(status.receipt.issued_at),
                         sha256=evidence.receipt_sha256 or "")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
