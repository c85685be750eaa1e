"""What one receipt per recipient costs, and whether a refused receipt can be told from a missing one
by its timing (issue 20).

    .venv/bin/python bench/receipt_release.py [--backend sqlite|postgresql] [--companies 200]
                                              [--batch 1000] [--repeats 5] [--lookups 300]
                                              [--database-url URL]

One fresh store (SQLite file in a temporary directory, or a dedicated PostgreSQL schema dropped
at the end), the demo PKI, and ``--companies`` companies whose contribution accounts are all
assigned to the demo RED agent. Service level (``ReceiptService``, what the Spyne handlers
call; the WS-Security gate and SOAP layer are not in it). Two measurements, medians:

1. **Split.** The RED agent accepts ``--batch`` notifications of ONE company (one receipt) and
   ``--batch`` notifications spread over ``--companies`` companies (one receipt each), prepare +
   submit, this process's CPU per notification; ``ratio`` is many-recipients / one-recipient
   (each receipt is a server XAdES signature and a registration number). No target: the issue
   asks for a receipt per recipient; this says what it costs.
2. **Refusals.** ``GetReceipt`` as a company that may not see the receipt, three ways, each
   ``--lookups`` times interleaved: a registration number never issued (*unknown*), the
   one-company ``--batch``-item receipt of another company (*refused, large*), a 5-item receipt
   of another company (*refused, small*); and by notification id: an id that does not exist
   vs another company's decided item. Printed as wall-time medians and ratios against
   *unknown*. Target from the issue: the same timing within noise (ratios near 1; the spread of
   *unknown* itself is printed as the noise). The same for ``GetNotification`` and
   ``GetContent``: an id that does not exist vs another company's item.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.bootstrap import Container, build
from gateway.config import Settings
from gateway.domain.clock import SystemClock
from gateway.domain.identifiers import make_ccc, make_cif
from gateway.domain.principal import Principal
from gateway.domain.receipts import Decision
from gateway.errors import NotFound
from gateway.pki import DemoPki, generate_demo_pki
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.services.receipts import ReceiptService, Submission
from gateway.signatures import sign_xades_enveloped
from gateway.store.engine import create_engine_for, url_with_schema
from gateway.trust.principals import principal_from_certificate

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def requests_for(company: str, ccc: str, count: int, now: datetime,
                 tag: str) -> list[PublicationRequest]:
    return [PublicationRequest(
        issuer="TGSS", issuer_reference=f"REL-{tag}-{company}-{index:05d}", kind="NOTIFICATION",
        procedure="Procedimiento de prueba", subject=f"Asunto {index}", recipient=company,
        ccc=ccc, category="NORMAL",
        documents=(DocumentInput(f"doc-{index}.pdf", "application/pdf",
                                 f"%PDF-1.4 documento {index}\n".encode()),),
        made_available_at=now - timedelta(hours=1)) for index in range(count)]


def open_store(backend: str, database_url: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    if backend == "sqlite":
        return f"sqlite:///{(workdir / 'release.db').as_posix()}", lambda: None
    schema = f"bench_release_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine_for(database_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    return url_with_schema(database_url, schema), drop


class World:
    """Companies with RED-assigned accounts and their published items, per round."""

    def __init__(self, container: Container, pki: DemoPki, companies: int) -> None:
        self.container, self.pki = container, pki
        self.companies = [pki.company_cif] + [make_cif("B", 8_000_000 + n)
                                              for n in range(1, companies)]
        self.cccs = {c: make_ccc(28, 8_100_000 + n) for n, c in enumerate(self.companies)}
        now = container.clock.now()
        with container.unit_of_work() as uow:
            for company, ccc in self.cccs.items():
                uow.representation.assign(ccc, company, pki.red_agent_cif,
                                          now - timedelta(hours=2))
            uow.commit()
        self.round = 0

    def publish(self, per_company: dict[str, int]) -> list[int]:
        self.round += 1
        now = self.container.clock.now()
        requests = [r for company, count in per_company.items()
                    for r in requests_for(company, self.cccs[company], count, now,
                                          str(self.round))]
        return self.container.publishing().publish(requests)


def accept(service: ReceiptService, principal: Principal, pki: DemoPki, name: str,
           ids: list[int]) -> tuple[float, Submission]:
    credential = pki.client(name)
    before = time.process_time()
    prepared = service.prepare(principal, ids, Decision.ACCEPT)
    cpu = time.process_time() - before
    signed = sign_xades_enveloped(prepared.document, credential.private_key(),
                                  credential.certificate(), clock=SystemClock())
    before = time.process_time()
    submission = service.submit(principal, signed)
    return cpu + time.process_time() - before, submission


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    try:
        call()
    except NotFound:
        pass
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--database-url", default=os.environ.get("GATEWAY_TEST_DATABASE_URL",
                                                                  DEFAULT_POSTGRES_URL))
    args = parser.parse_args(argv)
    per = max(1, args.batch // args.companies)

    with tempfile.TemporaryDirectory(prefix="bench-release-") as tmp:
        workdir = Path(tmp)
        pki = generate_demo_pki(workdir / "pki", now=datetime.now(UTC))
        url, remove = open_store(args.backend, args.database_url, workdir)
        container = build(Settings(data_dir=workdir, pki_dir=workdir / "pki", database_url=url))
        try:
            container.upgrade_database()
            world = World(container, pki, args.companies)
            service = container.receipts()
            queries = container.queries()
            agent = principal_from_certificate(pki.client("red_agent").certificate())
            company = principal_from_certificate(pki.client("company").certificate())

            one: list[float] = []
            many: list[float] = []
            receipts_many = 0
            large = small = None
            for repeat in range(args.repeats + 1):  # the first warms caches and is not counted
                ids = world.publish({world.companies[1]: args.batch})
                cpu, submission = accept(service, agent, pki, "red_agent", ids)
                large = submission.first
                if repeat:
                    one.append(cpu / len(ids))
                ids = world.publish(dict.fromkeys(world.companies, per))
                cpu, submission = accept(service, agent, pki, "red_agent", ids)
                receipts_many = len(submission.receipts)
                small = next(v for v in submission.receipts
                             if v.content.recipient != company.identifier)
                if repeat:
                    many.append(cpu / len(ids))
            assert large is not None and small is not None
            one_m, many_m = statistics.median(one), statistics.median(many)
            print(f"{args.backend}: RED agent, prepare + submit, CPU per notification "
                  f"(median of {args.repeats})")
            print(f"  {args.batch} items of 1 company   (1 receipt):   {one_m * 1e6:8.1f} us")
            print(f"  {per * args.companies} items of {args.companies} companies "
                  f"({receipts_many} receipts): {many_m * 1e6:8.1f} us   "
                  f"ratio {many_m / one_m:.2f}")

            unknown_number = f"{datetime.now(UTC).year}/999999999"
            decided_other = large.issued.notification_ids[0]
            probes: dict[str, Callable[[], object]] = {
                "unknown number": lambda: service.get(company, registration_number=unknown_number),
                f"refused, {args.batch} items": lambda: service.get(
                    company, registration_number=str(large.content.registration_number)),
                f"refused, {per} items": lambda: service.get(
                    company, registration_number=str(small.content.registration_number)),
                "unknown id": lambda: service.get(company, notification_id=10**12),
                "another's decided id": lambda: service.get(company,
                                                            notification_id=decided_other),
                "GetNotification unknown id": lambda: queries.get(company, 10**12),
                "GetNotification another's id": lambda: queries.get(company, decided_other),
                "GetContent unknown id": lambda: queries.content(company, 10**12),
                "GetContent another's id": lambda: queries.content(company, decided_other),
            }
            times: dict[str, list[float]] = {name: [] for name in probes}
            for _ in range(args.lookups):
                for name, probe in probes.items():
                    times[name].append(timed(probe))
        finally:
            container.dispose()
            remove()

    base = statistics.median(times["unknown number"])
    quartiles = statistics.quantiles(times["unknown number"], n=4)
    print(f"GetReceipt refused vs never issued, wall time (median of {args.lookups}; "
          f"unknown number's interquartile range {quartiles[0] * 1e6:.0f}-"
          f"{quartiles[2] * 1e6:.0f} us is the noise)")
    for name, values in times.items():
        operation = name.split(" ", 1)[0] if name.startswith("Get") else ""
        reference = (statistics.median(times[f"{operation} unknown id".strip()]) if "id" in name
                     else base)
        print(f"  {name:<32}{statistics.median(values) * 1e6:9.1f} us   "
              f"ratio {statistics.median(values) / reference:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
