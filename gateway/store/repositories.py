"""Repositories: the only code that reads and writes the store's tables (DESIGN.md §3).

Each takes the unit of work's ``Session`` and returns domain objects, never ORM rows. Statements
are Core (``session.execute``) against the models' tables: no identity map to go stale, and bulk
paths stay fast. Uniqueness violations become ``Conflict`` here, with ``from exc``. Id and key
lists are bound as one parameter (``membership.Membership``), whatever their length: each such
statement is an index search on both backends (tests/integration/store/test_store_query_plans.py).

Locking: on PostgreSQL ``lock`` is ``SELECT … FOR UPDATE`` in id order (two batches that overlap
lock in the same order, so they cannot deadlock) and the sweep uses ``SKIP LOCKED`` so hosts
sweeping at once share the work. On SQLite every transaction already holds the database's single
write lock from its first statement (``BEGIN IMMEDIATE``, see ``engine``).
"""

from __future__ import annotations

import builtins
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Executable,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.domain.audit import GENESIS_HASH, AuditEntry, AuditEvent, canonical_json, link
from gateway.domain.listing import ListingFilter, ListingQuery, PagePosition
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
from gateway.errors import Conflict, NotFound, ServiceUnavailable

from . import driver, paging
from .availability import MESSAGE as UNAVAILABLE
from .driver import utc
from .membership import Membership
from .models import (
    AuditEventRow,
    NotificationAccessRow,
    NotificationCancellationRow,
    NotificationContentRow,
    NotificationDocumentRow,
    NotificationRow,
    OutageRow,
    RepresentationVersionRow,
    UsedNonceRow,
)
from .representation import VERSION_SEEN

_N = cast(Table, NotificationRow.__table__)
_D = cast(Table, NotificationDocumentRow.__table__)
_C = cast(Table, NotificationContentRow.__table__)
_X = cast(Table, NotificationAccessRow.__table__)
_K = cast(Table, NotificationCancellationRow.__table__)
_O = cast(Table, OutageRow.__table__)
_A = cast(Table, AuditEventRow.__table__)
_U = cast(Table, UsedNonceRow.__table__)
_V = cast(Table, RepresentationVersionRow.__table__)

# What a Notification is built from, in the order _notification unpacks them; base_deadline_at
# and created_at stay in the store.
_COLUMNS = (
    _N.c.id,
    _N.c.kind,
    _N.c.issuer,
    _N.c.issuer_reference,
    _N.c.procedure,
    _N.c.subject,
    _N.c.recipient,
    _N.c.ccc,
    _N.c.category,
    _N.c.made_available_at,
    _N.c.deadline_at,
    _N.c.status,
    _N.c.status_at,
    _N.c.status_effective_at,
    _N.c.deadline_extension_days,
    _N.c.acted_by,
)
_AUDIT_COLUMNS = ("seq", "at", "event_type", "actor", "subject", "details", "prev_hash", "hash")
_COPY_AUDIT_ROWS = f"COPY {_A.name} ({', '.join(_AUDIT_COLUMNS)}) FROM STDIN"
"""PostgreSQL: many audit rows at once (``AuditRepository.append_many``)."""
_DOCUMENT_COLUMNS = (
    _D.c.notification_id,
    _D.c.position,
    _D.c.role,
    _D.c.name,
    _D.c.content_type,
    _D.c.sha256,
    _D.c.size,
)

CONTENTS_BY_OWNERS_POSTGRESQL = (
    f"SELECT notification_id, position, content FROM {_C.name} "  # no input in this text
    "WHERE notification_id = ANY(%s)"
)
"""``contents`` on PostgreSQL, sent to the driver directly (binary results); named so the plan
test can EXPLAIN the very text sent."""

_AUDIT_LOCK_KEY = 0x61756469740A  # PostgreSQL advisory lock: "the audit chain is being appended"
LOCK_AND_READ_AUDIT_END = (
    f"SELECT pg_advisory_xact_lock({_AUDIT_LOCK_KEY}); "
    f"SELECT seq, hash FROM {_A.name} WHERE seq = (SELECT max(seq) FROM {_A.name})")
_INSERT_AUDIT_ROW = (f"INSERT INTO {_A.name} ({', '.join(_AUDIT_COLUMNS)}) "
                     f"VALUES ({', '.join(['%s'] * len(_AUDIT_COLUMNS))})")


def _audit_rows(events: Sequence[AuditEvent]) -> list[tuple[object, ...]]:
    return [(e.seq, e.at, e.event_type, e.actor, e.subject, canonical_json(dict(e.details)),
             e.prev_hash, e.hash) for e in events]

Content = bytes | Callable[[], Iterable[bytes]]
"""A document's bytes, or how to read them in slices at insert time (a spooled MTOM part)."""
_COPY_CONTENT = f"COPY {_C.name} (notification_id, position, content) FROM STDIN"
"""PostgreSQL: one document streamed into its row, slice by slice (``_stream_content``)."""


# -- statements built once --------------------------------------------------------------------
# The hot statements of a request that names notifications (bench/wscn.py: a WSCN client pays
# them per notification) are built once and executed with their values as parameters: a
# statement object built anew per call costs SQLAlchemy a fresh cache-key traversal on every
# execution (about as much CPU as the statement's round trip), one built once has it memoised.


@functools.cache
def _load_statement(*, seen_version: bool, lock: bool) -> Select[Any]:
    """The notifications of the list parameter ``ids`` with their documents, one row per
    document, in id and position order (``NotificationRepository._notifications_of``).

    ``seen_version``: the registry's change counter first (``_load_seen_version``), anchored on
    a one-row select so that it comes back whether or not any id names a notification;
    ``lock``: ``FOR UPDATE OF notification`` (PostgreSQL)."""
    if seen_version:
        anchor = select(literal(1).label("anchor")).subquery()
        version = (select(_V.c.version).where(_V.c.id == 1).scalar_subquery()
                   .label("registry_version"))
        stmt = (select(version, *_COLUMNS, *_DOCUMENT_COLUMNS[1:])
                .select_from(anchor.outerjoin(_N, Membership(_N.c.id, parameter="ids"))
                             .outerjoin(_D, _D.c.notification_id == _N.c.id)))
    else:
        stmt = (select(*_COLUMNS, *_DOCUMENT_COLUMNS[1:])
                .select_from(_N.outerjoin(_D, _D.c.notification_id == _N.c.id))
                .where(Membership(_N.c.id, parameter="ids")))
    stmt = stmt.order_by(_N.c.id, _D.c.position)
    return stmt.with_for_update(of=_N) if lock else stmt


@functools.cache
def _mark_accessed_statement(dialect: str) -> Any:
    insert_for = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert_for(_X).on_conflict_do_nothing()


_SAVE_STATUSES = (
    update(_N)
    .where(Membership(_N.c.id, parameter="ids"), _N.c.status == Status.AVAILABLE.value)
    .values(status=bindparam("new_status", type_=_N.c.status.type),
            status_at=bindparam("new_status_at", type_=_N.c.status_at.type),
            status_effective_at=bindparam("new_effective_at",
                                          type_=_N.c.status_effective_at.type),
            acted_by=bindparam("new_acted_by", type_=_N.c.acted_by.type)))
"""``NotificationRepository.save_statuses``: one group of ids moved to one state."""

_DOCUMENT_CONTENT = select(_C.c.content).where(
    _C.c.notification_id == bindparam("notification_id"), _C.c.position == bindparam("position"))
"""``NotificationRepository.content``."""


@contextmanager
def integrity_errors_as_conflict(message: str, code: str = "CONFLICT") -> Iterator[None]:
    """Re-raise a database uniqueness/integrity violation as ``Conflict``."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(message, code=code) from exc


def _rowcount(session: Session, stmt: Executable) -> int:
    """Run an INSERT/UPDATE/DELETE and return how many rows it touched."""
    result = cast(CursorResult[Any], session.execute(stmt))
    return result.rowcount


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True, slots=True)
class DeadlineParts:
    """How an item's deadline is made: the base deadline plus whole days granted by outages.

    The base is needed to recompute the extension from scratch when outages are recorded
    (``domain.outages``); the domain ``Notification`` carries only the result.
    """

    base_deadline_at: datetime | None
    deadline_at: datetime | None
    extension_days: int


class NotificationRepository:
    def __init__(self, session: Session, audience_memo: paging.AudienceMemo | None = None) -> None:
        self._session = session
        self._memo = audience_memo
        self._postgresql = _dialect(session) == "postgresql"
        """The hot statements go to the driver (``store.driver``)."""

    # -- writing -----------------------------------------------------------------------------

    def add(
        self,
        notification: Notification,
        contents: Sequence[bytes],
        *,
        base_deadline_at: datetime | None = None,
    ) -> Notification:
        """Store a new item with its documents' bytes (``contents[i]`` for ``documents[i]``).

        ``base_deadline_at`` is the deadline before outage extensions; it defaults to
        ``deadline_at`` and must be given when ``deadline_extension_days`` is not zero.
        """
        (new_id,) = self._insert([(notification, contents, base_deadline_at)])
        return replace(notification, id=new_id)

    def add_many(
        self,
        items: Sequence[tuple[Notification, Sequence[Content]]],
        *,
        base_deadlines: Sequence[datetime | None] | None = None,
    ) -> list[int]:
        """Bulk ``add`` for imports and seeding; ids in input order. Ids are allocated first
        (PostgreSQL: from the table's sequence), then rows go in with one executemany per table.

        ``base_deadlines[i]`` is item i's deadline before outage extensions (as for ``add``).
        """
        bases = list(base_deadlines) if base_deadlines is not None else [None] * len(items)
        if len(bases) != len(items):
            raise ValueError("one base deadline per item")
        return self._insert(
            [(n, contents, base) for (n, contents), base in zip(items, bases, strict=True)]
        )

    def _insert(
        self, items: Sequence[tuple[Notification, Sequence[Content], datetime | None]]
    ) -> list[int]:
        if not items:
            return []
        rows = [_notification_values(n, base) for n, _, base in items]
        with integrity_errors_as_conflict(
            "an item with this issuer reference already exists", "DUPLICATE_REFERENCE"
        ):
            if len(rows) == 1:
                ids = [self._session.execute(insert(_N).returning(_N.c.id), rows[0]).scalar_one()]
            else:
                # Ids first, then a plain executemany: far faster than INSERT … RETURNING over
                # many rows (psycopg pipelines it, sqlite3 runs it in C).
                ids = self._allocate_ids(len(rows))
                for new_id, row in zip(ids, rows, strict=True):
                    row["id"] = new_id
                self._session.execute(insert(_N), rows)
            documents: list[dict[str, object]] = []
            contents: list[dict[str, object]] = []
            deferred: list[tuple[int, int, Callable[[], Iterable[bytes]]]] = []
            for new_id, (notification, content, _) in zip(ids, items, strict=True):
                for document, data in zip(notification.documents, content, strict=True):
                    documents.append(_document_values(new_id, document))
                    if callable(data):
                        deferred.append((new_id, document.position, data))
                        continue
                    contents.append(
                        {"notification_id": new_id, "position": document.position, "content": data}
                    )
            if documents:
                self._session.execute(insert(_D), documents)
            if contents:
                self._session.execute(insert(_C), contents)
            for new_id, position, read in deferred:
                self._stream_content(new_id, position, read())
        return ids

    def _stream_content(self, notification_id: int, position: int,
                        chunks: Iterable[bytes]) -> None:
        """Store a spooled document without holding it: on PostgreSQL a ``COPY`` row whose
        bytea (hex) is written slice by slice, so neither this process nor the driver ever has
        the whole document; on SQLite (no streaming insert) read whole, one document at a time.
        """
        if _dialect(self._session) != "postgresql":
            self._session.execute(insert(_C), {"notification_id": notification_id,
                                               "position": position,
                                               "content": b"".join(chunks)})
            return
        driver = self._session.connection().connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
                _COPY_CONTENT) as copy:
            # COPY text format: "\\x" is the escaped "\x" that starts bytea's hex input; hex
            # digits need no escaping.
            copy.write(f"{notification_id}\t{position}\t\\\\x".encode())
            for chunk in chunks:
                copy.write(chunk.hex().encode("ascii"))
            copy.write(b"\n")

    def _allocate_ids(self, count: int) -> list[int]:
        if _dialect(self._session) == "postgresql":
            return list(
                self._session.execute(
                    text(
                        "SELECT nextval(pg_get_serial_sequence('notification', 'id'))"
                        " FROM generate_series(1, :count)"
                    ),
                    {"count": count},
                ).scalars()
            )
        # SQLite: this transaction holds the database's write lock (BEGIN IMMEDIATE), so no one
        # else can take these ids before we insert them; it is how SQLite assigns rowids anyway.
        last = self._session.execute(select(func.coalesce(func.max(_N.c.id), 0))).scalar_one()
        return list(range(last + 1, last + count + 1))

    def save_status(self, notification: Notification) -> None:
        """Write a state change. Only a pending (AVAILABLE) row can change: final states never
        change again, so losing a race without having called ``lock`` raises ``Conflict``."""
        if notification.id is None:
            raise ValueError("cannot save the status of an unsaved notification")
        changed = _rowcount(
            self._session,
            update(_N)
            .where(_N.c.id == notification.id, _N.c.status == Status.AVAILABLE.value)
            .values(
                status=notification.status.value,
                status_at=notification.status_at,
                status_effective_at=notification.status_effective_at,
                acted_by=notification.acted_by,
            ),
        )
        if changed == 0:
            exists = self._session.execute(
                select(_N.c.id).where(_N.c.id == notification.id)
            ).first()
            if exists is None:
                raise NotFound(f"notification {notification.id} does not exist")
            raise Conflict(
                f"notification {notification.id} was already finalised by another request",
                code="ALREADY_FINAL",
            )

    def save_statuses(self, notifications: Sequence[Notification]) -> None:
        """``save_status`` for many: one UPDATE per distinct (status, status_at,
        status_effective_at) and chunk of ids, instead of one statement per notification (a
        receipt moves up to 1000 items to the same state at the same instant)."""
        groups: dict[tuple[Status, datetime | None, datetime | None, str | None], list[int]] = {}
        for notification in notifications:
            if notification.id is None:
                raise ValueError("cannot save the status of an unsaved notification")
            key = (notification.status, notification.status_at, notification.status_effective_at,
                   notification.acted_by)
            groups.setdefault(key, []).append(notification.id)
        for (status, status_at, effective_at, acted_by), ids in groups.items():
            chunk = sorted(set(ids))
            values = {"ids": chunk, "new_status": status.value, "new_status_at": status_at,
                      "new_effective_at": effective_at, "new_acted_by": acted_by}
            if self._postgresql:
                changed = driver.rows(self._session, _SAVE_STATUSES, {
                    **values, "new_status_at": driver.instant(status_at),
                    "new_effective_at": driver.instant(effective_at)})[1]
            else:
                changed = cast(CursorResult[Any],
                               self._session.execute(_SAVE_STATUSES, values)).rowcount
            if changed != len(chunk):
                self._raise_unchanged(chunk, status)

    def _raise_unchanged(self, ids: Sequence[int], status: Status) -> None:
        """Why some of ``ids`` were not moved to ``status``: missing, or already final."""
        rows = dict(self._session.execute(
            select(_N.c.id, _N.c.status).where(Membership(_N.c.id, ids))).all())
        missing = [i for i in ids if i not in rows]
        if missing:
            raise NotFound(f"notification {missing[0]} does not exist")
        final = [i for i in ids if rows[i] != status.value]
        raise Conflict(
            f"notification {final[0] if final else ids[0]} was already finalised by another "
            "request", code="ALREADY_FINAL",
        )

    def set_deadline(
        self,
        notification_id: int,
        deadline_at: datetime,
        base_deadline_at: datetime,
        extension_days: int,
    ) -> None:
        """Record a recomputed deadline (outage extensions) for a notification."""
        changed = _rowcount(
            self._session,
            update(_N)
            .where(_N.c.id == notification_id)
            .values(
                deadline_at=deadline_at,
                base_deadline_at=base_deadline_at,
                deadline_extension_days=extension_days,
            ),
        )
        if changed == 0:
            raise NotFound(f"notification {notification_id} does not exist")

    def expire_overdue(self, now: datetime, limit: int) -> list[Notification]:
        """Deem rejected (EXPIRED, dated at the deadline) up to ``limit`` overdue notifications.

        Idempotent: a second run finds nothing. On PostgreSQL rows another transaction holds
        (a sweep on another host, a client accepting right now) are skipped, not waited for.
        """
        stmt = (
            select(*_COLUMNS)
            .where(
                _N.c.status == Status.AVAILABLE.value,
                _N.c.deadline_at <= now,
                _N.c.kind == ItemKind.NOTIFICATION.value,
            )
            .order_by(_N.c.deadline_at, _N.c.id)
            .limit(limit)
        )
        if _dialect(self._session) == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=_N)
        due = self._load(stmt)
        if not due:
            return []
        expired = [n.expire(now) for n in due]
        self._session.execute(
            update(_N)
            .where(Membership(_N.c.id, [n.id for n in expired]),
                   _N.c.status == Status.AVAILABLE.value)
            .values(
                status=Status.EXPIRED.value,
                status_at=_N.c.deadline_at,
                status_effective_at=_N.c.deadline_at,
            )
        )
        return expired

    # -- reading -----------------------------------------------------------------------------

    def get(self, notification_id: int) -> Notification | None:
        return self.get_many([notification_id]).get(notification_id)

    def get_many(self, ids: Iterable[int], *,
                 documents: bool = True) -> dict[int, Notification]:
        """The notifications with these ids (missing ones absent); without their document
        lists when ``documents`` is false (an authorisation check needs none)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        if not documents:
            stmt = select(*_COLUMNS).where(Membership(_N.c.id, wanted))
            return {row[0]: _notification(row, ()) for row in self._session.execute(stmt)}
        return self._load_seen_version(wanted)

    def _load_seen_version(self, wanted: list[int]) -> dict[int, Notification]:
        """``_load_by_ids`` without a lock, plus the representation registry's change counter
        in the same statement (the rights check that follows needs it: one round trip less).
        Anchored on a one-row select, so the counter comes back -- and the statement costs
        the same -- whether or not any id names a notification (issue 20)."""
        statement = _load_statement(seen_version=True, lock=False)
        if self._postgresql:
            rows: Sequence[Sequence[Any]] = driver.rows(self._session, statement,
                                                        {"ids": wanted})[0]
        else:
            rows = self._session.execute(statement, {"ids": wanted}).all()
        seen = rows[0][0] if rows else None
        if seen is not None:
            self._session.info[VERSION_SEEN] = seen
        return self._notifications_of([row[1:] for row in rows if row[1] is not None])

    def lock(self, ids: Sequence[int]) -> dict[int, Notification]:
        """Load ``ids`` holding their rows until the transaction ends (missing ids are absent)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        return self._load_by_ids(wanted, lock=_dialect(self._session) == "postgresql")

    def _load_by_ids(self, wanted: list[int], *, lock: bool) -> dict[int, Notification]:
        """The notifications ``wanted`` with their documents in ONE statement (a join: every
        request that names notifications loads them, bench/wscn.py), in id order; ``lock``
        holds their rows (``FOR UPDATE OF notification``, taken in that order)."""
        statement = _load_statement(seen_version=False, lock=lock)
        if self._postgresql:
            return self._notifications_of(driver.rows(self._session, statement,
                                                      {"ids": wanted})[0])
        return self._notifications_of(self._session.execute(statement, {"ids": wanted}))

    @staticmethod
    def _notifications_of(result: Iterable[Sequence[Any]]) -> dict[int, Notification]:
        """Rows of ``_COLUMNS`` + document columns (one per document) as notifications."""
        width = len(_COLUMNS)
        rows: dict[int, tuple[Any, list[Document]]] = {}
        for row in result:
            _, documents = rows.setdefault(row[0], (row[:width], []))
            position, role, name, content_type, sha256, size = row[width:]
            if position is not None:  # NULLs: a notification without documents
                documents.append(Document(name, content_type, sha256, size, _ROLES[role],
                                          position))
        return {nid: _notification(columns, tuple(documents))
                for nid, (columns, documents) in rows.items()}

    def existing_references(self, issuer: Issuer, references: Iterable[str]) -> set[str]:
        """Which of ``references`` the issuer has already published (for idempotent publishing)."""
        wanted = sorted(set(references))
        if not wanted:
            return set()
        return set(self._session.execute(
            select(_N.c.issuer_reference).where(
                _N.c.issuer == issuer.value, Membership(_N.c.issuer_reference, wanted))
        ).scalars())

    def by_references(self, issuer: Issuer, references: Iterable[str]) -> dict[str, Notification]:
        """The issuer's items with these references, with their documents (for idempotent
        publishing and for the issuer's status queries); unknown references are absent."""
        wanted = sorted(set(references))
        if not wanted:
            return {}
        stmt = select(*_COLUMNS).where(
            _N.c.issuer == issuer.value, Membership(_N.c.issuer_reference, wanted))
        return {n.issuer_reference: n for n in self._load(stmt)}

    def mark_accessed(self, ids: Iterable[int], by: str, at: datetime) -> None:
        """Record the first access to each of ``ids`` (later ones change nothing)."""
        rows = [{"notification_id": i, "accessed_at": at, "accessed_by": by}
                for i in sorted(set(ids))]
        if not rows:
            return
        if len(rows) == 1 and self._postgresql:  # every request naming one item: on the driver
            driver.rows(self._session, _mark_accessed_statement("postgresql"), {
                **rows[0], "accessed_at": driver.instant(at)})
            return
        self._session.execute(_mark_accessed_statement(_dialect(self._session)), rows)

    def first_access(self, notification_id: int) -> tuple[datetime, str] | None:
        """When the item was first accessed and by whom (``mark_accessed``), if ever."""
        row = self._session.execute(select(_X.c.accessed_at, _X.c.accessed_by).where(
            _X.c.notification_id == notification_id)).first()
        return None if row is None else (row[0], row[1])

    def record_cancellation(self, notification_id: int, reason: str) -> None:
        """The issuer's reason for cancelling the item (its status says when and who)."""
        self._session.execute(insert(_K), {"notification_id": notification_id,
                                           "reason": reason})

    def cancellation_reason(self, notification_id: int) -> str | None:
        reason: str | None = self._session.execute(
            select(_K.c.reason).where(_K.c.notification_id == notification_id)).scalar()
        return reason

    def of_issuer_after(self, issuer: Issuer, after_id: int | None,
                        limit: int) -> list[Notification]:
        """A page of the issuer's items by id (its own only), without their documents."""
        stmt = select(*_COLUMNS).where(_N.c.issuer == issuer.value)
        if after_id is not None:
            stmt = stmt.where(_N.c.id > after_id)
        stmt = stmt.order_by(_N.c.id).limit(limit)
        return [_notification(row, ()) for row in self._session.execute(stmt)]

    def list_page(self, query: ListingQuery) -> list[Notification]:
        """One keyset page of what ``query.audience`` may see (see ``store.paging``)."""
        if self._memo is not None:
            branch_list, folded = self._memo.prepared(query.audience, query.filter)
        else:
            branch_list, folded = paging.branches(query.audience, query.filter), None
        if not branch_list or query.limit <= 0:
            return []
        return self._load(paging.page_statement(
            _COLUMNS, branch_list, query.filter, query.after, query.limit, query.as_of, folded))

    def list_page_unrestricted(
        self, listing_filter: ListingFilter, after: PagePosition | None, limit: int
    ) -> list[Notification]:
        """A page over every recipient's items, for back-office tools only (never a client
        request: services must go through ``list_page`` and an audience)."""
        if limit <= 0:
            return []
        stmt = paging.page_statement(_COLUMNS, None, listing_filter, after, limit)
        return self._load(stmt)

    def page_statement(self, query: ListingQuery) -> Select[Any]:
        """The SELECT ``list_page`` runs (exposed for EXPLAIN in benchmarks)."""
        return paging.page_statement(
            _COLUMNS,
            paging.branches(query.audience, query.filter),
            query.filter,
            query.after,
            query.limit,
            query.as_of,
        )

    def pending_in_window(self, starts_at: datetime, ends_at: datetime) -> list[Notification]:
        """AVAILABLE notifications whose window ``[made_available_at, deadline_at)`` overlaps
        ``[starts_at, ends_at)`` (the items an outage may extend)."""
        return self._load(
            select(*_COLUMNS)
            .where(
                _N.c.status == Status.AVAILABLE.value,
                _N.c.kind == ItemKind.NOTIFICATION.value,
                _N.c.made_available_at < ends_at,
                _N.c.deadline_at > starts_at,
            )
            .order_by(_N.c.id)
        )

    def deadline_parts(self, ids: Iterable[int]) -> dict[int, DeadlineParts]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self._session.execute(
            select(
                _N.c.id,
                _N.c.base_deadline_at,
                _N.c.deadline_at,
                _N.c.deadline_extension_days,
            ).where(Membership(_N.c.id, wanted))
        )
        return {row.id: DeadlineParts(row.base_deadline_at, row.deadline_at,
                                      row.deadline_extension_days) for row in rows}

    def content(self, notification_id: int, position: int) -> bytes | None:
        """The bytes of one document, or None if there is no such document."""
        parameters = {"notification_id": notification_id, "position": position}
        if self._postgresql:  # binary results: bytea as bytes, not hex text to decode
            found = driver.rows(self._session, _DOCUMENT_CONTENT, parameters, binary=True)[0]
            data = found[0][0] if found else None
        else:
            data = self._session.execute(_DOCUMENT_CONTENT, parameters).scalar()
        return None if data is None else bytes(data)

    def contents(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The bytes of many documents, by (notification id, position), in one query;
        documents that do not exist are absent. On PostgreSQL the rows come in psycopg's
        binary format: ``bytea`` as text would be hex-encoded by the server and decoded here
        (the largest CPU cost of a bulk download, measured with py-spy in bench/e2e_agent.py),
        and SQLAlchemy has no switch for binary results, so this one query goes to the driver
        on the session's own connection (same transaction, same search_path)."""
        wanted = set(keys)
        if not wanted:
            return {}
        owners = sorted({notification_id for notification_id, _ in wanted})
        if _dialect(self._session) == "postgresql":
            driver = self._session.connection().connection.driver_connection
            with driver.cursor(binary=True) as cursor:  # type: ignore[union-attr]
                cursor.execute(CONTENTS_BY_OWNERS_POSTGRESQL, [owners])
                rows: Iterable[Any] = cursor.fetchall()
        else:
            rows = self._session.execute(
                select(_C.c.notification_id, _C.c.position, _C.c.content)
                .where(Membership(_C.c.notification_id, owners))
            ).all()
        return {(notification_id, position): bytes(data)
                for notification_id, position, data in rows
                if (notification_id, position) in wanted}

    def content_slice(
        self, notification_id: int, position: int, offset: int, length: int
    ) -> bytes | None:
        """``length`` bytes of one document from byte ``offset`` (fewer at its end), or None if
        there is no such document, without reading the rest of it: PostgreSQL's ``substring``
        fetches only the TOAST chunks the slice covers (for values stored uncompressed, as
        already-compressed documents are); SQLite reads the blob incrementally (its ``substr``
        would load the whole value first)."""
        where = (_C.c.notification_id == notification_id, _C.c.position == position)
        if self._session.get_bind().dialect.name == "sqlite":
            rowid = self._session.execute(
                select(text("rowid")).select_from(_C).where(*where)
            ).scalar()
            if rowid is None:
                return None
            driver = self._session.connection().connection.driver_connection
            assert driver is not None  # a checked-out connection always has its driver's
            with driver.blobopen(_C.name, _C.c.content.name, rowid, readonly=True) as blob:
                if offset >= len(blob):
                    return b""
                blob.seek(offset)
                return bytes(blob.read(length))
        data = self._session.execute(
            select(func.substring(_C.c.content, offset + 1, length)).where(*where)
        ).scalar()
        return None if data is None else bytes(data)

    def summary(self) -> dict[str, object]:
        """Counts for operators and the demo: totals by kind, status, issuer and category."""

        def counts(column: Any) -> dict[str, int]:
            rows = self._session.execute(
                select(column, func.count()).group_by(column).order_by(column)
            )
            return {value: count for value, count in rows}

        return {
            "total": self._session.execute(select(func.count()).select_from(_N)).scalar_one(),
            "by_kind": counts(_N.c.kind),
            "by_status": counts(_N.c.status),
            "by_issuer": counts(_N.c.issuer),
            "by_category": counts(_N.c.category),
            "recipients": self._session.execute(
                select(func.count(func.distinct(_N.c.recipient)))
            ).scalar_one(),
        }

    def _load(self, stmt: Select[Any]) -> list[Notification]:
        """Run ``stmt`` (selecting ``_COLUMNS``) and attach documents with ONE more query."""
        # No early return when nothing matched: the documents query runs either way, so an id
        # that names no item costs what one the caller may not see costs (issue 20).
        rows = self._session.execute(stmt).all()
        documents: dict[int, list[Document]] = {row[0]: [] for row in rows}
        for owner, position, role, name, content_type, sha256, size in self._session.execute(
            select(*_DOCUMENT_COLUMNS)
            .where(Membership(_D.c.notification_id, list(documents)))
            .order_by(_D.c.notification_id, _D.c.position)
        ):
            documents[owner].append(Document(name, content_type, sha256, size, _ROLES[role],
                                              position))
        return [_notification(row, tuple(documents[row[0]])) for row in rows]


def _notification_values(n: Notification, base_deadline_at: datetime | None) -> dict[str, object]:
    if n.id is not None:
        raise ValueError("a notification to add must not have an id yet")
    if base_deadline_at is None:
        if n.deadline_extension_days:
            raise ValueError("an extended deadline needs its base_deadline_at")
        base_deadline_at = n.deadline_at
    positions = [d.position for d in n.documents]
    if len(set(positions)) != len(positions):
        raise ValueError("document positions must be unique")
    return {
        "kind": n.kind.value,
        "issuer": n.issuer.value,
        "issuer_reference": n.issuer_reference,
        "procedure": n.procedure,
        "subject": n.subject,
        "recipient": n.recipient,
        "ccc": n.ccc,
        "category": n.category.value,
        "made_available_at": n.made_available_at,
        "deadline_at": n.deadline_at,
        "base_deadline_at": base_deadline_at,
        "deadline_extension_days": n.deadline_extension_days,
        "status": n.status.value,
        "status_at": n.status_at,
        "status_effective_at": n.status_effective_at,
    }


def _document_values(notification_id: int, d: Document) -> dict[str, object]:
    return {
        "notification_id": notification_id,
        "position": d.position,
        "role": d.role.value,
        "name": d.name,
        "content_type": d.content_type,
        "sha256": d.sha256,
        "size": d.size,
    }


# Pages build a thousand objects per request: plain dict lookups and tuple unpacking (in the
# order of _COLUMNS / _DOCUMENT_COLUMNS) take a third less time than Enum(...) and row.attribute.
_KINDS = {k.value: k for k in ItemKind}
_ISSUERS = {i.value: i for i in Issuer}
_CATEGORIES = {c.value: c for c in Category}
_STATUSES = {s.value: s for s in Status}
_ROLES = {r.value: r for r in DocumentRole}


def _notification(row: Sequence[Any], documents: tuple[Document, ...]) -> Notification:
    (
        id_,
        kind,
        issuer,
        issuer_reference,
        procedure,
        subject,
        recipient,
        ccc,
        category,
        made_available_at,
        deadline_at,
        status,
        status_at,
        status_effective_at,
        deadline_extension_days,
        acted_by,
    ) = tuple(row)
    return Notification(
        id=id_,
        kind=_KINDS[kind],
        issuer=_ISSUERS[issuer],
        issuer_reference=issuer_reference,
        procedure=procedure,
        subject=subject,
        recipient=recipient,
        ccc=ccc,
        category=_CATEGORIES[category],
        # Aware UTC as ``UTCDateTime`` reads them (a row from ``store.driver`` is unprocessed).
        made_available_at=utc(made_available_at),
        deadline_at=utc(deadline_at),
        status=_STATUSES[status],
        status_at=utc(status_at),
        documents=documents,
        deadline_extension_days=deadline_extension_days,
        status_effective_at=utc(status_effective_at),
        acted_by=acted_by,
    )


class OutageRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, outage: Outage) -> Outage:
        """Record an outage; ``recorded_at`` defaults to the database's current time."""
        values: dict[str, object] = {
            "starts_at": outage.starts_at,
            "ends_at": outage.ends_at,
            "reason": outage.reason,
        }
        if outage.recorded_at is not None:
            values["recorded_at"] = outage.recorded_at
        row = self._session.execute(
            insert(_O).values(values).returning(_O.c.id, _O.c.recorded_at)
        ).one()
        return replace(outage, id=row.id, recorded_at=row.recorded_at)

    def list(self) -> builtins.list[Outage]:
        rows = self._session.execute(select(_O).order_by(_O.c.starts_at, _O.c.id))
        return [
            Outage(
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                reason=r.reason,
                id=r.id,
                recorded_at=r.recorded_at,
            )
            for r in rows
        ]


class AuditRepository:
    """Appends to and reads the hash chain (rules in ``domain.audit``).

    Appends serialise: on PostgreSQL under a transaction-scoped advisory lock, on SQLite under
    the write lock every transaction holds. So two requests can never both extend the same last
    event (the chain never forks), and ``seq`` is gap-free. The lock is held until commit, so
    append the audit event as the last step of a unit of work.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(
        self,
        event_type: str,
        actor: str,
        subject: str,
        details: Mapping[str, object],
        at: datetime,
    ) -> AuditEvent:
        return self.append_many([AuditEntry(event_type, actor, subject, details)], at)[0]

    def append_many(self, entries: Sequence[AuditEntry], at: datetime) -> list[AuditEvent]:
        """Append ``entries`` in order as consecutive links: one lock, one read of the chain's
        end and one multi-row INSERT however many there are (a bulk content download audits
        every document it releases)."""
        if not entries:
            return []
        if _dialect(self._session) == "postgresql":
            return self._append_postgresql(entries, at)
        # The chain's end as ``seq = max(seq)``: both planners answer it from the primary key
        # (SQLite plans ``ORDER BY seq DESC LIMIT 1`` as a SCAN, cheap but opaque to checks).
        last = self._session.execute(
            select(_A.c.seq, _A.c.hash).where(_A.c.seq == select(func.max(_A.c.seq))
                                             .scalar_subquery())
        ).first()
        seq, prev_hash = (last.seq + 1, last.hash) if last is not None else (1, GENESIS_HASH)
        events = link(entries, at, seq, prev_hash)
        with integrity_errors_as_conflict("the audit chain moved on concurrently"):
            self._session.execute(insert(_A), [dict(zip(_AUDIT_COLUMNS, row, strict=True))
                                               for row in _audit_rows(events)])
        return events

    def _append_postgresql(self, entries: Sequence[AuditEntry], at: datetime
                           ) -> list[AuditEvent]:
        """``append_many`` in two round trips on the session's own connection (every request
        appends; bench/wscn.py): the lock and the read of the chain's end go as ONE simple
        query of two statements -- each statement takes its own snapshot under READ COMMITTED,
        so the read sees everything committed before the lock was granted --, then the rows
        (COPY for several: executemany would send a statement per row)."""
        import psycopg  # the postgresql dialect's driver

        connection = self._session.connection()
        driver = connection.connection.driver_connection
        try:
            with driver.cursor() as cursor:  # type: ignore[union-attr]
                cursor.execute(LOCK_AND_READ_AUDIT_END)  # no parameters: one simple query
                cursor.nextset()
                last = cursor.fetchone()
                seq, prev_hash = (last[0] + 1, last[1]) if last is not None else (1, GENESIS_HASH)
                events = link(entries, at, seq, prev_hash)
                rows = _audit_rows(events)
                if len(rows) == 1:
                    cursor.execute(_INSERT_AUDIT_ROW, rows[0])
                else:
                    with cursor.copy(_COPY_AUDIT_ROWS) as copy:
                        for row in rows:
                            copy.write_row(row)
        except psycopg.errors.IntegrityError as exc:
            raise Conflict("the audit chain moved on concurrently") from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            # Below SQLAlchemy: tell the pool, and fail as any lost connection does (503).
            connection.invalidate(exc)
            raise ServiceUnavailable(UNAVAILABLE,
                                     failure_class=f"database {type(exc).__name__}") from exc
        return events

    def iter_events(self, after_seq: int = 0, batch_size: int = 1000) -> Iterator[AuditEvent]:
        """Every event in chain order, fetched in keyset batches (bounded memory)."""
        last = after_seq
        while True:
            rows = self._session.execute(
                select(_A).where(_A.c.seq > last).order_by(_A.c.seq).limit(batch_size)
            ).all()
            for r in rows:
                yield AuditEvent(
                    seq=r.seq,
                    at=r.at,
                    event_type=r.event_type,
                    actor=r.actor,
                    subject=r.subject,
                    details=json.loads(r.details),
                    prev_hash=r.prev_hash,
                    hash=r.hash,
                )
            if len(rows) < batch_size:
                return
            last = rows[-1].seq


REMEMBER_NONCE_POSTGRESQL = (
    "WITH purged AS (DELETE FROM used_nonce WHERE digest IN ("
    " SELECT digest FROM used_nonce WHERE expires_at <= %(now)s AND digest <> %(digest)s"
    " LIMIT %(batch)s FOR UPDATE SKIP LOCKED))"
    " INSERT INTO used_nonce (digest, expires_at) VALUES (%(digest)s, %(expires_at)s)"
    " ON CONFLICT (digest) DO UPDATE SET expires_at = EXCLUDED.expires_at"
    " WHERE used_nonce.expires_at <= %(now)s RETURNING digest")
"""``NonceRepository.remember`` on PostgreSQL, in the driver's parameter style (the gate's
store runs it straight on a pooled connection: ``store.replay``): a row back when the digest is
new (or its entry had expired), none for a replay."""
_REMEMBER_NONCE = text(re.sub(r"%\((\w+)\)s", r":\1", REMEMBER_NONCE_POSTGRESQL))
"""The same statement for a session (``NonceRepository``, inside a unit of work)."""


def nonce_parameters(digest: str, expires_at: datetime, now: datetime,
                     batch: int) -> dict[str, object]:
    """The parameters of ``REMEMBER_NONCE_POSTGRESQL``; instants must be aware (as
    ``UTCDateTime`` refuses a naive one), sent as UTC."""
    if expires_at.utcoffset() is None or now.utcoffset() is None:
        raise ValueError("refusing to store a naive datetime: instants must be timezone-aware")
    return {"digest": digest, "expires_at": expires_at.astimezone(UTC),
            "now": now.astimezone(UTC), "batch": batch}


class NonceRepository:
    """The WS-Security replay cache, shared by every host through the database."""

    PURGE_BATCH = 100
    """Expired entries deleted per call, so the table stays small without a separate job."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def remember(self, digest: str, expires_at: datetime, now: datetime) -> bool:
        """Record ``digest`` until ``expires_at``; False if it is already recorded and unexpired
        (a replay). Race-safe across hosts: the primary key decides, ``ON CONFLICT`` makes the
        loser see it without aborting its transaction (a concurrent first use holds the row
        until it commits; the loser then finds it unexpired and is refused).

        On PostgreSQL ONE statement (this runs on every request, bench/wscn.py): the purge of a
        batch of expired entries (never this digest) is a data-modifying CTE, and an expired
        entry of this digest is taken over by ``ON CONFLICT DO UPDATE … WHERE expired``."""
        dialect = _dialect(self._session)
        if dialect == "postgresql":
            return self._session.execute(_REMEMBER_NONCE, {
                "digest": digest, "expires_at": expires_at, "now": now,
                "batch": self.PURGE_BATCH}).first() is not None
        expired = select(_U.c.digest).where(_U.c.expires_at <= now).limit(self.PURGE_BATCH)
        if dialect == "postgresql":
            expired = expired.with_for_update(skip_locked=True)
        self._session.execute(delete(_U).where(_U.c.digest.in_(expired)))
        self._session.execute(delete(_U).where(_U.c.digest == digest, _U.c.expires_at <= now))
        values = {"digest": digest, "expires_at": expires_at}
        if dialect == "postgresql":
            stmt: Any = postgresql_insert(_U).values(values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            stmt = sqlite_insert(_U).values(values).on_conflict_do_nothing()
        else:  # pragma: no cover - only the two supported backends
            raise ValueError(f"unsupported database dialect {dialect!r}")
        # RETURNING rather than rowcount: psycopg reports -1 for a skipped-or-not upsert here.
        inserted = self._session.execute(stmt.returning(_U.c.digest)).first()
        return inserted is not None
