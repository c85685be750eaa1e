"""The audit chain as stored: appends link up, tampering in the database is detected, and
concurrent appenders never fork the chain."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import delete, text, update

from gateway.domain.audit import GENESIS_HASH, verify_chain
from gateway.errors import ServiceUnavailable
from gateway.store.models import AuditEventRow
from gateway.store.unit_of_work import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def append_events(database, count: int) -> None:
    with SqlUnitOfWork(database.session_factory) as uow:
        for i in range(count):
            uow.audit.append(
                "notification.accepted",
                actor="12345678Z",
                subject=f"notification:{i}",
                details={"receipt": f"R-{i}", "items": [i, i + 1], "note": "ñ€"},
                at=T0 + timedelta(seconds=i),
            )
        uow.commit()


def stored_events(database):
    with SqlUnitOfWork(database.session_factory) as uow:
        return list(uow.audit.iter_events(batch_size=3))


def test_appended_events_form_a_valid_chain(database):
    append_events(database, 10)
    events = stored_events(database)
    assert [e.seq for e in events] == list(range(1, 11))
    assert events[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in pairwise(events))
    assert events[4].details == {"receipt": "R-4", "items": [4, 5], "note": "ñ€"}
    assert events[4].at == T0 + timedelta(seconds=4)
    assert verify_chain(events) is None


def test_a_modified_event_is_detected(database):
    append_events(database, 6)
    with database.engine.begin() as connection:
        connection.execute(
            update(AuditEventRow).where(AuditEventRow.seq == 4).values(actor="someone else")
        )
    assert verify_chain(stored_events(database)) == 3


def test_a_deleted_event_is_detected(database):
    append_events(database, 6)
    with database.engine.begin() as connection:
        connection.execute(delete(AuditEventRow).where(AuditEventRow.seq == 3))
    assert verify_chain(stored_events(database)) == 2  # the event after the gap


def test_reordered_events_are_detected(database):
    append_events(database, 6)
    events = stored_events(database)
    # Swap the contents of rows 2 and 3 (keeping seq in place), as a tamperer editing rows would.
    with database.engine.begin() as connection:
        for seq, source in ((2, events[2]), (3, events[1])):
            connection.execute(
                update(AuditEventRow)
                .where(AuditEventRow.seq == seq)
                .values(subject=source.subject, at=source.at, hash=f"tmp{seq}")
            )
        for seq, source in ((2, events[2]), (3, events[1])):
            connection.execute(
                update(AuditEventRow)
                .where(AuditEventRow.seq == seq)
                .values(prev_hash=source.prev_hash, hash=source.hash)
            )
    assert verify_chain(stored_events(database)) == 1
    # Reading the untouched events back in a different order is caught as well.
    assert verify_chain([events[0], events[2], events[1], *events[3:]]) == 1


def test_concurrent_appends_never_fork_the_chain(database):
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(15):
                with SqlUnitOfWork(database.session_factory) as uow:
                    uow.audit.append("test", name, f"{name}:{i}", {"i": i}, T0)
                    uow.commit()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    events = stored_events(database)
    assert len(events) == 60
    assert [e.seq for e in events] == list(range(1, 61))
    assert verify_chain(events) is None


def test_an_append_that_waited_for_the_lock_links_to_what_the_holder_committed(database):
    """The writer that waits for the chain's lock reads the chain's end only once it has the
    lock (on PostgreSQL the lock and that read go as one query of two statements): it links
    to the event the holder committed meanwhile, without a conflict."""
    append_events(database, 1)
    waiting: list[BaseException | int] = []
    with SqlUnitOfWork(database.session_factory) as holder:
        holder.audit.append("test", "holder", "h", {}, T0)  # holds the lock until commit

        def waiter() -> None:
            try:
                with SqlUnitOfWork(database.session_factory) as uow:
                    waiting.append(uow.audit.append("test", "waiter", "w", {}, T0).seq)
                    uow.commit()
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
                waiting.append(exc)

        thread = threading.Thread(target=waiter)
        thread.start()
        blocked_on_lock(database)
        holder.commit()
    thread.join(timeout=60)
    assert waiting == [3]
    events = stored_events(database)
    assert [(e.seq, e.actor) for e in events] == [(1, "12345678Z"), (2, "holder"), (3, "waiter")]
    assert verify_chain(events) is None


def blocked_on_lock(database) -> None:
    """Until another session waits for the audit chain's advisory lock (PostgreSQL); SQLite
    writers queue on the database's write lock, given a moment to get there."""
    if database.engine.dialect.name != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with database.engine.connect() as connection:
            if connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND NOT granted").scalar():
                return
        time.sleep(0.05)
    raise AssertionError("the second writer never waited for the audit lock")


@pytest.mark.postgres
@pytest.mark.parametrize("database_backend", ["postgresql"], indirect=True)
def test_a_connection_lost_while_appending_is_service_unavailable(database):
    """The append talks to the driver directly on PostgreSQL: a connection lost there is still
    SERVICE_UNAVAILABLE (503, as anywhere else), the pool drops it, and the next append works."""
    append_events(database, 1)
    with pytest.raises(ServiceUnavailable), SqlUnitOfWork(database.session_factory) as uow:
        pid = uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with database.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        uow.audit.append("test", "lost", "l", {}, T0)
    append_events(database, 1)
    assert [e.seq for e in stored_events(database)] == [1, 2]
    assert verify_chain(stored_events(database)) is None
