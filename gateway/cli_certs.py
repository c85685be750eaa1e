"""``gateway certs enrol|list|revoke``: certificates that key references may name (issue 14).

An embedded BinarySecurityToken needs nothing here. A client whose stack refers to its
certificate by IssuerSerial (CXF/WSS4J's default), SubjectKeyIdentifier, ThumbprintSHA1 or an
X509v3 KeyIdentifier is accepted only once its certificate is enrolled for its principal. Every
change is audited (``certificate.enrolled`` / ``certificate.enrolment_revoked``, actor ``--by``);
a revoked enrolment is refused from the next request on every worker and host.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.config import Settings

if TYPE_CHECKING:  # the container and the services are imported when a command runs
    from gateway.bootstrap import Container
    from gateway.domain.enrolment import EnrolledCertificate

ContainerFactory = Callable[[Settings], "Container"]

ENROLMENT_ACTOR = "OPERATOR"


def add_commands(commands: Any, container: ContainerFactory) -> None:
    """Register the ``certs`` command group on ``commands``."""

    def run(handler: Callable[[argparse.Namespace, Container], int]) -> Callable[..., int]:
        return lambda args, settings: handler(args, container(settings))

    certs = commands.add_parser(
        "certs", help="client certificates that IssuerSerial/SKI/Thumbprint references may name")
    actions = certs.add_subparsers(dest="certs_command", required=True, metavar="ACTION")
    enrol = actions.add_parser("enrol", help="enrol a client certificate (PEM or DER file)")
    enrol.add_argument("certificate", type=Path, help="the certificate file")
    enrol.add_argument("--principal", help="NIF/NIE/CIF it must map to (checked)")
    enrol.add_argument("--by", default=ENROLMENT_ACTOR, help="operator (for the audit log)")
    enrol.set_defaults(handler=run(_enrol))
    listing = actions.add_parser("list", help="enrolments as JSON lines")
    listing.add_argument("--principal", help="only this principal's")
    listing.set_defaults(handler=run(_list))
    revoke = actions.add_parser("revoke", help="end an enrolment at once")
    revoke.add_argument("fingerprint", help="SHA-256 fingerprint (hex) shown by enrol/list")
    revoke.add_argument("--by", default=ENROLMENT_ACTOR, help="operator (for the audit log)")
    revoke.set_defaults(handler=run(_revoke))


def _json(entry: EnrolledCertificate) -> str:
    return json.dumps({
        "fingerprint": entry.fingerprint, "principal": entry.principal_identifier,
        "issuer": entry.issuer_name, "serial": entry.serial_number,
        "ski": entry.subject_key_identifier, "thumbprint_sha1": entry.thumbprint_sha1,
        "enrolled_at": entry.enrolled_at.isoformat(),
        "revoked_at": entry.revoked_at.isoformat() if entry.revoked_at else None})


def _enrol(args: argparse.Namespace, container: Container) -> int:
    entry = container.enrolment().enrol(args.certificate.read_bytes(), args.by, args.principal)
    print(_json(entry))
    return 0


def _list(args: argparse.Namespace, container: Container) -> int:
    for entry in container.enrolment().enrolled(args.principal):
        print(_json(entry))
    return 0


def _revoke(args: argparse.Namespace, container: Container) -> int:
    entry = container.enrolment().revoke(args.fingerprint, args.by)
    print(json.dumps({"revoked": entry.fingerprint, "principal": entry.principal_identifier}))
    return 0
