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
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from gateway.domain.principal import Principal
from gateway.domain.rates import Rate, retry_after_seconds
from gateway.errors import GatewayError, RateLimited
from gateway.logs import LogThrottle
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


class PrincipalLimits:
    def __init__(self, default: Rate, per_kind: Mapping[str, Rate],
                 overrides: Callable[[], Mapping[str, Rate]], buckets: SharedBuckets,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._default = default
        self._per_kind = dict(per_kind)
        self._overrides_source = overrides
        self._buckets = buckets
        self._clock = clock
        self._lock = threading.Lock()
        self._overrides: Mapping[str, Rate] = {}
        self._refresh_at = float("-inf")

    def rate_for(self, principal: Principal) -> Rate:
        override = self._current_overrides().get(principal.identifier)
        return override or self._per_kind.get(principal.kind.value, self._default)

    def check(self, principal: Principal) -> None:
        """Take one token for ``principal`` or raise RATE_LIMITED."""
        key = f"{principal.kind.value}:{principal.identifier}:{principal.person_identifier or '-'}"
        wait = self._buckets.take(key, self.rate_for(principal))
        if wait > 0:
            raise RateLimited("request rate limit exceeded; retry later",
                              retry_after=retry_after_seconds(wait), code="RATE_LIMITED")

    def _current_overrides(self) -> Mapping[str, Rate]:
        now = self._clock()
        with self._lock:
            if now < self._refresh_at:
                return self._overrides
            self._refresh_at = now + OVERRIDES_REFRESH_S  # one thread refreshes, others go on
        try:
            fresh = self._overrides_source()
        except GatewayError as exc:  # database unavailable: keep the last known overrides
            _throttled.log(logging.WARNING, "overrides", "rate-limit overrides not refreshed: %s",
                           exc.code)
            return self._overrides
        self._overrides = fresh
        return fresh
