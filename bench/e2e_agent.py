"""The whole RED-agent workflow end to end: ``batch_agent.py`` against ``gateway serve``.

    .venv/bin/python bench/e2e_agent.py [--notifications 100000] [--companies 200]
        [--large-share 0.01] [--large-kib 1024] [--small-kib 20] [--server-workers 2]
        [--agent-workers 4] [--batch-size 1000] [--echo-requests 1000] [--database-url URL]
        [--keep]

Issue 7 acceptance. Seeds a fresh database -- on PostgreSQL a schema ``bench_e2e_<pid>_<hex>``;
with ``--database-url sqlite:///PATH`` a new SQLite file (the embedded default; ``sqlite://``
alone puts it in the run's temporary directory) -- (bulk inserts through
``NotificationRepository.add_many``, 2,000 items per transaction, then ANALYZE) with
``--notifications`` pending notifications for ``--companies`` companies, one contribution
account (CCC) each, all assigned to the demo RED agent; ``--large-share`` of them carry a
``--large-kib`` document, the rest ``--small-kib`` (incompressible bytes, a distinct header per
item). Then it starts the real server (``gateway serve --workers 2``, what it ships: gunicorn,
two gthread workers of four threads, its own process group), and runs ``client_examples/batch_agent.py`` as the RED agent (default options: pages and
batches of 1,000, 4 download threads, fsync on) until it reports done, and checks the result in
the database and the archive: every notification ACCEPTED with one receipt item, every document
in the archive.

Printed:

- **notifications fully processed per second**: listed + accepted (signed batch) + content
  downloaded and checked + receipt stored, over the agent's wall time; target >= 1,000 with
  server, PostgreSQL and agent on the same two cores (issue 15);
- **the agent's CPU per notification** (utime + stime of ``batch_agent.py``, user and system
  apart) as a **ratio to the server's CPU per notification** measured in the same run; target
  <= 1 (issue 15: the agent had become the throughput limit of the whole workflow);
- **server CPU per notification**: utime + stime of the gunicorn master and its workers over
  the agent's run (``/proc/<pid>/stat``; reaped workers through the master's cutime/cstime),
  divided by the notifications, and as a **ratio to one bare Spyne echo request** (``bench/
  receipts.py``'s baseline: a signed request through a one-operation Spyne WSGI app, in-process,
  CPU per request) measured in this run before and after the agent; target <= 3;
- **server peak memory**: the peak, sampled every 0.2 s, of master and workers' summed PSS
  (``/proc/<pid>/smaps_rollup``: pages the workers share with the master since the fork count
  once), target <= 300 MB; also printed, their summed RSS (which counts those pages once per
  process) and the largest VmHWM of one process;
- a 1,000-item ListNotifications page through the real port (signed) as a ratio to building
  the same page with lxml, measured in this run (``bench/list_page.py``'s comparison), target
  <= 2;
- apart, not in the ratio: the CPU of the PostgreSQL backends serving the gateway (found by
  ``application_name`` in ``pg_stat_activity``; on SQLite the database work runs inside the
  workers, so it is part of the server CPU);
- the CPU of the whole workflow per notification (server + agent + database) and the rate the
  machine's cores could sustain at that cost were nothing else running: the throughput target
  is out of reach, whatever the waits, while that ceiling is below it.

The targets were set for PostgreSQL; on SQLite the figures are printed for comparison (issue
19: the bulk workflow on the embedded default had never been measured). The archive (a
temporary directory: about 3 GB at the default size) and the schema or SQLite file are removed
at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gateway.bootstrap import build
from gateway.config import Settings
from gateway.domain.identifiers import make_ccc, make_cif
from gateway.domain.model import Category, Document, Issuer, ItemKind, Notification, Status
from gateway.pki import DemoPki, generate_demo_pki
from gateway.store.engine import create_engine_for, session_factory, url_with_schema
from gateway.store.unit_of_work import SqlUnitOfWork

sys.path.insert(0, str(Path(__file__).resolve().parent))
from list_page import lxml_build, make_page, per_call, port, server_signer
from receipts import echo_cost

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHUNK = 2000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
TARGET_RATIO = 3.0
TARGET_RSS_MB = 300
TARGET_PAGE_RATIO = 2.0
TARGET_AGENT_RATIO = 1.0
TARGET_THROUGHPUT = 1000


# --- seeding ----------------------------------------------------------------------------------


def companies(count: int) -> list[tuple[str, str]]:
    return [(make_cif("B", 8_000_000 + n), make_ccc(28, 5_000_000 + n)) for n in range(count)]


def generate(args: argparse.Namespace, accounts: list[tuple[str, str]],
             now: datetime) -> Iterator[tuple[Notification, list[bytes]]]:
    rng = random.Random(7)
    filler = rng.randbytes(args.large_kib * 1024)
    large = set(rng.sample(range(args.notifications),
                           round(args.notifications * args.large_share)))
    made_available = now - timedelta(hours=1)
    deadline = now + timedelta(days=10)
    for index in range(args.notifications):
        size = (args.large_kib if index in large else args.small_kib) * 1024
        header = f"%NOTESS bench notification {index:09d}\n".encode()
        content = header + filler[:size - len(header)]
        company, ccc = accounts[index % len(accounts)]
        yield Notification(
            id=None, kind=ItemKind.NOTIFICATION, issuer=(Issuer.TGSS, Issuer.ISM)[index % 2],
            issuer_reference=f"E2E-{index:09d}", procedure="Reclamación de deuda",
            subject=f"Acto administrativo {index}", recipient=company, ccc=ccc,
            category=Category.NORMAL, made_available_at=made_available, deadline_at=deadline,
            status=Status.AVAILABLE, status_at=made_available,
            documents=(Document(f"acto-{index:09d}.pdf", "application/pdf",
                                hashlib.sha256(content).hexdigest(), len(content)),),
        ), [content]


def seed(url: str, args: argparse.Namespace, pki: DemoPki) -> float:
    started = time.perf_counter()
    engine = create_engine_for(url)
    factory = session_factory(engine)
    now = datetime.now(UTC)
    accounts = companies(args.companies)
    with SqlUnitOfWork(factory) as uow:
        for company, ccc in accounts:
            uow.representation.assign(ccc, company, pki.red_agent_cif, now - timedelta(hours=2))
        uow.commit()
    chunk: list[tuple[Notification, list[bytes]]] = []
    done = 0
    for item in generate(args, accounts, now):
        chunk.append(item)
        if len(chunk) == CHUNK:
            done += flush(factory, chunk)
            progress(f"seeded {done:,}/{args.notifications:,} ({time.perf_counter() - started:.0f} s)")
    done += flush(factory, chunk)
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    progress("")
    return time.perf_counter() - started


def flush(factory: object, chunk: list[tuple[Notification, list[bytes]]]) -> int:
    if not chunk:
        return 0
    with SqlUnitOfWork(factory) as uow:  # type: ignore[arg-type]
        uow.notifications.add_many(chunk, base_deadlines=[n.deadline_at for n, _ in chunk])
        uow.commit()
    count = len(chunk)
    chunk.clear()
    return count


def progress(message: str) -> None:
    if sys.stderr.isatty():
        print(f"\r  {message:<70}", end="" if message else "\r", file=sys.stderr, flush=True)


# --- the server's processes -------------------------------------------------------------------


def stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def server_cpu(master: int) -> float:
    """CPU seconds of the master, its reaped children and its live workers."""
    fields = stat_fields(master)
    # After ")": state=0, ppid=1, ... utime=11, stime=12, cutime=13, cstime=14.
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for worker in children(master):
        try:
            worker_fields = stat_fields(worker)
        except OSError:
            continue
        ticks += int(worker_fields[11]) + int(worker_fields[12])
    return ticks / CLOCK_TICKS


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size: pages shared after the fork count once over the processes."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """Peaks of master + workers' summed VmRSS and summed PSS, and the largest VmHWM seen."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.peak_sum_kib = 0
        self.peak_pss_kib = 0
        self.peak_process_kib = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            self.sample()

    def sample(self) -> None:
        total = pss = 0
        for pid in (self.master, *children(self.master)):
            try:
                total += status_kib(pid, "VmRSS")
                pss += pss_kib(pid)
                self.peak_process_kib = max(self.peak_process_kib, status_kib(pid, "VmHWM"))
            except OSError:
                continue
        self.peak_sum_kib = max(self.peak_sum_kib, total)
        self.peak_pss_kib = max(self.peak_pss_kib, pss)


def backend_cpu(engine: object, application: str) -> float:
    """CPU seconds of the PostgreSQL backends the gateway opened (same machine)."""
    with engine.connect() as connection:  # type: ignore[attr-defined]
        pids = [row[0] for row in connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": application})]
    total = 0
    for pid in pids:
        try:
            fields = stat_fields(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def operations(log: Path) -> dict[str, int]:
    """Requests per operation, from the gateway's request log lines."""
    counts: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        marker = line.find('"request NotificationService ')
        if marker >= 0:
            name = line[marker + 29:].split(" ", 1)[0]
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


@dataclass
class BenchDatabase:
    """Where this run's data lives: the URL the gateway gets, the CPU its database spends
    outside the gateway's processes (None on SQLite: inside them), and how to remove it."""

    backend: str
    url: str
    backend_cpu: Callable[[], float] | None
    remove: Callable[[], None]
    kept: str


def open_database(database_url: str, workdir: Path) -> BenchDatabase:
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database) if parsed.database else workdir / "gateway.db"
        if path.exists():
            raise SystemExit(f"{path} exists: the benchmark seeds a new SQLite file")

        def remove_file() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

        return BenchDatabase("sqlite", f"sqlite:///{path.resolve().as_posix()}", None,
                             remove_file, str(path))
    schema = f"bench_e2e_{os.getpid()}_{secrets.token_hex(3)}"
    application = schema  # names the gateway's PostgreSQL connections
    admin = create_engine_for(database_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = url_with_schema(database_url, schema)
    url += ("&" if "?" in url else "?") + f"application_name={application}"

    def drop_schema() -> None:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    return BenchDatabase("postgresql", url, lambda: backend_cpu(admin, application), drop_schema,
                         f"schema {schema}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(url: str, data_dir: Path, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment.update({"GATEWAY_DATABASE_URL": url, "GATEWAY_DATA_DIR": str(data_dir),
                        "GATEWAY_PKI_DIR": str(data_dir / "pki")})
    gateway = Path(sys.executable).with_name("gateway")
    command = [str(gateway)] if gateway.exists() else [sys.executable, "-m", "gateway.cli"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
            env=environment, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gateway serve exited:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit("gateway serve did not become healthy")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # our own session: start_new_session=True
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- the run ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--large-share", type=float, default=0.01)
    parser.add_argument("--large-kib", type=int, default=1024)
    parser.add_argument("--small-kib", type=int, default=20)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--agent-workers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--echo-requests", type=int, default=1000)
    parser.add_argument("--database-url", default=os.environ.get("GATEWAY_TEST_DATABASE_URL",
                                                                 DEFAULT_POSTGRES_URL),
                        help="PostgreSQL server (a schema is created and dropped), or "
                             "sqlite:///PATH for a new SQLite file (sqlite:// : a temporary one)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the archive, the server log and the schema")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    database = open_database(args.database_url, workdir)
    url = database.url
    server: subprocess.Popen[bytes] | None = None
    try:
        pki = generate_demo_pki(workdir / "pki", now=datetime.now(UTC))
        container = build(Settings(data_dir=workdir, pki_dir=workdir / "pki", database_url=url))
        container.upgrade_database()
        container.dispose()
        large = round(args.notifications * args.large_share)
        print(f"e2e agent benchmark: {args.notifications:,} notifications ({large:,} of "
              f"{args.large_kib} KiB, the rest {args.small_kib} KiB) for {args.companies} "
              f"companies, one RED agent; {database.backend}; gateway serve --workers "
              f"{args.server_workers}; batch_agent.py --workers {args.agent_workers} "
              f"--batch-size {args.batch_size}", flush=True)
        seconds = seed(url, args, pki)
        print(f"  seeded in {seconds:.1f} s", flush=True)

        echo = echo_cost(args.echo_requests, 3, pki)
        server, base = start_server(url, workdir, args.server_workers,
                                    workdir / "gateway-serve.log")
        sampler = RssSampler(server.pid)
        sampler.start()
        credential = pki.client("red_agent")
        archive = workdir / "archive"
        command = [sys.executable, str(REPOSITORY / "client_examples" / "batch_agent.py"),
                   "--url", base + "/NotificationService",
                   "--cert", str(credential.cert_path), "--key", str(credential.key_path),
                   "--server-cert", str(pki.server.cert_path), "--archive", str(archive),
                   "--batch-size", str(args.batch_size), "--page-size", str(args.batch_size),
                   "--workers", str(args.agent_workers), "--json"]
        if not sys.stderr.isatty():
            command.append("--no-progress")
        cpu_before = server_cpu(server.pid)
        database_before = database.backend_cpu() if database.backend_cpu else 0.0
        usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        agent = subprocess.run(command, cwd=REPOSITORY, stdout=subprocess.PIPE, text=True,
                               check=False)
        wall = time.perf_counter() - started
        usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_seconds = server_cpu(server.pid) - cpu_before
        database_seconds = (database.backend_cpu() - database_before
                            if database.backend_cpu else None)
        sampler.stopped.set()
        sampler.join()
        sampler.sample()
        echo += echo_cost(args.echo_requests, 3, pki)
        if agent.returncode != 0:
            raise SystemExit(f"batch_agent.py exited {agent.returncode}:\n{agent.stdout}")
        summary = json.loads(agent.stdout.strip().splitlines()[-1])

        check = create_engine_for(url)
        with check.connect() as connection:
            accepted = connection.execute(text(
                "SELECT count(*) FROM notification WHERE status = 'ACCEPTED'")).scalar_one()
            receipt_items = connection.execute(text(
                "SELECT count(*), count(DISTINCT notification_id) FROM receipt_item")).one()
        check.dispose()
        documents = sum(1 for path in archive.rglob("*.pdf"))
        calls = operations(workdir / "gateway-serve.log")
        n = args.notifications
        problems = []
        if accepted != n or tuple(receipt_items) != (n, n):
            problems.append(f"server: {accepted} accepted, receipt items {tuple(receipt_items)}")
        if documents != n or summary["documents"] != n or summary["errors"]:
            problems.append(f"archive: {documents} documents, agent summary {summary}")

        page = make_page(1000)  # list_page.py's comparison, in this run
        page_costs = per_call({"lxml": lambda: lxml_build(page),
                               "signed": port(page, server_signer())}, 5, 5)
        page_ratio = page_costs["signed"] / page_costs["lxml"]

        bare = statistics.median(echo)
        per_item = server_seconds / n
        ratio = per_item / bare
        client_user = usage_after.ru_utime - usage_before.ru_utime
        client_system = usage_after.ru_stime - usage_before.ru_stime
        client_seconds = client_user + client_system
        sum_mb = sampler.peak_sum_kib / 1024
        pss_mb = sampler.peak_pss_kib / 1024
        print(f"  bare Spyne echo request (in-process): {bare * 1e6:.0f} us CPU "
              f"(median of {len(echo)} runs of {args.echo_requests}, before and after)")
        print(f"  agent run: {wall:.1f} s wall, {summary['receipts']} receipts, "
              f"{summary['documents']:,} documents, {summary['bytes'] / 2**20:,.0f} MiB")
        agent_ratio = client_seconds / server_seconds if server_seconds else float("inf")
        print(f"  notifications fully processed per second: {n / wall:,.0f} (target >= "
              f"{TARGET_THROUGHPUT:,})")
        print(f"  server CPU: {server_seconds:.1f} s = {per_item * 1e6:,.0f} us per notification"
              f" = {ratio:.2f} x echo (target <= {TARGET_RATIO:g})")
        print(f"  agent CPU: {client_seconds:.1f} s = {client_seconds / n * 1e6:,.0f} us per "
              f"notification (user {client_user:.1f} s, system {client_system:.1f} s) = "
              f"{agent_ratio:.2f} x the server's (target <= {TARGET_AGENT_RATIO:g})")
        print(f"  server peak memory: {pss_mb:,.0f} MB PSS of master + workers (target <= "
              f"{TARGET_RSS_MB}); their RSS summed {sum_mb:,.0f} MB (counts the pages shared "
              f"since the fork once per process); largest process RSS "
              f"{sampler.peak_process_kib / 1024:,.0f} MB")
        print(f"  1,000-item ListNotifications page through the port, signed: "
              f"{page_costs['signed'] * 1000:.1f} ms = {page_ratio:.2f} x the raw lxml build "
              f"({page_costs['lxml'] * 1000:.1f} ms; target <= {TARGET_PAGE_RATIO:g})")
        print("  requests: " + ", ".join(f"{name} {count:,}" for name, count in calls.items())
              + f"; load average {os.getloadavg()[0]:.1f} (before the run {load_before:.1f})")
        database_cpu = ("SQLite: inside the server CPU above" if database_seconds is None else
                        f"PostgreSQL backends {database_seconds:.1f} s "
                        f"({database_seconds / n * 1e6:,.0f} us per notification)")
        print(f"  apart: {database_cpu}")
        whole = server_seconds + client_seconds + (database_seconds or 0.0)
        cores = os.cpu_count() or 1
        print(f"  CPU of the whole workflow (server + agent + database): {whole / n * 1e6:,.0f} us"
              f" per notification: {cores} otherwise idle cores could process at most "
              f"{cores * n / whole:,.0f} per second (this run used {whole / wall / cores:.0%} "
              f"of them)")
        if problems:
            print("  CHECK FAILED: " + "; ".join(problems))
            return 1
        verdict = (ratio <= TARGET_RATIO and pss_mb <= TARGET_RSS_MB
                   and page_ratio <= TARGET_PAGE_RATIO and agent_ratio <= TARGET_AGENT_RATIO
                   and n / wall >= TARGET_THROUGHPUT)
        print(f"  all {n:,} notifications accepted once and archived; targets "
              f"{'met' if verdict else 'NOT met'}")
        return 0 if verdict else 2
    finally:
        if server is not None:
            stop_server(server)
        if args.keep:
            print(f"  kept {workdir} and {database.kept}")
        else:
            database.remove()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
