"""The sweep: deemed rejection of overdue notifications (DESIGN.md §1, §6).

Idempotent and safe to run from cron on every host at once: each batch is its own transaction,
the store skips rows another sweeper holds, and an already-EXPIRED row is never touched again.
Each expiry is audited in the same transaction as the state change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.domain.clock import Clock

from .ports import UnitOfWork

SWEEP_ACTOR = "system:sweep"


@dataclass(frozen=True, slots=True)
class SweepResult:
    expired: int
    batches: int


@dataclass(frozen=True)
class SweepService:
    uow_factory: Callable[[], UnitOfWork]
    clock: Clock
    batch_size: int = 1000

    def sweep(self) -> SweepResult:
        # One instant for the whole run: a notification reaching its deadline during the sweep
        # is left for the next run rather than racing it.
        now = self.clock.now()
        expired = batches = 0
        while True:
            with self.uow_factory() as uow:
                done = uow.notifications.expire_overdue(now, self.batch_size)
                for notification in done:
                    uow.audit.append(
                        "notification.expired", SWEEP_ACTOR, str(notification.id),
                        {"deadline_at": notification.status_at.isoformat(),
                         "recipient": notification.recipient},
                        now,
                    )
                uow.commit()
            expired += len(done)
            if done:
                batches += 1
            if len(done) < self.batch_size:
                return SweepResult(expired=expired, batches=batches)
