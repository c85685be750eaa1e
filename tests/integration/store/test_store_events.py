"""Event subscriptions, fan-out and delivery bookkeeping on the real store (SQLite and
PostgreSQL): who hears of what, order per item, back-off, dead letters, leases, redelivery.

Sending is not done here (``tests/integration/test_events_delivery.py`` runs real processes
against real receivers); outcomes are recorded as the delivery process would.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.callbacks import CallbackPolicy
from gateway.domain.clock import FixedClock
from gateway.domain.events import DeliveryState, RetryPolicy
from gateway.domain.model import Category, Issuer
from gateway.domain.principal import Principal, PrincipalKind
from gateway.domain.rights import Action, Mandate
from gateway.errors import InvalidRequest, NotFound
from gateway.services.events import EventsService, Outcome, Owner
from gateway.store.unit_of_work import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COMPANY = "B12345674"
OTHER = "A23456783"
AGENT = "B76543214"
CCC = "28123456789"  # the make_notification fixture takes it as given
URL = "https://receiver.example/hook"


def entity(cif: str) -> Principal:
    return Principal(PrincipalKind.ENTITY, cif, "ENTIDAD", "cc" * 32)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def service(database, clock) -> EventsService:
    return EventsService(lambda: SqlUnitOfWork(database.session_factory), clock,
                         CallbackPolicy.parse("receiver.example"), source="https://gw.example",
                         retry=RetryPolicy(max_attempts=3, base=timedelta(seconds=10)),
                         lease=timedelta(seconds=60))


def store(database, *items) -> list[int]:
    with SqlUnitOfWork(database.session_factory) as uow:
        ids = uow.notifications.add_many([(replace(item, documents=()), []) for item in items])
        uow.commit()
    return ids


def audit(database, event_type: str, subject: str, details: dict[str, object],
          at: datetime = T0, actor: str = "TGSS") -> None:
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.audit.append(event_type, actor, subject, details, at)
        uow.commit()


def fan_out(service: EventsService) -> None:
    while service.fan_out():
        pass


def bodies(service: EventsService, limit: int = 1000) -> list[dict[str, object]]:
    """Claim what is due and record it delivered; the bodies sent."""
    claimed = service.claim(limit)
    service.record([(d, Outcome(True)) for d in claimed])
    return [json.loads(d.body) for d in claimed]


def test_events_reach_only_those_who_may_read_the_item(database, service, make_notification):
    own = service.subscribe(Owner(entity(COMPANY)), URL)
    stranger = service.subscribe(Owner(entity(OTHER)), URL)
    agent = service.subscribe(Owner(entity(AGENT)), URL)
    tgss = service.subscribe(Owner(entity("Q2827003A"), Issuer.TGSS), URL)
    inss = service.subscribe(Owner(entity("Q2827002C"), Issuer.INSS), URL)
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.representation.assign(CCC, COMPANY, AGENT, T0 - timedelta(days=1))
        uow.commit()
    ordinary, special = store(database, make_notification(COMPANY, ccc=CCC),
                              make_notification(COMPANY, ccc=CCC, category=Category.SPECIAL))
    for item in (ordinary, special):
        audit(database, "notification.published", str(item), {"recipient": COMPANY})
    fan_out(service)
    heard: dict[int, set[object]] = {}
    for delivery in service.claim(100):
        body = json.loads(delivery.body)
        heard.setdefault(delivery.subscription_id, set()).add(body["data"]["notificationId"])
        assert body["specversion"] == "1.0" and body["id"] == delivery.event_id
        assert body["type"] == "es.notess.gateway.notification.published"
        assert "Acto" not in delivery.body.decode()  # never the subject
    assert heard == {own.id: {ordinary, special}, agent.id: {ordinary},
                     tgss.id: {ordinary, special}}
    assert stranger.id not in heard and inss.id not in heard


def test_a_revoked_mandate_stops_events_at_once(database, service, make_notification, clock):
    holder = service.subscribe(Owner(entity(OTHER)), URL)
    mandate = Mandate(id=None, grantor=COMPANY, grantee=OTHER,
                      scopes=frozenset({Action.READ}), valid_from=T0 - timedelta(days=5))
    with SqlUnitOfWork(database.session_factory) as uow:
        [stored] = uow.representation.add_mandates([mandate])
        uow.commit()
    first, second = store(database, make_notification(COMPANY), make_notification(COMPANY))
    audit(database, "notification.published", str(first), {})
    fan_out(service)
    assert [b["data"]["notificationId"] for b in bodies(service)] == [first]
    clock.current = T0 + timedelta(hours=1)
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.representation.revoke_mandate(stored.id, clock.current)
        uow.commit()
    audit(database, "mandate.revoked", f"mandate:{stored.id}",
          {"grantor": COMPANY, "grantee": OTHER}, at=clock.current, actor="REGISTRY")
    audit(database, "notification.published", str(second), {}, at=clock.current)
    fan_out(service)
    later = bodies(service)
    assert [b["type"] for b in later] == ["es.notess.gateway.representation.changed"]
    assert later[0]["data"] == {"change": "MANDATE_REVOKED", "grantor": COMPANY,
                                "grantee": OTHER, "reference": f"mandate:{stored.id}"}
    assert holder.id is not None


def test_order_per_item_back_off_dead_letter_and_redelivery(database, service, clock,
                                                            make_notification):
    subscription = service.subscribe(Owner(entity(COMPANY)), URL)
    a, b = store(database, make_notification(COMPANY), make_notification(COMPANY))
    audit(database, "notification.published", str(a), {})
    audit(database, "notification.published", str(b), {})
    audit(database, "notification.expired", str(a), {})
    fan_out(service)
    first = service.claim(10)
    # a's expiry waits behind a's publication; b is independent
    assert [json.loads(d.body)["data"]["notificationId"] for d in first] == [a, b]
    failed_a = first[0]
    service.record([(failed_a, Outcome(False, "HTTP 500")), (first[1], Outcome(True))])
    assert service.claim(10) == []  # a is backing off and its expiry is blocked behind it
    clock.current += timedelta(seconds=4)  # under half the first step: never that soon
    assert service.claim(10) == []
    clock.current += timedelta(seconds=7)
    again = service.claim(10)
    assert [d.event_id for d in again] == [failed_a.event_id]
    assert again[0].body == failed_a.body and again[0].attempts == 1
    service.record([(again[0], Outcome(False, "HTTP 503", retry_after=600))])
    clock.current += timedelta(seconds=300)  # Retry-After is honoured over the shorter step
    assert service.claim(10) == []
    clock.current += timedelta(seconds=301)
    third = service.claim(10)
    service.record([(third[0], Outcome(False, "timeout"))])  # the third attempt: dead
    assert subscription.id is not None
    dead = service.deliveries(subscription.id, DeliveryState.DEAD)
    assert [(d.event_id, d.attempts, d.last_error) for d in dead] == [
        (failed_a.event_id, 3, "timeout")]
    # a dead letter no longer blocks the item's next event
    expiry = service.claim(10)
    assert [json.loads(d.body)["type"] for d in expiry] == [
        "es.notess.gateway.notification.expired"]
    service.record([(expiry[0], Outcome(True))])
    assert service.redeliver(subscription.id, "OPS") == 1
    resent = service.claim(10)
    assert [(d.event_id, d.attempts) for d in resent] == [(failed_a.event_id, 0)]


def test_a_claim_is_leased_and_sent_again_if_its_process_dies(database, service, clock,
                                                             make_notification):
    service.subscribe(Owner(entity(COMPANY)), URL)
    [item] = store(database, make_notification(COMPANY))
    audit(database, "notification.published", str(item), {})
    fan_out(service)
    [claimed] = service.claim(10)
    # the process that claimed it is killed before recording anything
    clock.current += timedelta(seconds=59)
    assert service.claim(10) == []
    clock.current += timedelta(seconds=2)
    [again] = service.claim(10)
    assert (again.id, again.event_id, again.body) == (claimed.id, claimed.event_id, claimed.body)


def test_receipts_reach_the_signer_and_readers_of_every_item(database, service,
                                                            make_notification):
    company = service.subscribe(Owner(entity(COMPANY)), URL, ["receipt.issued"])
    agent = service.subscribe(Owner(entity(AGENT)), URL,
                              ["receipt.issued", "notification.accepted"])
    ordinary, other = store(database, make_notification(COMPANY),
                            make_notification(OTHER))
    audit(database, "receipt.issued", "2026/000000001",
          {"decision": "ACCEPT", "changed": {str(ordinary): "ACCEPTED", str(other): "ACCEPTED"},
           "unchanged": {}}, actor=AGENT)
    fan_out(service)
    heard = {(d.subscription_id, json.loads(d.body)["type"]) for d in service.claim(10)}
    # the agent signed: it gets the receipt, but only item events it may read (none here);
    # the company may not read OTHER's item, so not the receipt either
    assert heard == {(agent.id, "es.notess.gateway.receipt.issued")}
    assert company.id is not None


def test_subscriptions_are_checked_owned_and_audited(database, service, make_notification):
    for url in ("http://receiver.example/hook", "https://169.254.169.254/latest",
                "https://evil.example/hook", "https://user@receiver.example/",
                "file:///etc/passwd", "https://receiver.example:99999/"):
        with pytest.raises(InvalidRequest) as refused:
            service.subscribe(Owner(entity(COMPANY)), url)
        assert refused.value.code == "CALLBACK_NOT_ALLOWED", url
    with pytest.raises(InvalidRequest) as unknown:
        service.subscribe(Owner(entity(COMPANY)), URL, ["notification.exploded"])
    assert unknown.value.code == "UNKNOWN_EVENT_TYPE"
    assert service.all_subscriptions() == []
    mine = service.subscribe(Owner(entity(COMPANY)), URL, ["notification.published"])
    assert mine.id is not None and mine.secret.startswith("whsec_")
    with pytest.raises(NotFound):
        service.unsubscribe(Owner(entity(OTHER)), mine.id, OTHER)
    [item] = store(database, make_notification(COMPANY))
    audit(database, "notification.published", str(item), {})
    fan_out(service)
    service.unsubscribe(Owner(entity(COMPANY)), mine.id, COMPANY)
    assert service.claim(10) == []  # what was owed to it is dropped
    assert [d.last_error for d in service.deliveries(mine.id)] == ["unsubscribed"]
    with SqlUnitOfWork(database.session_factory) as uow:
        kinds = [e.event_type for e in uow.audit.iter_events()]
    assert kinds.count("subscription.added") == 1 and kinds.count("subscription.removed") == 1
