"""The good client's latency under attack, as a ratio to its latency without (issue 14).

    PYTHONPATH=. .venv/bin/python bench/hostile.py [--seconds 8] [--flood-rate 500]
        [--database-url URL] [--workers 2]

Starts ``gateway serve`` as shipped (gthread front of ``gateway.connections``, 2 workers x 4
threads) on a demo data directory of its own (SQLite by default; ``--database-url`` for a
PostgreSQL schema you made), then, for ``--seconds`` each, in this order:

- ``baseline``: the good client alone;
- ``slow/idle``: 300 idle connections, 4 sending their headers and 4 their body a byte a second;
- ``junk flood``: unsigned and malformed requests from 127.0.0.2 at ``--flood-rate`` per second
  (kept-alive connections, paced);
- ``certificate flood``: the person certificate sends signed requests at its limit (set to
  ``--person-rate`` for the run) from its own connection;
- ``baseline again``: to see how much the machine itself drifted during the run.

The good client is the company certificate sending signed ``GetOfficialTime`` requests (signed
in advance, so its own CPU goes to I/O) on one kept-alive connection, 10 a second. Printed per
phase: the good client's median and p95 latency, failures, the ratio of the median to the first
baseline's, and what the attacker achieved. Everything runs on the same 2 cores as the server:
compare phases within one run.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from gateway import namespaces as ns
from gateway.client.transport import ServerVerifyingSignature

ROOT = Path(__file__).resolve().parents[1]
GOOD_RATE = 10.0


def signed_request(signer: ServerVerifyingSignature, operation: str = "GetOfficialTime") -> bytes:
    envelope = etree.fromstring(
        f'<soap-env:Envelope xmlns:soap-env="{ns.SOAP11_ENV}"><soap-env:Body>'
        f'<ns0:{operation} xmlns:ns0="{ns.NOTIFICATION_SERVICE}"/>'
        "</soap-env:Body></soap-env:Envelope>".encode())
    signer.apply(envelope, {})
    return etree.tostring(envelope)


def post(connection: http.client.HTTPConnection, body: bytes) -> int:
    connection.request("POST", "/NotificationService", body=body,
                       headers={"Content-Type": "text/xml; charset=utf-8"})
    response = connection.getresponse()
    response.read()
    return response.status


def paced(rate: float, stop: threading.Event, step: Callable[[], None]) -> None:
    interval = 1.0 / rate
    next_at = time.perf_counter()
    while not stop.is_set():
        step()
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            stop.wait(delay)
        elif delay < -1.0:
            next_at = time.perf_counter()  # fell behind: do not burst to catch up


def good_client(address: tuple[str, int], bodies: list[bytes], stop: threading.Event,
                ) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    connection = http.client.HTTPConnection(*address, timeout=30)
    queue = iter(bodies)

    def step() -> None:
        nonlocal failures, connection
        body = next(queue, None)
        if body is None:
            stop.set()
            return
        started = time.perf_counter()
        try:
            status = post(connection, body)
        except OSError:
            status = 0
            connection.close()
            connection = http.client.HTTPConnection(*address, timeout=30)
        latencies.append(time.perf_counter() - started)
        failures += status != 200

    paced(GOOD_RATE, stop, step)
    connection.close()
    return latencies, failures


# --- attacks: each starts threads, returns a function that stops them and says what was done ---


def slow_and_idle(address: tuple[str, int], stop: threading.Event) -> Callable[[], str]:
    idle = [socket.create_connection(address) for _ in range(300)]
    reconnections = [0]

    def slow(kind: str) -> None:
        while not stop.is_set():
            sock = socket.create_connection(address, timeout=5)
            if kind == "body":
                sock.sendall(b"POST /NotificationService HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: 100000\r\n\r\n")
            else:
                sock.sendall(b"POST /NotificationService HTTP/1.1\r\n")
            try:
                while not stop.wait(1.0):
                    sock.send(b"x" if kind == "body" else b"X-a: b\r\n"[:1])
            except OSError:
                reconnections[0] += 1  # the server closed it at its deadline: start again
            sock.close()

    threads = [threading.Thread(target=slow, args=(kind,), daemon=True)
               for kind in ("body", "header") * 4]
    for thread in threads:
        thread.start()

    def finish() -> str:
        for thread in threads:
            thread.join(timeout=10)
        for sock in idle:
            sock.close()
        return f"300 idle + 8 slow; server closed slow ones {reconnections[0]} times"

    return finish


def junk_flood(address: tuple[str, int], stop: threading.Event, rate: float,
               junk: list[bytes]) -> Callable[[], str]:
    statuses: dict[int, int] = {}
    senders = 4
    started = time.perf_counter()

    def sender() -> None:
        connection = http.client.HTTPConnection(*address, timeout=30,
                                                source_address=("127.0.0.2", 0))
        count = [0]

        def step() -> None:
            try:
                status = post(connection, junk[count[0] % len(junk)])
            except OSError:
                status = 0
                connection.close()
            count[0] += 1
            statuses[status] = statuses.get(status, 0) + 1

        paced(rate / senders, stop, step)
        connection.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()

    def finish() -> str:
        for thread in threads:
            thread.join(timeout=30)
        total = sum(statuses.values())
        return (f"{total / (time.perf_counter() - started):.0f} junk req/s achieved, "
                f"statuses {dict(sorted(statuses.items()))}")

    return finish


def certificate_flood(address: tuple[str, int], stop: threading.Event, rate: float,
                      bodies: list[bytes]) -> Callable[[], str]:
    statuses: dict[int, int] = {}
    started = time.perf_counter()

    def run() -> None:
        connection = http.client.HTTPConnection(*address, timeout=30)
        queue = iter(bodies)

        def step() -> None:
            body = next(queue, None)
            if body is None:
                return
            status = post(connection, body)
            statuses[status] = statuses.get(status, 0) + 1

        paced(rate, stop, step)
        connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def finish() -> str:
        thread.join(timeout=30)
        total = sum(statuses.values())
        return (f"{total / (time.perf_counter() - started):.0f} signed req/s by another "
                f"certificate, statuses {dict(sorted(statuses.items()))}")

    return finish


# --- the run ------------------------------------------------------------------------------------


def start_server(data_dir: Path, port: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment.update({"GATEWAY_DATA_DIR": str(data_dir),
                        "GATEWAY_RATE_LIMIT_PERSON": f"{args.person_rate:g}/{round(args.person_rate)}",
                        "PYTHONPATH": str(ROOT)})
    if args.database_url:
        environment["GATEWAY_DATABASE_URL"] = args.database_url
    command = [sys.executable, "-m", "gateway.cli"]
    demo = subprocess.run([*command, "demo", "--count", "50"], env=environment, check=False,
                          capture_output=True, text=True, timeout=300)
    if demo.returncode != 0:
        raise SystemExit(f"gateway demo failed:\n{demo.stdout}{demo.stderr}")
    log = (data_dir / "serve.log").open("wb")
    process = subprocess.Popen([*command, "serve", "--bind", f"127.0.0.1:{port}", "--workers",
                                str(args.workers)], env=environment, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gateway serve did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--flood-rate", type=float, default=500.0)
    parser.add_argument("--person-rate", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        data_dir = Path(tmp)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = start_server(data_dir, port, args)
        address = ("127.0.0.1", port)
        pki = data_dir / "pki"

        def signer(name: str) -> ServerVerifyingSignature:
            return ServerVerifyingSignature(pki / "clients" / name / "key.pem",
                                            pki / "clients" / name / "cert.pem",
                                            pki / "server" / "cert.pem")

        company, person = signer("company"), signer("person")
        per_phase = int(args.seconds * GOOD_RATE) + 5
        unsigned = (b'<soap-env:Envelope xmlns:soap-env="' + ns.SOAP11_ENV.encode()
                    + b'"><soap-env:Body><ns0:GetOfficialTime xmlns:ns0="'
                    + ns.NOTIFICATION_SERVICE.encode() + b'"/></soap-env:Body></soap-env:Envelope>')
        junk = [unsigned, b"<not-closed", b"<?xml version='1.0'?><a/>"]
        phases: list[tuple[str, Callable[[threading.Event], Callable[[], str]] | None]] = [
            ("baseline", None),
            ("slow/idle", lambda stop: slow_and_idle(address, stop)),
            ("junk flood", lambda stop: junk_flood(address, stop, args.flood_rate, junk)),
            ("certificate flood", lambda stop: certificate_flood(
                address, stop, args.person_rate,
                [signed_request(person) for _ in range(int(args.seconds * args.person_rate) + 20)])),
            ("baseline again", None),
        ]
        try:
            # warm-up (connections, caches)
            good_client(address, [signed_request(company) for _ in range(10)], threading.Event())
            baseline_median = None
            print(f"{'phase':<18} {'median ms':>9} {'p95 ms':>8} {'fail':>5} {'ratio':>6}  attack")
            for name, attack in phases:
                bodies = [signed_request(company) for _ in range(per_phase)]
                stop = threading.Event()
                finish = attack(stop) if attack is not None else None
                time.sleep(1.0 if finish else 0.0)  # let the attack reach its pace
                timer = threading.Timer(args.seconds, stop.set)
                timer.start()
                latencies, failures = good_client(address, bodies, stop)
                stop.set()
                timer.cancel()
                achieved = finish() if finish else ""
                median = statistics.median(latencies) * 1000
                p95 = statistics.quantiles(latencies, n=20)[-1] * 1000
                baseline_median = baseline_median or median
                print(f"{name:<18} {median:9.1f} {p95:8.1f} {failures:5d} "
                      f"{median / baseline_median:5.2f}x  {achieved}", flush=True)
                time.sleep(2.0)  # let the server close what the attack left behind
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
