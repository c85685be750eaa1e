"""``gateway mandates …``, ``gateway access …`` and ``gateway red …``: the registry operators'
commands.

Mandates are recorded by the registry (actor ``REGISTRY`` in the audit log). Access-manager and
grant commands, and the RED reception commands (``AssignReception``/``UnassignReception`` of a
company's contribution accounts), act as the entity's main access manager, on behalf of the
operator named by ``--by`` (kept in ``named_by``/``granted_by`` and the audit log), and go through
the same authorisation decision and services as the SOAP operations.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.config import Settings

if TYPE_CHECKING:  # the container and the services are imported when a command runs
    from gateway.bootstrap import Container
    from gateway.domain.principal import Principal
    from gateway.domain.rights import AccessGrant, AccessManager, Mandate, RedAssignment

ContainerFactory = Callable[[Settings], "Container"]

REGISTRY_ACTOR = "REGISTRY"
"""``gateway.services.mandates.REGISTRY_ACTOR``, spelled out so that building the parser does not
import the services (a test keeps them equal)."""


def add_commands(commands: Any, container: ContainerFactory,
                 instant: Callable[[str], datetime]) -> None:
    """Register the ``mandates``, ``access`` and ``red`` command groups on ``commands``."""

    def run(handler: Callable[[argparse.Namespace, Container], int]) -> Callable[..., int]:
        return lambda args, settings: handler(args, container(settings))

    mandates = commands.add_parser("mandates", help="the registry of mandates (apoderamientos)")
    actions = mandates.add_subparsers(dest="mandates_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", help="record a mandate",
        description="Times are ISO 8601 with an offset. A mandate given before the registry's "
                    "start date (GATEWAY_MANDATE_REGISTRY_START) is refused as void.")
    add.add_argument("--grantor", required=True, help="NIF/NIE/CIF giving the mandate")
    add.add_argument("--grantee", required=True, help="NIF/NIE/CIF receiving it")
    add.add_argument("--scope", action="append", required=True, dest="scopes",
                     help="notifications.read|notifications.sign|notifications.content|"
                          "postal.manage|reception.assign (repeat)")
    add.add_argument("--issuer", action="append", dest="issuers",
                     help="restrict to TGSS, INSS or ISM (repeat)")
    add.add_argument("--ccc", action="append", dest="cccs", help="restrict to a CCC (repeat)")
    add.add_argument("--special-category", action="store_true",
                     help="covers special-category notifications too")
    add.add_argument("--valid-from", type=instant, help="start (default: now)")
    add.add_argument("--valid-to", type=instant, help="end (default: open)")
    add.add_argument("--granted-at", type=instant, help="when it was given (default: start)")
    add.set_defaults(handler=run(_mandate_add))
    revoke = actions.add_parser("revoke", help="revoke a mandate now (or --at)")
    revoke.add_argument("id", type=int)
    revoke.add_argument("--at", type=instant, help="revocation instant (default: now)")
    revoke.set_defaults(handler=run(_mandate_revoke))
    listing = actions.add_parser("list", help="list mandates (all, or of one party) as JSON lines")
    listing.add_argument("--party", help="only mandates this NIF/NIE/CIF gave or holds")
    listing.set_defaults(handler=run(_mandate_list))
    importer = actions.add_parser(
        "import", help="import mandates from CSV (header row) or JSON Lines",
        description="Columns/keys: grantor, grantee, scopes (comma- or semicolon-separated), "
                    "valid_from, valid_to, issuers, cccs, special_category, granted_at. Every "
                    "bad line is reported; nothing is imported unless all are good.")
    importer.add_argument("file", type=Path)
    importer.add_argument("--format", choices=("csv", "jsonl"),
                          help="default: from the file extension")
    importer.set_defaults(handler=run(_mandate_import))

    access = commands.add_parser("access", help="entity access managers and grants")
    access_actions = access.add_subparsers(dest="access_command", required=True, metavar="ACTION")
    for verb, text, handler in (("name-manager", "name an access manager", _manager_add),
                                ("remove-manager", "remove an access manager", _manager_remove)):
        command = access_actions.add_parser(verb, help=text)
        command.add_argument("--entity", required=True, help="CIF of the entity")
        command.add_argument("--person", required=True, help="NIF/NIE of the manager")
        command.add_argument("--by", default=REGISTRY_ACTOR, help="operator (for the audit log)")
        if verb == "name-manager":
            command.add_argument("--valid-to", type=instant)
        command.set_defaults(handler=run(handler))
    managers = access_actions.add_parser("managers", help="list an entity's access managers")
    managers.add_argument("--entity", required=True)
    managers.set_defaults(handler=run(_manager_list), by=REGISTRY_ACTOR)
    grant = access_actions.add_parser(
        "grant", help="invite a person to rights on an entity's notifications",
        description="The invitation lapses unless the person makes an authenticated call "
                    "within 24 hours.")
    grant.add_argument("--entity", required=True)
    grant.add_argument("--grantee", required=True, help="NIF/NIE of the person")
    grant.add_argument("--scope", action="append", required=True, dest="scopes",
                       help="notifications.read|notifications.sign|notifications.content")
    grant.add_argument("--ccc", action="append", dest="cccs")
    grant.add_argument("--special-category", action="store_true")
    grant.add_argument("--valid-to", type=instant)
    grant.add_argument("--by", default=REGISTRY_ACTOR)
    grant.set_defaults(handler=run(_grant_add))
    revoke_grant = access_actions.add_parser("revoke", help="revoke a grant now")
    revoke_grant.add_argument("id", type=int)
    revoke_grant.add_argument("--entity", required=True)
    revoke_grant.add_argument("--by", default=REGISTRY_ACTOR)
    revoke_grant.set_defaults(handler=run(_grant_revoke))
    grants = access_actions.add_parser("grants", help="list an entity's grants as JSON lines")
    grants.add_argument("--entity", required=True)
    grants.set_defaults(handler=run(_grant_list), by=REGISTRY_ACTOR)

    red = commands.add_parser(
        "red", help="RED reception: which authorised agent receives a contribution account (CCC)")
    red_actions = red.add_subparsers(dest="red_command", required=True, metavar="ACTION")
    assign = red_actions.add_parser(
        "assign", help="assign the reception of a company's CCC to a RED agent, effective now",
        description="As the company's main access manager (AssignReception): audited as "
                    "reception.assigned; assigning the agent that already has it changes nothing.")
    assign.add_argument("--company", required=True, help="CIF (or NIF) holding the CCC")
    assign.add_argument("--ccc", action="append", required=True, dest="cccs",
                        help="contribution account, e.g. 28/1234567/42 (repeat)")
    assign.add_argument("--agent", required=True, help="NIF/CIF of the RED authorised agent")
    assign.add_argument("--by", default=REGISTRY_ACTOR, help="operator (for the audit log)")
    assign.set_defaults(handler=run(_red_assign))
    unassign = red_actions.add_parser(
        "unassign", help="end a CCC's RED assignment now (the agent loses what it has not "
                         "accepted)")
    unassign.add_argument("--company", required=True)
    unassign.add_argument("--ccc", action="append", required=True, dest="cccs")
    unassign.add_argument("--by", default=REGISTRY_ACTOR)
    unassign.set_defaults(handler=run(_red_unassign))
    red_list = red_actions.add_parser(
        "list", help="JSON lines: the CCCs an agent receives now (--agent), or a CCC's "
                     "assignments over time (--ccc)")
    which = red_list.add_mutually_exclusive_group(required=True)
    which.add_argument("--agent", help="NIF/CIF of a RED agent")
    which.add_argument("--ccc", help="a contribution account")
    red_list.set_defaults(handler=run(_red_list))


def _operator(args: argparse.Namespace) -> Principal:
    """The main access manager of ``--entity``, operated from the command line by ``--by``."""
    from gateway.domain.identifiers import normalise_entity_id
    from gateway.domain.principal import Principal, PrincipalKind

    entity = normalise_entity_id(args.entity, field="entity")
    return Principal(PrincipalKind.REPRESENTATIVE, entity, "command line", "cli",
                     person_identifier=args.by)


def _company_operator(company: str, by: str) -> Principal:
    """The main access manager of ``company``, operated from the command line by ``by``."""
    from gateway.domain.identifiers import normalise_tax_id
    from gateway.domain.principal import Principal, PrincipalKind

    return Principal(PrincipalKind.REPRESENTATIVE, normalise_tax_id(company, field="company"),
                     "command line", "cli", person_identifier=by)


def _red_assign(args: argparse.Namespace, container: Container) -> int:
    service = container.representation()
    operator = _company_operator(args.company, args.by)
    for ccc in args.cccs:
        _print(_assignment_record(service.assign_reception(operator, ccc, args.agent)))
    return 0


def _red_unassign(args: argparse.Namespace, container: Container) -> int:
    service = container.representation()
    operator = _company_operator(args.company, args.by)
    for ccc in args.cccs:
        ended = service.unassign_reception(operator, ccc)
        print(f"{ccc}: ended {ended} assignment(s)")
    return 0


def _red_list(args: argparse.Namespace, container: Container) -> int:
    from gateway.domain.identifiers import normalise_tax_id
    from gateway.domain.listing import Role
    from gateway.domain.principal import Principal, PrincipalKind

    service = container.representation()
    if args.ccc:
        for assignment in service.reception_history(args.ccc):
            _print(_assignment_record(assignment))
        return 0
    agent = Principal(PrincipalKind.ENTITY, normalise_tax_id(args.agent, field="agent"),
                      "command line", "cli")
    for acting in service.principals(agent):
        if acting.role is Role.RED:
            _print({"agent": agent.identifier, "company": acting.identifier,
                    "cccs": acting.cccs or frozenset()})
    return 0


def _assignment_record(a: RedAssignment) -> dict[str, object]:
    return {"ccc": a.ccc, "company": a.company, "agent": a.agent,
            "assigned_at": a.assigned_at, "unassigned_at": a.unassigned_at}


def _print(record: dict[str, object]) -> None:
    print(json.dumps(record, ensure_ascii=False, default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(str(v) for v in value)
    raise TypeError(type(value).__name__)


def _mandate_record(m: Mandate) -> dict[str, object]:
    return {"id": m.id, "grantor": m.grantor, "grantee": m.grantee,
            "scopes": sorted(m.scopes_codes()), "issuers": m.issuers, "cccs": m.cccs,
            "special_category": m.special_category, "valid_from": m.valid_from,
            "valid_to": m.valid_to, "revoked_at": m.revoked_at, "granted_at": m.granted_at}


def _mandate_add(args: argparse.Namespace, container: Container) -> int:
    from gateway.services.mandates import new_mandate

    valid_from = args.valid_from or container.clock.now()
    mandate = container.mandates().add(new_mandate(
        args.grantor, args.grantee, args.scopes, valid_from, args.valid_to, args.issuers,
        args.cccs, args.special_category, args.granted_at))
    _print(_mandate_record(mandate))
    return 0


def _mandate_revoke(args: argparse.Namespace, container: Container) -> int:
    _print(_mandate_record(container.mandates().revoke(args.id, at=args.at)))
    return 0


def _mandate_list(args: argparse.Namespace, container: Container) -> int:
    for mandate in container.mandates().listed(args.party):
        _print(_mandate_record(mandate))
    return 0


def _mandate_import(args: argparse.Namespace, container: Container) -> int:
    from gateway.services.mandates import MandateImportRejected

    fmt = args.format or ("jsonl" if args.file.suffix.lower() in (".jsonl", ".json") else "csv")
    try:
        stored = container.mandates().import_text(args.file.read_text(encoding="utf-8"), fmt)
    except MandateImportRejected as rejected:
        for error in rejected.errors:
            print(f"{args.file}:{error.line}: {error.message}", file=sys.stderr)
        print(f"error: {rejected.message}", file=sys.stderr)
        return 1
    print(f"imported {len(stored)} mandate(s)")
    return 0


def _manager_record(m: AccessManager) -> dict[str, object]:
    return {"id": m.id, "entity": m.entity, "person": m.person, "named_by": m.named_by,
            "valid_from": m.valid_from, "valid_to": m.valid_to, "revoked_at": m.revoked_at}


def _manager_add(args: argparse.Namespace, container: Container) -> int:
    _print(_manager_record(container.access().name_manager(
        _operator(args), None, args.person, args.valid_to)))
    return 0


def _manager_remove(args: argparse.Namespace, container: Container) -> int:
    removed = container.access().remove_manager(_operator(args), None, args.person)
    print(f"removed {removed} access manager role(s)")
    return 0


def _manager_list(args: argparse.Namespace, container: Container) -> int:
    for manager in container.access().managers(_operator(args), None):
        _print(_manager_record(manager))
    return 0


def _grant_record(g: AccessGrant, now: datetime) -> dict[str, object]:
    return {"id": g.id, "entity": g.entity, "grantee": g.grantee,
            "scopes": sorted(g.scopes_codes()), "cccs": g.cccs,
            "special_category": g.special_category, "granted_by": g.granted_by,
            "state": g.state_at(now), "invited_at": g.invited_at,
            "invitation_expires_at": g.invitation_expires_at(), "activated_at": g.activated_at,
            "valid_from": g.valid_from, "valid_to": g.valid_to, "revoked_at": g.revoked_at}


def _grant_add(args: argparse.Namespace, container: Container) -> int:
    grant = container.access().grant(_operator(args), None, args.grantee, args.scopes,
                                     args.cccs, args.special_category, None, args.valid_to)
    _print(_grant_record(grant, container.clock.now()))
    return 0


def _grant_revoke(args: argparse.Namespace, container: Container) -> int:
    grant = container.access().revoke_grant(_operator(args), args.id)
    _print(_grant_record(grant, container.clock.now()))
    return 0


def _grant_list(args: argparse.Namespace, container: Container) -> int:
    now = container.clock.now()
    for grant in container.access().grants(_operator(args), None):
        _print(_grant_record(grant, now))
    return 0
