"""The ``gateway`` command: composition root for operators' commands.

Every sub-command has ``--help``. Exit codes: 0 done, 1 the operation was refused (bad input,
nothing written), 2 usage error (argparse), 3 a validated signature did not pass
(``gateway validate``), 130 interrupted.

Building the parser imports nothing heavy: each handler imports what its command uses when it
runs, and builds it from the one composition root (``gateway.bootstrap``), so ``--help`` answers
at once and ``gateway validate`` never loads the database or the SOAP stack.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from gateway import (
    cli_access,
    cli_certs,
    cli_events,
    cli_issuers,
    cli_limits,
    cli_trust,
    cli_validate,
    logs,
)
from gateway.config import Settings
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.bootstrap import Container
    from gateway.pki import DemoPki
    from gateway.services.demo import DemoRelations
    from gateway.services.publishing import PublicationRequest


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logs.configure(verbose=args.verbose,
                   json_lines=logs.json_wanted(args.command, args.json_logs, os.environ))
    try:
        settings = Settings.from_env()
        if args.database:
            settings = replace(settings, database_url=args.database)
        return int(args.handler(args, settings))
    except GatewayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="NOTESS gateway: SOAP web services for bulk handling of telematic notifications.",
    )
    parser.add_argument("--database", metavar="URL",
                        help="SQLAlchemy URL (default: GATEWAY_DATABASE_URL, else SQLite in var/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--json-logs", action="store_true",
                        help="log JSON lines (always on for serve; GATEWAY_JSON_LOGS=true: "
                             "every command)")
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
    demo.add_argument("--serve", action="store_true",
                      help="then start the server (demo PKI in <data_dir>/pki, created if missing)")
    demo.set_defaults(handler=_demo)

    serve = commands.add_parser(
        "serve", help="run the SOAP gateway under gunicorn (GATEWAY_BIND, GATEWAY_WORKERS)")
    serve.add_argument("--bind", help="host:port (default GATEWAY_BIND or 127.0.0.1:8080)")
    serve.add_argument("--workers", type=int, help="worker processes (default GATEWAY_WORKERS or 2)")
    serve.set_defaults(handler=_serve)

    cli_validate.add_command(commands)
    cli_trust.add_commands(commands)

    contract = commands.add_parser(
        "contract", help="check or rewrite the committed WSDL/XSD (wsdl/, xsd/) from the code")
    contract.add_argument("--root", type=Path, default=Path("."),
                          help="repository root holding wsdl/ and xsd/ (default: .)")
    contract.add_argument("--write", action="store_true",
                          help="rewrite the files (after an intended contract change)")
    contract.set_defaults(handler=_contract)

    pki = commands.add_parser("pki", help="certificates for demos and tests")
    pki_commands = pki.add_subparsers(dest="pki_command", required=True, metavar="ACTION")
    pki_demo = pki_commands.add_parser(
        "demo", help="create a demo CA, server, TSA and client certificates (unencrypted keys)")
    pki_demo.add_argument("--force", action="store_true", help="replace an existing demo PKI")
    pki_demo.set_defaults(handler=_pki_demo)
    rotate = pki_commands.add_parser(
        "rotate", help="schedule the next response-signing certificate (announced until --at)",
        description="Clients fetch the next certificate with GetServerCertificates (or GET "
                    "/server-certificates) over a response signed by the current one; from --at "
                    "every worker signs with the new key. The key must be at the same path on "
                    "every host. Audited (server_certificate.scheduled).")
    rotate.add_argument("--next", dest="certificate", type=Path, required=True,
                        help="the next server certificate (PEM or DER)")
    rotate.add_argument("--key", type=Path, required=True, help="its private key (PEM)")
    rotate.add_argument("--at", type=_instant, required=True,
                        help="activation instant, ISO 8601 with an offset")
    rotate.add_argument("--by", default="OPERATOR", help="operator (for the audit log)")
    rotate.set_defaults(handler=_pki_rotate)
    certificates = pki_commands.add_parser(
        "certificates", help="the response-signing certificate now, the next one and the "
                             "schedule (JSON)")
    certificates.set_defaults(handler=_pki_certificates)

    audit = commands.add_parser("audit", help="the hash-chained audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify", help="walk the chain; exit 1 naming the first modified, deleted or "
                       "reordered event")
    verify.set_defaults(handler=_audit_verify)

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

    cli_access.add_commands(commands, _container, _instant)
    cli_limits.add_commands(commands, _container)
    cli_issuers.add_commands(commands, _container)
    cli_certs.add_commands(commands, _container)
    cli_events.add_commands(commands, _container)
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
    from gateway.bootstrap import build

    container = build(settings)
    container.upgrade_database()
    return container


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.bootstrap import build

    container = build(settings)
    container.upgrade_database()
    print(f"database at {_safe_url(container)} is up to date")
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.manifest import read_manifest
    from gateway.services.publishing import BatchRejected

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
    import json

    from gateway.domain.identifiers import make_ccc
    from gateway.services.demo import DemoRecipient, demo_batch, demo_recipients, demo_relations

    if args.count < 1:
        print("error: --count must be positive", file=sys.stderr)
        return 1
    container = _container(settings)
    now = container.clock.now()
    pki = _ensure_demo_pki(settings, container, force=False)
    extra = [
        DemoRecipient(pki.company_cif, (make_ccc(28, 1_234_567), make_ccc(8, 7_654_321))),
        DemoRecipient(pki.person_nif),  # the representative certificate acts for the company
    ]
    recipients = demo_recipients(extra=extra)
    batch = demo_batch(args.count, now, recipients, seed=args.seed)
    new = _unpublished(container, batch)
    publishing = container.publishing()
    for start in range(0, len(new), 1000):
        publishing.publish(new[start:start + 1000])
    relations = _demo_relations(container, demo_relations(recipients, pki.red_agent_cif,
                                                          pki.person_nif))
    swept = container.sweeper().sweep()
    issuers = _register_demo_issuers(container, pki)
    with container.unit_of_work() as uow:
        summary = uow.notifications.summary()
    print(f"demo database: {_safe_url(container)}")
    if len(new) < len(batch):
        print(f"{len(batch) - len(new)} of the {len(batch)} demo item(s) of seed {args.seed} "
              f"were already there; added {len(new)}")
    if not new:
        print(f"to add items: --count N with N > {args.count} adds items {args.count}.. of this "
              f"series, --seed S (another number) adds a new series of --count items")
    else:
        print(f"added {len(new)} item(s) (references DEMO-{args.seed}-"
              f"{int(new[0].issuer_reference.rsplit('-', 1)[1])}..)")
    print(f"expired by the sweep: {swept.expired}")
    print(json.dumps(summary, indent=2, sort_keys=True, default=str))
    print(f"demo PKI: {pki.directory} (company {pki.company_cif}, person {pki.person_nif}, "
          f"representative of {pki.representative_cif}, RED agent {pki.red_agent_cif})")
    for line in relations:
        print(line)
    if issuers:
        print(f"IssuerService seals: {issuers}")
    _print_walkthrough(settings)
    if args.serve:
        from gateway.serving import delivery_beside

        container.dispose()
        # The events' delivery process runs beside the server and stops with it.
        with delivery_beside(settings) as delivery:
            print(f"event delivery: gateway events deliver (pid {delivery.pid}); "
                  "subscribers' callbacks must be in GATEWAY_EVENTS_ALLOWED_CALLBACKS",
                  flush=True)
            return _serve(argparse.Namespace(bind=None, workers=None), settings)
    return 0


def _unpublished(container: Container, batch: Sequence[PublicationRequest]
                 ) -> list[PublicationRequest]:
    """The items of ``batch`` not published yet (a re-run with a larger --count adds the rest)."""
    from gateway.domain.model import Issuer

    existing: set[tuple[str, str]] = set()
    with container.unit_of_work() as uow:
        for issuer in {item.issuer for item in batch}:
            references = [item.issuer_reference for item in batch if item.issuer == issuer]
            existing |= {(issuer, ref)
                         for ref in uow.notifications.existing_references(Issuer(issuer),
                                                                          references)}
    return [item for item in batch if (item.issuer, item.issuer_reference) not in existing]


def _demo_relations(container: Container, relations: DemoRelations) -> list[str]:
    """Assign the RED agent its companies' CCCs and give the person its mandates, once: a CCC
    that was ever assigned (an operator may have ended it since) and a grantor that already
    gave the person a mandate are left as they are. Returns what the demo holds, in words."""
    from gateway.domain.principal import Principal, PrincipalKind
    from gateway.services.mandates import new_mandate

    representation = container.representation()
    registry = container.mandates()
    now = container.clock.now()
    for company in relations.red_companies:
        operator = Principal(PrincipalKind.REPRESENTATIVE, company.identifier, "gateway demo",
                             "demo", person_identifier="DEMO")
        for ccc in company.cccs:
            if not representation.reception_history(ccc):
                representation.assign_reception(operator, ccc, relations.red_agent)
    held = {m.grantor for m in registry.listed(relations.person) if m.grantee == relations.person}
    for mandate in relations.mandates:
        if mandate.grantor not in held:
            registry.add(new_mandate(mandate.grantor, relations.person, mandate.scopes,
                                     now - timedelta(days=365),
                                     special_category=mandate.special_category))
    lines = [(f"RED agent {relations.red_agent} receives the CCCs of "
              f"{len(relations.red_companies)} companies (gateway red list --agent "
              f"{relations.red_agent})")]
    for mandate in relations.mandates:
        lines.append(f"person {relations.person} holds a mandate of {mandate.grantor}: "
                     f"{', '.join(mandate.scopes)}"
                     f"{' (special category too)' if mandate.special_category else ''}")
    return lines


def _print_walkthrough(settings: Settings) -> None:
    """The commands of client_examples/README.md's walkthrough, with this demo's paths."""
    base = (settings.public_url or f"http://{settings.bind}").rstrip("/")
    pki = settings.effective_pki_dir
    agent = pki / "clients" / "red_agent"
    print("walkthrough (client_examples/README.md), from this directory in another terminal:")
    print(f"  URL={base}/NotificationService")
    print(f'  ME="--cert {agent}/cert.pem --key {agent}/key.pem"')
    print(f'  SERVER="--server-cert {pki}/server/cert.pem"')
    for command in WALKTHROUGH:
        print(f"  {command}")
    print(f"  then check a justificante by its CSV code, without a certificate: {base}/verify")


WALKTHROUGH = (
    ".venv/bin/python client_examples/batch_agent.py --url $URL $ME $SERVER --archive ./archive",
    ".venv/bin/python client_examples/verify_receipt.py $SERVER archive/*/receipts/*.xml",
)
"""Printed by ``gateway demo`` and written in client_examples/README.md (a test keeps them so)."""


def _register_demo_issuers(container: Container, pki: DemoPki) -> str:
    """Register the demo PKI's issuer seals (TGSS, INSS) once, so the demo's IssuerService
    answers them; a demo PKI written before issue 17 has none."""
    from gateway.domain.model import Issuer

    issuing = container.issuing()
    registered = {e.organisation_identifier: e.issuer for e in issuing.registered()}
    seals = {Issuer.TGSS: pki.issuer_tgss_cif, Issuer.INSS: pki.issuer_inss_cif}
    for issuer, cif in seals.items():
        if cif and cif not in registered:
            issuing.register(cif, issuer, actor="demo")
    return ", ".join(f"{issuer.value} {cif}" for issuer, cif in seals.items() if cif)


def _ensure_demo_pki(settings: Settings, container: Container, *, force: bool) -> DemoPki:
    from gateway.pki import load_or_generate_demo_pki

    directory = settings.effective_pki_dir
    return load_or_generate_demo_pki(directory, now=container.clock.now(), force=force)


def _contract(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.soap import contract

    if args.write:
        for written in contract.write(args.root):
            print(f"wrote {written}")
        return 0
    drift = contract.differences(args.root)
    for drifted in drift:
        print(f"differs from what the code serves: {drifted}", file=sys.stderr)
    if drift:
        print("run 'gateway contract --write' if the change is intended", file=sys.stderr)
        return 1
    print("contract files match the code")
    return 0


def _pki_demo(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.bootstrap import build

    container = build(settings)
    pki = _ensure_demo_pki(settings, container, force=args.force)
    print(f"demo PKI in {pki.directory}")
    print(f"  trust store:  {pki.trust_dir}")
    print(f"  CRLs:         {pki.crl_dir}")
    print(f"  server:       {pki.server.cert_path}")
    for name, credential in sorted(pki.clients.items()):
        print(f"  client {name:<22} {credential.cert_path}")
    return 0


def _pki_rotate(args: argparse.Namespace, settings: Settings) -> int:
    entry = _container(settings).rotation().schedule(
        args.certificate.read_bytes(), args.key, args.at, args.by)
    print(json.dumps({"scheduled": entry.fingerprint, "active_from": entry.active_from.isoformat(),
                      "key_path": entry.key_path}))
    return 0


def _pki_certificates(args: argparse.Namespace, settings: Settings) -> int:
    container = _container(settings)
    keys = container.signing_keys
    announced = {}
    if keys is not None:
        announcement = keys.announcement(container.clock.now())
        announced = {role: None if credential is None else {
            "sha256": credential.fingerprint,
            "subject": credential.certificate.subject.rfc4514_string(),
            "active_from": credential.active_from.isoformat() if credential.active_from else None}
            for role, credential in (("current", announcement.current),
                                     ("next", announcement.next))}
    print(json.dumps({**announced, "scheduled": [
        {"sha256": entry.fingerprint, "active_from": entry.active_from.isoformat(),
         "scheduled_at": entry.scheduled_at.isoformat(), "key_path": entry.key_path}
        for entry in container.rotation().scheduled()]}, indent=2))
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.bootstrap import build
    from gateway.serving import serve

    if args.bind:
        settings = replace(settings, bind=args.bind)
    if args.workers:
        settings = replace(settings, workers=args.workers)
    # Fail here, in the operator's terminal, rather than in every worker.
    probe = build(settings)
    probe.upgrade_database()
    probe.wsgi_app()
    probe.dispose()
    host, _, port = settings.bind.rpartition(":")
    base = f"http://{host or '127.0.0.1'}:{port}"
    pki_dir = settings.effective_pki_dir
    print(f"NOTESS gateway on {base}  (database {_safe_url(probe)})")
    print(f"  WSDL:    {base}/NotificationService?wsdl")
    print(f"  health:  {base}/healthz    metrics: {base}/metrics")
    print("  try:     .venv/bin/python client_examples/list_notifications.py "
          f"--url {base}/NotificationService?wsdl --cert {pki_dir}/clients/company/cert.pem "
          f"--key {pki_dir}/clients/company/key.pem --server-cert {pki_dir}/server/cert.pem")
    print(f"  WSCN:    {base}/WSCN?wsdl  (test namespace: {base}/pruebas/WSCN?wsdl)")
    print("  try:     .venv/bin/python client_examples/wscn_list.py "
          f"--url {base}/WSCN?wsdl --cert {pki_dir}/clients/company/cert.pem "
          f"--key {pki_dir}/clients/company/key.pem --server-cert {pki_dir}/server/cert.pem",
          flush=True)
    serve(settings)
    return 0


def _outage_add(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.domain.outages import Outage

    outage = Outage(starts_at=args.starts_at, ends_at=args.ends_at, reason=args.reason)
    recorded = _container(settings).outages().record(outage, actor="cli:operator")
    print(f"recorded outage {recorded.outage.id}; extended {recorded.extended} deadline(s)")
    return 0


def _outage_list(args: argparse.Namespace, settings: Settings) -> int:
    for outage in _container(settings).outages().list():
        print(f"{outage.id}\t{outage.starts_at.isoformat()}\t{outage.ends_at.isoformat()}\t{outage.reason}")
    return 0


def _audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from collections.abc import Iterator

    from gateway.domain.audit import AuditEvent, verify_chain

    container = _container(settings)
    seen: list[AuditEvent] = []
    count = 0

    def walked(events: Iterator[AuditEvent]) -> Iterator[AuditEvent]:
        nonlocal count
        for event in events:
            count += 1
            seen[:] = [event]  # only the latest: verify_chain stops on the first bad one
            yield event

    with container.unit_of_work() as uow:
        broken = verify_chain(walked(uow.audit.iter_events()))
    if broken is None:
        print(f"audit chain intact: {count} event(s)")
        return 0
    bad = seen[0]
    print(f"audit chain broken at event seq {bad.seq} ({bad.event_type}, "
          f"{bad.at.isoformat()}): it was modified, or an event before it was deleted or "
          "reordered", file=sys.stderr)
    return 1


def _safe_url(container: Container) -> str:
    return container.engine.url.render_as_string(hide_password=True)


def run() -> None:
    """The console script (and ``python -m gateway.cli``): ``main``, then an exit that leaves the
    objects the imports made to the OS.

    Tearing the modules down, the interpreter collects garbage several times, each time walking
    every object the signature engine and its libraries created: a fifth of the CPU of validating
    one small file. Frozen, they are not walked. What must happen at exit does not depend on that
    collection: atexit handlers (logging's flush, ``weakref.finalize``) run before it, and files
    are closed by the code that wrote them.
    """
    import gc

    try:
        sys.exit(main())
    finally:
        gc.freeze()


if __name__ == "__main__":
    run()
