"""domain.audit: the hash covers every field, and verify_chain names the first broken link."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.domain.audit import GENESIS_HASH, AuditEvent, canonical_json, event_hash, verify_chain

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def chain(length: int) -> list[AuditEvent]:
    events, prev = [], GENESIS_HASH
    for seq in range(1, length + 1):
        draft = AuditEvent(
            seq, T0 + timedelta(seconds=seq), "t", "actor", f"s{seq}", {"n": seq}, prev
        )
        event = replace(draft, hash=event_hash(prev, draft))
        events.append(event)
        prev = event.hash
    return events


def test_a_valid_chain_verifies():
    assert verify_chain(chain(5)) is None
    assert verify_chain([]) is None


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 99},
        {"at": T0},
        {"event_type": "other"},
        {"actor": "other"},
        {"subject": "other"},
        {"details": {"n": -1}},
    ],
    ids=lambda c: next(iter(c)),
)
def test_changing_any_field_breaks_the_chain_at_that_event(change):
    events = chain(5)
    events[2] = replace(events[2], **change)
    assert verify_chain(events) == 2


def test_deleting_or_reordering_breaks_the_chain():
    events = chain(5)
    assert verify_chain(events[:2] + events[3:]) == 2
    assert verify_chain([events[0], events[2], events[1], events[3], events[4]]) == 1
    assert verify_chain(events[1:]) == 0
    assert verify_chain(events[1:], start_hash=events[0].hash) is None


def test_the_same_instant_in_another_zone_hashes_the_same():
    utc = chain(1)[0]
    madrid = replace(utc, at=utc.at.astimezone(ZoneInfo("Europe/Madrid")))
    assert event_hash(GENESIS_HASH, madrid) == utc.hash


def test_canonical_json_is_stable_and_refuses_unknown_types():
    assert canonical_json({"b": 1, "a": "ñ"}) == '{"a":"ñ","b":1}'
    with pytest.raises(TypeError):
        canonical_json({"x": object()})
    with pytest.raises(ValueError):
        AuditEvent(1, datetime(2026, 1, 1), "t", "a", "s")
