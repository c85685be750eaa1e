"""Replay protection holds across gunicorn workers (DESIGN.md §5 step 6: the nonce store is the
shared database, never process memory).

The server runs two sync workers. A sync worker serves one connection at a time, so a
connection that has sent only half a request line keeps its worker busy. The second test uses
that to pin the original request to one worker and its replay to the other, and checks the
pinning itself (with both workers held, nothing is answered).
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import requests
from lxml import etree

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

REPLAYS = 6
ACCEPT_GRACE_S = 0.3
"""Time for an idle worker to accept a pending connection (they poll the socket every ~1 s at
most and wake on readiness at once)."""


def _assert_replay_refused(gateway: RunningGateway, data: bytes) -> None:
    response = gateway.post(data, soap_action="GetOfficialTime")
    gateway.assert_fault(response, faultcode="wsse:InvalidSecurity", code="REPLAY_DETECTED",
                         status=401)


def test_same_signed_request_twice_is_refused_on_every_new_connection(
    gateway: RunningGateway,
) -> None:
    data = etree.tostring(gateway.signed("GetOfficialTime"))
    first = gateway.post(data, soap_action="GetOfficialTime")
    assert first.status_code == 200, first.text[:2000]
    before = gateway.snapshot()

    for _ in range(REPLAYS):
        _assert_replay_refused(gateway, data)

    gateway.assert_only_refusals_audited(before, refusals=REPLAYS)


def _hold_a_worker(gateway: RunningGateway) -> socket.socket:
    """Occupy one idle sync worker with a connection that never finishes its request line."""
    address = urlsplit(gateway.base_url)
    assert address.hostname and address.port
    blocker = socket.create_connection((address.hostname, address.port), timeout=10)
    blocker.sendall(b"GET /heal")
    time.sleep(ACCEPT_GRACE_S)
    return blocker


def _no_worker_is_free(gateway: RunningGateway) -> bool:
    try:
        requests.get(gateway.base_url + "/healthz", timeout=0.5)
    except requests.Timeout:
        return True
    return False


def test_replay_is_refused_by_the_other_worker(gateway: RunningGateway) -> None:
    data = etree.tostring(gateway.signed("GetOfficialTime"))
    held_x = _hold_a_worker(gateway)  # worker X
    try:
        first = gateway.post(data, soap_action="GetOfficialTime")  # served by Y, the free one
        assert first.status_code == 200, first.text[:2000]
        held_y = _hold_a_worker(gateway)  # Y is the only idle worker: it takes this one
        try:
            assert _no_worker_is_free(gateway), "both workers should be held now"
            before = gateway.snapshot()
            held_x.close()  # frees X alone: the replay can only be served by X
            _assert_replay_refused(gateway, data)
        finally:
            held_y.close()
    finally:
        held_x.close()
    gateway.assert_only_refusals_audited(before)
