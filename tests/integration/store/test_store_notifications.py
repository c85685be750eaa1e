"""NotificationRepository on SQLite and PostgreSQL: storing, reading, locking, the sweep."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import StatementError

from gateway.domain.model import Category, Issuer, ItemKind, Status
from gateway.errors import Conflict, NotFound
from gateway.store.models import NotificationRow, RepresentationVersionRow
from gateway.store.repositories import DeadlineParts
from gateway.store.unit_of_work import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def add(database, *items):
    with SqlUnitOfWork(database.session_factory) as uow:
        stored = [uow.notifications.add(n, c) for n, c in items]
        uow.commit()
    return stored


def test_round_trip_keeps_every_field_documents_and_contents(
    database, make_notification, contents_of
):
    original = make_notification(ccc="280123456789", category=Category.SPECIAL, annexes=2)
    (stored,) = add(database, (original, contents_of(original)))

    assert stored.id is not None
    with SqlUnitOfWork(database.session_factory) as uow:
        loaded = uow.notifications.get(stored.id)
        contents = [uow.notifications.content(stored.id, d.position) for d in original.documents]
        missing_content = uow.notifications.content(stored.id, 99)
    assert loaded == stored
    assert loaded.documents == original.documents
    assert [d.role.value for d in loaded.documents] == ["MAIN", "ANNEX", "ANNEX"]
    assert contents == contents_of(original)
    assert missing_content is None


def test_aware_datetimes_come_back_as_the_same_instant_in_utc(database, make_notification):
    madrid = ZoneInfo("Europe/Madrid")
    at = datetime(2026, 3, 29, 1, 59, 59, 123456, tzinfo=madrid)  # just before the DST jump
    original = make_notification(at=at, annexes=0)
    (stored,) = add(database, (original, [b"x"]))

    with SqlUnitOfWork(database.session_factory) as uow:
        loaded = uow.notifications.get(stored.id)
    assert loaded.made_available_at == at
    assert loaded.made_available_at.tzinfo == UTC
    assert loaded.made_available_at.microsecond == 123456
    assert loaded.deadline_at == at + timedelta(days=10)


def test_a_naive_datetime_is_refused_before_it_reaches_the_database(database):
    naive = datetime(2026, 1, 1)  # the point of the test
    with (
        SqlUnitOfWork(database.session_factory) as uow,
        pytest.raises(StatementError, match="naive"),
    ):
        uow.session.execute(
            select(NotificationRow.id).where(NotificationRow.made_available_at > naive)
        )


def test_the_first_access_mark_refuses_a_naive_instant_on_either_path(
    database, make_notification, contents_of
):
    """On PostgreSQL the mark runs on the connection's driver (``store.driver``), not through
    the session: the instant is still checked as ``UTCDateTime`` checks it."""
    original = make_notification()
    (stored,) = add(database, (original, contents_of(original)))
    naive = datetime(2026, 1, 1)  # the point of the test
    with (
        SqlUnitOfWork(database.session_factory) as uow,
        pytest.raises((StatementError, ValueError), match="naive"),
    ):
        uow.notifications.mark_accessed([stored.id], "B12345674", naive)
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.notifications.first_access(stored.id) is None


def test_a_duplicate_issuer_reference_is_a_conflict(database, make_notification, contents_of):
    first = make_notification(reference="R-1")
    add(database, (first, contents_of(first)))
    again = make_notification(reference="R-1", issuer=Issuer.TGSS)

    with pytest.raises(Conflict) as raised:
        add(database, (again, contents_of(again)))
    assert raised.value.code == "DUPLICATE_REFERENCE"
    assert raised.value.__cause__ is not None

    other_issuer = make_notification(reference="R-1", issuer=Issuer.INSS)
    add(database, (other_issuer, contents_of(other_issuer)))  # references are per issuer
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.notifications.existing_references(Issuer.TGSS, ["R-1", "R-2"]) == {"R-1"}


def test_add_many_returns_ids_in_input_order(database, make_notification, contents_of):
    items = [make_notification(reference=f"B-{i}") for i in range(2500)]
    with SqlUnitOfWork(database.session_factory) as uow:
        ids = uow.notifications.add_many([(n, contents_of(n)) for n in items])
        uow.commit()
    assert len(set(ids)) == 2500
    with SqlUnitOfWork(database.session_factory) as uow:
        loaded = uow.notifications.get_many(ids)
    assert [loaded[i].issuer_reference for i in ids] == [n.issuer_reference for n in items]
    assert all(len(loaded[i].documents) == 2 for i in ids)


def test_uncommitted_work_is_rolled_back(database, make_notification, contents_of):
    n = make_notification()
    with SqlUnitOfWork(database.session_factory) as uow:
        stored = uow.notifications.add(n, contents_of(n))
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.notifications.get(stored.id) is None


def test_lock_then_save_status(database, make_notification, contents_of):
    n = make_notification()
    (stored,) = add(database, (n, contents_of(n)))
    accepted_at = T0 + timedelta(days=1)

    with SqlUnitOfWork(database.session_factory) as uow:
        locked = uow.notifications.lock([stored.id, 999_999])
        assert set(locked) == {stored.id}
        uow.notifications.save_status(locked[stored.id].transition(Status.ACCEPTED, accepted_at))
        uow.commit()

    with SqlUnitOfWork(database.session_factory) as uow:
        loaded = uow.notifications.get(stored.id)
        assert (loaded.status, loaded.status_at) == (Status.ACCEPTED, accepted_at)
        assert loaded.status_effective_at == accepted_at
        # A stale copy cannot overwrite a final state.
        with pytest.raises(Conflict):
            uow.notifications.save_status(stored.transition(Status.REJECTED, accepted_at))
        with pytest.raises(NotFound):
            from dataclasses import replace

            uow.notifications.save_status(replace(loaded, id=424242))


def test_save_statuses_moves_a_batch_in_one_go_and_refuses_stale_or_missing_items(
    database, make_notification, contents_of
):
    from dataclasses import replace

    stored = add(database, *[(n, contents_of(n)) for n in
                             (make_notification() for _ in range(3))])
    accepted_at = T0 + timedelta(days=1)
    rejected_at = accepted_at + timedelta(hours=1)
    with SqlUnitOfWork(database.session_factory) as uow:
        locked = uow.notifications.lock([n.id for n in stored])
        uow.notifications.save_statuses([
            locked[stored[0].id].transition(Status.ACCEPTED, accepted_at),
            locked[stored[1].id].transition(Status.REJECTED, rejected_at),
        ])
        uow.commit()

    with SqlUnitOfWork(database.session_factory) as uow:
        loaded = uow.notifications.get_many([n.id for n in stored])
        assert [(loaded[n.id].status, loaded[n.id].status_at) for n in stored] == [
            (Status.ACCEPTED, accepted_at), (Status.REJECTED, rejected_at),
            (Status.AVAILABLE, stored[2].status_at)]
        # One stale copy in the batch: nothing of the batch may land (the caller rolls back).
        with pytest.raises(Conflict):
            uow.notifications.save_statuses([
                stored[2].transition(Status.ACCEPTED, accepted_at),
                stored[0].transition(Status.ACCEPTED, accepted_at)])
        with pytest.raises(NotFound):
            uow.notifications.save_statuses([replace(loaded[stored[0].id], id=424242)])


def test_two_racing_acceptances_are_serialised_by_the_lock(
    database, make_notification, contents_of
):
    n = make_notification()
    (stored,) = add(database, (n, contents_of(n)))
    at = T0 + timedelta(days=1)
    first_holds_lock = threading.Event()
    seen_by_second: list[Status] = []

    def second() -> None:
        first_holds_lock.wait()
        with SqlUnitOfWork(database.session_factory) as uow:
            seen_by_second.append(uow.notifications.lock([stored.id])[stored.id].status)

    thread = threading.Thread(target=second)
    thread.start()
    with SqlUnitOfWork(database.session_factory) as uow:
        item = uow.notifications.lock([stored.id])[stored.id]
        first_holds_lock.set()
        time.sleep(0.3)  # the second transaction is now waiting for our lock
        assert seen_by_second == []
        uow.notifications.save_status(item.transition(Status.ACCEPTED, at))
        uow.commit()
    thread.join(timeout=30)
    assert seen_by_second == [Status.ACCEPTED]


def test_expire_overdue_is_idempotent_and_dates_expiry_at_the_deadline(
    database, make_notification, contents_of
):
    overdue = [make_notification(at=T0 - timedelta(days=20 + i)) for i in range(3)]
    pending = make_notification(at=T0)
    communication = make_notification(at=T0 - timedelta(days=40), kind=ItemKind.COMMUNICATION)
    add(database, *[(n, contents_of(n)) for n in [*overdue, pending, communication]])
    now = T0 + timedelta(days=1)

    with SqlUnitOfWork(database.session_factory) as uow:
        first = uow.notifications.expire_overdue(now, limit=2)
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        second = uow.notifications.expire_overdue(now, limit=10)
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        third = uow.notifications.expire_overdue(now, limit=10)
        uow.commit()
        stored = {n.issuer_reference: n for n in uow.notifications.get_many(range(1, 100)).values()}

    assert len(first) == 2 and len(second) == 1 and third == []
    for item in overdue:
        expired = stored[item.issuer_reference]
        assert expired.status is Status.EXPIRED
        assert expired.status_at == expired.status_effective_at == item.deadline_at
    assert {n.issuer_reference for n in first + second} == {n.issuer_reference for n in overdue}
    assert stored[pending.issuer_reference].status is Status.AVAILABLE
    assert stored[communication.issuer_reference].status is Status.AVAILABLE


def test_a_sweep_never_waits_for_or_expires_a_row_another_transaction_holds(
    database, make_notification, contents_of
):
    """PostgreSQL skips rows another transaction holds (SKIP LOCKED); SQLite has one writer at
    a time, so there the sweep waits for the holder instead. Either way no row is handled
    twice, and the next sweep picks up what was skipped."""
    items = [make_notification(at=T0 - timedelta(days=20)) for _ in range(4)]
    stored = add(database, *[(n, contents_of(n)) for n in items])
    holding = threading.Event()
    hold_seconds = 1.0

    def holder() -> None:
        with SqlUnitOfWork(database.session_factory) as uow:
            uow.notifications.lock([stored[0].id])
            holding.set()
            time.sleep(hold_seconds)  # then roll back

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(timeout=30)
    started = time.monotonic()
    with SqlUnitOfWork(database.session_factory) as uow:
        first = uow.notifications.expire_overdue(T0, limit=10)
        uow.commit()
    waited = time.monotonic() - started
    thread.join(timeout=30)
    with SqlUnitOfWork(database.session_factory) as uow:
        second = uow.notifications.expire_overdue(T0, limit=10)
        uow.commit()

    if database.backend == "postgresql":
        assert waited < hold_seconds / 2
        assert {n.id for n in first} == {n.id for n in stored[1:]}
        assert [n.id for n in second] == [stored[0].id]
    else:
        assert {n.id for n in first} == {n.id for n in stored}
        assert second == []


def test_pending_in_window_and_deadline_parts(database, make_notification, contents_of):
    early = make_notification(at=T0 - timedelta(days=15))  # window closed before T0
    inside = make_notification(at=T0 - timedelta(days=5))  # window [T0-5d, T0+5d)
    later = make_notification(at=T0 + timedelta(days=3))
    communication = make_notification(at=T0, kind=ItemKind.COMMUNICATION)
    stored = add(database, *[(n, contents_of(n)) for n in [early, inside, later, communication]])

    with SqlUnitOfWork(database.session_factory) as uow:
        window = uow.notifications.pending_in_window(T0, T0 + timedelta(days=1))
        assert [n.issuer_reference for n in window] == [inside.issuer_reference]

        target = stored[1].id
        base = inside.deadline_at
        uow.notifications.set_deadline(target, base + timedelta(days=2), base, 2)
        parts = uow.notifications.deadline_parts([target, 31337])
        uow.commit()
        with pytest.raises(NotFound):
            uow.notifications.set_deadline(31337, base, base, 0)
    assert parts == {target: DeadlineParts(base, base + timedelta(days=2), 2)}
    with SqlUnitOfWork(database.session_factory) as uow:
        extended = uow.notifications.get(target)
    assert (extended.deadline_at, extended.deadline_extension_days) == (base + timedelta(days=2), 2)


def test_summary_counts(database, make_notification, contents_of):
    items = [
        make_notification("A1", issuer=Issuer.INSS),
        make_notification("A1", kind=ItemKind.COMMUNICATION, category=Category.SPECIAL),
        make_notification("A2"),
    ]
    add(database, *[(n, contents_of(n)) for n in items])
    with SqlUnitOfWork(database.session_factory) as uow:
        summary = uow.notifications.summary()
    assert summary == {
        "total": 3,
        "by_kind": {"COMMUNICATION": 1, "NOTIFICATION": 2},
        "by_status": {"AVAILABLE": 3},
        "by_issuer": {"INSS": 1, "TGSS": 2},
        "by_category": {"NORMAL": 2, "SPECIAL": 1},
        "recipients": 2,
    }


def test_the_rights_check_reuses_the_registry_counter_its_notification_read_saw(database):
    """``get_many`` brings the representation registry's change counter in the same statement,
    whether or not the ids name anything (a missing item costs what a forbidden one does); the
    rights check right after uses it once instead of reading it again; a commit forgets it."""
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.session.add(RepresentationVersionRow(id=1, version=7))
        uow.commit()
    sent: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE is not a read
            sent.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        with SqlUnitOfWork(database.session_factory) as uow:
            assert uow.notifications.get_many([424_242]) == {}
            assert len(sent) == 1
            assert uow.representation.version() == 7
            assert len(sent) == 1  # no statement of its own
            assert uow.representation.version() == 7
            assert len(sent) == 2  # used once: read again now
            uow.notifications.get_many([424_242])
            uow.commit()
            assert uow.representation.version() == 7
            assert len(sent) == 4  # after the commit: read again
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
