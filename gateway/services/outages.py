"""Recording service outages and extending the deadlines they affected.

The law lets the administration extend deadlines that had not yet run out when a technical
incident made access impossible (Ley 39/2015 art. 32.4). The extension rule itself is in
``domain.deadlines``/``domain.outages``; this use case records the outage and recomputes, in the
same transaction, the deadline of every still-pending notification whose window it touched.
A deadline is never shortened by a recomputation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import Clock
from gateway.domain.deadlines import DeadlinePolicy, compute_deadline
from gateway.domain.outages import Outage

from .ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class OutageRecorded:
    outage: Outage
    extended: int


@dataclass(frozen=True)
class OutageService:
    uow_factory: Callable[[], UnitOfWork]
    clock: Clock
    calendar: WorkingCalendar
    policy: DeadlinePolicy

    def record(self, outage: Outage, actor: str) -> OutageRecorded:
        now = self.clock.now()
        with self.uow_factory() as uow:
            stored = uow.outages.add(replace(outage, recorded_at=now))
            outages = uow.outages.list()
            extended = 0
            for notification in uow.notifications.pending_in_window(outage.starts_at, outage.ends_at):
                if notification.deadline_at is None or notification.deadline_at <= now:
                    continue  # only deadlines not yet run out may be extended
                deadline = compute_deadline(
                    notification.made_available_at, self.calendar, self.policy, outages
                )
                if deadline.deadline_at <= notification.deadline_at:
                    continue
                assert notification.id is not None
                uow.notifications.set_deadline(
                    notification.id, deadline.deadline_at, deadline.base_deadline_at,
                    deadline.extension_days,
                )
                uow.audit.append(
                    "notification.deadline_extended", actor, str(notification.id),
                    {"outage": stored.id, "from": notification.deadline_at.isoformat(),
                     "to": deadline.deadline_at.isoformat(),
                     "extension_days": deadline.extension_days},
                    now,
                )
                extended += 1
            uow.audit.append(
                "outage.recorded", actor, str(stored.id),
                {"starts_at": outage.starts_at.isoformat(), "ends_at": outage.ends_at.isoformat(),
                 "reason": outage.reason, "extended": extended},
                now,
            )
            uow.commit()
        return OutageRecorded(outage=stored, extended=extended)

    def list(self) -> list[Outage]:
        with self.uow_factory() as uow:
            return uow.outages.list()
