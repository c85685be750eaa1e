"""Request rates: token buckets (issue 14).

A bucket of ``burst`` tokens refills at ``per_second``; a request takes one token or is refused
with the seconds until one is back (the ``Retry-After`` of a RATE_LIMITED fault). Pure
arithmetic on a bucket's state, so the same rule serves in-process buckets and the buckets a
host's workers share (``store.buckets``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """How fast one caller may go."""

    per_second: float
    """Tokens added per second (the sustained rate)."""
    burst: int
    """Bucket size: requests that may arrive at once after a quiet period."""

    def __post_init__(self) -> None:
        if not self.per_second > 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")


@dataclass(frozen=True, slots=True)
class BucketState:
    tokens: float
    updated: float
    """Monotonic-ish seconds (a wall clock shared by the processes that share the bucket)."""


def take(state: BucketState | None, rate: Rate, now: float) -> tuple[BucketState, float]:
    """The bucket after one request at ``now`` and 0.0, or unchanged and the seconds to wait."""
    if state is None:
        tokens = float(rate.burst)
    else:
        elapsed = max(0.0, now - state.updated)
        tokens = min(float(rate.burst), state.tokens + elapsed * rate.per_second)
    if tokens >= 1.0:
        return BucketState(tokens - 1.0, now), 0.0
    return BucketState(tokens, now), (1.0 - tokens) / rate.per_second


def retry_after_seconds(wait: float) -> int:
    """``Retry-After`` is whole seconds (RFC 9110 §10.2.3); never 0 for a refusal."""
    return max(1, math.ceil(wait))
