"""``gateway trust import-tl FILE...``: trust anchors from EU trusted lists (ETSI TS 119 612).

Each file is a trusted list as published (a national TL, or the EU list of lists). Its XML
signature is checked by the signature engine against the list signer certificates the operator
names (``--signer-cert``, the certificates the EU publishes for each scheme operator): exactly one
signature, TOTAL_PASSED, covering the whole list, by one of them (or a certificate they issued).
A list that is not signed so, is not a TS 119 612 list, or whose NextUpdate has passed is refused
and nothing is written -- for any of the files, none is imported. Then the certificates of the
services currently ``granted`` for the chosen types (``--service-type``, default CA/QC) become
anchors under ``<trust dir>/tl/`` with their provenance (``gateway.trust.trusted_lists``), printed
as JSON lines. Registering the command imports nothing of the engine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.config import Settings

EXIT_IMPORTED, EXIT_REFUSED = 0, 1
CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"


def add_commands(commands: Any) -> None:
    trust = commands.add_parser("trust", help="trust anchors (EU trusted lists)")
    actions = trust.add_subparsers(dest="trust_command", required=True, metavar="ACTION")
    imported = actions.add_parser(
        "import-tl", help="add the granted services of ETSI TS 119 612 trusted lists as anchors")
    imported.add_argument("files", nargs="+", type=Path, metavar="FILE",
                          help="trusted list XML files, as published")
    imported.add_argument("--signer-cert", type=Path, action="append", required=True,
                          metavar="PEM", help="a certificate the lists must be signed with (or "
                                              "by a certificate it issued); repeatable")
    imported.add_argument("--service-type", action="append", metavar="URI",
                          help=f"service types whose granted certificates become anchors "
                               f"(repeatable; default {CA_QC})")
    imported.add_argument("--dry-run", action="store_true",
                          help="check and list what would be imported; write nothing")
    imported.set_defaults(handler=_import_tl)


def _import_tl(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC

    from cryptography import x509

    from gateway.domain.clock import SystemClock
    from gateway.signatures import SignaturePolicy, validate
    from gateway.trust import trusted_lists
    from gateway.trust.certificates import TrustStore

    now = SystemClock().now().astimezone(UTC)
    try:
        signers = [cert for path in args.signer_cert
                   for cert in x509.load_pem_x509_certificates(path.read_bytes())]
        trust = TrustStore([], extra_anchors=signers)
    except (OSError, ValueError) as exc:
        print(f"error: the list signer certificates cannot be used: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    policy = SignaturePolicy(require_whole_document=True,
                             max_document_bytes=trusted_lists.MAX_TRUSTED_LIST_BYTES)
    checked = []
    for path in args.files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
            return EXIT_REFUSED
        report = validate(data, policy=policy, trust=trust, now=now)
        if len(report.signatures) != 1 or not report.passed:
            reason = report.sub_indication.value if report.sub_indication else "more than one " \
                "signature"
            print(f"error: {path}: the trusted list's signature is not acceptable "
                  f"({report.indication.value}/{reason}); nothing imported", file=sys.stderr)
            return EXIT_REFUSED
        try:
            parsed = trusted_lists.parse_trusted_list(data)
        except trusted_lists.TrustedListError as exc:
            print(f"error: {path}: {exc}; nothing imported", file=sys.stderr)
            return EXIT_REFUSED
        if parsed.next_update is not None and parsed.next_update <= now:
            print(f"error: {path}: the trusted list expired on {parsed.next_update.isoformat()} "
                  "(NextUpdate); nothing imported", file=sys.stderr)
            return EXIT_REFUSED
        signer = report.signatures[0].signer
        checked.append((path, data, parsed, signer.sha256 if signer else ""))
    types = args.service_type or [CA_QC]
    directory = settings.effective_trust_dir / "tl"
    for path, data, parsed, signer_sha256 in checked:
        anchors = trusted_lists.granted(parsed, types)
        provenance = trusted_lists.Provenance(
            source=str(path.resolve()), trusted_list_sha256=hashlib.sha256(data).hexdigest(),
            territory=parsed.territory, sequence_number=parsed.sequence_number,
            issued=parsed.issued, signer_sha256=signer_sha256, imported_at=now)
        if args.dry_run:
            for certificate, service in anchors:
                print(json.dumps({"subject": certificate.subject.rfc4514_string(),
                                  "territory": parsed.territory, "provider": service.provider,
                                  "service": service.name, "dry_run": True}))
            continue
        for record in trusted_lists.write_anchors(directory, parsed, anchors, provenance):
            print(json.dumps(record))
        print(f"{path}: {len(anchors)} anchor(s) from {parsed.territory} "
              f"(sequence {parsed.sequence_number}) in {directory}", file=sys.stderr)
    return EXIT_IMPORTED
