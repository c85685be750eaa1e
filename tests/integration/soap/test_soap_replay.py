"""Replay protection holds across gunicorn workers (DESIGN.md §5 step 6: the nonce store is the
shared database, never process memory).

The server runs two gthread workers that keep connections alive. The second test opens
connections until it holds one to each worker -- which worker owns a connection is read from
/proc (the server-side socket of the connection among the worker's file descriptors) -- and
sends the original request on one and its replay on the other.
"""

from __future__ import annotations

import http.client
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from lxml import etree

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

REPLAYS = 6
SERVICE_PATH = "/NotificationService"


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
class _Answer:
    """The parts of a ``requests.Response`` that ``RunningGateway.assert_fault`` reads."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status_code = response.status
        self.headers = dict(response.getheaders())
        self.content = response.read()
        self.text = self.content.decode("utf-8", errors="replace")


def _workers(gateway: RunningGateway) -> list[int]:
    """The gunicorn worker processes of ``gateway`` (children of the master bound to its port)."""
    bind = gateway.base_url.removeprefix("http://").encode()
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and bind in (entry / "cmdline").read_bytes():
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    return [pid for pid, parent in parents.items() if parent in parents]


def _worker_of(connection: http.client.HTTPConnection, server_port: int,
               workers: list[int]) -> int | None:
    """The worker holding the server side of ``connection`` (None if it is not found)."""
    client_port = connection.sock.getsockname()[1]
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if local == server_port and remote == client_port:
            inodes.add(f"socket:[{fields[9]}]")
    for pid in workers:
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(descriptor) in inodes:
                    return pid
            except OSError:
                continue
    return None


def _connections_to_both_workers(
    gateway: RunningGateway,
) -> tuple[http.client.HTTPConnection, http.client.HTTPConnection]:
    address = urlsplit(gateway.base_url)
    assert address.hostname and address.port
    workers = _workers(gateway)
    assert len(workers) == 2, workers
    owned: dict[int, http.client.HTTPConnection] = {}
    # Under load one worker may accept most connections for a while: try long enough.
    for _ in range(150):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        connection.request("GET", "/healthz")  # kept alive afterwards
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        worker = _worker_of(connection, address.port, workers)
        if worker is not None and worker not in owned:
            owned[worker] = connection
            if len(owned) == 2:
                first, second = owned.values()
                return first, second
        else:
            connection.close()
    raise AssertionError("could not reach both workers")


def _post(connection: http.client.HTTPConnection, data: bytes) -> _Answer:
    connection.request("POST", SERVICE_PATH, body=data, headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"GetOfficialTime"'})
    return _Answer(connection.getresponse())


def test_replay_is_refused_by_the_other_worker(gateway: RunningGateway) -> None:
    data = etree.tostring(gateway.signed("GetOfficialTime"))
    on_x, on_y = _connections_to_both_workers(gateway)
    try:
        first = _post(on_x, data)
        assert first.status_code == 200, first.text[:2000]
        before = gateway.snapshot()
        replay = _post(on_y, data)
        gateway.assert_fault(replay, faultcode="wsse:InvalidSecurity",  # type: ignore[arg-type]
                             code="REPLAY_DETECTED", status=401)
    finally:
        on_x.close()
        on_y.close()
    gateway.assert_only_refusals_audited(before)
