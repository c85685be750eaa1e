"""The ``gateway`` command: composition root for operators' commands.

Every sub-command has ``--help``. Exit codes: 0 done, 1 the operation was refused (bad input,
nothing written), 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from gateway.bootstrap import Container, build
from gateway.config import Settings
from gateway.domain.model import Issuer
from gateway.domain.outages import Outage
from gateway.errors import GatewayError
from gateway.manifest import read_manifest
from gateway.services.demo import demo_batch, demo_recipients
from gateway.services.publishing import BatchRejected

log = logging.getLogger("gateway.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env()
        if args.database:
            settings = replace(settings, database_url=args.database)
        return int(args.handler(args, settings))
    except GatewayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="NOTESS gateway: SOAP web services for bulk handling of telematic notifications.",
    )
    parser.add_argument("--database", metavar="URL",
                        help="SQLAlchemy URL (default: GATEWAY_DATABASE_URL, else SQLite in var/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="database schema management")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="apply every pending migration (alembic)")
    upgrade.set_defaults(handler=_db_upgrade)

    importer = commands.add_parser(
        "import", help="import notifications from a directory (manifest.csv or manifest.jsonl)",
        description="Validate every row first; import nothing if any row is bad and report "
                    "each bad row with its line number.",
    )
    importer.add_argument("directory", type=Path, help="directory holding the manifest and files")
    importer.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    importer.set_defaults(handler=_import)

    sweep = commands.add_parser(
        "sweep", help="mark overdue notifications EXPIRED (idempotent; safe from cron on every host)"
    )
    sweep.set_defaults(handler=_sweep)

    demo = commands.add_parser(
        "demo", help="create a demo database with generated notifications and print a summary"
    )
    demo.add_argument("--count", type=int, default=2000, help="number of items (default 2000)")
    demo.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    demo.set_defaults(handler=_demo)

    outage = commands.add_parser("outage", help="record and list service outages")
    outage_commands = outage.add_subparsers(dest="outage_command", required=True, metavar="ACTION")
    add = outage_commands.add_parser(
        "add", help="record an outage and extend the deadlines it affected",
        description="Times are ISO 8601 with an offset, e.g. 2026-03-02T09:00:00+01:00.",
    )
    add.add_argument("--from", dest="starts_at", required=True, type=_instant, help="start")
    add.add_argument("--to", dest="ends_at", required=True, type=_instant, help="end")
    add.add_argument("--reason", required=True, help="what happened (kept in the audit log)")
    add.set_defaults(handler=_outage_add)
    listing = outage_commands.add_parser("list", help="list recorded outages")
    listing.set_defaults(handler=_outage_list)
    return parser


def _instant(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO 8601 date-time") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{raw!r} needs a UTC offset (e.g. +01:00)")
    return value


def _container(settings: Settings) -> Container:
    container = build(settings)
    container.upgrade_database()
    return container


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    container = build(settings)
    container.upgrade_database()
    print(f"database at {_safe_url(container)} is up to date")
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        manifest = read_manifest(args.directory)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    container = _container(settings)
    publishing = container.publishing()
    _, problems = publishing.validate(manifest.requests)
    located = sorted([*manifest.problems, *manifest.locate(problems)], key=lambda p: p.line)
    if not located and not args.dry_run:
        try:
            ids = publishing.publish(manifest.requests)
        except BatchRejected as exc:  # a reference published meanwhile, found inside the transaction
            located = manifest.locate(list(exc.problems))
        else:
            print(f"imported {len(ids)} item(s) from {manifest.path}")
            return 0
    if located:
        print(f"{manifest.path}: {len(located)} problem(s); nothing was imported", file=sys.stderr)
        for problem in located:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{manifest.path}: {len(manifest.requests)} item(s) valid (dry run, nothing written)")
    return 0


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    result = _container(settings).sweeper().sweep()
    print(f"expired {result.expired} overdue notification(s)")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    if args.count < 1:
        print("error: --count must be positive", file=sys.stderr)
        return 1
    container = _container(settings)
    now = container.clock.now()
    batch = demo_batch(args.count, now, demo_recipients(), seed=args.seed)
    publishing = container.publishing()
    with container.unit_of_work() as uow:
        already = uow.notifications.existing_references(
            Issuer(batch[0].issuer), [batch[0].issuer_reference]
        )
    if not already:
        for start in range(0, len(batch), 1000):
            publishing.publish(batch[start:start + 1000])
    swept = container.sweeper().sweep()
    with container.unit_of_work() as uow:
        summary = uow.notifications.summary()
    print(f"demo database: {_safe_url(container)}")
    if already:
        print("demo data was already there (same seed); nothing added")
    print(f"expired by the sweep: {swept.expired}")
    print(json.dumps(summary, indent=2, sort_keys=True, default=str))
    return 0


def _outage_add(args: argparse.Namespace, settings: Settings) -> int:
    outage = Outage(starts_at=args.starts_at, ends_at=args.ends_at, reason=args.reason)
    recorded = _container(settings).outages().record(outage, actor="cli:operator")
    print(f"recorded outage {recorded.outage.id}; extended {recorded.extended} deadline(s)")
    return 0


def _outage_list(args: argparse.Namespace, settings: Settings) -> int:
    for outage in _container(settings).outages().list():
        print(f"{outage.id}\t{outage.starts_at.isoformat()}\t{outage.ends_at.isoformat()}\t{outage.reason}")
    return 0


def _safe_url(container: Container) -> str:
    return container.engine.url.render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
