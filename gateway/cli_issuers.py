"""``gateway issuers add|list|remove``: which organisations publish over ``IssuerService``.

An organisation is the CIF of an entity seal; registering it lets that seal call the issuer
port as TGSS, INSS or ISM. Every change is audited (``issuer.registered`` /
``issuer.unregistered``, actor ``--by``). Removing an organisation stops its calls at once; what
it published stays, and stays its issuer's.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gateway.config import Settings

if TYPE_CHECKING:  # the container and the services are imported when a command runs
    from gateway.bootstrap import Container

ContainerFactory = Callable[[Settings], "Container"]

ISSUERS = ("TGSS", "INSS", "ISM")
"""``gateway.domain.model.Issuer``'s values, spelled out so that building the parser imports
no domain module (tests/unit/test_cli_imports.py keeps them equal)."""

REGISTRY_ACTOR = "REGISTRY"


def add_commands(commands: Any, container: ContainerFactory) -> None:
    """Register the ``issuers`` command group on ``commands``."""

    def run(handler: Callable[[argparse.Namespace, Container], int]) -> Callable[..., int]:
        return lambda args, settings: handler(args, container(settings))

    issuers = commands.add_parser(
        "issuers", help="organisations allowed to publish over IssuerService")
    actions = issuers.add_subparsers(dest="issuers_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", help="let an organisation's entity seals publish as an issuer")
    add.add_argument("issuer", choices=ISSUERS, help="the issuer it publishes as")
    add.add_argument("organisation", help="CIF in the seal's organizationIdentifier")
    add.add_argument("--by", default=REGISTRY_ACTOR, help="operator (for the audit log)")
    add.set_defaults(handler=run(_add))
    listing = actions.add_parser("list", help="registered organisations as JSON lines")
    listing.set_defaults(handler=run(_list))
    remove = actions.add_parser("remove", help="stop an organisation publishing")
    remove.add_argument("organisation", help="CIF")
    remove.add_argument("--by", default=REGISTRY_ACTOR, help="operator (for the audit log)")
    remove.set_defaults(handler=run(_remove))


def _add(args: argparse.Namespace, container: Container) -> int:
    from gateway.domain.model import Issuer

    entry = container.issuing().register(args.organisation, Issuer(args.issuer), args.by)
    print(json.dumps({"organisation": entry.organisation_identifier,
                      "issuer": entry.issuer.value, "added_at": entry.added_at.isoformat()}))
    return 0


def _list(args: argparse.Namespace, container: Container) -> int:
    for entry in container.issuing().registered():
        print(json.dumps({"organisation": entry.organisation_identifier,
                          "issuer": entry.issuer.value, "added_at": entry.added_at.isoformat()}))
    return 0


def _remove(args: argparse.Namespace, container: Container) -> int:
    container.issuing().unregister(args.organisation, args.by)
    print(json.dumps({"removed": args.organisation}))
    return 0
