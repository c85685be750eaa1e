"""Prometheus metrics of the SOAP front, in a registry built per application (not at import).

Under gunicorn with several workers ``PROMETHEUS_MULTIPROC_DIR`` is set by the master before
it forks (``gateway.serving.prepare_multiprocess_metrics``, for ``gateway serve`` and
``deploy/gunicorn.conf.py`` alike), so ``/metrics`` aggregates every worker: counters are
summed, gauges summed over the live workers (``livesum``). The names are listed in the README
("Metrics"); ``gateway.connections`` adds the connection front's gauges.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.errors import GatewayError

EventQueue = Callable[[], Mapping[str, int]]
"""Event deliveries per state plus ``BACKLOG`` (``EventsService.queue``)."""


class EventQueueCollector(Collector):
    """The event outbox's gauges, read from the database at scrape time: one value for the
    whole deployment, whichever worker answers (not a per-worker sum)."""

    def __init__(self, queue: EventQueue) -> None:
        self._queue = queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts = dict(self._queue())
        except GatewayError:  # the database away: /readyz and the error counters say so
            return
        backlog = counts.pop("BACKLOG", 0)
        deliveries = GaugeMetricFamily(
            "gateway_event_deliveries", "Event deliveries in the outbox, by state",
            labels=["state"])
        for state in ("PENDING", "DELIVERED", "DEAD"):
            deliveries.add_metric([state], counts.get(state, 0))
        yield deliveries
        yield GaugeMetricFamily(
            "gateway_event_backlog", "Audit events not yet fanned out to subscriptions",
            value=backlog)


class GatewayMetrics:
    def __init__(self, event_queue: EventQueue | None = None) -> None:
        self.event_queue = event_queue
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests_total", "SOAP requests by service, operation and outcome",
            ["service", "operation", "outcome"], registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_request_seconds", "Time to answer a SOAP request", ["service"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

        self.unauthenticated_refusals = Counter(
            "gateway_unauthenticated_refusals_total",
            "Requests refused before authentication (junk), by code", ["code"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "gateway_rate_limited_total", "Requests refused by a rate limit, by scope",
            ["scope"], registry=self.registry,
        )
        self.unavailable = Counter(
            "gateway_service_unavailable_total",
            "Requests answered SERVICE_UNAVAILABLE (database unreachable)", registry=self.registry,
        )
        self.faults = Counter(
            "gateway_faults_total", "SOAP faults answered, by stable code (gw:code)", ["code"],
            registry=self.registry,
        )
        self.database_errors = Counter(
            "gateway_database_errors_total",
            "Database failures met (a request answered SERVICE_UNAVAILABLE, an audit write or a "
            "readiness probe that failed), by failure class", ["failure_class"],
            registry=self.registry,
        )
        self.refusal_summary_sources = Gauge(
            "gateway_refusal_summary_pending_sources",
            "Sources of unauthenticated refusals counted but not yet summarised in the audit",
            registry=self.registry, multiprocess_mode="livesum",
        )
        self.refusal_summary_refusals = Gauge(
            "gateway_refusal_summary_pending_refusals",
            "Unauthenticated refusals counted but not yet summarised in the audit",
            registry=self.registry, multiprocess_mode="livesum",
        )

    def refusal_summary_pending(self, sources: int, refusals: int) -> None:
        self.refusal_summary_sources.set(sources)
        self.refusal_summary_refusals.set(refusals)

    def observe(self, service: str, operation: str, outcome: str, seconds: float) -> None:
        self.requests.labels(service or "-", operation, outcome).inc()
        self.latency.labels(service or "-").observe(seconds)

    def render(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            body = generate_latest(registry)
        else:
            body = generate_latest(self.registry)
        if self.event_queue is not None:
            outbox = CollectorRegistry()
            outbox.register(EventQueueCollector(self.event_queue))
            body += generate_latest(outbox)
        return body, CONTENT_TYPE_LATEST
