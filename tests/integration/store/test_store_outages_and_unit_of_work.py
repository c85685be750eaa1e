"""OutageRepository, and the unit of work's transaction and error translation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from gateway.domain.outages import Outage
from gateway.errors import Conflict
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
