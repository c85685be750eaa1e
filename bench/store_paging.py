"""What a deep 1000-row listing page costs in a big store, as a ratio against a small one.

    .venv/bin/python bench/store_paging.py [--sizes 1000,1000000] [--backends sqlite,postgresql]
                                           [--repeats 7] [--database-url URL] [--workdir DIR]

DESIGN.md §3: keyset pagination and its indexes must make a 1000-row page from a store of
millions cost the same as from a store of hundreds. For every backend and store size this seeds
a fresh store (SQLite: a file in ``--workdir``, a temporary directory by default; PostgreSQL: a
dedicated schema ``bench_<pid>_<hex>_<size>``, dropped at the end), then times, median of
``--repeats`` runs after one warm-up, one page of ``limit`` rows deep into three listings:

- ``admin``: every item (``list_page_unrestricted``, the back-office path: no audience);
- ``recipient``: one company's own items (one OWN clause: the ``(recipient, …)`` index);
- ``red-agent``: the same company's items seen by its RED agent through 4 CCC clauses (UNION of
  4 branches on the ``(ccc, …)`` index).

"Deep" is 90% through the listing, clamped so that a full page remains: the page starts at row
``max(0, min(0.9 * matching, matching - limit))`` (0-based), through the ``PagePosition`` of the
row before it, found once before timing. Each timed run is what a service pays: its own unit of
work, the page query, the documents query, and building the domain objects (most of the time). The target is large/small <= 1.5 for every listing. It prints the plans of each page
query and of its documents query (the statements ``list_page`` actually sent, captured and
EXPLAINed): on PostgreSQL the first line and the first scan of a listing index (or the first
scan if none), on SQLite the SEARCH/SCAN steps, to show the indexes are used.

Data: ``size`` items published over two years in batches of 50 sharing one instant (ties on
``made_available_at``); recipients follow a skewed spread (a few companies get many items, most
get a handful); 80% notifications, 5% special category, older items mostly decided. The company
measured holds ``max(limit, size / 100)`` items, always with one of its 4 CCCs, so each listing
fills a whole page at every size (in a 1000-item store that company is the whole store). Every
item has one document row (metadata) and a 15-byte content: content size does not matter to
listing, which never reads ``notification_content``. Seeding uses
``NotificationRepository.add_many`` (ids allocated up front, then one executemany per table) in
chunks of 20,000, one commit each,
followed by ``ANALYZE``; its duration is printed too.
"""

from __future__ import annotations

import argparse
import os
import random
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

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from gateway.domain.listing import Audience, ListingFilter, ListingQuery, PagePosition, Role
from gateway.domain.model import (
    Category,
    Document,
    Issuer,
    ItemKind,
    Notification,
    Status,
)
from gateway.store.engine import create_engine_for, session_factory, url_with_schema
from gateway.store.migrate import upgrade
from gateway.store.paging import NOTIFICATION
from gateway.store.unit_of_work import SqlUnitOfWork

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LIMIT = 1000
CHUNK = 20_000
BATCH = 50  # items published at the same instant
START = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
SPAN = timedelta(days=730)
COMPANY = "B00000001"
COMPANY_CCCS = tuple(f"28{n:010d}" for n in range(1, 5))
CONTENT = b"%PDF-1.7 tiny.\n"
TARGET_RATIO = 1.5


@dataclass(frozen=True)
class Listing:
    name: str
    audience: tuple[Audience, ...] | None  # None: unrestricted (admin)


LISTINGS = (
    Listing("admin", None),
    Listing("recipient", (Audience(COMPANY, Role.OWN),)),
    Listing(
        "red-agent",
        tuple(Audience(COMPANY, Role.RED, cccs=frozenset({ccc})) for ccc in COMPANY_CCCS),
    ),
)


def company_share(size: int) -> int:
    return min(size, max(LIMIT, size // 100))


def generate(size: int, seed: int = 7) -> Iterator[tuple[Notification, list[bytes]]]:
    """``size`` items in publication order (ids follow time, as in production)."""
    rng = random.Random(seed)
    company_items = set(rng.sample(range(size), company_share(size)))
    pool = max(10, size // 20)  # about 20 items per recipient on average, skewed
    step = SPAN / max(1, size // BATCH)
    document = Document("resolucion.pdf", "application/pdf", "0" * 64, len(CONTENT))
    for i in range(size):
        at = START + step * (i // BATCH)
        if i in company_items:
            recipient, ccc = COMPANY, rng.choice(COMPANY_CCCS)
        else:
            recipient = f"B{2 + int(pool * rng.random() ** 3):08d}"
            ccc = f"{recipient[1:]}{rng.randrange(3):04d}" if rng.random() < 0.7 else None
        kind = ItemKind.NOTIFICATION if rng.random() < 0.8 else ItemKind.COMMUNICATION
        status = Status.AVAILABLE
        status_at = at
        if i < size * 0.9 and rng.random() < 0.85:
            status = (
                rng.choice([Status.ACCEPTED, Status.REJECTED, Status.EXPIRED])
                if kind is ItemKind.NOTIFICATION
                else Status.READ
            )
            status_at = at + timedelta(days=rng.randrange(1, 10))
        yield (
            Notification(
                id=None,
                kind=kind,
                issuer=rng.choice(list(Issuer)),
                issuer_reference=f"BENCH-{i:09d}",
                procedure="Reclamación de deuda",
                subject=f"Acto administrativo {i}",
                recipient=recipient,
                ccc=ccc,
                category=Category.SPECIAL if rng.random() < 0.05 else Category.NORMAL,
                made_available_at=at,
                deadline_at=at + timedelta(days=10) if kind is ItemKind.NOTIFICATION else None,
                status=status,
                status_at=status_at,
                documents=(document,),
                status_effective_at=status_at if status is not Status.AVAILABLE else None,
            ),
            [CONTENT],
        )


def seed(engine: Engine, size: int) -> float:
    factory = session_factory(engine)
    started = time.perf_counter()
    chunk: list[tuple[Notification, list[bytes]]] = []
    done = 0

    def flush() -> None:
        nonlocal done
        with SqlUnitOfWork(factory) as uow:
            uow.notifications.add_many(chunk)
            uow.commit()
        done += len(chunk)
        chunk.clear()
        if size >= 100_000:
            elapsed = time.perf_counter() - started
            print(f"    seeded {done:>9,}/{size:,} ({elapsed:6.1f} s)", file=sys.stderr)

    for item in generate(size):
        chunk.append(item)
        if len(chunk) == CHUNK:
            flush()
    if chunk:
        flush()
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def deep_position(engine: Engine, listing: Listing) -> tuple[PagePosition | None, int, int]:
    """Where a page 90% through ``listing`` starts (clamped to leave a full page): the position
    of the row before it, that row's index, and how many rows the listing has."""
    c = NOTIFICATION.c
    # Every listing here is either everything or exactly the measured company's items.
    condition = [] if listing.audience is None else [c.recipient == COMPANY]
    with engine.connect() as connection:
        matching = connection.execute(
            select(func.count()).select_from(NOTIFICATION).where(*condition)
        ).scalar_one()
        start = max(0, min(int(0.9 * matching), matching - LIMIT))
        if start == 0:
            return None, 0, matching
        row = connection.execute(
            select(c.made_available_at, c.id)
            .where(*condition)
            .order_by(c.made_available_at, c.id)
            .offset(start - 1)
            .limit(1)
        ).one()
    return PagePosition(row.made_available_at, row.id), start, matching


def fetch(factory: Any, listing: Listing, after: PagePosition | None) -> list[Notification]:
    with SqlUnitOfWork(factory) as uow:
        if listing.audience is None:
            return uow.notifications.list_page_unrestricted(ListingFilter(), after, LIMIT)
        return uow.notifications.list_page(ListingQuery(listing.audience, after=after, limit=LIMIT))


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: caches, statement compilation
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def plan_summary(
    engine: Engine, factory: Any, listing: Listing, after: PagePosition | None
) -> tuple[str, str]:
    """The plans of the page query and of its documents query exactly as ``list_page`` sends
    them (captured, then EXPLAINed): on PostgreSQL the first line and first index scan (listing
    index for the page), on SQLite the search and scan steps. The documents query is where
    issue 19 hid: ``IN (…) = 1`` made SQLite scan all of notification_document."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        fetch(factory, listing, after)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    page = next(sent for sent in captured if "FROM notification_document" not in sent[0])
    documents = next(sent for sent in captured if "FROM notification_document" in sent[0])
    with engine.connect() as connection:

        def summary(statement: str, parameters: Any, preferred: str) -> str:
            if engine.dialect.name == "postgresql":
                lines = list(
                    connection.exec_driver_sql("EXPLAIN " + statement, parameters).scalars()
                )
                scans = [line.strip(" ->") for line in lines if "Scan" in line]
                chosen = [scan for scan in scans if preferred in scan]
                return f"{lines[0].strip()}  |  {(chosen or scans or ['?'])[0]}"
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            steps = [row[-1] for row in rows]
            searches = [step for step in steps if step.startswith(("SEARCH", "SCAN notification"))]
            return "; ".join(dict.fromkeys(searches))

        return summary(*page, "ix_notification"), summary(*documents, "notification_document")


@dataclass
class Store:
    engine: Engine
    cleanup: Callable[[], None]


def open_store(backend: str, size: int, args: argparse.Namespace, workdir: Path) -> Store:
    if backend == "sqlite":
        path = workdir / f"store-{size}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        engine = create_engine_for(f"sqlite:///{path.as_posix()}")

        def remove() -> None:
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

        return Store(engine, remove)
    schema = f"bench_{os.getpid()}_{secrets.token_hex(3)}_{size}"
    admin = create_engine_for(args.database_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = create_engine_for(url_with_schema(args.database_url, schema))

    def drop() -> None:
        engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    return Store(engine, drop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("GATEWAY_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL),
        help="PostgreSQL server for the postgresql backend (a schema is created and dropped)",
    )
    parser.add_argument("--workdir", type=Path, help="where SQLite stores go (default: temp)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    results: dict[tuple[str, str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="store-paging-") as tmp:
        workdir = args.workdir or Path(tmp)
        for backend in backends:
            for size in sizes:
                store = open_store(backend, size, args, workdir)
                try:
                    upgrade(store.engine)
                    seconds = seed(store.engine, size)
                    print(
                        f"{backend:<10} size {size:>9,}: seeded in {seconds:7.1f} s "
                        f"({size / seconds:,.0f} items/s)"
                    )
                    factory = session_factory(store.engine)
                    for listing in LISTINGS:
                        after, start, matching = deep_position(store.engine, listing)
                        page = fetch(factory, listing, after)
                        ms = median_ms(
                            lambda f=factory, l=listing, a=after: fetch(f, l, a), args.repeats
                        )
                        results[(backend, listing.name, size)] = ms
                        print(
                            f"{'':<10} {listing.name:<10} {len(page):>4} rows from row "
                            f"{start:>9,} of {matching:>9,}: median {ms:7.2f} ms"
                        )
                        plan, documents_plan = plan_summary(store.engine, factory, listing, after)
                        print(f"{'':<21} plan: {plan}")
                        print(f"{'':<21} documents: {documents_plan}")
                finally:
                    store.cleanup()

    print()
    worst = 0.0
    small, large = sizes[0], sizes[-1]
    print(
        f"ratio of the {large:,}-item store to the {small:,}-item store (target <= {TARGET_RATIO}):"
    )
    for backend in backends:
        for listing in LISTINGS:
            ratio = (
                results[(backend, listing.name, large)] / results[(backend, listing.name, small)]
            )
            worst = max(worst, ratio)
            verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
            print(
                f"  {backend:<10} {listing.name:<10} {results[(backend, listing.name, small)]:7.2f} ms"
                f" -> {results[(backend, listing.name, large)]:7.2f} ms   ratio {ratio:5.2f}  {verdict}"
            )
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
