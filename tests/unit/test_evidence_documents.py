"""The issuer's evidence document (``gateway.evidence_xml``) and its PDF form
(``gateway.evidence_pdf``): the facts in their order, nothing missing, nothing cut off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

from lxml import etree
from pyhanko.pdf_utils.reader import PdfFileReader

from gateway import namespaces as ns
from gateway.domain.issuers import (
    DocumentEvidence,
    ItemEvidence,
    PublicationEvidence,
    ReceiptEvidence,
    StateChange,
)
from gateway.domain.model import ItemKind, Status
from gateway.evidence_pdf import render_evidence_pdf
from gateway.evidence_xml import build_evidence

EV = f"{{{ns.EVIDENCE}}}"
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def evidence(status: Status, *, accessed: bool, documents: int = 1,
             reason: str | None = None) -> ItemEvidence:
    changes = [StateChange(Status.AVAILABLE, AT)]
    if status is not Status.AVAILABLE:
        changes.append(StateChange(status, AT + timedelta(days=2), "B12345674"))
    receipt = (ReceiptEvidence("RS-2026-000123", AT + timedelta(days=2))
               if status is Status.ACCEPTED else None)
    return ItemEvidence(
        PublicationEvidence(42, "TGSS-1", ItemKind.NOTIFICATION, status, AT,
                            AT + timedelta(days=10), tuple(changes), receipt),
        "TGSS", "B12345674",
        tuple(DocumentEvidence(i, "MAIN" if i == 0 else "ANNEX", f"d{i}.pdf", f"{i:064x}", 10 + i)
              for i in range(documents)),
        StateChange(Status.AVAILABLE, AT + timedelta(days=1), "B12345674") if accessed else None,
        "ab" * 32 if receipt else None, AT + timedelta(days=3), reason)


def test_the_events_come_in_order_with_their_official_times_and_actors() -> None:
    root = etree.fromstring(build_evidence(evidence(Status.ACCEPTED, accessed=True)))
    assert [(e.get("type"), e.get("at"), e.get("actedBy"))
            for e in root.iterfind(f"{EV}Events/{EV}Event")] == [
        ("MADE_AVAILABLE", "2026-12-01T09:00:00Z", None),
        ("ACCESSED", "2026-12-02T09:00:00Z", "B12345674"),
        ("ACCEPTED", "2026-12-03T09:00:00Z", "B12345674")]
    receipt = root.find(f"{EV}Receipt")
    assert receipt is not None and receipt.get("sha256") == "ab" * 32
    assert root.findtext(f"{EV}DeadlineAt") == "2026-12-11T09:00:00Z"


def test_a_pending_or_cancelled_item_says_so() -> None:
    pending = etree.fromstring(build_evidence(evidence(Status.AVAILABLE, accessed=False)))
    assert [e.get("type") for e in pending.iterfind(f"{EV}Events/{EV}Event")] == [
        "MADE_AVAILABLE"]
    assert pending.find(f"{EV}Receipt") is None
    cancelled = etree.fromstring(build_evidence(
        evidence(Status.CANCELLED, accessed=False, reason="Emitida por error")))
    last = cancelled.findall(f"{EV}Events/{EV}Event")[-1]
    assert (last.get("type"), last.get("reason")) == ("CANCELLED", "Emitida por error")


def test_the_pdf_lists_every_document_on_as_many_pages_as_needed() -> None:
    zone = ZoneInfo("Europe/Madrid")
    one = PdfFileReader(BytesIO(render_evidence_pdf(
        evidence(Status.ACCEPTED, accessed=True), zone=zone)))
    many = PdfFileReader(BytesIO(render_evidence_pdf(
        evidence(Status.ACCEPTED, accessed=True, documents=51), zone=zone)))
    assert len(one.root["/Pages"]["/Kids"]) == 1
    assert len(many.root["/Pages"]["/Kids"]) == 2
