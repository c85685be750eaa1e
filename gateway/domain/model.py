"""Notifications and communications, their documents, and their state machine.

DESIGN.md §1: two kinds of item. A *notification* needs an accept/reject acknowledgement
(``AVAILABLE -> ACCEPTED | REJECTED | EXPIRED``); a *communication* is informative and opening it
marks it read (``AVAILABLE -> READ``). Final states never change again. Enum values are the wire
codes used in the SOAP contract and the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from gateway.errors import InvalidState

from .clock import require_aware


class ItemKind(str, Enum):
    NOTIFICATION = "NOTIFICATION"
    COMMUNICATION = "COMMUNICATION"


class Status(str, Enum):
    AVAILABLE = "AVAILABLE"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    READ = "READ"
    CANCELLED = "CANCELLED"
    """Withdrawn by its issuer before anyone accessed it (``CancelNotification``): in no
    listing any more, still in the audit chain and shown as such by ``GetNotification``."""

    @property
    def is_final(self) -> bool:
        return self is not Status.AVAILABLE


class Category(str, Enum):
    """``SPECIAL`` marks special-category personal data (e.g. health), GDPR art. 9."""

    NORMAL = "NORMAL"
    SPECIAL = "SPECIAL"


class Issuer(str, Enum):
    """The administrations whose acts the gateway notifies."""

    TGSS = "TGSS"
    INSS = "INSS"
    ISM = "ISM"


class DocumentRole(str, Enum):
    MAIN = "MAIN"
    ANNEX = "ANNEX"


# Every legal move, per kind. Anything not listed raises InvalidState.
TRANSITIONS: dict[ItemKind, dict[Status, frozenset[Status]]] = {
    ItemKind.NOTIFICATION: {
        Status.AVAILABLE: frozenset({Status.ACCEPTED, Status.REJECTED, Status.EXPIRED,
                                     Status.CANCELLED}),
    },
    ItemKind.COMMUNICATION: {
        Status.AVAILABLE: frozenset({Status.READ, Status.CANCELLED}),
    },
}


def allowed_targets(kind: ItemKind, current: Status) -> frozenset[Status]:
    """The states an item of ``kind`` may move to from ``current`` (empty once final)."""
    return TRANSITIONS[kind].get(current, frozenset())


def check_transition(kind: ItemKind, current: Status, target: Status) -> None:
    """Raise ``InvalidState`` unless ``current -> target`` is legal for ``kind``."""
    if target not in allowed_targets(kind, current):
        if current.is_final:
            raise InvalidState(
                f"{kind.value.lower()} is already {current.value} and can no longer change",
                code="ALREADY_FINAL",
            )
        raise InvalidState(
            f"a {kind.value.lower()} cannot move from {current.value} to {target.value}",
            code="ILLEGAL_TRANSITION",
        )


@dataclass(frozen=True, slots=True)
class Document:
    """One document of an item: the main one (position 0) or an annex."""

    name: str
    content_type: str
    sha256: str
    size: int
    role: DocumentRole = DocumentRole.MAIN
    position: int = 0


@dataclass(frozen=True, slots=True)
class Notification:
    """A notification or communication as the gateway knows it.

    ``deadline_at`` is computed once by the server (``domain.deadlines``) and stored; it is
    ``None`` for communications, which have no deadline. ``deadline_extension_days`` shows how
    much of it comes from recorded service outages.
    """

    id: int | None
    kind: ItemKind
    issuer: Issuer
    issuer_reference: str
    procedure: str
    subject: str
    recipient: str
    ccc: str | None
    category: Category
    made_available_at: datetime
    deadline_at: datetime | None
    status: Status
    status_at: datetime
    documents: tuple[Document, ...] = ()
    deadline_extension_days: int = 0
    status_effective_at: datetime | None = field(default=None)
    acted_by: str | None = None
    """Who accepted or rejected it (the identifier the caller acted as), once final by an act."""

    def __post_init__(self) -> None:
        require_aware(self.made_available_at, "made_available_at")
        require_aware(self.status_at, "status_at")
        if self.deadline_at is not None:
            require_aware(self.deadline_at, "deadline_at")
        if self.status_effective_at is not None:
            require_aware(self.status_effective_at, "status_effective_at")
        if self.kind is ItemKind.NOTIFICATION and self.deadline_at is None:
            raise ValueError("a notification needs a deadline")
        if self.kind is ItemKind.COMMUNICATION and self.deadline_at is not None:
            raise ValueError("a communication has no deadline")

    @property
    def main_document(self) -> Document | None:
        for document in self.documents:
            if document.role is DocumentRole.MAIN:
                return document
        return None

    @property
    def annexes(self) -> tuple[Document, ...]:
        return tuple(d for d in self.documents if d.role is DocumentRole.ANNEX)

    def is_overdue(self, now: datetime) -> bool:
        """True once the deadline has passed while the notification is still pending."""
        require_aware(now, "now")
        return (
            self.kind is ItemKind.NOTIFICATION
            and self.status is Status.AVAILABLE
            and self.deadline_at is not None
            and now >= self.deadline_at
        )

    def status_as_of(self, now: datetime) -> Status:
        """The status a client must see at ``now``: an overdue notification is EXPIRED even
        before the sweep has written it (the deadline, not the sweep, decides)."""
        return Status.EXPIRED if self.is_overdue(now) else self.status

    def transition(
        self, target: Status, at: datetime, effective_at: datetime | None = None,
        by: str | None = None,
    ) -> Notification:
        """Return this item moved to ``target`` at ``at``; raise ``InvalidState`` if illegal.

        Accepting or rejecting after the deadline is refused with code ``EXPIRED``: the deemed
        rejection already happened at ``deadline_at``. Moving to EXPIRED goes through ``expire``.
        """
        require_aware(at, "at")
        if effective_at is not None:
            require_aware(effective_at, "effective_at")
        if target is Status.EXPIRED:
            return self.expire(at)
        if target in (Status.ACCEPTED, Status.REJECTED, Status.CANCELLED) and self.is_overdue(at):
            raise InvalidState("the notification's deadline has passed", code="EXPIRED")
        if at < self.made_available_at:
            raise InvalidState("an item cannot change before it was made available",
                               code="ILLEGAL_TRANSITION")
        check_transition(self.kind, self.status, target)
        return replace(self, status=target, status_at=at, status_effective_at=effective_at or at,
                       acted_by=by)

    def expire(self, now: datetime) -> Notification:
        """The deemed rejection at ``now``: EXPIRED, dated at the deadline itself.

        Refused before the deadline (``NOT_YET_DUE``): nobody may cut a recipient's time short.
        """
        require_aware(now, "now")
        check_transition(self.kind, self.status, Status.EXPIRED)
        assert self.deadline_at is not None  # every notification has one (__post_init__)
        if now < self.deadline_at:
            raise InvalidState("the deadline has not passed yet", code="NOT_YET_DUE")
        return replace(
            self,
            status=Status.EXPIRED,
            status_at=self.deadline_at,
            status_effective_at=self.deadline_at,
        )
