"""Deployment wiring of ``gateway serve`` (issue 14, "Deployment that is tested"), on a real
two-worker server: the WSDL's public address, ``/metrics`` summed over the workers, and a log
that is JSON from the first line to the last, gunicorn's own and access lines included."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from lxml import etree

from gateway import namespaces as ns

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

REQUESTS = 60
SCRAPES = 6


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory,
           launch_gateway: Callable[..., AbstractContextManager[RunningGateway]],
           ) -> Iterator[RunningGateway]:
    with launch_gateway(tmp_path_factory.mktemp("deployment"),
                        settings_environment={"GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32"}) as gw:
        yield gw


def _wsdl_address(response: requests.Response) -> str:
    assert response.status_code == 200
    address = etree.fromstring(response.content).find(f".//{{{ns.WSDL_SOAP11}}}address")
    assert address is not None
    return str(address.get("location"))


def test_wsdl_advertises_the_forwarded_address_of_a_trusted_proxy(served: RunningGateway) -> None:
    forwarded = requests.get(served.wsdl_url, timeout=10, headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "notess.example:8443"})
    assert _wsdl_address(forwarded) == "https://notess.example:8443/NotificationService"
    direct = requests.get(served.wsdl_url, timeout=10)
    assert _wsdl_address(direct) == served.service_url


def _total(metrics_text: str, name: str) -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_sum_every_worker(served: RunningGateway) -> None:
    def requests_total() -> float:
        response = requests.get(served.base_url + "/metrics", timeout=10,
                                headers={"Connection": "close"})
        assert response.status_code == 200
        return _total(response.text, "gateway_requests_total")

    before = requests_total()
    for _ in range(REQUESTS):  # a connection each, so both workers take some
        answer = requests.post(served.service_url, data=b"<not-soap/>", timeout=10,
                               headers={"Content-Type": "text/xml", "Connection": "close"})
        assert answer.status_code >= 400
    scrapes = [requests_total() - before for _ in range(SCRAPES)]
    assert scrapes == [REQUESTS] * SCRAPES
    # ...and the requests were served by more than one worker (one file of counts per pid)
    directory = Path(served.log_path.parent) / "run" / "prometheus"
    pids = {m.group(1) for f in directory.glob("counter_*.db")
            if (m := re.match(r"counter_(\d+)\.db", f.name))}
    assert len(pids) >= 2, pids


def test_every_log_line_is_json_with_the_correlation_id(served: RunningGateway) -> None:
    request_id = uuid.uuid4().hex
    answer = requests.post(served.service_url, data=b"<not-soap/>", timeout=10,
                           headers={"Content-Type": "text/xml", "X-Request-Id": request_id})
    assert answer.headers["X-Request-Id"] == request_id
    requests.get(served.base_url + "/healthz", timeout=10)

    deadline = time.monotonic() + 10
    while request_id not in served.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # the access line is written just after the answer
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(served.log_path.read_text().splitlines(), 1):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"log line {number} is not JSON: {line!r}")
    loggers = {entry["logger"] for entry in entries}
    assert {"gunicorn.error", "gunicorn.access"} <= loggers, loggers
    assert all({"ts", "level", "logger", "message"} <= entry.keys() for entry in entries)
    access = [e for e in entries if e["logger"] == "gunicorn.access"
              and e.get("correlation_id") == request_id]
    assert access, "no access line with the request's correlation id"
    assert "POST /NotificationService" in access[0]["message"]
    assert any(e["logger"] != "gunicorn.access" and e.get("correlation_id") == request_id
               for e in entries), "no application line with the request's correlation id"
