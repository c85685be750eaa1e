"""OutageRepository, the unit of work's transaction and error translation, and the pool's
handling of dead PostgreSQL connections."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, insert, text

from gateway.domain.outages import Outage
from gateway.errors import Conflict, ServiceUnavailable
from gateway.store import engine as engine_module
from gateway.store.engine import create_engine_for, session_factory
from gateway.store.models import RegistrationCounterRow
from gateway.store.unit_of_work import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_outages_round_trip_in_start_order(database):
    later = Outage(T0 + timedelta(days=1), T0 + timedelta(days=1, hours=3), "database upgrade")
    earlier = Outage(T0, T0 + timedelta(hours=2), "network", recorded_at=T0 + timedelta(hours=5))
    with SqlUnitOfWork(database.session_factory) as uow:
        stored_later = uow.outages.add(later)
        stored_earlier = uow.outages.add(earlier)
        uow.commit()
    assert stored_later.id is not None and stored_later.recorded_at is not None  # database time
    assert stored_earlier.recorded_at == T0 + timedelta(hours=5)
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.outages.list() == [stored_earlier, stored_later]


def test_an_integrity_error_at_commit_becomes_conflict(database):
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.session.add(RegistrationCounterRow(year=2026, last_value=1))
        uow.commit()
    with pytest.raises(Conflict) as raised, SqlUnitOfWork(database.session_factory) as uow:
        uow.session.add(RegistrationCounterRow(year=2026, last_value=2))
        uow.commit()
    assert raised.value.__cause__ is not None


def test_an_integrity_error_escaping_the_block_becomes_conflict(database):
    with pytest.raises(Conflict), SqlUnitOfWork(database.session_factory) as uow:
        statement = insert(RegistrationCounterRow)
        uow.session.execute(statement, [{"year": 1, "last_value": 0}] * 2)


def test_leaving_without_commit_rolls_back_even_after_an_earlier_commit(database):
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.outages.add(Outage(T0, T0 + timedelta(hours=2), "first"))
        uow.commit()
        uow.outages.add(Outage(T0, T0 + timedelta(hours=2), "second, never committed"))
    with SqlUnitOfWork(database.session_factory) as uow:
        assert [o.reason for o in uow.outages.list()] == ["first"]


def backend_pids(engine, count: int) -> list[int]:
    """The backend pid of each of ``count`` pooled connections (held at once, then returned)."""
    with ExitStack() as stack:
        connections = [stack.enter_context(engine.connect()) for _ in range(count)]
        return [c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in connections]


def terminate(engine, pids: list[int]) -> None:
    admin = create_engine(engine.url)  # not the pool under test
    try:
        with admin.connect() as connection:
            for pid in pids:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_backend", ["postgresql"], indirect=True)
def test_a_dead_pooled_connection_idle_for_a_while_is_replaced_before_use(
        database, monkeypatch):
    """A database restart kills every pooled connection; each one idle longer than
    ``PING_AFTER_IDLE_S`` is pinged at checkout and replaced: the next units of work just work."""
    engine = create_engine_for(database.url)
    try:
        dead = backend_pids(engine, 2)
        terminate(engine, dead)
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)  # both count as idle
        now = backend_pids(engine, 2)
        assert not set(now) & set(dead)
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_backend", ["postgresql"], indirect=True)
def test_a_connection_that_died_right_after_use_fails_once_then_the_pool_recovers(
        database, monkeypatch):
    """Not pinged (used a moment ago): the first statement on it fails as a disconnect --
    SERVICE_UNAVAILABLE through a unit of work, as during any outage -- which invalidates the
    pool, and the next unit of work gets a fresh connection."""
    engine = create_engine_for(database.url)
    sessions = session_factory(engine)
    try:
        dead = backend_pids(engine, 2)
        terminate(engine, dead)
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 3600.0)
        with pytest.raises(ServiceUnavailable), SqlUnitOfWork(sessions) as uow:
            uow.session.execute(text("SELECT 1"))
        with SqlUnitOfWork(sessions) as uow:
            pid = uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert pid not in dead
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_backend", ["postgresql"], indirect=True)
def test_a_hot_statement_on_a_dead_connection_is_unavailable_then_the_pool_recovers(
        database, monkeypatch):
    """The statements every request runs go to the connection's driver (``store.driver``), below
    SQLAlchemy: a disconnect there is SERVICE_UNAVAILABLE too and invalidates that connection
    (as the replay nonce's statement does), so the next unit of work reads through a fresh one
    -- never through the dead one again."""
    engine = create_engine_for(database.url)
    sessions = session_factory(engine)
    try:
        dead = backend_pids(engine, 1)
        terminate(engine, dead)
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 3600.0)
        with pytest.raises(ServiceUnavailable), SqlUnitOfWork(sessions) as uow:
            uow.notifications.get_many([1])
        with SqlUnitOfWork(sessions) as uow:
            assert uow.notifications.get_many([1]) == {}
            pid = uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert pid not in dead
    finally:
        engine.dispose()
