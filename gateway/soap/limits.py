"""Rate limits at the front (issue 14): per source address before the gate, per principal after.

- **Per source address, before the gate.** Only unauthenticated refusals (junk: unsigned,
  malformed, untrusted) take tokens from the source's bucket; once it is empty every request from
  that address is refused at once (429, an unsigned fault: a refusal must cost less than the
  request) until it refills. A source whose requests authenticate never drains it, so good
  clients behind the same NAT suffer only while junk comes from that address. In-process buckets
  (per worker): a source gets at most workers x the rate.
- **Per principal, right after the signature is verified** and before the replay nonce, the
  SOAPAction check and any service work: the principal's bucket in the host's shared file
  (``store.buckets.SharedBuckets``). The rate is the principal's override (``gateway limits
  set``, re-read every few seconds) or its kind's (``GATEWAY_RATE_LIMIT_<KIND>=rate/burst``) or
  the default (``GATEWAY_RATE_PER_SECOND``/``GATEWAY_RATE_BURST``).
- **Document bytes per hour, per principal**, charged by the content service once it knows what
  it would release (GetContent, GetContents, streamed downloads, WSCN verNotificacionAceptada)
  and before it reads a byte of it: ``ContentByteLimits``, a byte bucket in the same shared
  file (an hour's allowance at once, refilled evenly). Its allowance is the principal's override
  (``gateway limits set --bytes-per-hour``), its kind's
  (``GATEWAY_CONTENT_BYTES_PER_HOUR_<KIND>``) or the default
  (``GATEWAY_CONTENT_BYTES_PER_HOUR``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from gateway.domain.principal import Principal
from gateway.domain.rates import Rate, bytes_per_hour, retry_after_seconds
from gateway.errors import GatewayError, RateLimited
from gateway.logs import LogThrottle
from gateway.services.notifications import ByteCharger
from gateway.store.buckets import ProcessBuckets, SharedBuckets

log = logging.getLogger("gateway.limits")
_throttled = LogThrottle(log)

OVERRIDES_REFRESH_S = 10.0
"""How long a ``gateway limits set`` takes at most to reach every worker."""


class SourceLimits:
    def __init__(self, rate: Rate, buckets: ProcessBuckets | None = None) -> None:
        self.rate = rate
        self._buckets = buckets or ProcessBuckets()

    def check(self, source: str) -> None:
        """Refuse a source whose junk drained its bucket."""
        wait = self._buckets.peek(source, self.rate)
        if wait > 0:
            raise RateLimited("too many refused requests from this address; retry later",
                              retry_after=retry_after_seconds(wait), code="RATE_LIMITED")

    def charge(self, source: str) -> None:
        """One unauthenticated refusal for ``source``."""
        self._buckets.take(source, self.rate)


V = TypeVar("V")


class CachedOverrides(Generic[V]):
    """Per-principal overrides read from the database at most every ``OVERRIDES_REFRESH_S``
    (one thread refreshes, the others go on with the last read; an outage keeps it)."""

    def __init__(self, source: Callable[[], Mapping[str, V]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._clock = clock
        self._lock = threading.Lock()
        self._values: Mapping[str, V] = {}
        self._refresh_at = float("-inf")

    def get(self, principal: str) -> V | None:
        return self.current().get(principal)

    def current(self) -> Mapping[str, V]:
        now = self._clock()
        with self._lock:
            if now < self._refresh_at:
                return self._values
            self._refresh_at = now + OVERRIDES_REFRESH_S
        try:
            fresh = self._source()
        except GatewayError as exc:  # database unavailable: keep the last known overrides
            _throttled.log(logging.WARNING, "overrides", "rate-limit overrides not refreshed: %s",
                           exc.code)
            return self._values
        self._values = fresh
        return fresh


def bucket_key(principal: Principal) -> str:
    return f"{principal.kind.value}:{principal.identifier}:{principal.person_identifier or '-'}"


class ContentByteLimits:
    """Document bytes per hour for one principal, shared by the host's workers."""

    def __init__(self, default_per_hour: int, per_kind: Mapping[str, int],
                 overrides: Callable[[], Mapping[str, int]], buckets: SharedBuckets,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._default = default_per_hour
        self._per_kind = dict(per_kind)
        self._overrides = CachedOverrides(overrides, clock)
        self._buckets = buckets

    def per_hour_for(self, principal: Principal) -> int:
        override = self._overrides.get(principal.identifier)
        return override or self._per_kind.get(principal.kind.value, self._default)

    def charger(self, principal: Principal) -> ByteCharger:
        """``charge`` with the principal's allowance found now: call it before a database
        transaction (the overrides may be read), the charger inside (it touches only the
        host's bucket file)."""
        per_hour = self.per_hour_for(principal)

        def charge(size: int, *, refuse: bool = True) -> None:
            self._charge(principal, per_hour, size, refuse)
        return charge

    def charge(self, principal: Principal, size: int, *, refuse: bool = True) -> None:
        """Take ``size`` bytes from the principal's allowance or raise RATE_LIMITED (nothing
        taken), with the seconds until they are back. ``refuse=False`` counts them whatever
        the allowance holds (a document that comes with an act already done: WSCN's
        acceptance answer)."""
        self._charge(principal, self.per_hour_for(principal), size, refuse)

    def _charge(self, principal: Principal, per_hour: int, size: int, refuse: bool) -> None:
        if size <= 0:
            return
        wait = self._buckets.take("bytes:" + bucket_key(principal), bytes_per_hour(per_hour),
                                  float(size), force=not refuse)
        if wait > 0:
            _throttled.log(logging.INFO, f"bytes:{principal.acts_for}",
                           "document bytes refused to %s: %d B/h spent", principal.acts_for,
                           per_hour)
            raise RateLimited(f"document bytes per hour exceeded ({per_hour} bytes an hour); "
                              "retry later", retry_after=retry_after_seconds(wait),
                              code="RATE_LIMITED")


class PrincipalLimits:
    def __init__(self, default: Rate, per_kind: Mapping[str, Rate],
                 overrides: Callable[[], Mapping[str, Rate]], buckets: SharedBuckets,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._default = default
        self._per_kind = dict(per_kind)
        self._overrides = CachedOverrides(overrides, clock)
        self._buckets = buckets

    def rate_for(self, principal: Principal) -> Rate:
        override = self._overrides.get(principal.identifier)
        return override or self._per_kind.get(principal.kind.value, self._default)

    def check(self, principal: Principal) -> None:
        """Take one token for ``principal`` or raise RATE_LIMITED."""
        wait = self._buckets.take(bucket_key(principal), self.rate_for(principal))
        if wait > 0:
            raise RateLimited("request rate limit exceeded; retry later",
                              retry_after=retry_after_seconds(wait), code="RATE_LIMITED")
