"""EU trusted lists (ETSI TS 119 612): which certificates a list grants, and where anchors taken
from one came from.

A trusted list (``tsl:TrustServiceStatusList``, namespace ``http://uri.etsi.org/02231/v2#``) names
trust service providers and their services; each service has a type
(``ServiceTypeIdentifier``, e.g. ``http://uri.etsi.org/TrstSvc/Svctype/CA/QC``), a current status
(``ServiceStatus``: ``.../Svcstatus/granted``, ``withdrawn``...) and its digital identity
(``ServiceDigitalIdentity/DigitalId/X509Certificate``). Only the *current* status counts (the
service history is not consulted): a service whose status is granted for one of the chosen types
gives its certificates as trust anchors. The list's own signature is checked by the caller with
the signature engine (``gateway.cli_trust``; this package sits below the engine).

Anchors are written under ``<trust dir>/tl/`` as ``<sha256>.pem``, each with a ``<sha256>.json``
recording its provenance (the list's file, digest, territory, sequence number, issue date, the
provider and service, status and its starting time, the list signer's certificate digest, when
it was imported). Importing a list again replaces what an earlier import of the same territory
wrote: a service withdrawn since is no longer an anchor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.xmlsafe import parse_xml
from gateway.xmlsig.values import decode_base64_text

TSL_NAMESPACE = "http://uri.etsi.org/02231/v2#"
GRANTED = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
"""The default service type imported: CAs issuing qualified certificates."""
MAX_TRUSTED_LIST_BYTES = 32 * 1024 * 1024
_T = f"{{{TSL_NAMESPACE}}}"


class TrustedListError(ValueError):
    """The document is not a trusted list this module can read."""


@dataclass(frozen=True, slots=True)
class TrustService:
    provider: str
    name: str
    type: str
    status: str
    status_since: datetime | None
    certificates: tuple[x509.Certificate, ...]


@dataclass(frozen=True, slots=True)
class TrustedList:
    territory: str
    sequence_number: int | None
    issued: datetime | None
    next_update: datetime | None
    services: tuple[TrustService, ...]


def _text(element: object) -> str:
    return "" if element is None else "".join(element.itertext()).strip()  # type: ignore[attr-defined]


def _instant(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise TrustedListError(f"not an xs:dateTime: {text[:40]!r}") from exc


def _name(parent: object) -> str:
    """The English name of a multilingual name list, else the first one."""
    names = parent.findall(f"{_T}Name") if parent is not None else []  # type: ignore[attr-defined]
    english = [n for n in names if n.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"]
    return _text((english or names or [None])[0])


def parse_trusted_list(document: bytes) -> TrustedList:
    """Read a TS 119 612 trusted list (its signature is not checked here)."""
    try:
        root = parse_xml(document, max_bytes=MAX_TRUSTED_LIST_BYTES, max_depth=64)
    except Exception as exc:  # the hardened parser's refusals, whatever their class
        raise TrustedListError("the trusted list is not acceptable XML") from exc
    if root.tag != f"{_T}TrustServiceStatusList":
        raise TrustedListError("the document is not a TrustServiceStatusList (TS 119 612)")
    scheme = root.find(f"{_T}SchemeInformation")
    if scheme is None:
        raise TrustedListError("the trusted list has no SchemeInformation")
    sequence = _text(scheme.find(f"{_T}TSLSequenceNumber"))
    services: list[TrustService] = []
    for provider in root.iterfind(f"{_T}TrustServiceProviderList/{_T}TrustServiceProvider"):
        provider_name = _name(provider.find(f"{_T}TSPInformation/{_T}TSPName"))
        for service in provider.iterfind(f"{_T}TSPServices/{_T}TSPService"):
            information = service.find(f"{_T}ServiceInformation")
            if information is None:
                raise TrustedListError("a TSPService has no ServiceInformation")
            certificates = []
            for element in information.iterfind(
                f"{_T}ServiceDigitalIdentity/{_T}DigitalId/{_T}X509Certificate"
            ):
                try:
                    der = decode_base64_text(element, "X509Certificate")
                    certificates.append(x509.load_der_x509_certificate(der))
                except ValueError as exc:
                    raise TrustedListError("a service certificate cannot be read") from exc
            services.append(
                TrustService(
                    provider=provider_name,
                    name=_name(information.find(f"{_T}ServiceName")),
                    type=_text(information.find(f"{_T}ServiceTypeIdentifier")),
                    status=_text(information.find(f"{_T}ServiceStatus")),
                    status_since=_instant(_text(information.find(f"{_T}StatusStartingTime"))),
                    certificates=tuple(certificates),
                )
            )
    return TrustedList(
        territory=_text(scheme.find(f"{_T}SchemeTerritory")).upper(),
        sequence_number=int(sequence) if sequence.isdigit() else None,
        issued=_instant(_text(scheme.find(f"{_T}ListIssueDateTime"))),
        next_update=_instant(_text(scheme.find(f"{_T}NextUpdate/{_T}dateTime"))),
        services=tuple(services),
    )


def granted(
    trusted_list: TrustedList, service_types: Iterable[str]
) -> list[tuple[x509.Certificate, TrustService]]:
    """The certificates of the services currently granted for one of ``service_types``."""
    wanted = set(service_types)
    return [
        (certificate, service)
        for service in trusted_list.services
        if service.status == GRANTED and service.type in wanted
        for certificate in service.certificates
    ]


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a trusted-list anchor came from."""

    source: str
    trusted_list_sha256: str
    territory: str
    sequence_number: int | None
    issued: datetime | None
    signer_sha256: str
    imported_at: datetime


def write_anchors(
    directory: Path,
    trusted_list: TrustedList,
    anchors: Sequence[tuple[x509.Certificate, TrustService]],
    provenance: Provenance,
) -> list[dict[str, object]]:
    """Write the anchors and their provenance under ``directory`` (``<trust dir>/tl``),
    replacing what an earlier import of the same territory wrote; the records written."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.json"):
        try:
            territory = json.loads(old.read_text(encoding="utf-8")).get("territory")
        except (OSError, ValueError):
            continue
        if territory == trusted_list.territory:
            old.unlink()
            old.with_suffix(".pem").unlink(missing_ok=True)
    records = []
    for certificate, service in anchors:
        der = certificate.public_bytes(Encoding.DER)
        fingerprint = hashlib.sha256(der).hexdigest()
        record: dict[str, object] = {
            "sha256": fingerprint,
            "subject": certificate.subject.rfc4514_string(),
            "source": provenance.source,
            "trusted_list_sha256": provenance.trusted_list_sha256,
            "territory": provenance.territory,
            "sequence_number": provenance.sequence_number,
            "issued": _iso(provenance.issued),
            "provider": service.provider,
            "service": service.name,
            "service_type": service.type,
            "status": service.status,
            "status_since": _iso(service.status_since),
            "signer_sha256": provenance.signer_sha256,
            "imported_at": _iso(provenance.imported_at),
        }
        (directory / f"{fingerprint}.pem").write_bytes(certificate.public_bytes(Encoding.PEM))
        (directory / f"{fingerprint}.json").write_text(
            json.dumps(record, indent=1) + "\n", encoding="utf-8"
        )
        records.append(record)
    return records


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()
