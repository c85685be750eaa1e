"""Which gunicorn worker class serves the listing + content workload best (issue 7, point 4).

    .venv/bin/python bench/workers.py [--classes sync,gthread,gevent] [--workers 2]
        [--threads 4] [--clients 4] [--requests 400] [--repeats 3] [--database-url URL]

Seeds a PostgreSQL schema of its own (dropped at the end) with ``--items`` communications of a
company, 20 KB each (the e2e benchmark's common size), then for every worker class starts the real
server exactly as production does -- ``gunicorn -c deploy/gunicorn.conf.py
'gateway.wsgi:create_app()'`` with ``--worker-class``/``--workers``/``--threads`` on the command
line -- and drives it with ``--clients`` concurrent HTTP clients (keep-alive sessions) posting
requests signed in advance (each one distinct: the replay cache sees no repeats), so the client
spends its CPU on I/O rather than on XML signatures. Two workloads, each ``--requests``
requests:

- ``content``: GetContent of a 20 KB document;
- ``mixed``: one ListNotifications page of 1,000 items for every 50 GetContent calls (the
  batch agent's shape before GetContents);
- ``bulk``: the batch agent's shape now -- one ListNotifications page for every 8 GetContents
  calls of 150 documents (3 MB); ``--requests`` / 10 calls. Its figures are per call (150
  documents), not per document.

All classes' servers run side by side (idle when not driven) and take turns within every
repeat. Printed per class and workload, median of ``--repeats`` runs: requests per second (wall
clock),
server CPU per request (utime+stime of the master and workers from /proc, in ms) and p95
latency. The machine has two cores shared by client and server, so compare the classes
against each other in one run, not against other runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from lxml import etree

from gateway import namespaces as ns
from gateway.bootstrap import build
from gateway.client.transport import ServerVerifyingSignature
from gateway.config import Settings
from gateway.pki import DemoPki, generate_demo_pki
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.store.engine import create_engine_for, url_with_schema

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CONTENT_BYTES = 20 * 1024
LISTS_EVERY = 50
BULK_IDS = 150
BULK_LISTS_EVERY = 8
BULK_SHARE = 10


def seed(settings: Settings, pki: DemoPki, items: int) -> list[int]:
    container = build(settings)
    container.upgrade_database()
    now = container.clock.now()
    ids: list[int] = []
    for start in range(0, items, 1000):
        ids += container.publishing().publish([PublicationRequest(
            issuer="TGSS", issuer_reference=f"BENCH-{index:07d}", kind="COMMUNICATION",
            procedure="Reclamación de deudas", subject=f"Comunicación {index} del periodo 11/2025",
            recipient=pki.company_cif, ccc=None, category="NORMAL",
            documents=(DocumentInput(f"doc-{index}.pdf", "application/pdf",
                                     os.urandom(CONTENT_BYTES)),),
            made_available_at=now - timedelta(hours=2))
            for index in range(start, min(items, start + 1000))])
    container.dispose()
    return ids


def signed_request(signer: ServerVerifyingSignature, operation: str, arguments: str) -> bytes:
    envelope = etree.fromstring(
        f'<soap-env:Envelope xmlns:soap-env="{ns.SOAP11_ENV}"><soap-env:Body>'
        f'<ns0:{operation} xmlns:ns0="{ns.NOTIFICATION_SERVICE}">{arguments}</ns0:{operation}>'
        "</soap-env:Body></soap-env:Envelope>".encode())
    signer.apply(envelope, {})
    return etree.tostring(envelope)


def workload(signer: ServerVerifyingSignature, ids: list[int], name: str,
             count: int) -> list[tuple[str, bytes]]:
    requests_: list[tuple[str, bytes]] = []
    if name == "bulk":
        count = max(1, count // BULK_SHARE)  # each call carries BULK_IDS documents
    for index in range(count):
        if name == "bulk":
            if index % (BULK_LISTS_EVERY + 1) == 0:
                requests_.append(("ListNotifications", signed_request(
                    signer, "ListNotifications", "<ns0:pageSize>1000</ns0:pageSize>")))
                continue
            start = (index * BULK_IDS) % len(ids)
            chosen = [ids[(start + k) % len(ids)] for k in range(BULK_IDS)]
            requests_.append(("GetContents", signed_request(
                signer, "GetContents", "".join(f"<ns0:id>{i}</ns0:id>" for i in chosen))))
        elif name == "mixed" and index % (LISTS_EVERY + 1) == 0:
            requests_.append(("ListNotifications", signed_request(
                signer, "ListNotifications", "<ns0:pageSize>1000</ns0:pageSize>")))
        else:
            requests_.append(("GetContent", signed_request(
                signer, "GetContent", f"<ns0:id>{ids[index % len(ids)]}</ns0:id>")))
    return requests_


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(settings_env: dict[str, str], worker_class: str, workers: int,
           threads: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment.update(settings_env)
    command = [str(Path(sys.executable).with_name("gunicorn")), "-c",
               str(ROOT / "deploy" / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--worker-class", worker_class,
               "--threads", str(threads), "--access-logfile", "/dev/null",
               "gateway.wsgi:create_app()"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield _healthy(f"http://127.0.0.1:{port}", process, worker_class, log), process.pid
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _healthy(base: str, process: subprocess.Popen[bytes], worker_class: str, log: Any) -> str:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise SystemExit(f"{worker_class} did not start:\n{log.read()[-3000:].decode()}")
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return base
        except requests.RequestException:
            time.sleep(0.2)


def group_cpu_seconds(master: int) -> float:
    """utime + stime of the master and its children (the workers), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == master or int(fields[1]) == master:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def drive(base: str, master: int, batch: list[tuple[str, bytes]],
          clients: int) -> tuple[float, float, float]:
    """Requests per second, server CPU ms per request, p95 latency ms."""
    latencies: list[float] = []
    failures: list[str] = []
    position = iter(range(len(batch)))
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                return
            operation, body = batch[index]
            started = time.perf_counter()
            response = session.post(base + "/NotificationService", data=body, timeout=120,
                                    headers={"Content-Type": "text/xml; charset=utf-8",
                                             "SOAPAction": f'"{operation}"'})
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                failures.append(f"{operation} {response.status_code} {response.text[:300]}")

    cpu_before, started = group_cpu_seconds(master), time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, group_cpu_seconds(master) - cpu_before
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    latencies.sort()
    return (len(batch) / elapsed, cpu / len(batch) * 1000,
            latencies[int(len(latencies) * 0.95)] * 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", default="sync,gthread,gevent")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get(
        "GATEWAY_TEST_DATABASE_URL", DEFAULT_DATABASE_URL))
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="notess-workers-"))
    schema = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine_for(args.database_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = url_with_schema(args.database_url, schema)
        pki = generate_demo_pki(workdir / "pki", now=datetime.now(UTC))
        settings = Settings(data_dir=workdir, pki_dir=workdir / "pki", database_url=url)
        started = time.perf_counter()
        ids = seed(settings, pki, args.items)
        print(f"seeded {len(ids)} communications of {CONTENT_BYTES // 1024} KB in "
              f"{time.perf_counter() - started:.1f} s; {args.workers} workers, "
              f"{args.threads} threads (gthread), {args.clients} clients, "
              f"{args.requests} requests per run, median of {args.repeats}")
        environment = {"GATEWAY_DATABASE_URL": url, "GATEWAY_DATA_DIR": str(workdir),
                       "GATEWAY_PKI_DIR": str(workdir / "pki")}
        company = pki.client("company")
        signer = ServerVerifyingSignature(company.key_path, company.cert_path, None)
        print(f"{'class':<8} {'workload':<8} {'req/s':>8} {'CPU ms/req':>11} {'p95 ms':>8}")
        classes = args.classes.split(",")
        with ExitStack() as servers:
            running = {}
            for worker_class in classes:
                try:
                    running[worker_class] = servers.enter_context(
                        server(environment, worker_class, args.workers, args.threads))
                except SystemExit as failed:
                    print(f"{worker_class:<8} not measured: {str(failed).splitlines()[0]}")
            # The classes take turns within every repeat, so a change in machine load (other
            # work on the two shared cores) affects them alike.
            runs: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
            for _ in range(args.repeats):
                for name in ("content", "mixed", "bulk"):
                    for worker_class, (base, pid) in running.items():
                        batch = workload(signer, ids, name, args.requests)
                        runs.setdefault((worker_class, name), []).append(
                            drive(base, pid, batch, args.clients))
            for (worker_class, name), results in runs.items():
                rate, cpu, p95 = (statistics.median(r[i] for r in results) for i in range(3))
                print(f"{worker_class:<8} {name:<8} {rate:8.1f} {cpu:11.2f} {p95:8.1f}")
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
