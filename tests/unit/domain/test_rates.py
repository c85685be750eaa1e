"""Token buckets (``gateway.domain.rates``) and the buckets a host's workers share."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.domain.principal import Principal, PrincipalKind
from gateway.domain.rates import Rate, bytes_per_hour, retry_after_seconds, take
from gateway.errors import RateLimited
from gateway.soap.limits import ContentByteLimits
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


# --- document bytes per hour ------------------------------------------------------------------


def _person(nif: str) -> Principal:
    return Principal(PrincipalKind.PERSON, nif, "Demo", "00" * 32, nif)


def test_a_byte_bucket_holds_an_hour_and_refills_evenly() -> None:
    rate = bytes_per_hour(3600)  # one byte a second, 3600 at once
    state, wait = take(None, rate, now=0.0, cost=3000)
    assert wait == 0.0 and state.tokens == pytest.approx(600)
    refused, wait = take(state, rate, now=0.0, cost=1000)  # 400 bytes short
    assert wait == pytest.approx(400.0) and retry_after_seconds(wait) == 400
    assert refused.tokens == pytest.approx(600)  # a refusal takes nothing
    later, wait = take(refused, rate, now=400.0, cost=1000)
    assert wait == 0.0 and later.tokens == pytest.approx(0.0)


def test_a_document_larger_than_the_hour_needs_a_full_bucket_and_leaves_a_debt() -> None:
    rate = bytes_per_hour(3600)
    half, _ = take(None, rate, now=0.0, cost=1800)
    _, wait = take(half, rate, now=0.0, cost=10_000)
    assert wait == pytest.approx(1800.0)  # until the bucket is full again, not forever
    debt, wait = take(half, rate, now=1800.0, cost=10_000)
    assert wait == 0.0 and debt.tokens == pytest.approx(-6400)
    _, wait = take(debt, rate, now=1800.0, cost=1)  # the sustained rate still holds
    assert wait == pytest.approx(6401.0)


@pytest.mark.parametrize("cost", [1, 5, 3600, 10**9])
def test_the_wait_is_exactly_what_makes_the_same_request_pass(cost: int) -> None:
    rate = bytes_per_hour(3600)
    drained, _ = take(None, rate, now=0.0, cost=3600)
    _, wait = take(drained, rate, now=0.0, cost=cost)
    assert wait > 0
    _, again = take(drained, rate, now=wait - 0.5, cost=cost)
    assert again > 0
    _, passes = take(drained, rate, now=wait, cost=cost)
    assert passes == 0.0


def test_workers_share_the_byte_bucket_and_refuse_with_its_retry_after(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "run" / "buckets.sqlite3"
    limits = [ContentByteLimits(7200, {"PERSON": 3600}, dict, SharedBuckets(path, lambda: now[0]))
              for _ in range(2)]
    person = _person("12345678Z")
    limits[0].charge(person, 3000)
    with pytest.raises(RateLimited) as refused:
        limits[1].charge(person, 1000)  # the other worker sees what the first spent
    assert refused.value.code == "RATE_LIMITED" and refused.value.retry_after == 400
    now[0] = 400.0
    limits[1].charge(person, 1000)


def test_an_override_replaces_the_kinds_allowance(tmp_path: Path) -> None:
    buckets = SharedBuckets(tmp_path / "b.sqlite3", lambda: 0.0)
    limits = ContentByteLimits(7200, {"PERSON": 3600}, lambda: {"12345678Z": 100}, buckets)
    assert limits.per_hour_for(_person("12345678Z")) == 100
    assert limits.per_hour_for(_person("87654321X")) == 3600
    limits.charge(_person("12345678Z"), 60)
    with pytest.raises(RateLimited):
        limits.charge(_person("12345678Z"), 50)  # the override's 100, not the kind's 3600
    limits.charge(_person("87654321X"), 60)
    limits.charge(_person("87654321X"), 50)


def test_bytes_that_may_not_be_refused_are_counted_as_a_debt(tmp_path: Path) -> None:
    limits = ContentByteLimits(3600, {}, dict, SharedBuckets(tmp_path / "b.sqlite3", lambda: 0.0))
    person = _person("12345678Z")
    limits.charge(person, 3000)
    limits.charge(person, 3000, refuse=False)  # an acceptance's own document: served
    with pytest.raises(RateLimited) as refused:
        limits.charge(person, 1)
    assert refused.value.retry_after == 2401  # the 2,400 bytes of debt, then one more
