"""What authorisation costs a listing: an agent holding 5,000 mandates vs a recipient reading
its own notifications, one 1,000-row page each, in the same store.

    .venv/bin/python bench/authz_listing.py [--size 1000000] [--mandates 5000]
                                            [--backends postgresql,sqlite] [--repeats 7]

Issue 6's target: with one agent holding 5,000 mandates over 1,000,000 notifications, the cost
of a 1,000-row page relative to the same page for a recipient reading its own notifications is
<= 2. Both are timed through ``NotificationQueries.list`` -- what a ListNotifications request
pays below SOAP: loading the caller's sources of right (``facts_for``: 5,000 mandate rows for
the agent), turning them into audience clauses (``audiences``), the page query (folded into
``recipient IN (…)`` membership tests beyond 64 branches), the documents query, domain objects,
the role of each item (``AudienceIndex``) and the next cursor. Both pages start 90 % deep (the
cursor of the row before, encoded as a client would send it). Median of ``--repeats`` after one
warm-up.

Data: ``--size`` notifications published over two years; 10,000 companies, the first
``--mandates`` of which gave the agent a mandate (80 % unrestricted, 10 % TGSS-only, 10 %
restricted to one of their CCCs; 5 % carry the special-category flag); one more company, the
measured recipient, holds 2 % of the store (its own listing fills many pages). 5 % of items are
special category. Seeded with ``NotificationRepository.add_many`` and ``add_mandates``, then
``ANALYZE``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import FixedClock
from gateway.domain.cursor import encode_cursor
from gateway.domain.listing import ListingFilter, PagePosition
from gateway.domain.model import Category, Document, Issuer, ItemKind, Notification, Status
from gateway.domain.principal import Principal, PrincipalKind
from gateway.domain.rights import Action, Mandate
from gateway.services.notifications import NotificationQueries
from gateway.store.engine import session_factory
from gateway.store.migrate import upgrade
from gateway.store.paging import NOTIFICATION, AudienceMemo
from gateway.store.unit_of_work import SqlUnitOfWork

sys.path.insert(0, str(Path(__file__).resolve().parent))
from store_paging import DEFAULT_POSTGRES_URL, open_store

LIMIT = 1000
CHUNK = 20_000
BATCH = 50
START = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
SPAN = timedelta(days=730)
NOW = START + SPAN + timedelta(days=30)
COMPANIES = 10_000
RECIPIENT = "A00000000"
AGENT = "B99999999"
SECRET = b"bench-authz-listing"
TARGET_RATIO = 2.0
CONTENT = b"%PDF-1.7 tiny.\n"


def company(n: int) -> str:
    return f"B{n:08d}"


def company_ccc(n: int, k: int) -> str:
    return f"28{n:08d}{k:01d}0"[:12]


def generate(size: int, seed: int = 11) -> Iterator[tuple[Notification, list[bytes]]]:
    rng = random.Random(seed)
    step = SPAN / max(1, size // BATCH)
    document = Document("resolucion.pdf", "application/pdf", "0" * 64, len(CONTENT))
    for i in range(size):
        at = START + step * (i // BATCH)
        if rng.random() < 0.02:
            recipient, ccc = RECIPIENT, None
        else:
            n = rng.randrange(COMPANIES)
            recipient, ccc = company(n), company_ccc(n, rng.randrange(2))
        kind = ItemKind.NOTIFICATION if rng.random() < 0.8 else ItemKind.COMMUNICATION
        decided = i < size * 0.9 and rng.random() < 0.85
        status = Status.AVAILABLE
        if decided:
            status = (rng.choice([Status.ACCEPTED, Status.REJECTED, Status.EXPIRED])
                      if kind is ItemKind.NOTIFICATION else Status.READ)
        status_at = at + timedelta(days=rng.randrange(1, 10)) if decided else at
        yield (Notification(
            id=None, kind=kind, issuer=rng.choice(list(Issuer)),
            issuer_reference=f"AUTHZ-{i:09d}", procedure="Reclamación de deuda",
            subject=f"Acto administrativo {i}", recipient=recipient, ccc=ccc,
            category=Category.SPECIAL if rng.random() < 0.05 else Category.NORMAL,
            made_available_at=at,
            deadline_at=at + timedelta(days=10) if kind is ItemKind.NOTIFICATION else None,
            status=status, status_at=status_at, documents=(document,),
            status_effective_at=status_at if decided else None,
        ), [CONTENT])


def mandates(count: int, seed: int = 12) -> list[Mandate]:
    rng = random.Random(seed)
    scopes = frozenset({Action.READ, Action.SIGN, Action.CONTENT})
    result = []
    for n in range(count):
        shape = rng.random()
        result.append(Mandate(
            id=None, grantor=company(n), grantee=AGENT, scopes=scopes,
            valid_from=START - timedelta(days=1),
            issuers=frozenset({"TGSS"}) if 0.8 <= shape < 0.9 else None,
            cccs=frozenset({company_ccc(n, 0)}) if shape >= 0.9 else None,
            special_category=rng.random() < 0.05,
        ))
    return result


def seed(engine: object, size: int, mandate_count: int) -> float:
    factory = session_factory(engine)  # type: ignore[arg-type]
    started = time.perf_counter()
    chunk: list[tuple[Notification, list[bytes]]] = []

    def flush() -> None:
        with SqlUnitOfWork(factory) as uow:
            uow.notifications.add_many(chunk)
            uow.commit()
        chunk.clear()

    for done, item in enumerate(generate(size), start=1):
        chunk.append(item)
        if len(chunk) == CHUNK:
            flush()
            if size >= 100_000 and done % 200_000 == 0:
                print(f"    seeded {done:>9,}/{size:,} ({time.perf_counter() - started:6.1f} s)",
                      file=sys.stderr)
    if chunk:
        flush()
    with SqlUnitOfWork(factory) as uow:
        uow.representation.add_mandates(mandates(mandate_count))
        uow.commit()
    with engine.begin() as connection:  # type: ignore[attr-defined]
        connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def deep_cursor(queries: NotificationQueries, principal: Principal) -> tuple[str | None, int]:
    """The cursor a client holds 90 % through ``principal``'s listing (a full page left), and
    how many items the listing has: pages through it once, as a client would."""
    positions: list[PagePosition] = []
    cursor = None
    while True:
        page = queries.list(principal, ListingFilter(), cursor, LIMIT)
        for item in page.items:
            assert item.notification.id is not None
            positions.append(PagePosition(item.notification.made_available_at,
                                          item.notification.id))
        cursor = page.next_cursor
        if cursor is None:
            break
    start = max(0, min(int(0.9 * len(positions)), len(positions) - LIMIT))
    if start == 0:
        return None, len(positions)
    fingerprint = f"{principal.acts_for}|{ListingFilter().fingerprint()}"
    return encode_cursor(positions[start - 1], secret=SECRET, fingerprint=fingerprint), \
        len(positions)


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--mandates", type=int, default=5_000)
    parser.add_argument("--backends", default="postgresql")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--database-url",
                        default=os.environ.get("GATEWAY_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    recipient = Principal(PrincipalKind.ENTITY, RECIPIENT, "recipient", "bench")
    agent = Principal(PrincipalKind.ENTITY, AGENT, "agent", "bench")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="authz-listing-") as tmp:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            store = open_store(backend, args.size, args, args.workdir or Path(tmp))
            try:
                upgrade(store.engine)
                seconds = seed(store.engine, args.size, args.mandates)
                with store.engine.connect() as connection:
                    total = connection.execute(
                        select(func.count()).select_from(NOTIFICATION)).scalar_one()
                print(f"{backend}: {total:,} notifications, {args.mandates:,} mandates to the "
                      f"agent, seeded in {seconds:.1f} s")
                factory = session_factory(store.engine)
                memo = AudienceMemo()  # as bootstrap.Container wires them for the server
                queries = NotificationQueries(
                    lambda f=factory, m=memo: SqlUnitOfWork(f, None, m), FixedClock(NOW),
                    WorkingCalendar(), SECRET)
                results = {}
                for name, principal in (("recipient (own)", recipient),
                                        ("agent (5,000 mandates)", agent)):
                    cursor, matching = deep_cursor(queries, principal)
                    page = queries.list(principal, ListingFilter(), cursor, LIMIT)
                    ms = median_ms(lambda p=principal, c=cursor, q=queries: q.list(
                        p, ListingFilter(), c, LIMIT), args.repeats)
                    results[name] = ms
                    roles = sorted({item.role.value for item in page.items})
                    print(f"  {name:<24} {len(page.items):>4} rows, 90 % into {matching:>9,}: "
                          f"median {ms:7.2f} ms  roles {roles}")
                ratio = results["agent (5,000 mandates)"] / results["recipient (own)"]
                worst = max(worst, ratio)
                print(f"  ratio agent / recipient = {ratio:5.2f}   target <= {TARGET_RATIO}  "
                      f"{'ok' if ratio <= TARGET_RATIO else 'OVER TARGET'}")
            finally:
                store.cleanup()
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
