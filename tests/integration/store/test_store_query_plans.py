"""Every statement that binds an id list or a key list is an index search, on SQLite and
PostgreSQL (issue 19).

Issue 19: ``Membership`` compiled as ``x IN (SELECT value FROM json_each(?)) = 1`` on SQLite, and
the trailing ``= 1`` made SQLite scan the whole of ``notification_document`` for every page read.
Each test here runs a repository method on a store large enough for both planners to prefer an
index (``SIZE`` items, seeded once per module in bulk), captures the SQL the repository actually
sent (``before_cursor_execute``) and EXPLAINs exactly that, with its parameters: ``EXPLAIN QUERY
PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL. A plan must read each guarded table through an
index search -- never a ``SCAN`` of it on SQLite, never a ``Seq Scan`` on PostgreSQL. Plans are
deterministic for given data and statistics (``ANALYZE`` after seeding): no timings here.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.engine import Engine

from gateway.domain.listing import Audience, ListingQuery, PagePosition, Role
from gateway.domain.model import (
    Category,
    Document,
    Issuer,
    ItemKind,
    Notification,
    Status,
)
from gateway.domain.receipts import RegistrationNumber
from gateway.errors import Conflict
from gateway.store.models import (
    AuditEventRow,
    Base,
    ReceiptItemRow,
    ReceiptRow,
    UsedNonceRow,
)
from gateway.store.paging import MAX_UNION_BRANCHES, AudienceMemo
from gateway.store.repositories import CONTENTS_BY_OWNERS_POSTGRESQL, LOCK_AND_READ_AUDIT_END
from gateway.store.unit_of_work import SqlUnitOfWork

SIZE = 40_000
"""Items seeded: enough that a scan costs far more than a search on both planners."""
RECIPIENTS = 2_000
CCCS_PER_RECIPIENT = 3
BIG_RECIPIENT = 0
"""Holds one item in eight: its own listing spans many pages."""
RECEIPTS = 2_000
ITEMS_PER_RECEIPT = 10
AUDIT_EVENTS = 20_000
NONCES = 20_000
T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=400)
LIST_LENGTH = 200
"""Ids per bound list: a page's worth in a store of millions is this share of SIZE or less."""

GUARDED = ("notification", "notification_document", "notification_content", "receipt",
           "receipt_item", "audit_event", "used_nonce")


def recipient(n: int) -> str:
    return f"B{n:08d}"


def ccc(n: int, k: int) -> str:
    return f"28{n:08d}{k:02d}"


def items(rng: random.Random) -> Iterator[tuple[Notification, list[bytes]]]:
    content = b"%PDF-1.7 plan.\n"
    document = Document("resolucion.pdf", "application/pdf", "0" * 64, len(content))
    for i in range(SIZE):
        at = T0 + timedelta(minutes=10 * (i // 20))  # ties on made_available_at, as in service
        owner = BIG_RECIPIENT if i % 8 == 0 else rng.randrange(1, RECIPIENTS)
        kind = ItemKind.NOTIFICATION if i % 5 else ItemKind.COMMUNICATION
        decided = i % 10 < 7  # most older items are decided; the rest still AVAILABLE
        status = (Status.ACCEPTED if kind is ItemKind.NOTIFICATION else Status.READ) \
            if decided else Status.AVAILABLE
        yield (
            Notification(
                id=None, kind=kind, issuer=list(Issuer)[i % len(Issuer)],
                issuer_reference=f"PLAN-{i:08d}", procedure="Reclamación de deuda",
                subject=f"Acto {i}", recipient=recipient(owner),
                ccc=ccc(owner, i % CCCS_PER_RECIPIENT) if i % 4 else None,
                category=Category.SPECIAL if i % 20 == 0 else Category.NORMAL,
                made_available_at=at,
                deadline_at=at + timedelta(days=10) if kind is ItemKind.NOTIFICATION else None,
                status=status, status_at=at + timedelta(days=1) if decided else at,
                documents=(document,),
                status_effective_at=at + timedelta(days=1) if decided else None,
            ),
            [content],
        )


@dataclass(frozen=True)
class Store:
    """The seeded store and what the tests look up in it."""

    backend: str
    engine: Engine
    session_factory: Callable[[], Any]
    ids: list[int]
    available: list[int]
    decided: list[int]


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(scope="module")
def store(database_backend: Any) -> Iterator[Store]:
    engine = database_backend.engine
    _empty(engine)
    rng = random.Random(19)
    with SqlUnitOfWork(database_backend.session_factory) as uow:
        ids = uow.notifications.add_many(list(items(rng)))
        receipt_ids = list(range(1, RECEIPTS + 1))
        uow.session.execute(insert(ReceiptRow), [
            {"id": r, "registration_number": f"2025/{r:09d}", "year": 2025, "sequence": r,
             "csv_code": f"CSV{r:012d}", "signer": recipient(r % RECIPIENTS), "decision": "ACCEPT",
             "issued_at": NOW, "signed_xml": b"<ServerReceipt/>",
             "client_ack_digest": f"{r:064x}"} for r in receipt_ids])
        uow.session.execute(insert(ReceiptItemRow), [
            {"receipt_id": r, "notification_id": ids[(r - 1) * ITEMS_PER_RECEIPT + k],
             "outcome": "ACCEPTED"} for r in receipt_ids for k in range(ITEMS_PER_RECEIPT)])
        uow.session.execute(insert(AuditEventRow), [
            {"seq": s, "at": T0 + timedelta(seconds=s), "event_type": "content.released",
             "actor": recipient(s % RECIPIENTS), "subject": str(s), "details": "{}",
             "prev_hash": hashlib.sha256(b"%d" % (s - 1)).hexdigest(),
             "hash": hashlib.sha256(b"%d" % s).hexdigest()} for s in range(1, AUDIT_EVENTS + 1)])
        uow.session.execute(insert(UsedNonceRow), [
            {"digest": f"{n:064x}", "expires_at": NOW + timedelta(seconds=n - 50)}
            for n in range(NONCES)])  # 50 expired at NOW, the rest not yet
        uow.commit()
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    available = [i for k, i in enumerate(ids) if k % 10 >= 7]
    decided = [i for k, i in enumerate(ids) if k % 10 < 7]
    yield Store(database_backend.backend, engine, database_backend.session_factory, ids,
                available, decided)
    _empty(engine)


@dataclass(frozen=True)
class Sent:
    statement: str
    parameters: Any


@pytest.fixture
def capture(store: Store) -> Callable[[], AbstractContextManager[list[Sent]]]:
    """``with capture() as sent:`` -- every statement the store's engine sends in the block,
    with its parameters, as the driver gets them."""

    @contextmanager
    def capturing() -> Iterator[list[Sent]]:
        sent: list[Sent] = []

        def listen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            sent.append(Sent(statement, parameters))

        event.listen(store.engine, "before_cursor_execute", listen)
        try:
            yield sent
        finally:
            event.remove(store.engine, "before_cursor_execute", listen)

    return capturing


def plan(store: Store, sent: Sent) -> list[str]:
    """The plan of ``sent`` as its lines (SQLite: each step's detail)."""
    with store.engine.connect() as connection:
        if store.backend == "postgresql":
            return list(connection.exec_driver_sql("EXPLAIN " + sent.statement,
                                                   sent.parameters).scalars())
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sent.statement,
                                          sent.parameters)
        return [row[-1] for row in rows]


INDEX_READS = ("Index Scan", "Index Only Scan", "Bitmap Heap Scan")
"""PostgreSQL plan nodes that read a table through an index (a bitmap heap scan is fed by a
bitmap index scan, whose line names the index, not the table)."""


def full_scans(backend: str, lines: list[str]) -> list[str]:
    """Steps of a plan that read a whole guarded table. SQLite's ``SCAN t`` (also ``SCAN t
    USING INDEX``/``COVERING INDEX``: the whole index) and PostgreSQL's ``Seq Scan on t``."""
    found = []
    for line in lines:
        step = line.strip().lstrip("->").strip()
        for table in GUARDED:
            if backend == "sqlite" and (step == f"SCAN {table}"
                                        or step.startswith(f"SCAN {table} ")):
                found.append(step)
            if backend == "postgresql" and f"Seq Scan on {table} " in f"{step} ":
                found.append(step)
    return found


def searched(backend: str, lines: list[str], table: str) -> bool:
    """Whether the plan reads ``table`` through one of its indexes."""
    for line in lines:
        step = line.strip().lstrip("->").strip()
        if backend == "sqlite" and step.startswith(f"SEARCH {table} "):
            return True
        if (backend == "postgresql" and step.startswith(INDEX_READS)
                and f" on {table} " in f"{step} "):
            return True
    return False


def assert_searches(store: Store, sent: list[Sent], *tables: str) -> None:
    """Each statement in ``sent`` that reads rows scans no guarded table, and together they
    search every one of ``tables`` through an index."""
    seen: set[str] = set()
    explained = [s for s in sent
                 if s.statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH"))]
    assert explained, "nothing was captured"
    for s in explained:
        lines = plan(store, s)
        assert not full_scans(store.backend, lines), (s.statement, lines)
        seen.update(t for t in tables if searched(store.backend, lines, t))
    assert seen == set(tables), (set(tables) - seen, [(s.statement, plan(store, s))
                                                        for s in explained])


def sample(values: list[int], count: int = LIST_LENGTH, seed: int = 0) -> list[int]:
    return sorted(random.Random(seed).sample(values, count))


# -- notifications by id -------------------------------------------------------------------------

def test_get_many_searches_notification_and_its_documents_by_id(store: Store, capture) -> None:
    wanted = sample(store.ids)
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        found = uow.notifications.get_many(wanted)
    assert sorted(found) == wanted
    assert_searches(store, sent, "notification", "notification_document")


def test_lock_searches_notification_by_id(store: Store, capture) -> None:
    wanted = sample(store.ids, seed=1)
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        assert sorted(uow.notifications.lock(wanted)) == wanted
    assert_searches(store, sent, "notification", "notification_document")


def accepted(n: Notification) -> Notification:
    """``n`` accepted by its recipient at ``NOW``: one UPDATE for all (one receipt)."""
    return replace(n, status=Status.ACCEPTED, status_at=NOW, status_effective_at=NOW,
                   acted_by="B00000001")


def test_save_statuses_updates_by_id(store: Store, capture) -> None:
    with SqlUnitOfWork(store.session_factory) as uow:
        pending = uow.notifications.get_many(sample(store.available, seed=2)).values()
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        uow.notifications.save_statuses([accepted(n) for n in pending])
        # not committed: the store stays as seeded
    assert any(s.statement.lstrip().upper().startswith("UPDATE") for s in sent)
    assert_searches(store, sent, "notification")


def test_a_refused_save_statuses_reads_its_ids_by_id(store: Store, capture) -> None:
    with SqlUnitOfWork(store.session_factory) as uow:
        pending = uow.notifications.get_many(sample(store.available, seed=3)).values()
        (final,) = uow.notifications.get_many(store.decided[:1]).values()
    stale = [accepted(n) for n in pending] + [accepted(final)]  # one already final
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow, \
            pytest.raises(Conflict):
        uow.notifications.save_statuses(stale)
    assert_searches(store, sent, "notification")


def test_deadline_parts_reads_by_id(store: Store, capture) -> None:
    wanted = sample(store.ids, seed=4)
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        assert sorted(uow.notifications.deadline_parts(wanted)) == wanted
    assert_searches(store, sent, "notification")


def test_expire_overdue_finds_by_deadline_and_updates_by_id(store: Store, capture) -> None:
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        assert uow.notifications.expire_overdue(T0 + timedelta(days=12), LIST_LENGTH)
    assert_searches(store, sent, "notification", "notification_document")


def test_existing_references_searches_the_issuer_reference_key(store: Store, capture) -> None:
    references = [f"PLAN-{k:08d}" for k in sample(list(range(0, SIZE, len(Issuer))), seed=5)]
    references += ["PLAN-NOT-THERE"]
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        found = uow.notifications.existing_references(next(iter(Issuer)), references)
    assert found == set(references[:-1])
    assert_searches(store, sent, "notification")


# -- documents' bytes ----------------------------------------------------------------------------

def test_contents_reads_the_documents_of_many_items_by_id(store: Store, capture) -> None:
    keys = [(i, 0) for i in sample(store.ids, seed=6)]
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        assert sorted(uow.notifications.contents(keys)) == keys
    if store.backend == "postgresql":
        # Sent through psycopg's binary cursor, past SQLAlchemy's events: EXPLAIN the same text.
        owners = sorted({i for i, _ in keys})
        sent.append(Sent(CONTENTS_BY_OWNERS_POSTGRESQL, (owners,)))
    assert_searches(store, sent, "notification_content")


# -- listings ------------------------------------------------------------------------------------

def deep(store: Store, query: ListingQuery) -> ListingQuery:
    """``query`` from 90 % into its listing (the bench's deep page), via its own pages."""
    positions: list[PagePosition] = []
    page = ListingQuery(query.audience, query.filter, None, 500, query.as_of)
    with SqlUnitOfWork(store.session_factory) as uow:
        while True:
            rows = uow.notifications.list_page(page)
            positions += [PagePosition(n.made_available_at, n.id) for n in rows]  # type: ignore[arg-type]
            if len(rows) < page.limit:
                break
            page = ListingQuery(page.audience, page.filter, positions[-1], 500, page.as_of)
    after = positions[int(0.9 * len(positions)) - 1]
    return ListingQuery(query.audience, query.filter, after, LIST_LENGTH, query.as_of)


@pytest.mark.parametrize("shape", ["recipients", "cccs"])
def test_a_folded_audience_is_an_index_search(store: Store, capture, shape: str) -> None:
    """The page walks the listing index from the keyset position, testing membership per row
    (``paging.folded_audience`` says why); a first page, with no position, walks it from its
    start (SQLite: ``SCAN … USING INDEX``), stopping after ``limit`` rows as well."""
    clauses = MAX_UNION_BRANCHES * 4
    if shape == "recipients":
        audience = tuple(Audience(recipient(n), Role.MANDATE) for n in range(clauses))
    else:
        audience = tuple(Audience(recipient(n), Role.RED, cccs=frozenset({ccc(n, 1)}))
                         for n in range(clauses))
    query = deep(store, ListingQuery(audience, limit=LIST_LENGTH))
    memo = AudienceMemo()
    with capture() as sent, SqlUnitOfWork(store.session_factory, audience_memo=memo) as uow:
        page = uow.notifications.list_page(query)
    assert page
    assert_searches(store, sent, "notification", "notification_document")
    (page_query,) = [s for s in sent if s.statement.startswith("SELECT notification.id")]
    assert "ix_notification_made_available_at_id" in "\n".join(plan(store, page_query))


def test_a_recipients_page_and_its_documents_are_index_searches(store: Store, capture) -> None:
    query = deep(store, ListingQuery((Audience(recipient(BIG_RECIPIENT), Role.OWN),), limit=LIST_LENGTH))
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        assert uow.notifications.list_page(query)
    assert_searches(store, sent, "notification", "notification_document")


# -- receipts, audit, nonces ---------------------------------------------------------------------

def test_a_receipt_is_found_by_notification_through_receipt_item(store: Store, capture) -> None:
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        found = uow.receipts.by_notification(store.ids[ITEMS_PER_RECEIPT * 5 + 3])
    assert found is not None and len(found.notification_ids) == ITEMS_PER_RECEIPT
    assert_searches(store, sent, "receipt", "receipt_item")


def test_a_receipt_is_located_by_number_with_one_of_its_items(store: Store, capture) -> None:
    # GetReceipt's first, constant-cost check (issue 20): the receipt's row by number and its
    # lowest item through receipt_item's key, whatever the receipt's size.
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        found = uow.receipts.locate(RegistrationNumber(2025, 7))
    assert found is not None and found.sample_item is not None
    assert_searches(store, sent, "receipt", "receipt_item")


def test_the_receipts_of_an_acknowledgement_are_found_by_its_digest(store: Store,
                                                                    capture) -> None:
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        found = uow.receipts.by_digest(f"{9:064x}")
    assert len(found) == 1
    assert_searches(store, sent, "receipt", "receipt_item")


def test_get_many_without_documents_searches_notification_only(store: Store, capture) -> None:
    wanted = sample(store.ids, seed=5)
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        found = uow.notifications.get_many(wanted, documents=False)
    assert sorted(found) == wanted and all(not n.documents for n in found.values())
    assert_searches(store, sent, "notification")
    assert not any("notification_document" in s.statement for s in sent)


def test_audit_reads_the_chain_end_and_its_events_by_seq(store: Store, capture) -> None:
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        uow.audit.append_many([], NOW)
        next(uow.audit.iter_events(after_seq=AUDIT_EVENTS // 2, batch_size=10))
        # the chain's end, as append_many reads it (the append itself is rolled back)
        uow.audit.append("content.released", "B00000001", "1", {}, NOW)
    if store.backend == "postgresql":
        # There the lock and the read go to the driver as one query of two statements.
        read = LOCK_AND_READ_AUDIT_END.split("; ")[1]
        sent.append(Sent(read, {}))
    assert_searches(store, sent, "audit_event")


def test_remembering_a_nonce_purges_by_expiry_and_deletes_by_digest(store: Store,
                                                                   capture) -> None:
    with capture() as sent, SqlUnitOfWork(store.session_factory) as uow:
        assert uow.nonces.remember("f" * 64, NOW + timedelta(minutes=5), NOW)
    assert_searches(store, sent, "used_nonce")
