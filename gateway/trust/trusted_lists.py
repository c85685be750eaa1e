"""EU trusted lists (ETSI TS 119 612): which certificates a list grants, and where anchors taken
from one came from.

A trusted list (``tsl:TrustServiceStatusList``, namespace ``http://uri.etsi.org/02231/v2#``) names
trust service providers and their services; each service has a type
(``ServiceTypeIdentifier``, e.g. ``http://uri.etsi.org/TrstSvc/Svctype/CA/QC``), a current status
(``ServiceStatus``: ``.../Svcstatus/granted``, ``withdrawn``...) and its digital identity
(``ServiceDigitalIdentity/DigitalId/X509Certificate``), and its earlier statuses
(``ServiceHistory/ServiceHistoryInstance``, §5.6). A service granted at some time of its known
history, for one of the chosen types, gives its certificates as trust anchors, recorded with the
whole status history: ``gateway.trust.service_status`` then answers whether it was granted at a
signature's best proven time (a service withdrawn since still anchors what was proven before the
withdrawal). The statuses before eIDAS (``undersupervision``, ``accredited``,
``supervisionincessation``, ``setbynationallaw``) count as granted, as in the EU DSS library.
The list's own signature is checked by the caller with the signature engine
(``gateway.cli_trust``; this package sits below the engine).

The EU list of lists (LOTL) points to the national lists (``SchemeInformation/PointersToOtherTSL/
OtherTSLPointer``): each pointer names the list's location, territory, MIME type and the
certificates that may sign it (:func:`parse_pointers`; the caller fetches nothing from the
network and checks each list against its pointer's certificates).

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from gateway.xmlsafe import parse_xml
from gateway.xmlsig.values import decode_base64_text

TSL_NAMESPACE = "http://uri.etsi.org/02231/v2#"
GRANTED = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
GRANTED_STATUSES = frozenset(
    {
        GRANTED,
        "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/recognisedatnationallevel",
        # TS 119 612 v1 statuses, in lists published before 1 July 2016
        "http://uri.etsi.org/TrstSvc/Svcstatus/undersupervision",
        "http://uri.etsi.org/TrstSvc/Svcstatus/accredited",
        "http://uri.etsi.org/TrstSvc/Svcstatus/supervisionincessation",
        "http://uri.etsi.org/TrstSvc/Svcstatus/setbynationallaw",
    }
)
"""Statuses under which a service's certificates are trusted (current and historical)."""
XML_MIME_TYPE = "application/vnd.etsi.tsl+xml"
CA_QC = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC"
"""The default service type imported: CAs issuing qualified certificates."""
MAX_TRUSTED_LIST_BYTES = 32 * 1024 * 1024
_T = f"{{{TSL_NAMESPACE}}}"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TrustedListError(ValueError):
    """The document is not a trusted list this module can read."""


@dataclass(frozen=True, slots=True)
class StatusPeriod:
    """One status of a service from its starting time until the next one's."""

    status: str
    since: datetime | None
    type: str


@dataclass(frozen=True, slots=True)
class TrustService:
    provider: str
    name: str
    type: str
    status: str
    status_since: datetime | None
    certificates: tuple[x509.Certificate, ...]
    history: tuple[StatusPeriod, ...] = ()
    """Every known status, current included, oldest first."""

    def ever_granted(self, service_types: frozenset[str]) -> bool:
        return any(p.status in GRANTED_STATUSES and p.type in service_types for p in self.history)


@dataclass(frozen=True, slots=True)
class TlPointer:
    """A LOTL's pointer to a trusted list (TS 119 612 §5.3.13)."""

    location: str
    territory: str
    mime_type: str
    tsl_type: str
    certificates: tuple[x509.Certificate, ...]


@dataclass(frozen=True, slots=True)
class TrustedList:
    territory: str
    sequence_number: int | None
    issued: datetime | None
    next_update: datetime | None
    services: tuple[TrustService, ...]
    pointers: tuple[TlPointer, ...] = ()


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
            certificates = _certificates(
                information.iterfind(
                    f"{_T}ServiceDigitalIdentity/{_T}DigitalId/{_T}X509Certificate"
                ),
                "a service certificate",
            )
            current = _period(information)
            earlier = [
                _period(instance)
                for instance in service.iterfind(f"{_T}ServiceHistory/{_T}ServiceHistoryInstance")
            ]
            services.append(
                TrustService(
                    provider=provider_name,
                    name=_name(information.find(f"{_T}ServiceName")),
                    type=current.type,
                    status=current.status,
                    status_since=current.since,
                    certificates=certificates,
                    history=_ordered([*earlier, current]),
                )
            )
    return TrustedList(
        territory=_text(scheme.find(f"{_T}SchemeTerritory")).upper(),
        sequence_number=int(sequence) if sequence.isdigit() else None,
        issued=_instant(_text(scheme.find(f"{_T}ListIssueDateTime"))),
        next_update=_instant(_text(scheme.find(f"{_T}NextUpdate/{_T}dateTime"))),
        services=tuple(services),
        pointers=parse_pointers(scheme),
    )


def _certificates(elements: Iterable[Any], what: str) -> tuple[x509.Certificate, ...]:
    certificates = []
    for element in elements:
        try:
            der = decode_base64_text(element, "X509Certificate")
            certificates.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise TrustedListError(f"{what} cannot be read") from exc
    return tuple(certificates)


def _period(element: Any) -> StatusPeriod:
    return StatusPeriod(
        status=_text(element.find(f"{_T}ServiceStatus")),
        since=_instant(_text(element.find(f"{_T}StatusStartingTime"))),
        type=_text(element.find(f"{_T}ServiceTypeIdentifier")),
    )


def _ordered(periods: list[StatusPeriod]) -> tuple[StatusPeriod, ...]:
    """Oldest first; a period without a starting time counts as the oldest."""
    if any(p.since is not None and p.since.tzinfo is None for p in periods):
        raise TrustedListError("a StatusStartingTime has no time zone")
    return tuple(sorted(periods, key=lambda p: (p.since is not None, p.since or _EPOCH)))


def parse_pointers(scheme: Any) -> tuple[TlPointer, ...]:
    """The ``OtherTSLPointer`` entries of a list's SchemeInformation (a LOTL's national lists)."""
    pointers = []
    for pointer in scheme.iterfind(f"{_T}PointersToOtherTSL/{_T}OtherTSLPointer"):
        information: dict[str, str] = {}
        for item in pointer.iterfind(f"{_T}AdditionalInformation/{_T}OtherInformation/*"):
            if not isinstance(item.tag, str):
                continue  # a comment or processing instruction
            local = etree.QName(item).localname
            information.setdefault(local, _text(item))
        pointers.append(
            TlPointer(
                location=_text(pointer.find(f"{_T}TSLLocation")),
                territory=information.get("SchemeTerritory", "").upper(),
                mime_type=information.get("MimeType", ""),
                tsl_type=information.get("TSLType", ""),
                certificates=_certificates(
                    pointer.iterfind(
                        f"{_T}ServiceDigitalIdentities/{_T}ServiceDigitalIdentity/{_T}DigitalId/"
                        f"{_T}X509Certificate"
                    ),
                    "a pointer's certificate",
                ),
            )
        )
    return tuple(pointers)


def granted(
    trusted_list: TrustedList, service_types: Iterable[str]
) -> list[tuple[x509.Certificate, TrustService]]:
    """The certificates of the services granted, now or at some time of their history, for one
    of ``service_types`` (when they were is recorded with each anchor)."""
    wanted = frozenset(service_types)
    return [
        (certificate, service)
        for service in trusted_list.services
        if service.ever_granted(wanted)
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
    service_types: Iterable[str] = (CA_QC,),
) -> list[dict[str, object]]:
    """Write the anchors and their provenance under ``directory`` (``<trust dir>/tl``),
    replacing what an earlier import of the same territory wrote; the records written. Each
    records its service's status history, every period marked ``trusted`` when its status is a
    granted one for one of ``service_types`` (what ``gateway.trust.service_status`` reads)."""
    wanted = frozenset(service_types)
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
            "history": [
                {
                    "status": p.status,
                    "since": _iso(p.since),
                    "service_type": p.type,
                    "trusted": p.status in GRANTED_STATUSES and p.type in wanted,
                }
                for p in service.history
            ],
        }
        (directory / f"{fingerprint}.pem").write_bytes(certificate.public_bytes(Encoding.PEM))
        (directory / f"{fingerprint}.json").write_text(
            json.dumps(record, indent=1) + "\n", encoding="utf-8"
        )
        records.append(record)
    return records


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()
