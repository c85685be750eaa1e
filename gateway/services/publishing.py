"""Making notifications and communications available (import now, IssuerService later).

A batch is validated completely before anything is written: every problem of every item is
reported (with the item's position, which the importer turns into a line number) and a batch with
one bad item writes nothing. The deadline is computed here, once, by the server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TypeVar

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import Clock
from gateway.domain.deadlines import DeadlinePolicy, compute_deadline
from gateway.domain.identifiers import normalise_ccc, normalise_tax_id
from gateway.domain.model import (
    Category,
    Document,
    DocumentRole,
    Issuer,
    ItemKind,
    Notification,
    Status,
)
from gateway.domain.outages import Outage
from gateway.errors import Conflict, GatewayError, InvalidRequest, ItemProblem

from .ports import UnitOfWork

E = TypeVar("E", bound=Enum)

MAX_TEXT = {"issuer_reference": 64, "procedure": 200, "subject": 500, "name": 200}
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
"""Default cap of one document (``GATEWAY_MAX_DOCUMENT_BYTES``; ``PublishingService``)."""
MAX_ANNEXES = 50
EAGER_STAGED_BYTES = 16 * 1024 * 1024
"""Staged (MTOM) documents of one batch read before the bulk insert, up to this many bytes in
all: small attachments go in with the batch's one multi-row insert; the rest are read and
inserted one at a time (``NotificationRepository.add_many``), so memory stays bounded."""


@dataclass(frozen=True, slots=True)
class StagedContent:
    """A document already received elsewhere (an MTOM part spooled by ``soap.xop``): its size
    and SHA-256 were computed on the way in; ``read`` returns its bytes when it is stored."""

    size: int
    sha256: str
    chunks: Callable[[], Iterable[bytes]]
    """The bytes in slices, read when the document is stored."""


@dataclass(frozen=True, slots=True)
class DocumentInput:
    name: str
    content_type: str
    content: bytes
    staged: StagedContent | None = None
    """When set, the document's bytes (``content`` is then empty)."""
    declared_sha256: str | None = None
    """The SHA-256 (hex) the sender stated for the bytes; a mismatch is an item problem."""

    @property
    def size(self) -> int:
        return self.staged.size if self.staged is not None else len(self.content)

    @property
    def sha256(self) -> str:
        if self.staged is not None:
            return self.staged.sha256
        return hashlib.sha256(self.content).hexdigest()

    @property
    def stored(self) -> bytes | Callable[[], Iterable[bytes]]:
        """What the store inserts: the bytes, or how to read them (in slices) at that moment."""
        return self.staged.chunks if self.staged is not None else self.content


@dataclass(frozen=True, slots=True)
class PublicationRequest:
    """One item as an issuer hands it over; every field is raw and still to be validated."""

    issuer: str
    issuer_reference: str
    kind: str
    procedure: str
    subject: str
    recipient: str
    ccc: str | None
    category: str
    documents: tuple[DocumentInput, ...]
    made_available_at: datetime | None = None


Problem = ItemProblem
"""What is wrong with one item of a batch (``errors.ItemProblem``; ``position`` is 0-based)."""


class BatchRejected(InvalidRequest):
    """A batch had invalid items; nothing of it was written. ``problems`` lists every one."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(
            f"{len(problems)} problem(s) in the batch; nothing was written", code="INVALID_BATCH"
        )
        self.problems = tuple(sorted(problems, key=lambda p: p.position))


class DuplicateReference(Conflict):
    """A reference the issuer already published, sent again with other content; nothing of the
    batch was written. ``problems`` names every such item and reference."""

    def __init__(self, problems: Sequence[Problem], references: Sequence[str]) -> None:
        shown = ", ".join(repr(r) for r in references[:10])
        more = f" and {len(references) - 10} more" if len(references) > 10 else ""
        super().__init__(
            f"issuer reference(s) {shown}{more} already published with other content; "
            "nothing was written", code="DUPLICATE_REFERENCE", field="issuerReference")
        self.problems = tuple(sorted(problems, key=lambda p: p.position))
        self.references = tuple(references)


@dataclass(frozen=True, slots=True)
class Published:
    """One item of an idempotent publication: its id, and whether this call created it."""

    notification_id: int
    created: bool
    deadline_at: datetime | None = None
    document_sha256: tuple[str, ...] = ()
    """The SHA-256 (hex) of each stored document, main document first."""


@dataclass(frozen=True)
class PublishingService:
    """Validates and stores batches of new items."""

    uow_factory: Callable[[], UnitOfWork]
    clock: Clock
    calendar: WorkingCalendar
    policy: DeadlinePolicy
    max_document_bytes: int = MAX_DOCUMENT_BYTES

    def validate(
        self, batch: Sequence[PublicationRequest], outages: Sequence[Outage] = ()
    ) -> tuple[list[Notification], list[Problem]]:
        """Every item turned into a domain object, or every problem found; touches no store."""
        items, _, problems = self._validate(batch, outages)
        return items, problems

    def _validate(
        self, batch: Sequence[PublicationRequest], outages: Sequence[Outage]
    ) -> tuple[list[Notification], list[datetime | None], list[Problem]]:
        now = self.clock.now()
        bases: list[datetime | None] = []
        items: list[Notification] = []
        problems: list[Problem] = []
        seen: dict[tuple[str, str], int] = {}
        for position, request in enumerate(batch):
            found: list[Problem] = []
            built = _build(position, request, now, self, outages, found)
            if built is not None:
                notification, base = built
                bases.append(base)
                key = (notification.issuer.value, notification.issuer_reference)
                if key in seen:
                    found.append(Problem(position, "issuer_reference",
                                         f"duplicates the reference of item {seen[key] + 1} of this batch"))
                seen.setdefault(key, position)
                items.append(notification)
            problems.extend(found)
        return items, bases, problems

    def publish(self, batch: Sequence[PublicationRequest]) -> list[int]:
        """Store the batch in one transaction and return the new ids, or raise ``BatchRejected``."""
        with self.uow_factory() as uow:
            items, bases, problems = self._validate(batch, uow.outages.list())
            if problems:
                raise BatchRejected(problems)
            for issuer in Issuer:
                refs = [n.issuer_reference for n in items if n.issuer is issuer]
                if not refs:
                    continue
                for existing in uow.notifications.existing_references(issuer, refs):
                    position = next(i for i, n in enumerate(items)
                                    if n.issuer is issuer and n.issuer_reference == existing)
                    problems.append(Problem(position, "issuer_reference",
                                            f"{issuer.value} reference {existing!r} was already published"))
            if problems:
                raise BatchRejected(problems)
            ids = self._store(uow, items, batch, bases, {})
            uow.commit()
        return ids

    def publish_idempotently(self, batch: Sequence[PublicationRequest],
                             audit_details: Mapping[str, object]) -> list[Published]:
        """Store the new items of the batch and return every item's id, in one transaction.

        Idempotent by ``(issuer, issuer_reference)``: an item already published with the same
        content (``same_publication``) keeps its id and is not written again; one published
        with other content makes the whole batch a ``DuplicateReference``. A bad batch raises
        ``BatchRejected``. Either refusal writes nothing. ``audit_details`` (who called, how)
        go into every ``notification.published`` event.
        """
        with self.uow_factory() as uow:
            items, bases, problems = self._validate(batch, uow.outages.list())
            if problems:
                raise BatchRejected(problems)
            existing: dict[int, Notification] = {}
            conflicts: list[Problem] = []
            for issuer in Issuer:
                positions = {n.issuer_reference: i for i, n in enumerate(items)
                             if n.issuer is issuer}
                if not positions:
                    continue
                stored = uow.notifications.by_references(issuer, positions)
                for reference, earlier in stored.items():
                    position = positions[reference]
                    if same_publication(earlier, items[position],
                                        batch[position].made_available_at is not None):
                        existing[position] = earlier
                    else:
                        conflicts.append(Problem(
                            position, "issuer_reference",
                            f"{issuer.value} reference {reference!r} was already published "
                            "with other content"))
            if conflicts:
                conflicts.sort(key=lambda p: p.position)
                raise DuplicateReference(conflicts, [items[p.position].issuer_reference
                                                     for p in conflicts])
            fresh = [i for i in range(len(items)) if i not in existing]
            ids = self._store(uow, [items[i] for i in fresh], [batch[i] for i in fresh],
                              [bases[i] for i in fresh], audit_details)
            if ids:
                uow.commit()
        created = dict(zip(fresh, ids, strict=True))
        return [Published(created[i], True, items[i].deadline_at, _digests(items[i]))
                if i in created else
                Published(existing[i].id or 0, False, existing[i].deadline_at,
                          _digests(existing[i]))
                for i in range(len(items))]

    def _store(self, uow: UnitOfWork, items: Sequence[Notification],
               batch: Sequence[PublicationRequest], bases: Sequence[datetime | None],
               audit_details: Mapping[str, object]) -> list[int]:
        if not items:
            return []
        now = self.clock.now()
        budget = [EAGER_STAGED_BYTES]

        def stored(document: DocumentInput) -> bytes | Callable[[], Iterable[bytes]]:
            if document.staged is not None and document.staged.size <= budget[0]:
                budget[0] -= document.staged.size
                return b"".join(document.staged.chunks())
            return document.stored

        ids = uow.notifications.add_many(
            [(notification, [stored(d) for d in request.documents])
             for notification, request in zip(items, batch, strict=True)],
            base_deadlines=bases,
        )
        for notification_id, notification in zip(ids, items, strict=True):
            uow.audit.append(
                "notification.published", notification.issuer.value, str(notification_id),
                {"recipient": notification.recipient, "kind": notification.kind.value,
                 "reference": notification.issuer_reference, **audit_details}, now,
            )
        return ids


def _digests(notification: Notification) -> tuple[str, ...]:
    return tuple(d.sha256 for d in sorted(notification.documents, key=lambda d: d.position))


def same_publication(stored: Notification, sent: Notification, time_was_sent: bool) -> bool:
    """Whether ``sent`` is ``stored`` published again: every field the issuer gave, documents
    by name, type, role, order and SHA-256. The made-available time counts only when the
    issuer sent one (otherwise the server chose it, once, at the first publication); the
    deadline is the server's and follows from the rest."""
    return (
        stored.kind is sent.kind and stored.procedure == sent.procedure
        and stored.subject == sent.subject and stored.recipient == sent.recipient
        and stored.ccc == sent.ccc and stored.category is sent.category
        and stored.documents == sent.documents
        and (not time_was_sent or stored.made_available_at == sent.made_available_at)
    )


def _build(position: int, request: PublicationRequest, now: datetime,
           service: PublishingService, outages: Sequence[Outage],
           problems: list[Problem]) -> tuple[Notification, datetime | None] | None:
    """The item and its base deadline (before outage extensions), or None with problems."""
    def problem(field_name: str, message: str) -> None:
        problems.append(Problem(position, field_name, message))

    def choice(field_name: str, raw: str, enum: type[E]) -> E | None:
        try:
            return enum(raw.strip().upper())
        except (ValueError, AttributeError):
            allowed = ", ".join(member.value for member in enum)
            problem(field_name, f"{raw!r} is not one of {allowed}")
            return None

    issuer = choice("issuer", request.issuer, Issuer)
    kind = choice("kind", request.kind, ItemKind)
    category = choice("category", request.category or "NORMAL", Category)
    texts = {}
    for name in ("issuer_reference", "procedure", "subject"):
        value = (getattr(request, name) or "").strip()
        if not value:
            problem(name, "is required")
        elif len(value) > MAX_TEXT[name]:
            problem(name, f"is longer than {MAX_TEXT[name]} characters")
        texts[name] = value
    recipient = ccc = None
    try:
        recipient = normalise_tax_id(request.recipient or "", field="recipient")
    except GatewayError as exc:
        problem("recipient", exc.message)
    if request.ccc:
        try:
            ccc = normalise_ccc(request.ccc, field="ccc")
        except GatewayError as exc:
            problem("ccc", exc.message)
    made_available_at = request.made_available_at or now
    if made_available_at.tzinfo is None:
        problem("made_available_at", "must carry a time zone offset")
        made_available_at = now
    elif made_available_at > now:
        problem("made_available_at", "cannot be in the future (official time governs)")
    documents = _documents(request.documents, problem, service.max_document_bytes)
    if problems or issuer is None or kind is None or category is None or recipient is None:
        return None
    deadline_at = base_deadline_at = None
    extension_days = 0
    if kind is ItemKind.NOTIFICATION:
        deadline = compute_deadline(made_available_at, service.calendar, service.policy, outages)
        deadline_at, extension_days = deadline.deadline_at, deadline.extension_days
        base_deadline_at = deadline.base_deadline_at
    return Notification(
        id=None, kind=kind, issuer=issuer, issuer_reference=texts["issuer_reference"],
        procedure=texts["procedure"], subject=texts["subject"], recipient=recipient, ccc=ccc,
        category=category, made_available_at=made_available_at, deadline_at=deadline_at,
        status=Status.AVAILABLE, status_at=made_available_at, documents=documents,
        deadline_extension_days=extension_days,
    ), base_deadline_at


def _documents(inputs: Sequence[DocumentInput], problem: Callable[[str, str], None],
               max_bytes: int) -> tuple[Document, ...]:
    if not inputs:
        problem("documents", "a main document is required")
        return ()
    if len(inputs) > MAX_ANNEXES + 1:
        problem("documents", f"at most {MAX_ANNEXES} annexes are allowed")
    documents = []
    for position, document in enumerate(inputs):
        label = "main_document" if position == 0 else f"annex {position}"
        if not document.name.strip() or len(document.name) > MAX_TEXT["name"]:
            problem(label, "needs a name of 1 to 200 characters")
        size, sha256 = document.size, document.sha256
        if size > max_bytes:
            problem(label, f"is larger than {max_bytes} bytes")
        if not size:
            problem(label, "is empty")
        declared = (document.declared_sha256 or "").strip().lower()
        if declared and declared != sha256:
            problem(label, "does not match its sha256 (the bytes received differ from the "
                           "digest in the signed message)")
        documents.append(Document(
            name=document.name.strip(), content_type=document.content_type,
            sha256=sha256, size=size,
            role=DocumentRole.MAIN if position == 0 else DocumentRole.ANNEX, position=position,
        ))
    return tuple(documents)
