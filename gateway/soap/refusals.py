"""Refusals of requests that never authenticated: counted and sampled, not chained one by one.

An authenticated refusal (replay, SOAPAction mismatch, rate limit of a known principal) is
evidence about someone and stays one ``security.refused`` event in the audit chain, as before.
Junk -- unsigned, malformed, untrusted, wrong path -- says nothing about anyone and can arrive at
any rate; one chain append each (under the chain's global lock) let a flood slow every good
client and grow the log without bound (issue 14). So here:

- every one is counted (``gateway_unauthenticated_refusals_total{code}``), and what waits for
  the next summary is a gauge (``gateway_refusal_summary_pending_sources`` / ``_refusals``);
- a log line per source and interval (``LogThrottle``), with a sample correlation id;
- one aggregated ``security.refused.unauthenticated`` audit event per source and interval,
  written by a background thread, never in the request's thread: the chain's lock is not taken
  for a request that failed before authentication. At most ``max_sources`` sources are kept per
  interval; the rest are summed under ``other``.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.errors import GatewayError
from gateway.logs import LogThrottle

log = logging.getLogger("gateway.refusals")

SummaryWriter = Callable[[Sequence[tuple[str, Mapping[str, str]]]], None]
"""Appends one aggregated audit event per (source address, details), in one transaction."""


@dataclass
class _SourceTally:
    codes: Counter[str] = field(default_factory=Counter)
    sample_correlation_id: str = ""


class UnauthenticatedRefusals:
    def __init__(self, write_summary: SummaryWriter, count: Callable[[str], None],
                 interval_s: float = 60.0, max_sources: int = 1000,
                 pending: Callable[[int, int], None] | None = None) -> None:
        self._write_summary = write_summary
        self._count = count
        self._pending = pending or (lambda sources, refusals: None)
        self._refusals = 0
        self._interval_s = interval_s
        self._max_sources = max_sources
        self._lock = threading.Lock()
        self._tallies: dict[str, _SourceTally] = {}
        self._since = time.time()
        self._log = LogThrottle(log, interval_s)
        self._flusher: threading.Thread | None = None

    def record(self, error: GatewayError, source: str, correlation_id: str) -> None:
        self._count(error.code)
        self._log.log(logging.INFO, source, "unauthenticated request refused: %s from %s, "
                      "correlation_id=%s", error.code, source, correlation_id)
        with self._lock:
            key = source if (source in self._tallies
                             or len(self._tallies) < self._max_sources) else "other"
            tally = self._tallies.setdefault(key, _SourceTally())
            tally.codes[error.code] += 1
            tally.sample_correlation_id = tally.sample_correlation_id or correlation_id
            self._refusals += 1
            self._pending(len(self._tallies), self._refusals)
            if self._flusher is None:  # started lazily: the worker process, after the fork
                self._flusher = threading.Thread(target=self._run, name="refusal-summaries",
                                                 daemon=True)
                self._flusher.start()
                atexit.register(self.flush)  # a worker stopping writes its last interval

    def flush(self) -> None:
        """Write one summary per source for the interval that just ended."""
        with self._lock:
            tallies, self._tallies = self._tallies, {}
            since, self._since = self._since, time.time()
            self._refusals = 0
            self._pending(0, 0)
        if not tallies:
            return
        until = self._since
        summaries = [(source, {
            "count": str(sum(tally.codes.values())),
            "codes": ",".join(f"{code}={n}" for code, n in sorted(tally.codes.items())),
            "remote": source, "since": f"{since:.0f}", "until": f"{until:.0f}",
            "sample_correlation_id": tally.sample_correlation_id,
        }) for source, tally in tallies.items()]
        try:
            self._write_summary(summaries)
        except Exception:  # noqa: BLE001  # the counts are still in the metrics
            self._log.log(logging.WARNING, "summary-write",
                          "could not audit refused unauthenticated requests of %d source(s)",
                          len(summaries))

    def _run(self) -> None:
        while True:
            time.sleep(self._interval_s)
            self.flush()
