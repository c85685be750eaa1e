"""Who hears of an event (issue 17 acceptance): for random registries, a subscriber receives an
event about an item exactly when it may ``GetNotification`` that item at the time of the event.

The registries and items are the authorisation property test's (mandates, grants, access
managers, RED histories, special-category items, decided ones). Every item gets a published
event in the audit chain (the outbox), the world's principal subscribes, and the real fan-out
runs on the real store. The oracle is the notification service itself (what GetNotification
answers at that instant), not ``decide``. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from test_store_authorization_property import NOW, SECRET, World, empty, seed, worlds

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.callbacks import CallbackPolicy
from gateway.domain.clock import FixedClock
from gateway.errors import NotFound
from gateway.services.events import EventsService, Owner
from gateway.services.notifications import NotificationQueries
from gateway.store.paging import AudienceMemo
from gateway.store.unit_of_work import SqlUnitOfWork

CALLBACKS = CallbackPolicy.parse("receiver.example")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(world=worlds())
def test_subscriber_hears_exactly_of_what_it_may_read(database, world: World) -> None:
    empty(database)
    stored = seed(database, world)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(database.session_factory, world.registry_start, AudienceMemo())

    events = EventsService(uow, FixedClock(NOW), CALLBACKS, source="https://gw.example")
    with uow() as unit:  # history so far is not replayed: start after it
        cursor = unit.events.lock_cursor()
        unit.events.advance_cursor(max(cursor, max((e.seq for e in unit.audit.iter_events()),
                                                   default=0)))
        unit.commit()
    subscription = events.subscribe(Owner(world.principal), "https://receiver.example/hook")
    with uow() as unit:
        for item in stored:
            unit.audit.append("notification.published", item.issuer.value, str(item.id),
                              {"recipient": item.recipient}, NOW)
        unit.commit()
    while events.fan_out(limit=7):
        pass

    queries = NotificationQueries(uow, FixedClock(NOW), WorkingCalendar(), SECRET)
    expected = set()
    for item in stored:
        assert item.id is not None
        try:
            queries.get(world.principal, item.id)
        except NotFound:
            continue
        expected.add(item.id)
    assert subscription.id is not None
    delivered = {json.loads(d.body)["data"]["notificationId"]
                 for d in events.claim(limit=10_000)}
    leaked, omitted = delivered - expected, expected - delivered
    assert not leaked and not omitted, (
        f"leaked {sorted(leaked)}, omitted {sorted(omitted)} for {world.principal} "
        f"(backend {database.backend})")
