"""Subscriptions, the fan-out cursor and the deliveries owed (issue 17; rules in domain.events).

Several delivery processes, on several hosts, share these tables:

- the fan-out reads the audit chain after ``event_cursor`` and advances it in the transaction
  that writes the deliveries; the cursor row is locked (``FOR UPDATE``) so two processes never
  fan out the same events (on SQLite the database's write lock does the same);
- a process *claims* due deliveries with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) and pushes
  their next attempt past a lease before it sends, in a short transaction of its own; if it dies
  while sending, the lease runs out and another process sends again (at least once; the
  receiver de-duplicates by the event id);
- a delivery is due only when no earlier delivery of the same subscription and item is still
  pending, so each subscriber sees an item's events in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, exists, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from gateway.domain.events import (
    Delivery,
    DeliveryRecord,
    DeliveryState,
    EventType,
    NewDelivery,
    Subscription,
)

from .models import AuditEventRow, EventCursorRow, EventDeliveryRow, EventSubscriptionRow

_S = cast(Table, EventSubscriptionRow.__table__)
_D = cast(Table, EventDeliveryRow.__table__)
_C = cast(Table, EventCursorRow.__table__)
_FAN_OUT = "fan-out"


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _words(values: Iterable[str]) -> str:
    return " ".join(sorted(values))


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id, owner_kind=row.owner_kind, owner_identifier=row.owner_identifier,
        url=row.url, event_types=frozenset(EventType(t) for t in row.event_types.split()),
        secret=row.secret, created_at=row.created_at, owner_person=row.owner_person,
        issuer=row.issuer, principals=frozenset(row.principals.split()),
        cccs=frozenset(row.cccs.split()), removed_at=row.removed_at, after_seq=row.after_seq)


class EventRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    # -- subscriptions -------------------------------------------------------------------------

    def add_subscription(self, subscription: Subscription) -> Subscription:
        new_id = self._session.execute(insert(_S).values(
            owner_kind=subscription.owner_kind, owner_identifier=subscription.owner_identifier,
            owner_person=subscription.owner_person, issuer=subscription.issuer,
            url=subscription.url,
            event_types=_words(t.value for t in subscription.event_types),
            principals=_words(subscription.principals), cccs=_words(subscription.cccs),
            secret=subscription.secret, created_at=subscription.created_at,
            after_seq=subscription.after_seq,
        ).returning(_S.c.id)).scalar_one()
        return replace(subscription, id=int(new_id))

    def subscription(self, subscription_id: int) -> Subscription | None:
        row = self._session.execute(select(_S).where(_S.c.id == subscription_id)).first()
        return None if row is None else _subscription(row)

    def subscriptions(self, owner_identifier: str | None = None, *,
                      active_only: bool = True) -> list[Subscription]:
        stmt = select(_S).order_by(_S.c.id)
        if owner_identifier is not None:
            stmt = stmt.where(_S.c.owner_identifier == owner_identifier)
        if active_only:
            stmt = stmt.where(_S.c.removed_at.is_(None))
        return [_subscription(r) for r in self._session.execute(stmt)]

    def start_after(self, subscription_id: int, seq: int) -> None:
        self._session.execute(update(_S).where(_S.c.id == subscription_id)
                              .values(after_seq=seq))

    def remove_subscription(self, subscription_id: int, at: datetime) -> bool:
        result = cast(CursorResult[Any], self._session.execute(
            update(_S).where(_S.c.id == subscription_id, _S.c.removed_at.is_(None))
            .values(removed_at=at)))
        if result.rowcount:
            # What was still owed to it is dropped: nobody is listening any more.
            self._session.execute(update(_D).where(
                _D.c.subscription_id == subscription_id,
                _D.c.state == DeliveryState.PENDING.value,
            ).values(state=DeliveryState.DEAD.value, last_error="unsubscribed"))
        return bool(result.rowcount)

    # -- fan-out -------------------------------------------------------------------------------

    def lock_cursor(self) -> int:
        """The last audit seq fanned out, locked until the transaction ends."""
        stmt = select(_C.c.seq).where(_C.c.name == _FAN_OUT)
        if _dialect(self._session) == "postgresql":
            stmt = stmt.with_for_update()
        else:  # take SQLite's write lock now, so two fan-outs serialise here
            self._session.execute(update(_C).where(_C.c.name == _FAN_OUT)
                                  .values(seq=_C.c.seq))
        seq = self._session.execute(stmt).scalar()
        if seq is None:
            self._session.execute(insert(_C).values(name=_FAN_OUT, seq=0))
            return 0
        return int(seq)

    def advance_cursor(self, seq: int) -> None:
        self._session.execute(update(_C).where(_C.c.name == _FAN_OUT).values(seq=seq))

    def add_deliveries(self, deliveries: Sequence[NewDelivery], at: datetime) -> None:
        if not deliveries:
            return
        self._session.execute(insert(_D), [{
            "subscription_id": d.subscription_id, "event_id": d.event_id, "seq": d.seq,
            "item_key": d.item_key, "event_type": d.event_type, "body": d.body,
            "state": DeliveryState.PENDING.value, "attempts": 0, "next_attempt_at": at,
        } for d in deliveries])

    # -- delivery ------------------------------------------------------------------------------

    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        """Up to ``limit`` due deliveries, first in order, their next attempt moved to
        ``lease_until`` (committed by the caller before sending)."""
        earlier = aliased(_D)
        blocked = exists().where(and_(
            earlier.c.subscription_id == _D.c.subscription_id,
            earlier.c.item_key == _D.c.item_key,
            earlier.c.seq < _D.c.seq,
            earlier.c.state == DeliveryState.PENDING.value,
        ))
        stmt = (select(_D.c.id, _D.c.subscription_id, _D.c.event_id, _D.c.event_type,
                       _D.c.body, _D.c.attempts, _S.c.url, _S.c.secret)
                .join(_S, _S.c.id == _D.c.subscription_id)
                .where(_D.c.state == DeliveryState.PENDING.value,
                       _D.c.next_attempt_at <= now, ~blocked)
                .order_by(_D.c.seq, _D.c.id).limit(limit))
        if _dialect(self._session) == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=_D)
        rows = self._session.execute(stmt).all()
        if rows:
            self._session.execute(update(_D).where(_D.c.id.in_([r.id for r in rows]))
                                  .values(next_attempt_at=lease_until))
        return [Delivery(r.id, r.subscription_id, r.event_id, r.event_type, r.body,
                         r.attempts, r.url, r.secret) for r in rows]

    def delivered(self, delivery_ids: Sequence[int], at: datetime) -> None:
        """Mark deliveries done, in one statement per thousand (a round records hundreds)."""
        for start in range(0, len(delivery_ids), 1000):
            self._session.execute(update(_D).where(
                _D.c.id.in_(list(delivery_ids[start:start + 1000]))).values(
                state=DeliveryState.DELIVERED.value, delivered_at=at,
                attempts=_D.c.attempts + 1, last_error=None))

    def failed(self, delivery_id: int, attempts: int, error: str, *, dead: bool,
               next_attempt_at: datetime) -> None:
        self._session.execute(update(_D).where(_D.c.id == delivery_id).values(
            state=(DeliveryState.DEAD if dead else DeliveryState.PENDING).value,
            attempts=attempts, last_error=error[:500], next_attempt_at=next_attempt_at))

    def redeliver(self, subscription_id: int, at: datetime, *,
                  event_ids: Sequence[str] = (), dead_only: bool = True) -> int:
        """Send again: dead deliveries (or the named events) become pending, attempts reset."""
        stmt = update(_D).where(_D.c.subscription_id == subscription_id)
        if event_ids:
            stmt = stmt.where(_D.c.event_id.in_(list(event_ids)))
        elif dead_only:
            stmt = stmt.where(_D.c.state == DeliveryState.DEAD.value)
        result = cast(CursorResult[Any], self._session.execute(stmt.values(
            state=DeliveryState.PENDING.value, attempts=0, next_attempt_at=at,
            delivered_at=None)))
        return int(result.rowcount)

    def deliveries(self, subscription_id: int, state: DeliveryState | None = None,
                   limit: int = 1000) -> list[DeliveryRecord]:
        stmt = (select(_D).where(_D.c.subscription_id == subscription_id)
                .order_by(_D.c.seq, _D.c.id).limit(limit))
        if state is not None:
            stmt = stmt.where(_D.c.state == state.value)
        return [DeliveryRecord(r.id, r.subscription_id, r.event_id, r.event_type,
                               DeliveryState(r.state), r.attempts, r.next_attempt_at,
                               r.delivered_at, r.last_error)
                for r in self._session.execute(stmt)]

    def counts(self) -> dict[str, int]:
        """Deliveries per state (the outbox gauges of ``/metrics``)."""
        rows = self._session.execute(select(_D.c.state, func.count()).group_by(_D.c.state))
        return {state: int(n) for state, n in rows}

    def backlog(self) -> int:
        """Audit events not yet fanned out."""
        audit = cast(Table, AuditEventRow.__table__)
        cursor = select(_C.c.seq).where(_C.c.name == _FAN_OUT).scalar_subquery()
        return int(self._session.execute(
            select(func.count()).select_from(audit).where(audit.c.seq > func.coalesce(cursor, 0))
        ).scalar_one())
