"""Issue 14: ``/metrics`` of a real ``gateway serve`` (two workers, summed) shows what an operator
watches, each provoked here and then scraped: requests, faults by stable code (from the gate and
from a service), rate-limit refusals, refusals waiting for their audit summary, the connection
front's open and waiting connections, and -- with the database (a throw-away cluster) stopped --
database errors by failure class. Every request goes on a connection of its own, so both workers
take some; the counts are exact because all workers' counts are summed."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

SETTINGS = {"GATEWAY_RATE_LIMIT_PERSON": "2/4"}  # the person floods; the company is not limited
JUNK = 7
IDLE = 6


class Scrape:
    def __init__(self, gateway: RunningGateway) -> None:
        answer = requests.get(gateway.base_url + "/metrics", timeout=10,
                              headers={"Connection": "close"})
        assert answer.status_code == 200
        self.samples = [sample for family in text_string_to_metric_families(answer.text)
                        for sample in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of ``name`` over the samples whose labels include ``labels``."""
        return sum(sample.value for sample in self.samples if sample.name == name
                   and all(sample.labels.get(k) == v for k, v in labels.items()))

    def names(self) -> set[str]:
        return {sample.name for sample in self.samples}


def _code(answer: requests.Response) -> str:
    code = etree.fromstring(answer.content).findtext(".//{*}error/{*}code")
    assert code, answer.text[:1000]
    return code


def test_metrics_expose_requests_faults_limits_queues_and_database_errors(
    tmp_path: Path, throwaway_cluster: tuple[str, str, str],
    launch_gateway: Callable[..., AbstractContextManager[RunningGateway]],
) -> None:
    version, name, url = throwaway_cluster
    with launch_gateway(tmp_path, postgres_url=url, settings_environment=SETTINGS) as gw:
        before = Scrape(gw)

        # Requests: signed calls served.
        for _ in range(3):
            answer = gw.post(etree.tostring(gw.signed("GetOfficialTime")),
                             soap_action="GetOfficialTime")
            assert answer.status_code == 200, answer.text[:1000]
        # Faults from the gate (junk, before authentication) and from a service (NOT_FOUND).
        junk = [gw.post(b"<not-xml") for _ in range(JUNK)]
        junk_code = _code(junk[0])
        assert {_code(answer) for answer in junk} == {junk_code}
        missing = gw.post(etree.tostring(gw.signed("GetNotification", id=987_654_321)),
                          soap_action="GetNotification")
        assert _code(missing) == "NOT_FOUND"
        # Rate-limit refusals: the person sends a burst over its limit.
        flood = [gw.post(etree.tostring(gw.signed("GetOfficialTime", "person")),
                         soap_action="GetOfficialTime") for _ in range(10)]
        limited = [answer for answer in flood if answer.status_code == 429]
        assert limited and all(_code(answer) == "RATE_LIMITED" for answer in limited)

        after = Scrape(gw)
        ok = {"operation": "GetOfficialTime", "outcome": "ok"}
        assert after.value("gateway_requests_total", **ok) - \
            before.value("gateway_requests_total", **ok) == 3 + len(flood) - len(limited)
        assert after.value("gateway_requests_total") - before.value("gateway_requests_total") \
            == 3 + JUNK + 1 + len(flood)

        def faults(code: str) -> float:
            return after.value("gateway_faults_total", code=code) - \
                before.value("gateway_faults_total", code=code)

        assert faults(junk_code) == JUNK
        assert faults("NOT_FOUND") == 1
        assert faults("RATE_LIMITED") == len(limited)
        assert after.value("gateway_rate_limited_total", scope="principal") == len(limited)
        # Junk is summarised in the audit once per interval (60 s): it waits meanwhile.
        assert after.value("gateway_refusal_summary_pending_refusals") == JUNK
        assert after.value("gateway_refusal_summary_pending_sources") >= 1

        # The connection front: idle connections are open and being read (the gauges are set
        # every turn of each worker's loop, at least once a second).
        idle = [socket.create_connection((gw.base_url.split("//")[1].split(":")[0],
                                          int(gw.base_url.rsplit(":", 1)[1])))
                for _ in range(IDLE)]
        try:
            deadline = time.monotonic() + 10
            while True:
                front = Scrape(gw)
                if front.value("gateway_front_reading_connections") >= IDLE or \
                        time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert front.value("gateway_front_connections") >= IDLE
            assert front.value("gateway_front_reading_connections") >= IDLE
            assert "gateway_front_waiting_requests" in front.names()
        finally:
            for sock in idle:
                sock.close()

        # Database errors: the database stopped, a signed call and the readiness probe fail.
        subprocess.run(["pg_ctlcluster", version, name, "stop", "-m", "fast"], check=True,
                       capture_output=True, timeout=120)
        try:
            outage = gw.post(etree.tostring(gw.signed("GetOfficialTime")),
                             soap_action="GetOfficialTime")
            listing = gw.post(etree.tostring(gw.signed("ListNotifications")),
                              soap_action="ListNotifications")
            ready = requests.get(gw.base_url + "/readyz", timeout=10)
            down = Scrape(gw)
        finally:
            subprocess.run(["pg_ctlcluster", version, name, "start"], check=True,
                           capture_output=True, timeout=120)
        assert outage.status_code == listing.status_code == ready.status_code == 503
        assert _code(outage) == _code(listing) == "SERVICE_UNAVAILABLE"
        database = [sample for sample in down.samples
                    if sample.name == "gateway_database_errors_total"
                    and sample.labels["failure_class"].startswith("database ")]
        assert sum(sample.value for sample in database) == 2, database
        assert down.value("gateway_database_errors_total", failure_class="readiness") == 1
        assert down.value("gateway_faults_total", code="SERVICE_UNAVAILABLE") == 2
        assert down.value("gateway_service_unavailable_total") == 2
