"""Reading notifications: list (keyset pages with an opaque cursor), get one, fetch content.

Every read goes through ``domain.authorization``. An item the caller may not see is reported as
``NotFound`` — the same answer as for an id that does not exist — so callers cannot probe for
the existence of other people's notifications; the refusal and its reason go to the audit log.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from gateway.domain.audit import AuditEntry
from gateway.domain.authorization import Action, Decision, decide
from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import Clock
from gateway.domain.cursor import decode_cursor, encode_cursor
from gateway.domain.listing import (
    Audience,
    AudienceIndex,
    ListingFilter,
    ListingQuery,
    PagePosition,
    Role,
)
from gateway.domain.model import Document, ItemKind, Notification, Status
from gateway.domain.principal import Principal
from gateway.errors import (
    AuthorizationError,
    InvalidRequest,
    InvalidState,
    LimitExceeded,
    NotFound,
)

from .batches import check_id_batch
from .ports import UnitOfWork
from .refusals import absence_entry, audited_absence, audited_decision, refusal_entry
from .rights import RightsCache

log = logging.getLogger("gateway.services")


@dataclass(frozen=True, slots=True)
class VisibleNotification:
    """A notification as one caller sees it: status as of now, and the role that lets it see."""

    notification: Notification
    role: Role


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[VisibleNotification, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Content:
    notification: VisibleNotification
    document: Document
    data: bytes


CONTENT_INLINE_BYTES = 2 * 1024 * 1024
"""Documents up to this size are read whole inside the transaction that releases them."""

CONTENT_SLICE_BYTES = 3 * 256 * 1024
"""Larger documents are read from the store in slices of this many bytes, so a download never
holds one in memory. A multiple of 3: the base64 of consecutive slices concatenates."""


@dataclass(frozen=True, slots=True)
class ContentStream:
    """A released document. Each call of ``chunks()`` reads it afresh, slice by slice, and raises
    ``RuntimeError`` after the last slice if the bytes are not the ones ``document.sha256``
    names (so a first pass can check everything before anything is sent)."""

    notification: VisibleNotification
    document: Document
    chunks: Callable[[], Iterator[bytes]]
    offset: int = 0
    """Where ``chunks()`` starts in the document (a resumed download)."""


MAX_CONTENTS_ITEMS = 1000
"""Notifications named in one ``contents`` request at most (fault BATCH_TOO_LARGE)."""

CONTENTS_BUDGET_BYTES = 4 * 1024 * 1024
"""Document bytes one ``contents`` answer carries at most (whole notifications; the first one
always goes in): the rest is DEFERRED and asked for again, so no response -- and no worker --
holds more than this plus its base64."""


CONTENT_REFUSAL_CODES = ("NOT_FOUND", "NOT_AUTHORISED", "NOT_ACCEPTED", "TOO_LARGE", "DEFERRED",
                         "CONTENT_UNAVAILABLE", "CANCELLED")


class ContentRefusal(NamedTuple):
    """Why one notification of a ``contents`` request carries no documents. ``code``:

    - ``NOT_FOUND``: no such notification, or not one the caller may open (one answer for both);
    - ``NOT_ACCEPTED``: a notification not (yet) ACCEPTED -- its content is not released;
    - ``CANCELLED``: withdrawn by its issuer (``CancelNotification``) -- never released;
    - ``TOO_LARGE``: a document above ``CONTENT_INLINE_BYTES``: fetch it with ``open_content``,
      which streams it;
    - ``DEFERRED``: the answer reached ``CONTENTS_BUDGET_BYTES``: ask again;
    - ``CONTENT_UNAVAILABLE``: the stored bytes do not match their SHA-256 (logged as an error;
      nothing released, a communication stays unread)."""

    notification_id: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ContentBatch:
    """Every document of each released notification, in request order, and the refusals."""

    released: tuple[Content, ...]
    refused: tuple[ContentRefusal, ...]


class ByteCharger(Protocol):
    """Charges the document bytes a download is about to release, before any is read: raises
    ``RateLimited`` over the allowance, unless ``refuse`` is false (then only counts)."""

    def __call__(self, size: int, *, refuse: bool = True) -> None: ...


ByteQuota = Callable[[Principal], ByteCharger]
"""The principal's byte charger (``soap.limits.ContentByteLimits.charger``: bytes per hour),
obtained *before* the transaction: finding the principal's allowance may read the database."""


@dataclass(frozen=True)
class NotificationQueries:
    uow_factory: Callable[[], UnitOfWork]
    clock: Clock
    calendar: WorkingCalendar
    cursor_secret: bytes
    max_page_size: int = 1000
    rights: RightsCache = field(default_factory=RightsCache)
    contents_budget: int = CONTENTS_BUDGET_BYTES
    byte_quota: ByteQuota | None = None

    def list(
        self, principal: Principal, listing_filter: ListingFilter, cursor: str | None,
        page_size: int,
    ) -> Page:
        if not 1 <= page_size <= self.max_page_size:
            raise LimitExceeded(
                f"pageSize must be between 1 and {self.max_page_size}",
                code="PAGE_SIZE_EXCEEDED", field="pageSize",
            )
        # The cursor is bound to the caller and the filters: it cannot be replayed by another
        # principal or with other filters.
        fingerprint = f"{principal.acts_for}|{listing_filter.fingerprint()}"
        after = (decode_cursor(cursor, secret=self.cursor_secret, fingerprint=fingerprint)
                 if cursor else None)
        now = self.clock.now()
        with self.uow_factory() as uow:
            rights = self.rights.rights(uow, principal, now)
            rows, index = self._page(uow, rights.clauses, rights.index, listing_filter, None,
                                     after, page_size, now)
        items = [VisibleNotification(_as_of(n, now), _listed_role(index, n)) for n in rows]
        next_cursor = None
        if len(rows) == page_size:
            last = rows[-1]
            assert last.id is not None
            next_cursor = encode_cursor(PagePosition(last.made_available_at, last.id),
                                        secret=self.cursor_secret, fingerprint=fingerprint)
        return Page(tuple(items), next_cursor)

    def list_after_item(self, principal: Principal, roles: frozenset[Role],
                        listing_filter: ListingFilter, after_item: int | None,
                        page_size: int) -> Page:
        """``list`` restricted to the audience clauses of ``roles``, keyed by the id of the last
        item seen instead of an opaque cursor (the compatible WSCN port, whose clients keep an
        integer per role). The item must be one the caller may READ now: its position is then
        known to the caller anyway; any other id is refused as INVALID_CURSOR (audited), so a
        cursor cannot be used to learn where someone else's notification sits in time.
        ``next_cursor`` is the last item's id (decimal) when the page is full."""
        if not 1 <= page_size <= self.max_page_size:
            raise LimitExceeded(f"pageSize must be between 1 and {self.max_page_size}",
                                code="PAGE_SIZE_EXCEEDED", field="pageSize")
        now = self.clock.now()
        with self.uow_factory() as uow:
            rights = self.rights.rights(uow, principal, now)
            after = None
            if after_item is not None:
                seen = uow.notifications.get_many([after_item], documents=False).get(after_item)
                allowed = seen is not None and audited_decision(
                    uow, principal, Action.READ, seen, rights.facts, now, str(after_item),
                    via="cursor").allowed
                if seen is None or not allowed:
                    raise InvalidRequest("cursor: not an item the caller may see; restart the "
                                         "listing from the start", code="INVALID_CURSOR",
                                         field="cursor")
                assert seen.id is not None
                after = PagePosition(seen.made_available_at, seen.id)
            clauses = tuple(c for c in rights.clauses if c.role in roles)
            rows, index = self._page(uow, clauses, None, listing_filter, roles, after,
                                     page_size, now)
        items = [VisibleNotification(_as_of(n, now), _listed_role(index, n)) for n in rows]
        last_id = rows[-1].id if len(rows) == page_size else None
        return Page(tuple(items), None if last_id is None else str(last_id))

    @staticmethod
    def _page(uow: UnitOfWork, clauses: tuple[Audience, ...], index: AudienceIndex | None,
              listing_filter: ListingFilter, roles: frozenset[Role] | None,
              after: PagePosition | None, page_size: int,
              now: datetime) -> tuple[builtins.list[Notification], AudienceIndex]:
        """One keyset page of what ``clauses`` admit, and the index that names each item's
        role (clauses of the filtered role only, so the role reported is the one listed)."""
        rows = uow.notifications.list_page(ListingQuery(
            audience=clauses, filter=listing_filter, after=after, limit=page_size, as_of=now,
        ))
        if listing_filter.role is not None:
            index = AudienceIndex([c for c in clauses if c.role is listing_filter.role])
        elif roles is not None or index is None:
            index = AudienceIndex(clauses)
        return rows, index

    def get(self, principal: Principal, notification_id: int) -> VisibleNotification:
        now = self.clock.now()
        with self.uow_factory() as uow:
            notification, decision = self._authorised(uow, principal, Action.READ,
                                                      notification_id, now)
            uow.commit()  # keeps the refusal audit event, if any
        return VisibleNotification(_as_of(notification, now), _role(decision))

    def content(self, principal: Principal, notification_id: int, position: int = 0, *,
                refusable: bool = True) -> Content:
        """``open_content`` with the whole document in memory."""
        stream = self.open_content(principal, notification_id, position, refusable=refusable)
        return Content(stream.notification, stream.document, b"".join(stream.chunks()))

    def open_content(self, principal: Principal, notification_id: int,
                     position: int = 0, offset: int = 0, *,
                     refusable: bool = True) -> ContentStream:
        """The main document (position 0) or an annex. A notification's content is released
        only once ACCEPTED; opening a communication marks it READ (audited). Its bytes count
        against the caller's bytes per hour (``byte_quota``), refused over it unless not
        ``refusable`` (the document that answers an acceptance already made).

        ``offset`` > 0 resumes a download that broke (issue 14): ``chunks()`` then yields the
        document's bytes from ``offset`` on (``ContentStream.offset``). The whole document is
        still read and checked against its sha256 on every pass -- only what is sent is
        shorter -- and the client checks the sha256 of what it assembled. An offset beyond the
        document's size is ``INVALID_OFFSET``.

        A document of up to ``CONTENT_INLINE_BYTES`` is read and checked inside the releasing
        transaction; a larger one is read later, slice by slice, each slice in a short
        transaction of its own (a slow client never holds a database transaction open) and
        checked at the end of every pass -- and, when opening it marks a communication READ,
        also checked once inside the releasing transaction, which a corrupt one then does not
        commit."""
        now = self.clock.now()
        charge = self.byte_quota(principal) if self.byte_quota is not None else None
        with self.uow_factory() as uow:
            notification, decision = self._authorised(uow, principal, Action.CONTENT,
                                                      notification_id, now)
            status = notification.status_as_of(now)
            if status is Status.CANCELLED:
                uow.commit()
                raise InvalidState("the issuer cancelled this item; its content is withdrawn",
                                   code="CANCELLED")
            if notification.kind is ItemKind.NOTIFICATION and status is not Status.ACCEPTED:
                uow.commit()
                raise InvalidState(
                    f"content is released only after acceptance; the notification is {status.value}",
                    code="NOT_ACCEPTED",
                )
            document = next((d for d in notification.documents if d.position == position), None)
            if document is not None and charge is not None:
                charge(document.size, refuse=refusable)  # decided before a byte is read
            whole = document is not None and document.size <= CONTENT_INLINE_BYTES
            first = None
            if document is not None:  # a large document is only looked for here, not read
                first = (uow.notifications.content(notification_id, position) if whole
                         else uow.notifications.content_slice(notification_id, position, 0, 0))
            if document is None or first is None:
                raise NotFound(f"notification {notification_id} has no document {position}",
                               code="DOCUMENT_NOT_FOUND", field="document")
            if not 0 <= offset <= document.size:
                raise InvalidRequest(f"offset {offset} is beyond the document's "
                                     f"{document.size} bytes", code="INVALID_OFFSET",
                                     field="offset")
            if whole:
                _check_content(first, document, notification_id)
            elif notification.kind is ItemKind.COMMUNICATION and status is Status.AVAILABLE:
                # Opening it makes it READ for good: read it once through, here, so that a
                # document that cannot be delivered never marks it (not client-paced: no slow
                # reader holds this transaction).
                for _ in _checked_slices(document, notification_id,
                                         lambda offset, length: uow.notifications.content_slice(
                                             notification_id, position, offset, length)):
                    pass
            current, marked = self._mark_read(uow, [notification], principal, now)
            notification = current.get(notification_id, notification)
            if marked:
                uow.audit.append("communication.read", principal.acts_for, str(notification_id),
                                 {"role": _role(decision).value}, now)
            released: dict[str, Any] = {"document": position, "sha256": document.sha256,
                                        "role": _role(decision).value}
            if offset:
                released["offset"] = offset
            uow.audit.append("content.released", principal.acts_for, str(notification_id),
                             released, now)
            uow.commit()
        visible = VisibleNotification(_as_of(notification, now), _role(decision))
        if whole:
            data = first[offset:] if offset else first
            return ContentStream(visible, document, lambda: iter((data,)), offset)
        return ContentStream(visible, document,
                             lambda: self._slices(notification_id, document, offset), offset)

    def contents(self, principal: Principal, ids: Sequence[int]) -> ContentBatch:
        """Every document of many notifications in one transaction (bulk downloads): the same
        rules as ``open_content`` for each -- released only once ACCEPTED, a communication
        marked READ, every release and every refusal audited -- with one read of the items, one
        of their documents and one append to the audit chain. Notifications that cannot be
        served are reported in ``refused`` (``ContentRefusal``, in request order) instead of
        failing the rest; the budget counts only what is released."""
        check_id_batch(ids, MAX_CONTENTS_ITEMS, what="content request")
        now = self.clock.now()
        refused: dict[int, ContentRefusal] = {}
        audit: list[AuditEntry] = []
        actor = principal.acts_for
        charge = self.byte_quota(principal) if self.byte_quota is not None else None
        with self.uow_factory() as uow:
            facts = self.rights.rights(uow, principal, now).facts
            found = uow.notifications.get_many(ids)
            candidates: builtins.list[tuple[Notification, Role]] = []
            for notification_id in ids:
                notification = found.get(notification_id)
                decision = None if notification is None else decide(
                    principal, Action.CONTENT, notification, facts, now)
                if notification is None or decision is None or not decision.allowed:
                    audit.append(absence_entry(principal, Action.CONTENT, str(notification_id))
                                 if decision is None else
                                 refusal_entry(principal, Action.CONTENT, decision,
                                               str(notification_id)))
                    if (notification is not None and decision is not None
                            and decide(principal, Action.READ, notification, facts, now)):
                        refused[notification_id] = ContentRefusal(
                            notification_id, "NOT_AUTHORISED",
                            f"notification {notification_id}: {_MISSING[Action.CONTENT]} "
                            f"({decision.reason.value})")
                    else:
                        refused[notification_id] = ContentRefusal(
                            notification_id, "NOT_FOUND",
                            f"notification {notification_id} not found")
                    continue
                status = notification.status_as_of(now)
                if status is Status.CANCELLED:
                    refused[notification_id] = ContentRefusal(
                        notification_id, "CANCELLED", "the issuer cancelled this item")
                elif notification.kind is ItemKind.NOTIFICATION and status is not Status.ACCEPTED:
                    refused[notification_id] = ContentRefusal(
                        notification_id, "NOT_ACCEPTED", "content is released only after "
                        f"acceptance; the notification is {status.value}")
                elif any(d.size > CONTENT_INLINE_BYTES for d in notification.documents):
                    refused[notification_id] = ContentRefusal(
                        notification_id, "TOO_LARGE", "a document is larger than "
                        f"{CONTENT_INLINE_BYTES} bytes: fetch it with GetContent")
                else:
                    candidates.append((notification, _role(decision)))
            if candidates and charge is not None:  # decided before a byte is read
                charge(planned_bytes(candidates, self.contents_budget))
            released, data = self._fill_budget(uow, candidates, refused)
            current, marked = self._mark_read(uow, [n for n, _ in released], principal, now)
            uow.notifications.mark_accessed([n.id for n, _ in released if n.id is not None],
                                            actor, now)
            contents: builtins.list[Content] = []
            for notification, role in released:
                item_id = notification.id
                assert item_id is not None
                notification = current.get(item_id, notification)
                if item_id in marked:
                    audit.append(AuditEntry("communication.read", actor, str(item_id),
                                            {"role": role.value}))
                visible = VisibleNotification(_as_of(notification, now), role)
                for document in notification.documents:
                    audit.append(AuditEntry(
                        "content.released", actor, str(item_id),
                        {"document": document.position, "sha256": document.sha256,
                         "role": role.value}))
                    contents.append(Content(visible, document,
                                            data[(item_id, document.position)]))
            uow.audit.append_many(audit, now)
            uow.commit()
        order = {notification_id: index for index, notification_id in enumerate(ids)}
        return ContentBatch(tuple(contents),
                            tuple(sorted(refused.values(), key=lambda r: order[r.notification_id])))

    def _fill_budget(
        self, uow: UnitOfWork, candidates: Sequence[tuple[Notification, Role]],
        refused: dict[int, ContentRefusal],
    ) -> tuple[builtins.list[tuple[Notification, Role]], dict[tuple[int, int], bytes]]:
        """Whole candidates, in order, while ``contents_budget`` lasts (the first always), with
        their documents read and checked; a corrupt one is refused CONTENT_UNAVAILABLE and its
        share of the budget goes to the next. What does not fit is DEFERRED."""
        released: builtins.list[tuple[Notification, Role]] = []
        data: dict[tuple[int, int], bytes] = {}
        budget = self.contents_budget
        waiting = list(candidates)
        while waiting:
            chosen: builtins.list[tuple[Notification, Role]] = []
            deferred: builtins.list[tuple[Notification, Role]] = []
            for candidate in waiting:
                size = sum(d.size for d in candidate[0].documents)
                if (released or chosen) and size > budget:
                    deferred.append(candidate)
                else:
                    chosen.append(candidate)
                    budget -= size
            pieces = uow.notifications.contents(
                (n.id, d.position) for n, _ in chosen for d in n.documents)  # type: ignore[misc]
            lost = False
            for notification, role in chosen:
                assert notification.id is not None
                if all(_intact(pieces.get((notification.id, d.position)), d)
                       for d in notification.documents):
                    released.append((notification, role))
                    for d in notification.documents:
                        data[(notification.id, d.position)] = pieces[(notification.id, d.position)]
                    continue
                log.error("stored content of notification %s is corrupt or missing; not "
                          "released", notification.id)
                refused[notification.id] = ContentRefusal(
                    notification.id, "CONTENT_UNAVAILABLE",
                    "the stored content cannot be released; the administration has been told")
                budget += sum(d.size for d in notification.documents)
                lost = True
            waiting = deferred if lost else []
            if not lost:
                for notification, _ in deferred:
                    assert notification.id is not None
                    refused[notification.id] = ContentRefusal(
                        notification.id, "DEFERRED", "the response is full: ask again")
        return released, data

    def _mark_read(self, uow: UnitOfWork, notifications: Sequence[Notification],
                   principal: Principal, now: datetime) -> tuple[dict[int, Notification], set[int]]:
        """Mark READ the communications among ``notifications`` that are still AVAILABLE once
        their rows are locked: a concurrent request that opened one first has made it READ, and
        this one then simply serves it (no conflict, no second ``communication.read``).
        Returns the locked, current state of each unread communication and the ids this call
        marked READ."""
        unread = [n.id for n in notifications if n.id is not None
                  and n.kind is ItemKind.COMMUNICATION and n.status_as_of(now) is Status.AVAILABLE]
        if not unread:
            return {}, set()
        current = uow.notifications.lock(unread)
        marked = {
            notification_id: notification.transition(
                Status.READ, now, effective_at=self.calendar.effective_at(now),
                by=principal.acts_for)
            for notification_id, notification in current.items()
            if notification.status_as_of(now) is Status.AVAILABLE
        }
        if marked:
            uow.notifications.save_statuses(list(marked.values()))
        return {**current, **marked}, set(marked)

    def _slices(self, notification_id: int, document: Document,
                start: int = 0) -> Iterator[bytes]:
        def read(offset: int, length: int) -> bytes | None:
            with self.uow_factory() as uow:  # one short transaction per slice
                return uow.notifications.content_slice(notification_id, document.position,
                                                       offset, length)

        return _checked_slices(document, notification_id, read, start)

    def _authorised(self, uow: UnitOfWork, principal: Principal, action: Action,
                    notification_id: int, now: datetime) -> tuple[Notification, Decision]:
        notification = uow.notifications.get(notification_id)
        # The caller's rights are read and the request audited on both paths: a missing item
        # and one the caller may not see cost the same (issue 20).
        facts = self.rights.rights(uow, principal, now).facts
        if notification is None:
            audited_absence(uow, principal, action, now, str(notification_id))
            raise NotFound(f"notification {notification_id} not found")
        decision = audited_decision(uow, principal, action, notification, facts, now,
                                    str(notification_id))
        if not decision.allowed:
            if action is not Action.READ and decide(principal, Action.READ, notification, facts,
                                                    now):
                # It may see the item (GetNotification shows it): say what is missing rather
                # than pretend it does not exist (issue 15: a mandate without the content scope).
                raise AuthorizationError(
                    f"notification {notification_id}: {_MISSING[action]} "
                    f"({decision.reason.value})", field="id")
            raise NotFound(f"notification {notification_id} not found")
        # The first access is evidence for the issuer (GetEvidence) and ends its right to
        # cancel the item: recorded once, in the transaction that serves it.
        uow.notifications.mark_accessed([notification_id], principal.acts_for, now)
        return notification, decision


def planned_bytes(candidates: Sequence[tuple[Notification, Role]], budget: int) -> int:
    """The document bytes ``_fill_budget`` will release of ``candidates`` if none is corrupt:
    whole notifications in order while ``budget`` lasts, the first always."""
    planned = 0
    for notification, _ in candidates:
        size = sum(d.size for d in notification.documents)
        if planned and size > budget - planned:
            continue
        planned += size
    return planned


def _check_content(data: bytes, document: Document, notification_id: int) -> None:
    if not _intact(data, document):
        # Never hand out bytes that differ from what the recipient acknowledged.
        raise RuntimeError(f"stored content of {notification_id}/{document.position} is corrupt")


def _checked_slices(document: Document, notification_id: int,
                    read: Callable[[int, int], bytes | None], start: int = 0) -> Iterator[bytes]:
    """``document`` in slices of ``CONTENT_SLICE_BYTES`` from ``read(offset, length)``, then
    ``RuntimeError`` if they were not exactly the bytes its size and sha256 name. Only the
    bytes from ``start`` on are yielded; those before are read to be checked."""
    digest = hashlib.sha256()
    offset = 0
    while offset < document.size:
        piece = read(offset, min(CONTENT_SLICE_BYTES, document.size - offset))
        if not piece:
            break
        digest.update(piece)
        offset += len(piece)
        if offset > start:
            yield piece[max(0, start - (offset - len(piece))):]
    if offset != document.size or digest.hexdigest() != document.sha256:
        raise RuntimeError(
            f"stored content of {notification_id}/{document.position} is corrupt")


def _intact(data: bytes | None, document: Document) -> bool:
    return (data is not None and len(data) == document.size
            and hashlib.sha256(data).hexdigest() == document.sha256)


def _as_of(notification: Notification, now: datetime) -> Notification:
    """The item with the status a client must see now (overdue -> EXPIRED before the sweep)."""
    if notification.is_overdue(now):
        return notification.expire(now)
    return notification


_MISSING = {
    Action.CONTENT: "the caller may see it but not open its content",
    Action.SIGN: "the caller may see it but not sign it",
}
"""What an item the caller may see lacks, per refused action (said instead of NOT_FOUND)."""


def _listed_role(index: AudienceIndex, notification: Notification) -> Role:
    role = index.role_of(notification)
    assert role is not None  # the store returned it because a clause admits it
    return role


def _role(decision: Decision) -> Role:
    assert decision.role is not None  # allowed decisions always carry the role used
    return decision.role

