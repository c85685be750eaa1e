"""Issuing bodies as callers (issue 17): who may publish, and what an issuer is told back.

An issuer is an administration (``Issuer``: TGSS, INSS, ISM). It calls ``IssuerService`` with an
entity seal; the seal's organisation identifier (CIF) is looked up in the issuer registry
(``IssuerOrganisation``), maintained by operators. A certificate whose organisation is not
registered is no issuer, whatever its subject says.

``PublicationEvidence`` is everything an issuer learns of one of its items -- the scope of
issue 17 ("the state, each state change with its official time, who acted, the receipt
registration number") and nothing more: never the subject, documents, the receipt's CSV or
signed XML, nor how the actor came to act (role, mandate, grant).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .clock import require_aware
from .model import Issuer, ItemKind, Notification, Status


@dataclass(frozen=True, slots=True)
class IssuerOrganisation:
    """An organisation allowed to publish as ``issuer`` (its entity seal's CIF)."""

    organisation_identifier: str
    issuer: Issuer
    added_at: datetime

    def __post_init__(self) -> None:
        require_aware(self.added_at, "added_at")


@dataclass(frozen=True, slots=True)
class ReceiptEvidence:
    """The receipt that made an item final, as the issuer may know it."""

    registration_number: str
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class StateChange:
    """One step of an item's life with its official time (and who acted, when someone did)."""

    status: Status
    at: datetime
    acted_by: str | None = None


@dataclass(frozen=True, slots=True)
class PublicationEvidence:
    """One item of the calling issuer: its id, kind, current state and each state change."""

    notification_id: int
    issuer_reference: str
    kind: ItemKind
    status: Status
    made_available_at: datetime
    deadline_at: datetime | None
    changes: tuple[StateChange, ...]
    receipt: ReceiptEvidence | None = None

    @classmethod
    def of(cls, notification: Notification,
           receipt: ReceiptEvidence | None) -> PublicationEvidence:
        """The evidence of ``notification``: made available, then its final state (if any).

        The final state's time is the act's official time (``status_effective_at`` when the
        act took effect at another instant than it was recorded, e.g. a deemed rejection at the
        deadline); ``acted_by`` is the identifier the actor acted as, and is absent for EXPIRED
        (nobody acted) and READ when no identifier was recorded.
        """
        assert notification.id is not None
        changes = [StateChange(Status.AVAILABLE, notification.made_available_at)]
        if notification.status is not Status.AVAILABLE:
            changes.append(StateChange(
                notification.status,
                notification.status_effective_at or notification.status_at,
                None if notification.status is Status.EXPIRED else notification.acted_by))
        return cls(notification.id, notification.issuer_reference, notification.kind,
                   notification.status, notification.made_available_at, notification.deadline_at,
                   tuple(changes), receipt)


@dataclass(frozen=True, slots=True)
class DocumentEvidence:
    position: int
    role: str
    name: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class ItemEvidence:
    """What ``GetEvidence`` certifies about one of the issuer's items: its life (made
    available, first accessed, final state) at official times, its documents by digest, and the
    receipt that made it final with the SHA-256 of the receipt's signed XML."""

    status: PublicationEvidence
    issuer: str
    recipient: str
    documents: tuple[DocumentEvidence, ...]
    accessed: StateChange | None
    receipt_sha256: str | None
    generated_at: datetime
    cancel_reason: str | None = None
    """The issuer's reason, when it cancelled the item."""

    def __post_init__(self) -> None:
        require_aware(self.generated_at, "generated_at")


@dataclass(frozen=True, slots=True)
class Cancellation:
    """``CancelNotification``'s answer: the item, when it was cancelled, why, and whether an
    earlier call had already done it (idempotent replay)."""

    notification_id: int
    issuer_reference: str
    cancelled_at: datetime
    reason: str
    already_cancelled: bool
