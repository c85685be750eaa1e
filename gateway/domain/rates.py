"""Request rates: token buckets (issue 14).

A bucket of ``burst`` tokens refills at ``per_second``; a request takes one token (a content
download: one per document byte, ``bytes_per_hour``) or is refused with the seconds until enough
are back (the ``Retry-After`` of a RATE_LIMITED fault). Pure
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


def take(state: BucketState | None, rate: Rate, now: float, cost: float = 1.0, *,
         force: bool = False) -> tuple[BucketState, float]:
    """The bucket after a request costing ``cost`` tokens at ``now`` and 0.0, or unchanged and
    the seconds to wait.

    A cost above the bucket's size (a document larger than an hour's allowance) needs a full
    bucket and leaves it in debt: the next requests wait until the debt is paid back, so the
    sustained rate holds whatever the sizes. ``force`` takes the cost whatever the bucket holds
    (what is counted but may not be refused), leaving a debt the same way."""
    if state is None:
        tokens = float(rate.burst)
    else:
        elapsed = max(0.0, now - state.updated)
        tokens = min(float(rate.burst), state.tokens + elapsed * rate.per_second)
    needed = min(cost, float(rate.burst))
    if force or tokens >= needed:
        return BucketState(tokens - cost, now), 0.0
    return BucketState(tokens, now), (needed - tokens) / rate.per_second


def bytes_per_hour(per_hour: int) -> Rate:
    """A document byte budget: an hour's allowance at once, refilled evenly over the hour."""
    return Rate(per_hour / 3600.0, per_hour)


def retry_after_seconds(wait: float) -> int:
    """``Retry-After`` is whole seconds (RFC 9110 §10.2.3); never 0 for a refusal."""
    return max(1, math.ceil(wait))
