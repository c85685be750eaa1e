"""What an issuer is told about its items (``domain.issuers``) and what counts as the same
publication for idempotency (``services.publishing.same_publication``): accept/reject tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.issuers import PublicationEvidence, ReceiptEvidence, StateChange
from gateway.domain.model import (
    Category,
    Document,
    DocumentRole,
    Issuer,
    ItemKind,
    Notification,
    Status,
)
from gateway.services.publishing import same_publication

MADE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEADLINE = MADE + timedelta(days=10)
MAIN = Document("acto.pdf", "application/pdf", "a" * 64, 10, DocumentRole.MAIN, 0)
ANNEX = Document("anexo.txt", "text/plain", "b" * 64, 5, DocumentRole.ANNEX, 1)

STORED = Notification(
    id=7, kind=ItemKind.NOTIFICATION, issuer=Issuer.TGSS, issuer_reference="R-1",
    procedure="Procedimiento", subject="Asunto", recipient="B12345674", ccc=None,
    category=Category.NORMAL, made_available_at=MADE, deadline_at=DEADLINE,
    status=Status.AVAILABLE, status_at=MADE, documents=(MAIN, ANNEX))


@pytest.mark.parametrize("change, time_sent", [
    ({}, True),
    ({"id": None}, True),  # the stored id is not content
    ({"made_available_at": MADE + timedelta(hours=1),
      "deadline_at": DEADLINE + timedelta(hours=1),
      "status_at": MADE + timedelta(hours=1)}, False),  # the server chose the time the 1st time
    ({"made_available_at": MADE.astimezone()}, True),  # the same instant in another offset
])
def test_the_same_publication(change: dict[str, object], time_sent: bool) -> None:
    assert same_publication(STORED, replace(STORED, **change), time_sent)  # type: ignore[arg-type]


@pytest.mark.parametrize("change", [
    {"subject": "Otro asunto"}, {"procedure": "Otro"}, {"recipient": "B76543214"},
    {"ccc": "28123456789"}, {"category": Category.SPECIAL},
    {"kind": ItemKind.COMMUNICATION, "deadline_at": None},
    {"documents": (MAIN,)}, {"documents": (replace(MAIN, sha256="c" * 64), ANNEX)},
    {"documents": (replace(MAIN, name="otro.pdf"), ANNEX)},
    {"documents": (replace(MAIN, content_type="text/plain"), ANNEX)},
    {"made_available_at": MADE - timedelta(seconds=1)},
])
def test_other_content(change: dict[str, object]) -> None:
    assert not same_publication(STORED, replace(STORED, **change), True)  # type: ignore[arg-type]


def test_a_pending_item_has_one_change_and_no_receipt() -> None:
    evidence = PublicationEvidence.of(STORED, None)
    assert evidence.changes == (StateChange(Status.AVAILABLE, MADE),)
    assert evidence.receipt is None and evidence.status is Status.AVAILABLE


def test_an_accepted_item_names_who_acted_when_and_its_receipt() -> None:
    at = MADE + timedelta(days=2)
    accepted = STORED.transition(Status.ACCEPTED, at, by="B99999999")
    receipt = ReceiptEvidence("2026/000000001", at)
    evidence = PublicationEvidence.of(accepted, receipt)
    assert evidence.changes == (StateChange(Status.AVAILABLE, MADE),
                                StateChange(Status.ACCEPTED, at, "B99999999"))
    assert evidence.receipt == receipt


def test_an_expired_item_is_dated_at_its_deadline_and_nobody_acted() -> None:
    expired = STORED.expire(DEADLINE + timedelta(days=1))
    evidence = PublicationEvidence.of(replace(expired, acted_by="B99999999"), None)
    assert evidence.changes[-1] == StateChange(Status.EXPIRED, DEADLINE, None)
