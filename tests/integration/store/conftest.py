"""Builders for the store tests: domain notifications with documents, and their contents.

Exposed as fixtures (test modules do not import conftest).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

from gateway.domain.model import (
    Category,
    Document,
    DocumentRole,
    Issuer,
    ItemKind,
    Notification,
    Status,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COMPANY = "B12345674"


class MakeNotification(Protocol):
    def __call__(
        self,
        recipient: str = ...,
        *,
        kind: ItemKind = ...,
        issuer: Issuer = ...,
        reference: str | None = ...,
        ccc: str | None = ...,
        category: Category = ...,
        at: datetime = ...,
        annexes: int = ...,
    ) -> Notification: ...


def document_bytes(reference: str, position: int) -> bytes:
    return f"%PDF-1.7 {reference} document {position}".encode()


def contents_of(notification: Notification) -> list[bytes]:
    return [
        document_bytes(notification.issuer_reference, d.position) for d in notification.documents
    ]


@pytest.fixture
def make_notification() -> MakeNotification:
    counter = itertools.count(1)

    def make(
        recipient: str = COMPANY,
        *,
        kind: ItemKind = ItemKind.NOTIFICATION,
        issuer: Issuer = Issuer.TGSS,
        reference: str | None = None,
        ccc: str | None = None,
        category: Category = Category.NORMAL,
        at: datetime = T0,
        annexes: int = 1,
    ) -> Notification:
        reference = reference or f"REF-{next(counter):07d}"
        documents = []
        for position in range(annexes + 1):
            data = document_bytes(reference, position)
            documents.append(
                Document(
                    name="resolucion.pdf" if position == 0 else f"anexo{position}.pdf",
                    content_type="application/pdf",
                    sha256=hashlib.sha256(data).hexdigest(),
                    size=len(data),
                    role=DocumentRole.MAIN if position == 0 else DocumentRole.ANNEX,
                    position=position,
                )
            )
        return Notification(
            id=None,
            kind=kind,
            issuer=issuer,
            issuer_reference=reference,
            procedure="Reclamación de deuda",
            subject=f"Acto {reference} ñ€",
            recipient=recipient,
            ccc=ccc,
            category=category,
            made_available_at=at,
            deadline_at=at + timedelta(days=10) if kind is ItemKind.NOTIFICATION else None,
            status=Status.AVAILABLE,
            status_at=at,
            documents=tuple(documents),
        )

    return make


@pytest.fixture(name="contents_of")
def contents_of_fixture() -> Callable[[Notification], list[bytes]]:
    """The bytes ``make_notification`` described for each of an item's documents."""
    return contents_of
