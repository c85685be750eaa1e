"""Status filters are judged at the official time: the deadline, not the sweep, decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.domain.listing import Audience, ListingFilter, ListingQuery, Role
from gateway.domain.model import ItemKind, Status
from gateway.store.unit_of_work import SqlUnitOfWork

COMPANY = "B12345674"  # the recipient make_notification addresses by default
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _listed(database, status: Status, as_of) -> list[str]:
    with SqlUnitOfWork(database.session_factory) as uow:
        page = uow.notifications.list_page(ListingQuery(
            audience=(Audience(COMPANY, Role.OWN),), filter=ListingFilter(status=status),
            limit=100, as_of=as_of))
    return sorted(n.issuer_reference for n in page)


def test_an_overdue_notification_lists_as_expired_before_the_sweep(database, make_notification,
                                                                    contents_of):
    overdue = make_notification(reference="OVERDUE", at=T0)
    pending = make_notification(reference="PENDING", at=T0 + timedelta(days=8))
    communication = make_notification(reference="COMM", at=T0, kind=ItemKind.COMMUNICATION)
    with SqlUnitOfWork(database.session_factory) as uow:
        for item in (overdue, pending, communication):
            uow.notifications.add(item, contents_of(item))
        uow.commit()
    now = T0 + timedelta(days=12)  # past OVERDUE's deadline, not PENDING's

    assert _listed(database, Status.EXPIRED, now) == ["OVERDUE"]
    assert _listed(database, Status.AVAILABLE, now) == ["COMM", "PENDING"]
    # Without an official time the stored status is all there is (back-office listings).
    assert _listed(database, Status.EXPIRED, None) == []

    with SqlUnitOfWork(database.session_factory) as uow:
        assert [n.issuer_reference for n in uow.notifications.expire_overdue(now, 10)] == ["OVERDUE"]
        uow.commit()
    assert _listed(database, Status.EXPIRED, now) == ["OVERDUE"]  # same answer after the sweep
