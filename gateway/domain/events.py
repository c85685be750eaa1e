"""Events told to subscribers: what changed, derived from the audit chain (issue 17, DESIGN.md §13).

The audit chain is the transactional outbox. Every state change appends its audit event in the
same database transaction as the change (publication, acceptance and rejection in the receipt's
transaction, expiry in the sweep's, a reading in the download's, a mandate or RED change in the
registry's), so an event exists exactly when its change committed. Appends are serialised until
commit, so the chain's ``seq`` is gap-free in commit order: a reader that has seen ``seq`` N has
seen everything before it, and a cursor over ``seq`` misses nothing. Nothing extra is written on
the request path.

This module turns one audit event into the events subscribers are told about (none for the
audit events that are not state changes), and says who is the audience of each:

- an **item event** (published, accepted, rejected, expired, read, cancelled) concerns one
  notification: a subscriber hears of it only if it may read that notification (the one
  authorisation function), and an issuer only of its own items;
- a **receipt event** concerns every item of the receipt: a subscriber must be the signer or
  able to read every item (the rule that releases the receipt itself, DESIGN.md §10);
- a **representation event** (a mandate or RED assignment made or ended) concerns the two
  parties it names.

The data of an event never holds a subject, a procedure or a document: only identifiers, states
and times that anyone allowed to read the item already sees in its listing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from .audit import AuditEvent


class EventType(str, Enum):
    PUBLISHED = "notification.published"
    ACCEPTED = "notification.accepted"
    REJECTED = "notification.rejected"
    EXPIRED = "notification.expired"
    READ = "notification.read"
    CANCELLED = "notification.cancelled"
    RECEIPT_ISSUED = "receipt.issued"
    REPRESENTATION_CHANGED = "representation.changed"


ALL_EVENT_TYPES = frozenset(EventType)
CLOUD_EVENT_TYPE_PREFIX = "es.notess.gateway."
"""CloudEvents ``type`` is this prefix plus the event type (reverse-DNS, as the spec advises)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One event derived from the audit event ``seq``; ``index`` orders several from one."""

    seq: int
    index: int
    type: EventType
    at: datetime
    data: Mapping[str, object]
    item_ids: tuple[int, ...] = ()
    """The notifications it concerns (one for an item event, every item of a receipt)."""
    parties: tuple[str, ...] = ()
    """For a representation event: the identifiers it concerns."""
    actor: str = ""

    @property
    def id(self) -> str:
        """Stable across re-derivations and deliveries: receivers de-duplicate by it."""
        return f"evt_{self.seq}_{self.index}"

    @property
    def item_key(self) -> str:
        """What delivery order is kept by: one item (or the receipt, or the parties)."""
        if len(self.item_ids) == 1:
            return f"item:{self.item_ids[0]}"
        if self.item_ids:
            return f"receipt:{self.data.get('registrationNumber', self.seq)}"
        return "parties:" + ",".join(self.parties)


_ITEM_EVENTS = {
    "notification.published": EventType.PUBLISHED,
    "notification.expired": EventType.EXPIRED,
    "communication.read": EventType.READ,
    "notification.cancelled": EventType.CANCELLED,
}
_DECISIONS = {"ACCEPTED": EventType.ACCEPTED, "REJECTED": EventType.REJECTED}


def events_from_audit(audit: AuditEvent) -> list[Event]:
    """The events an audit event gives subscribers (none for refusals, reads of data, ...)."""
    details = audit.details
    kind = _ITEM_EVENTS.get(audit.event_type)
    if kind is not None:
        item = _int(audit.subject)
        if item is None:
            return []
        data: dict[str, object] = {"notificationId": item, "state": _STATE[kind]}
        return [Event(audit.seq, 0, kind, audit.at, data, (item,), actor=audit.actor)]
    if audit.event_type == "receipt.issued":
        return _receipt_events(audit)
    if audit.event_type in ("mandate.added", "mandate.revoked"):
        grantor, grantee = details.get("grantor"), details.get("grantee")
        if not isinstance(grantor, str) or not isinstance(grantee, str):
            return []
        change = "MANDATE_ADDED" if audit.event_type == "mandate.added" else "MANDATE_REVOKED"
        return [Event(audit.seq, 0, EventType.REPRESENTATION_CHANGED, audit.at,
                      {"change": change, "grantor": grantor, "grantee": grantee,
                       "reference": audit.subject}, parties=(grantor, grantee),
                      actor=audit.actor)]
    if audit.event_type in ("reception.assigned", "reception.unassigned"):
        company, agent = details.get("company"), details.get("agent")
        if not isinstance(company, str):
            return []
        change = ("RED_ASSIGNED" if audit.event_type == "reception.assigned"
                  else "RED_UNASSIGNED")
        parties = tuple(p for p in (company, agent, details.get("previous_agent"))
                        if isinstance(p, str))
        return [Event(audit.seq, 0, EventType.REPRESENTATION_CHANGED, audit.at,
                      {"change": change, "company": company, "agent": agent,
                       "ccc": audit.subject}, parties=tuple(dict.fromkeys(parties)),
                      actor=audit.actor)]
    return []


_STATE = {EventType.PUBLISHED: "AVAILABLE", EventType.EXPIRED: "EXPIRED",
          EventType.READ: "READ", EventType.CANCELLED: "CANCELLED",
          EventType.ACCEPTED: "ACCEPTED", EventType.REJECTED: "REJECTED"}


def _receipt_events(audit: AuditEvent) -> list[Event]:
    details = audit.details
    changed = details.get("changed")
    unchanged = details.get("unchanged")
    if not isinstance(changed, Mapping):
        return []
    others = unchanged if isinstance(unchanged, Mapping) else {}
    items = sorted(i for i in (_int(k) for k in changed) if i is not None)
    every = sorted(set(items) | {i for i in (_int(k) for k in others) if i is not None})
    number = audit.subject
    events = []
    for index, item in enumerate(items):
        kind = _DECISIONS.get(str(changed[str(item)]))
        if kind is None:
            continue
        events.append(Event(audit.seq, index, kind, audit.at,
                            {"notificationId": item, "state": _STATE[kind],
                             "registrationNumber": number}, (item,), actor=audit.actor))
    events.append(Event(audit.seq, len(items), EventType.RECEIPT_ISSUED, audit.at,
                        {"registrationNumber": number, "decision": details.get("decision"),
                         "notificationIds": every}, tuple(every), actor=audit.actor))
    return events


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def cloud_event(event: Event, source: str) -> bytes:
    """The CloudEvents 1.0 structured-mode JSON body of ``event`` (sent and signed as is)."""
    subject = (f"notification/{event.item_ids[0]}" if len(event.item_ids) == 1
               else f"receipt/{event.data['registrationNumber']}" if event.item_ids
               else "representation")
    body = {
        "specversion": "1.0",
        "id": event.id,
        "source": source,
        "type": CLOUD_EVENT_TYPE_PREFIX + event.type.value,
        "subject": subject,
        "time": event.at.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": dict(event.data),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Subscription:
    """Who wants which events at which callback (``SubscribeEvents``, ``gateway subscriptions``).

    The owner is a principal (recipient, agent, mandate holder: ``owner_kind`` and
    ``owner_identifier``, with ``owner_person`` for a representative) or an issuer
    (``issuer`` set). ``principals`` and ``cccs`` narrow what an agent hears about (empty: all it
    may see).
    """

    id: int | None
    owner_kind: str
    owner_identifier: str
    url: str
    event_types: frozenset[EventType]
    secret: str
    created_at: datetime
    owner_person: str | None = None
    issuer: str | None = None
    principals: frozenset[str] = field(default_factory=frozenset)
    cccs: frozenset[str] = field(default_factory=frozenset)
    removed_at: datetime | None = None
    after_seq: int = 0
    """The audit seq it was made at: only later events are delivered to it."""

    def wants(self, event: Event, recipient: str | None, ccc: str | None) -> bool:
        """Time, type and filter only; the right to see the item is decided elsewhere."""
        if event.seq <= self.after_seq or event.type not in self.event_types:
            return False
        if self.principals and recipient is not None and recipient not in self.principals:
            return False
        return not (self.cccs and event.item_ids and (ccc is None or ccc not in self.cccs))


class DeliveryState(str, Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off with full jitter, and the attempt after which a delivery is dead."""

    max_attempts: int = 12
    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(hours=1)

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """How long to wait after the ``attempts``-th failure (1-based)."""
        ceiling = min(self.cap, self.base * (2 ** max(0, attempts - 1)))
        draw = float((rng or random).uniform(0.5, 1.0))  # jitter, never below half the step
        return timedelta(seconds=ceiling.total_seconds() * draw)

    def is_dead(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


def parse_event_types(names: Sequence[str]) -> frozenset[EventType]:
    """Event type names as given by a subscriber; empty means every type. ValueError names the
    first unknown one."""
    if not names:
        return ALL_EVENT_TYPES
    chosen = set()
    for name in names:
        bare = name.strip().removeprefix(CLOUD_EVENT_TYPE_PREFIX)
        try:
            chosen.add(EventType(bare))
        except ValueError:
            raise ValueError(f"unknown event type {name!r}") from None
    return frozenset(chosen)


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    subscription_id: int
    event_id: str
    event_type: str
    body: bytes
    attempts: int
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A delivery as operators see it (``gateway subscriptions deliveries``)."""

    id: int
    subscription_id: int
    event_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    subscription_id: int
    event_id: str
    seq: int
    item_key: str
    event_type: str
    body: bytes
