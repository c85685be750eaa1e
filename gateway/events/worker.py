"""The delivery loop of ``gateway events deliver``: one process per host, or several.

Each round: fan out what the audit chain gained, claim a batch of due deliveries (under a lease,
committed before sending), send them on a small thread pool so one slow receiver does not hold
up the others, then record every outcome. A process killed at any point loses nothing: events
not yet fanned out are still after the cursor, claimed deliveries become due again when their
lease runs out and are sent again under the same id (at least once).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gateway.errors import ServiceUnavailable
from gateway.services.events import FAN_OUT_BATCH, EventsService

from .sender import WebhookSender

log = logging.getLogger("gateway.events")


@dataclass(frozen=True, slots=True)
class Round:
    fanned_out: int
    sent: int
    delivered: int


class DeliveryWorker:
    def __init__(self, service: EventsService, sender: WebhookSender, *, batch: int = 100,
                 threads: int = 8) -> None:
        self.service = service
        self.sender = sender
        self.batch = batch
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="deliver")

    def run_once(self) -> Round:
        fanned = 0
        while (read := self.service.fan_out()) > 0:
            fanned += read
            if read < FAN_OUT_BATCH:  # drained
                break
        claimed = self.service.claim(self.batch)
        outcomes = list(zip(claimed, self._pool.map(self.sender.send, claimed), strict=True))
        self.service.record(outcomes)
        delivered = sum(1 for _, outcome in outcomes if outcome.ok)
        for delivery, outcome in outcomes:
            if not outcome.ok:
                log.info("event %s to subscription %s failed (attempt %s): %s",
                         delivery.event_id, delivery.subscription_id, delivery.attempts + 1,
                         outcome.error)
        return Round(fanned, len(claimed), delivered)

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Until ``stop`` is set: rounds back to back while there is work, else a pause."""
        while not stop.is_set():
            try:
                done = self.run_once()
            except ServiceUnavailable as exc:  # the database away: log and carry on
                log.warning("event delivery round failed: %s", exc.__class__.__name__)
                stop.wait(max(interval, 1.0))
                continue
            if done.fanned_out == 0 and done.sent == 0:
                stop.wait(interval)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
