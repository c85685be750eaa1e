"""The shared WS-Security replay cache."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from gateway.store.models import UsedNonceRow
from gateway.store.replay import SqlNonceStore
from gateway.store.unit_of_work import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def remember(database, digest: str, expires_at: datetime, now: datetime) -> bool:
    with SqlUnitOfWork(database.session_factory) as uow:
        fresh = uow.nonces.remember(digest, expires_at, now)
        uow.commit()
    return fresh


def count(database) -> int:
    with database.session_factory() as session:
        return session.execute(select(func.count()).select_from(UsedNonceRow)).scalar_one()


def test_a_replay_is_refused_until_the_entry_expires(database):
    expires = T0 + timedelta(minutes=5)
    assert remember(database, "sig-1", expires, T0) is True
    assert remember(database, "sig-1", expires, T0 + timedelta(minutes=1)) is False
    assert remember(database, "sig-2", expires, T0) is True
    # Once expired, the Timestamp check refuses the message anyway; the slot may be reused.
    assert remember(database, "sig-1", expires + timedelta(minutes=5), expires) is True


def test_expired_entries_are_purged_opportunistically(database):
    for i in range(30):
        remember(database, f"old-{i}", T0 + timedelta(minutes=1), T0)
    assert count(database) == 30
    remember(database, "new", T0 + timedelta(hours=1), T0 + timedelta(minutes=2))
    assert count(database) == 1


def test_a_nonce_remembered_by_a_rolled_back_request_is_not_kept(database):
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.nonces.remember("sig-x", T0 + timedelta(minutes=5), T0)
    assert remember(database, "sig-x", T0 + timedelta(minutes=5), T0) is True


def test_racing_hosts_accept_a_signature_exactly_once(database):
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def host() -> None:
        barrier.wait()
        results.append(remember(database, "raced", T0 + timedelta(minutes=5), T0))

    threads = [threading.Thread(target=host) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [False] * 5 + [True]


def test_the_gates_store_remembers_at_once_and_exactly_once(database):
    """``SqlNonceStore`` (what the gate uses; on PostgreSQL one autocommitted statement): a
    nonce it accepted is visible to every other host at once, an expired one is taken over,
    and racing hosts accept one signature once."""
    store = SqlNonceStore(database.session_factory)
    expires = T0 + timedelta(minutes=5)
    assert store.remember("sig-s", expires, T0) is True
    assert count(database) == 1
    assert store.remember("sig-s", expires, T0 + timedelta(minutes=4)) is False
    assert remember(database, "sig-s", expires, T0 + timedelta(minutes=4)) is False
    assert store.remember("sig-s", expires + timedelta(minutes=5), expires) is True
    assert store.remember("sig-s", expires + timedelta(minutes=5), expires) is False

    results: list[bool] = []
    barrier = threading.Barrier(6)

    def host() -> None:
        barrier.wait()
        results.append(store.remember("raced-s", expires, T0))

    threads = [threading.Thread(target=host) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [False] * 5 + [True]
