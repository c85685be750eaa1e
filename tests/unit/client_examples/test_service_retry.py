"""The batch agent's service asks again when the server is restarting (issue 14), against a
scripted loopback server: the WSDL fetch at start-up and a call each meet a connection closed
without an answer, an answer cut short, 503/429 with ``Retry-After``; the waits honour it (the
sleeps are recorded, not slept) and an answer that is no transient failure (404) is not retried.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from zeep.exceptions import SignatureVerificationFailed, TransportError

from gateway.client import service as service_module
from gateway.client.download import download_content
from gateway.client.service import Service, backoff_seconds, retry_after_seconds
from gateway.pki import DemoPki, generate_demo_pki

REPOSITORY = Path(__file__).resolve().parents[3]
WSDL = REPOSITORY / "wsdl" / "notification-service.wsdl"


UNSIGNED_FAULT = (
    b'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope '
    b'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
    b"<faultcode>soap:Client.RateLimited</faultcode><faultstring>slow down</faultstring>"
    b'<detail><gw:error xmlns:gw="urn:notess:gateway:fault:v1"><gw:code>RATE_LIMITED</gw:code>'
    b"</gw:error></detail></soap:Fault></soap:Body></soap:Envelope>")


class ScriptedServer:
    """Loopback HTTP server answering its n-th request as ``script[n]`` says: ``reset`` (close
    without a word), ``cut`` (a 200 announcing more than it sends), ``wsdl`` (the contract), or
    a status code (``"503 30"``: with ``Retry-After: 30``; a plain-text body, or with ``soap``
    last an unsigned SOAP fault)."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.served: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/NotificationService"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with client:
                self._answer(client)

    def _answer(self, client: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(65536)
            if not chunk:
                return
            request += chunk
        head, _, body = request.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += client.recv(65536)
        step = self.script[len(self.served)] if len(self.served) < len(self.script) else "404"
        self.served.append(step)
        if step == "reset":
            return
        if step == "cut":
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                           b"Content-Length: 5000\r\nConnection: close\r\n\r\n<soap-env:Envel")
            return
        if step == "wsdl":
            data = WSDL.read_bytes()
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: "
                           + str(len(data)).encode() + b"\r\nConnection: close\r\n\r\n" + data)
            return
        status, *rest = step.split()
        extra = f"Retry-After: {rest[0]}\r\n".encode() if rest and rest[0].isdigit() else b""
        body, kind = b"no", b"text/plain"
        if rest and rest[-1] == "soap":  # an unsigned SOAP fault (the per-address limit's)
            body, kind = UNSIGNED_FAULT, b"text/xml; charset=utf-8"
        client.sendall(f"HTTP/1.1 {status} Scripted\r\n".encode() + extra + b"Content-Type: "
                       + kind + f"\r\nContent-Length: {len(body)}\r\n".encode()
                       + b"Connection: close\r\n\r\n" + body)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return generate_demo_pki(tmp_path_factory.mktemp("pki"), now=datetime.now(UTC))


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    waits: list[float] = []
    monkeypatch.setattr(service_module.time, "sleep", waits.append)
    yield waits


def _service(pki: DemoPki, wsdl: str, endpoint: str | None) -> Service:
    company = pki.client("company")
    return Service(wsdl, endpoint, company.cert_path, company.key_path, pki.server.cert_path,
                   timeout=10)


def test_the_wsdl_fetch_at_start_up_rides_out_a_restart(pki: DemoPki,
                                                        slept: list[float]) -> None:
    server = ScriptedServer(["reset", "503 30", "cut", "wsdl"])
    try:
        service = _service(pki, server.url + "?wsdl", None)
    finally:
        server.close()
    assert server.served == ["reset", "503 30", "cut", "wsdl"]
    assert service.retried == 3 and len(slept) == 3
    assert slept[1] >= 30  # the 503's Retry-After
    assert slept[0] < 30 and slept[2] < 30  # back-off alone: 0.5 s, then 2 s (±25 %)


def test_a_call_is_asked_again_on_transient_failures_only(pki: DemoPki,
                                                          slept: list[float]) -> None:
    script = ["cut", "429 7", "reset", "502", "429 3 soap", "404"]
    server = ScriptedServer(script)
    try:
        service = _service(pki, str(WSDL), server.url)
        with pytest.raises(TransportError) as refused:
            service.call("GetOfficialTime")
    finally:
        server.close()
    assert refused.value.status_code == 404  # not transient: given up at once
    assert server.served == script
    assert service.retried == 5 and len(slept) == 5
    assert slept[1] >= 7 and slept[4] >= 3


def test_an_unsigned_fault_with_another_status_is_not_retried(pki: DemoPki,
                                                             slept: list[float]) -> None:
    server = ScriptedServer(["400 soap", "404"])
    try:
        service = _service(pki, str(WSDL), server.url)
        with pytest.raises(SignatureVerificationFailed):
            service.call("GetOfficialTime")
    finally:
        server.close()
    assert server.served == ["400 soap"] and service.retried == 0 and not slept


def test_a_streamed_download_is_asked_again_on_transient_failures(
        pki: DemoPki, slept: list[float], tmp_path: Path) -> None:
    script = ["503 2", "reset", "cut", "429 soap", "404"]
    server = ScriptedServer(script)
    try:
        service = _service(pki, str(WSDL), server.url)
        with pytest.raises(TransportError) as refused:
            service.retry(lambda: download_content(
                service.endpoint, service.signature, pki.server.cert_path, 1,
                tmp_path / "doc.bin", session=service.session, resume=True))
    finally:
        server.close()
    assert refused.value.status_code == 404
    assert server.served == script
    assert service.retried == 4 and slept[0] >= 2
    assert not (tmp_path / "doc.bin").exists()


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    assert retry_after_seconds("5") == 5.0
    assert retry_after_seconds(" 120 ") == 120.0
    later = datetime.now(UTC) + timedelta(seconds=90)
    from_date = retry_after_seconds(format_datetime(later, usegmt=True))
    assert from_date is not None and 80 <= from_date <= 90
    past = retry_after_seconds(format_datetime(datetime.now(UTC) - timedelta(hours=1),
                                               usegmt=True))
    assert past == 0.0
    for hostile in (None, "", "-3", "soon", "1e9", "Mon, 99 Foo 2026 25:61:00 GMT", "5; drop",
                    "²", "٣", "Mon, 07 Dec 2026 10:00:00"):
        assert retry_after_seconds(hostile) is None, hostile


def test_the_wait_honours_retry_after_up_to_a_cap() -> None:
    assert 0.375 <= backoff_seconds(0, None) <= 0.625
    assert 6.0 <= backoff_seconds(10, None) <= 10.0  # capped at 8 s (±25 %)
    assert 30 <= backoff_seconds(0, 30.0) <= 33.0  # never sooner than asked
    assert 120 <= backoff_seconds(0, 10**9) <= 132.0  # a huge Retry-After is capped
