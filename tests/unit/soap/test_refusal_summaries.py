"""Refusals before authentication are counted and summarised, never written one by one."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import pytest

from gateway.errors import InvalidRequest, InvalidSecurity
from gateway.logs import LogThrottle
from gateway.soap.refusals import UnauthenticatedRefusals


def test_one_summary_per_source_per_interval_written_together() -> None:
    written: list[Sequence[tuple[str, Mapping[str, str]]]] = []
    counted: list[str] = []
    refusals = UnauthenticatedRefusals(written.append, counted.append, interval_s=3600)
    for index in range(100):
        refusals.record(InvalidRequest("x", code="NOT_SOAP_ENVELOPE"), "10.0.0.1", f"c{index}")
    refusals.record(InvalidSecurity("x", code="SIGNATURE_MISSING"), "10.0.0.1", "c100")
    refusals.record(InvalidSecurity("x", code="SIGNATURE_MISSING"), "10.0.0.2", "c101")
    assert written == []  # nothing in the request's thread
    assert len(counted) == 102

    refusals.flush()
    assert len(written) == 1
    summaries = dict(written[0])
    assert summaries["10.0.0.1"]["count"] == "101"
    assert summaries["10.0.0.1"]["codes"] == "NOT_SOAP_ENVELOPE=100,SIGNATURE_MISSING=1"
    assert summaries["10.0.0.1"]["sample_correlation_id"] == "c0"
    assert summaries["10.0.0.2"]["count"] == "1"
    refusals.flush()
    assert len(written) == 1  # an empty interval writes nothing


def test_sources_beyond_the_cap_are_summed_as_other() -> None:
    written: list[Sequence[tuple[str, Mapping[str, str]]]] = []
    refusals = UnauthenticatedRefusals(written.append, lambda code: None, interval_s=3600,
                                       max_sources=2)
    for source in ("a", "b", "c", "d"):
        refusals.record(InvalidRequest("x"), source, "c")
    refusals.flush()
    assert sorted(dict(written[0])) == ["a", "b", "other"]
    assert dict(written[0])["other"]["count"] == "2"


def test_log_throttle_one_line_per_key_and_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttle = LogThrottle(logging.getLogger("test.throttle"), interval_s=10, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="test.throttle"):
        for _ in range(50):
            throttle.log(logging.WARNING, "db", "down %s", "x")
        throttle.log(logging.WARNING, "other", "other %s", "y")
        now[0] = 10.0
        throttle.log(logging.WARNING, "db", "down %s", "x")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["down x", "other y", "down x (49 similar lines suppressed)"]
