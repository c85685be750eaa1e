"""What accepting a notification costs the server, as a ratio against a bare Spyne echo request.

    .venv/bin/python bench/receipts.py [--batches 1,100,1000] [--backends sqlite,postgresql]
                                       [--repeats 5] [--echo-requests 1000] [--database-url URL]

For every backend (SQLite: a WAL file in a temporary directory; PostgreSQL: a dedicated schema
``bench_receipts_<pid>_<hex>``, dropped at the end) this migrates a fresh store, publishes enough
company notifications, and then, per batch size, ``--repeats`` times (after one warm-up): the
service-level ``ReceiptService.prepare`` + ``submit`` of a fresh batch, exactly what the Spyne
handlers call (the WS-Security gate and the SOAP (de)serialisation of the request are not in
it; the client's XAdES signature is made outside the measured window, the server's validation
of it and its own XAdES signature of the receipt are inside).

Measured, medians over the repeats:

- ``cpu/item``: this process's CPU time (``time.process_time``: the gateway's Python, lxml,
  xmlsec, SQLAlchemy and the database driver) per accepted notification. On SQLite that includes
  the database engine (in-process); on PostgreSQL the server backends' CPU is read from
  ``/proc/<pid>/stat`` of the connections the pool opened and printed apart (``pg/item``, summed
  over the repeats: /proc counts 10 ms ticks), not added to the ratio (another machine's CPU in
  production);
- ``items/s``: accepted notifications per second of wall time for prepare + submit, one client;
- ``ratio``: ``cpu/item`` divided by the CPU time of one bare Spyne echo request (bench
  ``wssec_verify.py``'s (a): a signed request through a one-operation Spyne WSGI app,
  in-process), measured in the same run, interleaved before and after the receipt runs.

Target: with 1,000-item batches on PostgreSQL, ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import xmlsec
from lxml import etree
from spyne.protocol.soap import Soap11
from sqlalchemy import event
from sqlalchemy.engine import Engine
from zeep.wsse.signature import BinarySignature

from gateway.bootstrap import Container, build
from gateway.config import Settings
from gateway.domain.clock import SystemClock
from gateway.domain.receipts import Decision, Outcome
from gateway.pki import DemoPki, generate_demo_pki
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.signatures import sign_xades_enveloped
from gateway.store.engine import create_engine_for, url_with_schema
from gateway.trust.principals import principal_from_certificate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wssec_verify import call_wsgi, request_envelope, spyne_wsgi

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_RATIO = 1.5
PUBLISH_CHUNK = 1000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    cpu_per_item: float
    pg_per_item: float | None
    items_per_second: float


def echo_cost(count: int, repeats: int, pki: DemoPki) -> list[float]:
    """CPU seconds per bare Spyne echo request, one sample per repeat."""
    client = pki.client("company")
    signer = BinarySignature(str(client.key_path), str(client.cert_path),
                             signature_method=xmlsec.constants.TransformRsaSha256,
                             digest_method=xmlsec.constants.TransformSha256)
    now = datetime.now(UTC).replace(microsecond=0)
    messages = []
    for _ in range(count):
        envelope = request_envelope(now)
        signer.apply(envelope, {})
        messages.append(etree.tostring(envelope))
    app = spyne_wsgi(Soap11)
    for message in messages[:50]:  # warm-up: Spyne's lazy structures
        call_wsgi(app, message)
    samples = []
    for _ in range(repeats):
        start = time.process_time()
        for message in messages:
            call_wsgi(app, message)
        samples.append((time.process_time() - start) / count)
    return samples


class BackendCpu:
    """CPU seconds used so far by the PostgreSQL backends of ``engine``'s connections."""

    def __init__(self, engine: Engine) -> None:
        self.pids: set[int] = set()
        if engine.dialect.name != "postgresql":
            return

        @event.listens_for(engine, "connect")
        def remember(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT pg_backend_pid()")
            self.pids.add(int(cursor.fetchone()[0]))
            cursor.close()

    def seconds(self) -> float | None:
        if not self.pids:
            return None
        total = 0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # a backend that went away, or another host
                return None
            total += int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)
        return total / CLOCK_TICKS


def company_batch(pki: DemoPki, now: datetime, start: int, count: int) -> list[PublicationRequest]:
    return [PublicationRequest(
        issuer="TGSS", issuer_reference=f"BENCH-{index:07d}", kind="NOTIFICATION",
        procedure="Procedimiento de prueba", subject=f"Asunto {index}",
        recipient=pki.company_cif, ccc=None, category="NORMAL",
        documents=(DocumentInput(f"doc-{index}.pdf", "application/pdf",
                                 f"%PDF-1.4 documento {index}\n".encode()),),
        made_available_at=now - timedelta(hours=1),
    ) for index in range(start, start + count)]


def open_store(backend: str, database_url: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    """A fresh store's URL and how to remove it."""
    if backend == "sqlite":
        path = workdir / "receipts.db"
        return f"sqlite:///{path.as_posix()}", lambda: None
    schema = f"bench_receipts_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine_for(database_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    return url_with_schema(database_url, schema), drop


def fresh_ids(container: Container, pki: DemoPki, total: int) -> Iterator[int]:
    now = container.clock.now()
    publishing = container.publishing()
    ids: list[int] = []
    for start in range(0, total, PUBLISH_CHUNK):
        ids += publishing.publish(company_batch(pki, now, start, min(PUBLISH_CHUNK, total - start)))
    return iter(ids)


def measure(container: Container, pki: DemoPki, batches: list[int], repeats: int,
            backend_cpu: BackendCpu) -> dict[int, Run]:
    service = container.receipts()
    credential = pki.client("company")
    key, cert = credential.private_key(), credential.certificate()
    principal = principal_from_certificate(cert)
    ids = fresh_ids(container, pki, sum(batches) * (repeats + 1))
    results: dict[int, Run] = {}
    for size in batches:
        cpu: list[float] = []
        pg: list[float] = []
        rate: list[float] = []
        for repeat in range(repeats + 1):  # the first one warms caches up and is not counted
            batch = [next(ids) for _ in range(size)]
            pg_before = backend_cpu.seconds()
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            prepared = service.prepare(principal, batch, Decision.ACCEPT)
            cpu_prepare = time.process_time() - cpu_before
            wall_prepare = time.perf_counter() - wall_before
            signed = sign_xades_enveloped(prepared.document, key, cert, clock=SystemClock())
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            submission = service.submit(principal, signed)
            cpu_total = cpu_prepare + time.process_time() - cpu_before
            wall_total = wall_prepare + time.perf_counter() - wall_before
            pg_after = backend_cpu.seconds()
            accepted = sum(o.outcome is Outcome.ACCEPTED for o in submission.outcomes)
            if accepted != size:
                raise SystemExit(f"only {accepted} of {size} accepted")
            if repeat == 0:
                continue
            cpu.append(cpu_total / accepted)
            rate.append(accepted / wall_total)
            if pg_before is not None and pg_after is not None:
                pg.append(pg_after - pg_before)
        # /proc counts clock ticks (10 ms): the backends' CPU is summed over the repeats.
        results[size] = Run(statistics.median(cpu),
                            sum(pg) / (size * repeats) if pg else None,
                            statistics.median(rate))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="1,100,1000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--echo-requests", type=int, default=1000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("GATEWAY_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL),
        help="PostgreSQL server for the postgresql backend (a schema is created and dropped)",
    )
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    results: dict[tuple[str, int], Run] = {}
    with tempfile.TemporaryDirectory(prefix="bench-receipts-") as tmp:
        workdir = Path(tmp)
        pki = generate_demo_pki(workdir / "pki", now=datetime.now(UTC))
        echo = echo_cost(args.echo_requests, args.repeats, pki)
        for backend in backends:
            backend_dir = workdir / backend
            backend_dir.mkdir()
            url, remove = open_store(backend, args.database_url, backend_dir)
            container = build(Settings(data_dir=backend_dir, pki_dir=workdir / "pki",
                                       database_url=url))
            backend_cpu = BackendCpu(container.engine)  # before the pool opens a connection
            try:
                container.upgrade_database()
                for size, run in measure(container, pki, batches, args.repeats,
                                         backend_cpu).items():
                    results[(backend, size)] = run
            finally:
                container.dispose()
                remove()
        echo += echo_cost(args.echo_requests, args.repeats, pki)

    bare = statistics.median(echo)
    print(f"bare Spyne echo request: {bare * 1e6:8.1f} us CPU (median of {len(echo)} runs of "
          f"{args.echo_requests})")
    print("server cost = service-level PrepareReceipt + SubmitReceipt, this process's CPU "
          "(gate and SOAP layer excluded)")
    print(f"{'backend':<11}{'batch':>6}{'items/s':>10}{'cpu/item':>12}{'ratio':>8}"
          f"{'pg/item':>12}")
    verdict_ok = True
    for (backend, size), run in results.items():
        ratio = run.cpu_per_item / bare
        pg = f"{run.pg_per_item * 1e6:9.1f} us" if run.pg_per_item is not None else f"{'-':>12}"
        print(f"{backend:<11}{size:>6}{run.items_per_second:>10,.0f}"
              f"{run.cpu_per_item * 1e6:>9.1f} us{ratio:>8.2f}{pg}")
        if backend == "postgresql" and size == 1000:
            verdict_ok = ratio <= TARGET_RATIO
            print(f"{'':<11}target: 1000-item batches on PostgreSQL, ratio <= {TARGET_RATIO}: "
                  f"{'OK' if verdict_ok else 'MISSED'}")
    return 0 if verdict_ok else 1


if __name__ == "__main__":
    sys.exit(main())
