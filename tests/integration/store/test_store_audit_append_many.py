"""Bulk writes and reads behind GetContents, on SQLite and PostgreSQL: ``AuditRepository.
append_many`` links many events into the chain at once, and ``NotificationRepository.contents``
reads the bytes of many documents by (notification id, position)."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import update

from gateway.domain.audit import GENESIS_HASH, AuditEntry, verify_chain
from gateway.store.models import AuditEventRow
from gateway.store.unit_of_work import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def entries(count: int, tag: str) -> list[AuditEntry]:
    return [AuditEntry("content.released", "B12345674", f"{tag}-{i}",
                       {"document": i, "sha256": f"{i:064x}", "role": "OWN", "note": "ñ€"})
            for i in range(count)]


def stored_events(database):
    with SqlUnitOfWork(database.session_factory) as uow:
        return list(uow.audit.iter_events(batch_size=7))


def test_append_many_links_consecutive_events_into_a_valid_chain(database) -> None:
    with SqlUnitOfWork(database.session_factory) as uow:
        returned = uow.audit.append_many(entries(5, "a"), T0)
        uow.commit()

    events = stored_events(database)
    assert events == returned
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in pairwise(events))
    assert [e.subject for e in events] == [f"a-{i}" for i in range(5)]
    assert {e.at for e in events} == {T0}
    assert events[3].details == {"document": 3, "sha256": f"{3:064x}", "role": "OWN",
                                 "note": "ñ€"}
    assert verify_chain(events) is None


def test_append_many_interleaved_with_append_keeps_one_chain(database) -> None:
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.audit.append("access.refused", "B12345674", "1", {"reason": "X"}, T0)
        uow.audit.append_many(entries(3, "b"), T0 + timedelta(seconds=1))
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.audit.append("communication.read", "B12345674", "2", {"role": "OWN"},
                         T0 + timedelta(seconds=2))
        uow.audit.append_many(entries(2, "c"), T0 + timedelta(seconds=3))
        uow.audit.append("content.released", "B12345674", "3", {}, T0 + timedelta(seconds=4))
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.audit.append_many(entries(1, "d"), T0 + timedelta(seconds=5))
        uow.commit()

    events = stored_events(database)
    assert [e.seq for e in events] == list(range(1, 10))
    assert [e.subject for e in events] == ["1", "b-0", "b-1", "b-2", "2", "c-0", "c-1", "3",
                                           "d-0"]
    assert verify_chain(events) is None


def test_a_large_batch_spans_insert_chunks_and_still_verifies(database) -> None:
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.audit.append("receipt.issued", "B12345674", "R-1", {}, T0)
        uow.audit.append_many(entries(2_345, "big"), T0)  # more than 1,000 rows
        uow.audit.append("receipt.issued", "B12345674", "R-2", {}, T0)
        uow.commit()

    events = stored_events(database)
    assert [e.seq for e in events] == list(range(1, 2_348))
    assert verify_chain(events) is None


def test_a_modified_event_of_a_batch_is_detected(database) -> None:
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.audit.append_many(entries(4, "e"), T0)
        uow.commit()
    with database.engine.begin() as connection:
        connection.execute(update(AuditEventRow).where(AuditEventRow.seq == 3)
                           .values(subject="someone else's"))
    assert verify_chain(stored_events(database)) == 2


def test_an_empty_list_writes_nothing(database) -> None:
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.audit.append_many([], T0) == []
        uow.commit()
    assert stored_events(database) == []

    with SqlUnitOfWork(database.session_factory) as uow:
        uow.audit.append("a", "x", "1", {}, T0)
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.audit.append_many([], T0) == []
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.audit.append("b", "x", "2", {}, T0)
        uow.commit()
    events = stored_events(database)
    assert [e.seq for e in events] == [1, 2]
    assert verify_chain(events) is None


def test_a_rolled_back_batch_leaves_no_trace(database) -> None:
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.audit.append_many(entries(3, "lost"), T0)  # no commit
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.audit.append_many(entries(2, "kept"), T0)
        uow.commit()
    events = stored_events(database)
    assert [(e.seq, e.subject) for e in events] == [(1, "kept-0"), (2, "kept-1")]
    assert verify_chain(events) is None


# --- contents ---------------------------------------------------------------------------------


@pytest.fixture
def three(database, make_notification, contents_of):
    """Three stored notifications with 0, 2 and 1 annexes."""
    with SqlUnitOfWork(database.session_factory) as uow:
        items = [uow.notifications.add(n, contents_of(n))
                 for n in (make_notification(annexes=a) for a in (0, 2, 1))]
        uow.commit()
    return items


def test_contents_returns_exactly_the_requested_documents(database, three, contents_of) -> None:
    first, second, third = three
    keys = [(second.id, 2), (first.id, 0), (second.id, 0), (third.id, 1)]
    with SqlUnitOfWork(database.session_factory) as uow:
        found = uow.notifications.contents(iter(keys))  # any iterable, read once

    assert set(found) == set(keys)
    assert found[(first.id, 0)] == contents_of(first)[0]
    assert found[(second.id, 0)] == contents_of(second)[0]
    assert found[(second.id, 2)] == contents_of(second)[2]
    assert found[(third.id, 1)] == contents_of(third)[1]
    assert all(type(value) is bytes for value in found.values())
    # documents of the same notifications that were not asked for are not handed out
    assert (second.id, 1) not in found and (third.id, 0) not in found


def test_contents_omits_missing_documents_and_notifications(database, three,
                                                            contents_of) -> None:
    first, second, _ = three
    missing_id = max(n.id for n in three) + 100
    keys = [(first.id, 1), (first.id, 0), (missing_id, 0), (second.id, 3), (second.id, 1)]
    with SqlUnitOfWork(database.session_factory) as uow:
        found = uow.notifications.contents(keys)
    assert found == {(first.id, 0): contents_of(first)[0],
                     (second.id, 1): contents_of(second)[1]}


def test_contents_of_nothing_is_empty(database, three) -> None:
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.notifications.contents([]) == {}
        assert uow.notifications.contents([(10**9, 0)]) == {}


def test_contents_keeps_empty_and_binary_documents(database, make_notification) -> None:
    datas = [b"", bytes(range(256)) * 5]
    base = make_notification(annexes=1)
    documents = tuple(replace(d, size=len(data), sha256=hashlib.sha256(data).hexdigest())
                      for d, data in zip(base.documents, datas, strict=True))
    with SqlUnitOfWork(database.session_factory) as uow:
        n = uow.notifications.add(replace(base, documents=documents), datas)
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.notifications.contents([(n.id, 0), (n.id, 1)]) == {(n.id, 0): b"",
                                                                      (n.id, 1): datas[1]}


def test_contents_of_more_notifications_than_one_in_chunk(database, make_notification,
                                                          contents_of) -> None:
    with SqlUnitOfWork(database.session_factory) as uow:
        ids = uow.notifications.add_many(
            [(n, contents_of(n)) for n in (make_notification(annexes=0)
                                                for _ in range(1_203))])
        uow.commit()
    keys = [(i, 0) for i in ids[::-1]]
    with SqlUnitOfWork(database.session_factory) as uow:
        found = uow.notifications.contents(keys)
    assert set(found) == set(keys)
    assert all(b"document 0" in found[key] for key in keys)


def test_concurrent_batches_and_single_appends_never_fork_the_chain(database) -> None:
    errors: list[BaseException] = []

    def writer(name: str, batch: bool) -> None:
        try:
            for i in range(10):
                with SqlUnitOfWork(database.session_factory) as uow:
                    if batch:
                        uow.audit.append_many(entries(3, f"{name}:{i}"), T0)
                    else:
                        uow.audit.append("test", name, f"{name}:{i}", {"i": i}, T0)
                    uow.commit()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}", n % 2 == 0)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    events = stored_events(database)
    assert [e.seq for e in events] == list(range(1, 2 * 10 * 3 + 2 * 10 + 1))
    assert verify_chain(events) is None
    # each batch's events stayed together, in their order
    for name in ("w0", "w2"):
        for i in range(10):
            run = [e.seq for e in events if e.subject.startswith(f"{name}:{i}-")]
            assert [e.subject for e in events if e.seq in run] == [
                f"{name}:{i}-{k}" for k in range(3)]
            assert run == list(range(run[0], run[0] + 3))
