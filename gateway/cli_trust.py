"""``gateway trust import-tl FILE...``: trust anchors from EU trusted lists (ETSI TS 119 612).

Each file is a trusted list as published (a national TL, or the EU list of lists). Its XML
signature is checked by the signature engine against the list signer certificates the operator
names (``--signer-cert``, the certificates the EU publishes for each scheme operator): exactly one
signature, TOTAL_PASSED, covering the whole list, by one of them (or a certificate they issued).
A list that is not signed so, is not a TS 119 612 list, or whose NextUpdate has passed is refused
and nothing is written -- for any of the files, none is imported. Then the certificates of the
services currently ``granted`` for the chosen types (``--service-type``, default CA/QC) become
anchors under ``<trust dir>/tl/`` with their provenance (``gateway.trust.trusted_lists``), printed
as JSON lines. Services granted earlier and withdrawn since are anchors too, with their status
history: the trust store counts each only for times its service was granted
(``gateway.trust.service_status``).

``--follow DIR`` follows the pointers of a list of lists (the EU LOTL's ``OtherTSLPointer``) to the
national lists, without any network access: a pointer's ``TSLLocation`` is read from ``DIR`` by
the last segment of its URL path (``https://.../tsl/ES.xml`` -> ``DIR/ES.xml``), or, for a
``file://`` URL, from that file. Only XML lists (``application/vnd.etsi.tsl+xml``) are followed,
never a pointer back to a list of lists, and only the ``--territory`` ones when given. Each
national list must be signed by one of *its pointer's* certificates (the LOTL's signer pins the
LOTL only) and name the pointer's territory; a pointed list missing from ``DIR`` is skipped with
a warning, any other refusal imports nothing. Registering the command imports nothing of the
engine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

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
    imported.add_argument("--follow", type=Path, metavar="DIR",
                          help="follow a list of lists' pointers to national lists stored in "
                               "DIR (named as the last segment of each TSLLocation); no network")
    imported.add_argument("--territory", action="append", metavar="CC",
                          help="with --follow: only these territories (repeatable)")
    imported.add_argument("--dry-run", action="store_true",
                          help="check and list what would be imported; write nothing")
    imported.set_defaults(handler=_import_tl)


def _import_tl(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC

    from cryptography import x509

    from gateway.domain.clock import SystemClock
    from gateway.trust import trusted_lists

    now = SystemClock().now().astimezone(UTC)
    try:
        signers = [cert for path in args.signer_cert
                   for cert in x509.load_pem_x509_certificates(path.read_bytes())]
    except (OSError, ValueError) as exc:
        print(f"error: the list signer certificates cannot be used: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    checked: list[_Checked] = []
    for path in args.files:
        try:
            checked.append(_checked_list(path, path.read_bytes(), signers, now))
        except OSError as exc:
            print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
            return EXIT_REFUSED
        except _Refused as exc:
            print(f"error: {exc}; nothing imported", file=sys.stderr)
            return EXIT_REFUSED
    if args.follow is not None:
        territories = {code.upper() for code in args.territory or ()}
        try:
            for lotl in list(checked):
                checked += _followed(lotl.parsed.pointers, args.follow, territories, now)
        except _Refused as exc:
            print(f"error: {exc}; nothing imported", file=sys.stderr)
            return EXIT_REFUSED
    types = args.service_type or [CA_QC]
    directory = settings.effective_trust_dir / "tl"
    for item in checked:
        anchors = trusted_lists.granted(item.parsed, types)
        if not anchors and item.parsed.pointers:
            if args.follow is None:
                print(f"{item.source}: a list of lists ({len(item.parsed.pointers)} pointers); "
                      "--follow DIR imports the lists it points to", file=sys.stderr)
            continue  # a list of lists: its pointers are what counts
        provenance = trusted_lists.Provenance(
            source=item.source, trusted_list_sha256=hashlib.sha256(item.data).hexdigest(),
            territory=item.parsed.territory, sequence_number=item.parsed.sequence_number,
            issued=item.parsed.issued, signer_sha256=item.signer_sha256, imported_at=now)
        if args.dry_run:
            for certificate, service in anchors:
                print(json.dumps({"subject": certificate.subject.rfc4514_string(),
                                  "territory": item.parsed.territory,
                                  "provider": service.provider, "service": service.name,
                                  "status": service.status, "dry_run": True}))
            continue
        for record in trusted_lists.write_anchors(directory, item.parsed, anchors, provenance,
                                                  service_types=types):
            print(json.dumps(record))
        print(f"{item.source}: {len(anchors)} anchor(s) from {item.parsed.territory} "
              f"(sequence {item.parsed.sequence_number}) in {directory}", file=sys.stderr)
    return EXIT_IMPORTED


class _Refused(Exception):
    """A list that must not be imported (the message names it and why)."""


class _Checked(NamedTuple):
    source: str
    data: bytes
    parsed: Any  # trusted_lists.TrustedList (imported lazily)
    signer_sha256: str


def _checked_list(path: Path, data: bytes, signers: list[Any], now: datetime) -> _Checked:
    """``data`` as a trusted list signed by one of ``signers`` (or a certificate they issued),
    whole, once, TOTAL_PASSED at ``now``, and not past its NextUpdate."""
    from gateway.signatures import SignaturePolicy, validate
    from gateway.trust import trusted_lists
    from gateway.trust.certificates import TrustStore

    if not signers:
        raise _Refused(f"{path}: no certificate may sign it")
    try:
        trust = TrustStore([], extra_anchors=signers)
    except ValueError as exc:
        raise _Refused(f"{path}: its signer certificates cannot be used ({exc})") from exc
    policy = SignaturePolicy(require_whole_document=True,
                             max_document_bytes=trusted_lists.MAX_TRUSTED_LIST_BYTES)
    report = validate(data, policy=policy, trust=trust, now=now)
    if len(report.signatures) != 1 or not report.passed:
        reason = report.sub_indication.value if report.sub_indication else "more than one " \
            "signature"
        raise _Refused(f"{path}: the trusted list's signature is not acceptable "
                       f"({report.indication.value}/{reason})")
    try:
        parsed = trusted_lists.parse_trusted_list(data)
    except trusted_lists.TrustedListError as exc:
        raise _Refused(f"{path}: {exc}") from exc
    if parsed.next_update is not None and parsed.next_update <= now:
        raise _Refused(f"{path}: the trusted list expired on {parsed.next_update.isoformat()} "
                       "(NextUpdate)")
    signer = report.signatures[0].signer
    return _Checked(str(path.resolve()), data, parsed, signer.sha256 if signer else "")


def _followed(pointers: Any, directory: Path, territories: set[str],
              now: datetime) -> list[_Checked]:
    """The national lists a list of lists points to, read from ``directory`` (module docstring)."""
    from gateway.trust import trusted_lists

    found: list[_Checked] = []
    for pointer in pointers:
        if pointer.mime_type and pointer.mime_type != trusted_lists.XML_MIME_TYPE:
            continue  # the PDF rendering of a list
        if pointer.tsl_type.endswith("listofthelists"):
            continue  # the LOTL points to itself
        if territories and pointer.territory not in territories:
            continue
        local = _local_copy(pointer.location, directory)
        if local is None:
            raise _Refused(f"the pointer to {pointer.territory} has no usable TSLLocation")
        if not local.is_file():
            print(f"warning: {pointer.territory}: {local} is not there; not followed",
                  file=sys.stderr)
            continue
        try:
            data = local.read_bytes()
        except OSError as exc:
            raise _Refused(f"cannot read {local}: {exc.strerror}") from exc
        item = _checked_list(local, data, list(pointer.certificates), now)
        if item.parsed.territory != pointer.territory:
            raise _Refused(f"{local}: the list is for {item.parsed.territory}, the pointer for "
                           f"{pointer.territory}")
        found.append(item)
    return found


def _local_copy(location: str, directory: Path) -> Path | None:
    """Where a pointer's list is read from: ``file://`` URLs as they are, others by name in
    ``directory`` (never outside it)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(location.strip())
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    name = unquote(parts.path.rsplit("/", 1)[-1])
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        return None
    return directory / name
