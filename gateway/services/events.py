"""Subscriptions, fan-out and delivery bookkeeping for events (issue 17; DESIGN.md §13).

- ``subscribe``/``subscriptions``/``unsubscribe``: a principal (recipient, RED agent, mandate
  holder) or an issuer names a callback, the event types and, for agents, a principal/CCC
  filter. The callback must pass the operator's allow-list (``CALLBACK_NOT_ALLOWED``). The
  secret that signs deliveries is made here and shown once. Every change is audited.
- ``fan_out`` reads the audit chain (the outbox, ``domain.events``) after the cursor and writes
  one delivery per event and subscription that may hear of it: the one authorisation function
  must let the subscriber read every item the event concerns, both at the event's time and now
  (a revoked mandate or an unassigned CCC stops deliveries at once; special-category items
  never reach a right without the flag); an issuer hears only of its own items.
- ``claim``/``record``: the delivery process's side (``gateway.events``): claim due deliveries
  under a lease, then record each outcome with back-off, jitter and dead-lettering.

Nothing here runs on the SOAP request path.
"""

from __future__ import annotations

import secrets
from base64 import b64encode
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gateway.domain.audit import AuditEvent
from gateway.domain.authorization import Action, decide
from gateway.domain.callbacks import CallbackPolicy, CallbackRefused
from gateway.domain.clock import Clock
from gateway.domain.events import (
    Delivery,
    DeliveryRecord,
    DeliveryState,
    Event,
    EventType,
    NewDelivery,
    RetryPolicy,
    Subscription,
    cloud_event,
    events_from_audit,
    parse_event_types,
)
from gateway.domain.model import Issuer, Notification
from gateway.domain.principal import Principal, PrincipalKind
from gateway.domain.rights import RepresentationFacts
from gateway.errors import InvalidRequest, NotFound

from .ports import UnitOfWork

MAX_SUBSCRIPTIONS_PER_OWNER = 20
MAX_FILTER_ENTRIES = 1000
FAN_OUT_BATCH = 1000
"""Audit events one fan-out transaction reads."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt to send a delivery came to (``gateway.events.sender``)."""

    ok: bool
    error: str = ""
    retry_after: float | None = None
    """Seconds the receiver asked to wait (``Retry-After`` on 429/503)."""


@dataclass(frozen=True, slots=True)
class Owner:
    """Who owns a subscription: a principal, or an issuer (``principal`` then its seal)."""

    principal: Principal
    issuer: Issuer | None = None

    @property
    def identifier(self) -> str:
        return f"issuer:{self.issuer.value}" if self.issuer else self.principal.acts_for


class EventsService:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock,
                 callbacks: CallbackPolicy, source: str,
                 retry: RetryPolicy | None = None,
                 lease: timedelta = timedelta(seconds=60)) -> None:
        self.uow_factory = uow_factory
        self.clock = clock
        self.callbacks = callbacks
        self.source = source
        self.retry = retry or RetryPolicy()
        self.lease = lease

    # -- subscriptions -------------------------------------------------------------------------

    def subscribe(self, owner: Owner, url: str, event_types: Sequence[str] = (),
                  principals: Sequence[str] = (), cccs: Sequence[str] = ()) -> Subscription:
        try:
            self.callbacks.check(url)
        except CallbackRefused as exc:
            raise InvalidRequest(str(exc), code="CALLBACK_NOT_ALLOWED", field="url") from None
        try:
            types = parse_event_types(event_types)
        except ValueError as exc:
            raise InvalidRequest(str(exc), code="UNKNOWN_EVENT_TYPE",
                                 field="eventType") from None
        if owner.issuer is not None:
            types = types - {EventType.REPRESENTATION_CHANGED}
            if principals or cccs:
                raise InvalidRequest("an issuer's subscription takes no principal or CCC filter",
                                     field="principal")
        if len(principals) > MAX_FILTER_ENTRIES or len(cccs) > MAX_FILTER_ENTRIES:
            raise InvalidRequest(f"at most {MAX_FILTER_ENTRIES} principals and CCCs per filter",
                                 code="FILTER_TOO_LARGE", field="principal")
        now = self.clock.now()
        principal = owner.principal
        subscription = Subscription(
            id=None, owner_kind="ISSUER" if owner.issuer else principal.kind.value,
            owner_identifier=owner.identifier, url=url, event_types=types,
            secret="whsec_" + b64encode(secrets.token_bytes(32)).decode(), created_at=now,
            owner_person=None if owner.issuer else principal.person_identifier,
            issuer=owner.issuer.value if owner.issuer else None,
            principals=frozenset(p.strip().upper() for p in principals if p.strip()),
            cccs=frozenset(c.strip() for c in cccs if c.strip()))
        with self.uow_factory() as uow:
            if len(uow.events.subscriptions(owner.identifier)) >= MAX_SUBSCRIPTIONS_PER_OWNER:
                raise InvalidRequest(
                    f"at most {MAX_SUBSCRIPTIONS_PER_OWNER} subscriptions per subscriber",
                    code="TOO_MANY_SUBSCRIPTIONS", field="url")
            stored = uow.events.add_subscription(subscription)
            added = uow.audit.append("subscription.added", principal.acts_for, f"subscription:{stored.id}",
                             {"owner": owner.identifier, "url": url,
                              "types": sorted(t.value for t in types),
                              "principals": sorted(stored.principals),
                              "cccs": sorted(stored.cccs)}, now)
            # It hears of what happens from now on, never of the history before it.
            assert stored.id is not None
            uow.events.start_after(stored.id, added.seq)
            uow.commit()
        return replace(stored, after_seq=added.seq)

    def subscriptions(self, owner: Owner) -> list[Subscription]:
        with self.uow_factory() as uow:
            return uow.events.subscriptions(owner.identifier)

    def unsubscribe(self, owner: Owner | None, subscription_id: int, actor: str) -> None:
        """Remove a subscription; ``owner`` None is an operator (any subscription)."""
        now = self.clock.now()
        with self.uow_factory() as uow:
            found = uow.events.subscription(subscription_id)
            if (found is None or found.removed_at is not None
                    or (owner is not None and found.owner_identifier != owner.identifier)):
                raise NotFound(f"subscription {subscription_id} not found",
                               code="SUBSCRIPTION_NOT_FOUND")
            uow.events.remove_subscription(subscription_id, now)
            uow.audit.append("subscription.removed", actor, f"subscription:{subscription_id}",
                             {"owner": found.owner_identifier}, now)
            uow.commit()

    def all_subscriptions(self, *, active_only: bool = True) -> list[Subscription]:
        with self.uow_factory() as uow:
            return uow.events.subscriptions(active_only=active_only)

    def redeliver(self, subscription_id: int, actor: str, event_ids: Sequence[str] = ()) -> int:
        now = self.clock.now()
        with self.uow_factory() as uow:
            if uow.events.subscription(subscription_id) is None:
                raise NotFound(f"subscription {subscription_id} not found",
                               code="SUBSCRIPTION_NOT_FOUND")
            count = uow.events.redeliver(subscription_id, now, event_ids=event_ids)
            uow.audit.append("subscription.redelivered", actor, f"subscription:{subscription_id}",
                             {"deliveries": count, "events": list(event_ids)}, now)
            uow.commit()
        return count

    def deliveries(self, subscription_id: int,
                   state: DeliveryState | None = None) -> list[DeliveryRecord]:
        with self.uow_factory() as uow:
            return uow.events.deliveries(subscription_id, state)

    def queue(self) -> dict[str, int]:
        """Deliveries per state and the audit events not yet fanned out (metrics, status)."""
        with self.uow_factory() as uow:
            counts = uow.events.counts()
            counts["BACKLOG"] = uow.events.backlog()
            return counts

    # -- fan-out -------------------------------------------------------------------------------

    def fan_out(self, limit: int = FAN_OUT_BATCH) -> int:
        """Turn up to ``limit`` audit events after the cursor into deliveries; how many were
        read (0: the outbox is drained)."""
        now = self.clock.now()
        with self.uow_factory() as uow:
            cursor = uow.events.lock_cursor()
            audits: list[AuditEvent] = []
            for audit in uow.audit.iter_events(after_seq=cursor, batch_size=limit):
                audits.append(audit)
                if len(audits) >= limit:
                    break
            if not audits:
                return 0
            subscriptions = uow.events.subscriptions()
            events = [e for a in audits for e in events_from_audit(a)]
            deliveries: list[NewDelivery] = []
            if subscriptions and events:
                deliveries = _Audience(uow, subscriptions, now).deliveries(events, self.source)
            uow.events.add_deliveries(deliveries, now)
            uow.events.advance_cursor(audits[-1].seq)
            uow.commit()
        return len(audits)

    # -- delivery ------------------------------------------------------------------------------

    def claim(self, limit: int = 100) -> list[Delivery]:
        now = self.clock.now()
        with self.uow_factory() as uow:
            claimed = uow.events.claim_due(now, now + self.lease, limit)
            uow.commit()
        return claimed

    def record(self, outcomes: Sequence[tuple[Delivery, Outcome]]) -> None:
        if not outcomes:
            return
        now = self.clock.now()
        with self.uow_factory() as uow:
            uow.events.delivered([d.id for d, outcome in outcomes if outcome.ok], now)
            for delivery, outcome in outcomes:
                if outcome.ok:
                    continue
                attempts = delivery.attempts + 1
                delay = self.retry.delay(attempts)
                if outcome.retry_after is not None:
                    delay = max(delay, timedelta(seconds=min(outcome.retry_after, 3600)))
                uow.events.failed(delivery.id, attempts, outcome.error,
                                  dead=self.retry.is_dead(attempts),
                                  next_attempt_at=now + delay)
            uow.commit()


class _Audience:
    """Who may hear of each event, for one fan-out batch (facts read once per subscriber)."""

    def __init__(self, uow: UnitOfWork, subscriptions: Sequence[Subscription],
                 now: datetime) -> None:
        self._uow = uow
        self._subscriptions = subscriptions
        self._now = now
        self._facts: dict[int, RepresentationFacts] = {}
        self._items: dict[int, Notification] = {}

    def deliveries(self, events: Sequence[Event], source: str) -> list[NewDelivery]:
        ids = {i for e in events for i in e.item_ids}
        if ids:
            self._items = self._uow.notifications.get_many(ids, documents=False)
        out: list[NewDelivery] = []
        for event in events:
            body: bytes | None = None
            for subscription in self._subscriptions:
                if not self._hears(subscription, event):
                    continue
                body = body or cloud_event(self._described(event), source)
                assert subscription.id is not None
                out.append(NewDelivery(subscription.id, event.id, event.seq * 10_000 + event.index,
                                       event.item_key, event.type.value, body))
        return out

    def _described(self, event: Event) -> Event:
        """An item event names the item's recipient and kind (what its listing shows to
        anyone who may hear of it), so a receiver knows whom to act for."""
        if len(event.item_ids) != 1 or event.type is EventType.RECEIPT_ISSUED:
            return event
        item = self._items[event.item_ids[0]]
        return replace(event, data={**event.data, "recipient": item.recipient,
                                    "kind": item.kind.value})

    def _hears(self, subscription: Subscription, event: Event) -> bool:
        items = [self._items.get(i) for i in event.item_ids]
        if any(n is None for n in items):
            return False  # an item that no longer exists is seen by nobody
        notifications = [n for n in items if n is not None]
        single = notifications[0] if len(notifications) == 1 else None
        if not subscription.wants(event, single.recipient if single else None,
                                  single.ccc if single else None):
            return False
        if subscription.issuer is not None:
            return bool(notifications) and all(n.issuer.value == subscription.issuer
                                               for n in notifications)
        principal = _principal(subscription)
        if not notifications:  # a representation event: its parties only
            return principal.acts_for in event.parties
        if event.type is EventType.RECEIPT_ISSUED and event.actor == principal.acts_for:
            return True  # the signer receives its receipt (DESIGN.md §10)
        facts = self._facts_of(subscription, principal)
        return all(decide(principal, Action.READ, n, facts, event.at)
                   and decide(principal, Action.READ, n, facts, self._now)
                   for n in notifications)

    def _facts_of(self, subscription: Subscription, principal: Principal) -> RepresentationFacts:
        assert subscription.id is not None
        facts = self._facts.get(subscription.id)
        if facts is None:
            facts = self._uow.representation.facts_for(principal, self._now)
            self._facts[subscription.id] = facts
        return facts


def _principal(subscription: Subscription) -> Principal:
    return Principal(PrincipalKind(subscription.owner_kind), subscription.owner_identifier,
                     name="", certificate_fingerprint="",
                     person_identifier=subscription.owner_person)

