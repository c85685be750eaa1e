"""Token buckets (``gateway.domain.rates``) and the buckets a host's workers share."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.domain.rates import Rate, retry_after_seconds, take
from gateway.store.buckets import ProcessBuckets, SharedBuckets


def test_burst_then_refusal_then_refill() -> None:
    rate = Rate(per_second=2.0, burst=3)
    state = None
    for _ in range(3):
        state, wait = take(state, rate, now=100.0)
        assert wait == 0.0
    refused, wait = take(state, rate, now=100.0)
    assert wait == pytest.approx(0.5) and retry_after_seconds(wait) == 1
    assert refused.tokens == pytest.approx(0.0)
    state, wait = take(refused, rate, now=100.5)  # one token back after 1 / rate
    assert wait == 0.0
    full, _ = take(state, rate, now=1000.0)  # never more than the burst
    assert full.tokens == pytest.approx(2.0)


@pytest.mark.parametrize(("per_second", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_rate_refuses_nonsense(per_second: float, burst: int) -> None:
    with pytest.raises(ValueError):
        Rate(per_second, burst)


def test_two_workers_share_one_bucket(tmp_path: Path) -> None:
    now = [1000.0]
    path = tmp_path / "run" / "buckets.sqlite3"
    worker_a = SharedBuckets(path, clock=lambda: now[0])
    worker_b = SharedBuckets(path, clock=lambda: now[0])
    rate = Rate(per_second=1.0, burst=2)
    assert worker_a.take("PERSON:1", rate) == 0.0
    assert worker_b.take("PERSON:1", rate) == 0.0
    assert worker_a.take("PERSON:1", rate) > 0.0  # the bucket both drew from is empty
    assert worker_b.take("PERSON:2", rate) == 0.0  # another principal's is not
    now[0] += 1.0
    assert worker_b.take("PERSON:1", rate) == 0.0


def test_process_buckets_peek_takes_nothing() -> None:
    buckets = ProcessBuckets(clock=lambda: 5.0)
    rate = Rate(per_second=1.0, burst=1)
    assert buckets.peek("10.0.0.1", rate) == 0.0
    buckets.take("10.0.0.1", rate)
    assert buckets.peek("10.0.0.1", rate) > 0.0
    assert buckets.peek("10.0.0.2", rate) == 0.0
