"""PAdES levels LT and LTA: the Document Security Store and document time-stamps (ETSI EN 319
142-1 §5.4 and §6.3; ISO 32000-2 §12.8.4.3; EN 319 102-1 §5.6.2.1, past signature validation).

**Document Security Store** -- the catalog's ``/DSS``: ``/Certs``, ``/OCSPs`` and ``/CRLs``
(arrays of streams holding DER certificates, OCSPResponses and CRLs) and ``/VRI`` (per signature,
keyed by the SHA-1 of its ``/Contents``, the same three kinds under ``/Cert``, ``/OCSP``,
``/CRL``). Everything found, at the top level and in every VRI dictionary, is validation
evidence: CRLs and OCSP responses for ``gateway.trust.revocation`` and certificates as possible
intermediates (``chain.with_carried``, once per document). Both authenticate each item
against the issuer it speaks for, so where an item sits proves nothing and no item is trusted
for being there. An unreadable
entry is no evidence: skipped with a warning (the DSS is unsigned until a document time-stamp
covers it, and must not fail a signature). At most ``MAX_DSS_VALUES`` items are read.

**Document time-stamps** (``/Type /DocTimeStamp``, SubFilter ETSI.RFC3161): each one's imprint
is the digest of its own byte range, so a valid one proves that every earlier revision -- the
signatures, their time-stamps and the DSS as it then stood -- existed at its genTime. They are
validated newest first: the newest at the validation time, each earlier one at the genTime of the
earliest valid later one (its unit's certificate may since have expired or been revoked: the
later stamp proves it was used in time). A signature's own signature time-stamps are validated
at the genTime of the earliest valid document time-stamp after it (else the validation time).
A time-stamp that fails at such an earlier time is validated as it stands today too
(``timestamps.past_or_present``): one whose unit's only revocation evidence is the trust
directory's current CRL is valid now, and a later document time-stamp must not make it worse.

Level (``report.SignatureReport.level``): T with a valid signature or document time-stamp; LT
when, besides, the DSS holds revocation data; LTA when, besides, a valid document time-stamp
covers a revision holding the DSS (``TimestampReport.covers_validation_data``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from asn1crypto import cms
from cryptography import x509
from cryptography.x509 import ocsp
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from gateway.signatures import crypto
from gateway.signatures.chain import NO_REVOCATION_VALUES
from gateway.signatures.cms import PARSE_ERRORS
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import TimestampKind, TimestampReport
from gateway.signatures.timestamps import renewal_chain, validate_timestamp
from gateway.signatures.tst_der import TokenParts
from gateway.trust.certificates import TrustStore
from gateway.trust.revocation import RevocationValues, load_ocsp_response

MAX_DSS_VALUES = 256
"""Certificates, CRLs and OCSP responses read from one DSS, all kinds together."""

UNREADABLE_NOTE = "An entry of the Document Security Store cannot be read: ignored"
TOO_MANY_NOTE = (
    f"The Document Security Store holds more than {MAX_DSS_VALUES} items: the rest ignored"
)

_KINDS = (
    ("/Certs", "/Cert", DecodePurpose.CERTIFICATE),
    ("/OCSPs", "/OCSP", DecodePurpose.OCSP_RESPONSE),
    ("/CRLs", "/CRL", DecodePurpose.CRL),
)


@dataclass(frozen=True, slots=True)
class ValidationData:
    """What the document's DSS holds (not authenticated here)."""

    certificates: tuple[x509.Certificate, ...] = ()
    revocation: RevocationValues = NO_REVOCATION_VALUES
    warnings: tuple[str, ...] = ()


NO_VALIDATION_DATA = ValidationData()


class _Collector:
    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.visited = 0
        self.certificates: list[x509.Certificate] = []
        self.crls: list[x509.CertificateRevocationList] = []
        self.responses: list[ocsp.OCSPResponse] = []
        self.warnings: list[str] = []

    def full(self) -> bool:
        """Enough read: ``MAX_DSS_VALUES`` items, or four times as many entries visited (the
        same stream listed over and over)."""
        self.visited += 1
        return len(self.seen) >= MAX_DSS_VALUES or self.visited > 4 * MAX_DSS_VALUES

    def add(self, kind: str, data: bytes) -> None:
        if data in self.seen:
            return  # the same stream is usually listed at the top level and in a VRI
        self.seen.add(data)
        item = _parsed(kind, data)
        if isinstance(item, x509.Certificate):
            self.certificates.append(item)
        elif isinstance(item, ocsp.OCSPResponse):
            self.responses.append(item)
        else:
            self.crls.append(item)

    def warn(self, note: str) -> None:
        if note not in self.warnings:
            self.warnings.append(note)


class _Unreadable(ValueError):
    """A DSS item the parsers refused (remembered)."""


_UNREADABLE = object()
_PARSED: dict[tuple[str, bytes], Any] = {}
_PARSED_MAX = 512
_PARSED_MAX_BYTES = 16 * 1024
"""Parsed DSS items are memoised (the same CA certificates, CRLs and responses arrive in file
after file, and the parsed objects are immutable) when at most this large: at most 512 entries,
emptied when full, so the table stays within 8 MiB whatever documents arrive."""


def _parsed(kind: str, data: bytes) -> Any:
    """``data`` parsed as ``kind``; raises as the parsers do (the caller warns)."""
    if len(data) > _PARSED_MAX_BYTES:
        return _parse(kind, data)
    key = (kind, data)
    known = _PARSED.get(key)
    if known is None:
        try:
            known = _parse(kind, data)
        except Exception:  # noqa: BLE001 - remembered (without its frames), raised below
            known = _UNREADABLE
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = known
    if known is _UNREADABLE:
        raise _Unreadable
    return known


def _parse(kind: str, data: bytes) -> Any:
    # cryptography parses fields lazily: read the ones path building and revocation use now,
    # so that a malformed item is skipped here rather than failing a validation later
    if kind == "/Certs":
        certificate = x509.load_der_x509_certificate(data)
        _ = (certificate.subject, certificate.issuer, certificate.extensions)
        certificate.public_key()
        return certificate
    if kind == "/OCSPs":
        return load_ocsp_response(data)
    crl = x509.load_der_x509_crl(data)
    _ = (crl.issuer, crl.last_update_utc, crl.next_update_utc, crl.extensions)
    for entry in crl:
        _ = (entry.serial_number, entry.revocation_date_utc)
    return crl


def read_dss(reader: PdfFileReader) -> ValidationData:
    """The certificates, CRLs and OCSP responses of the document's DSS (latest revision)."""
    try:
        dss = reader.root.get("/DSS")
        if dss is None:
            return NO_VALIDATION_DATA
        dss = dss.get_object()
        if not isinstance(dss, generic.DictionaryObject):
            return ValidationData(warnings=(UNREADABLE_NOTE,))
        notes: list[str] = []
        containers: list[tuple[str, Any]] = [(kind, dss.get(kind)) for kind, _, _ in _KINDS]
        vri = dss.get("/VRI")
        vri = None if vri is None else vri.get_object()
        if vri is not None and not isinstance(vri, generic.DictionaryObject):
            notes.append(UNREADABLE_NOTE)
        elif vri is not None:
            for position, entry in enumerate(vri.values()):
                if position >= MAX_DSS_VALUES:
                    notes.append(TOO_MANY_NOTE)
                    break
                entry = entry.get_object()
                if not isinstance(entry, generic.DictionaryObject):
                    notes.append(UNREADABLE_NOTE)
                    continue
                containers += [(kind, entry.get(key)) for kind, key, _ in _KINDS]
    except Exception:  # noqa: BLE001 - pyHanko on a hostile DSS: no evidence, a warning
        return ValidationData(warnings=(UNREADABLE_NOTE,))
    collector = _Collector()
    for note in notes:
        collector.warn(note)
    for kind, array in containers:
        _read_array(collector, kind, array)
    return ValidationData(
        tuple(collector.certificates),
        RevocationValues(tuple(collector.crls), tuple(collector.responses)),
        tuple(collector.warnings),
    )


def collect(items: Iterable[tuple[str, bytes]]) -> ValidationData:
    """``items`` ((``/Certs``, ``/OCSPs`` or ``/CRLs``, the stream's bytes), as ``read_dss``
    finds them) as validation data; a warning for each one that cannot be read."""
    collector = _Collector()
    for kind, data in items:
        if collector.full():
            collector.warn(TOO_MANY_NOTE)
            break
        try:
            collector.add(kind, data)
        except Exception:  # noqa: BLE001 - cryptography's loaders
            collector.warn(UNREADABLE_NOTE)
    return ValidationData(
        tuple(collector.certificates),
        RevocationValues(tuple(collector.crls), tuple(collector.responses)),
        tuple(collector.warnings),
    )


def _read_array(collector: _Collector, kind: str, array: Any) -> None:
    if array is None:
        return
    purpose = next(purpose for name, _, purpose in _KINDS if name == kind)
    try:
        items = array.get_object()
        if not isinstance(items, generic.ArrayObject):
            collector.warn(UNREADABLE_NOTE)
            return
    except Exception:  # noqa: BLE001 - an unresolvable reference
        collector.warn(UNREADABLE_NOTE)
        return
    for item in items:
        if collector.full():
            collector.warn(TOO_MANY_NOTE)
            return
        try:
            stream = item.get_object()
            if not isinstance(stream, generic.StreamObject):
                collector.warn(UNREADABLE_NOTE)
                continue
            collector.add(kind, stream.read_data(purpose))
        except Exception:  # noqa: BLE001 - pyHanko's decoders and cryptography's loaders
            collector.warn(UNREADABLE_NOTE)


@dataclass(frozen=True, slots=True)
class DocumentTimestamp:
    """A validated document time-stamp and the revision it was added in."""

    revision: int
    report: TimestampReport


class StampSource(Protocol):
    """A document time-stamp as either reader found it."""

    @property
    def revision(self) -> int: ...
    @property
    def field_name(self) -> str | None: ...
    @property
    def pkcs7_content(self) -> bytes: ...
    @property
    def holds_dss(self) -> bool: ...
    @property
    def message(self) -> Any | None:
        """The asn1crypto ContentInfo already loaded from ``pkcs7_content``, or the
        ``tst_der.TokenParts`` read from it, if any."""
        ...

    def compute_digest(self, hash_name: str) -> bytes: ...


@dataclass(frozen=True, slots=True)
class _EmbeddedStamp:
    """pyHanko's view of a document time-stamp."""

    stamp: EmbeddedPdfSignature
    reader: PdfFileReader

    @property
    def revision(self) -> int:
        return int(self.stamp.signed_revision)

    @property
    def field_name(self) -> str | None:
        return _field_name(self.stamp)

    @property
    def pkcs7_content(self) -> bytes:
        return bytes(self.stamp.pkcs7_content)

    @property
    def holds_dss(self) -> bool:
        return _holds_dss(self.reader, self.revision)

    @property
    def message(self) -> Any | None:
        return None

    def compute_digest(self, hash_name: str) -> bytes:
        return bytes(self.stamp.compute_digest(hash_name))


def validate_document_timestamps(
    stamps: list[EmbeddedPdfSignature],
    reader: PdfFileReader,
    data: ValidationData,
    *,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> list[DocumentTimestamp]:
    """Every document time-stamp (``stamps`` in revision order) of pyHanko's reader
    (:func:`validate_stamps`)."""
    return validate_stamps(
        [_EmbeddedStamp(stamp, reader) for stamp in stamps],
        data,
        policy=policy,
        trust=trust,
        now=now,
    )


def validate_stamps(
    stamps: Sequence[StampSource],
    data: ValidationData,
    *,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> list[DocumentTimestamp]:
    """Every document time-stamp (``stamps`` in revision order), newest first validated, each
    at the best time a later one proves (module docstring, ``timestamps.renewal_chain``);
    returned in revision order. ``trust`` already holds the DSS certificates
    (``chain.with_carried``)."""
    chosen = stamps[: policy.max_signatures]
    reports = renewal_chain(
        chosen, lambda stamp, at: _validate_stamp(stamp, data, policy, trust, at), now
    )
    return [
        DocumentTimestamp(
            stamp.revision,
            replace(report, identifier=stamp.field_name, covers_validation_data=stamp.holds_dss),
        )
        for stamp, report in zip(chosen, reports, strict=True)
    ]


def proven_time(
    document_timestamps: list[DocumentTimestamp], revision: int, now: datetime
) -> datetime:
    """The earliest genTime of a valid document time-stamp added after ``revision``, else
    ``now``: when the signature and its own time-stamps are known to have existed."""
    return min(
        (
            stamp.report.generation_time
            for stamp in document_timestamps
            if stamp.revision > revision and stamp.report.passed and stamp.report.generation_time
        ),
        default=now,
    )


def _field_name(stamp: EmbeddedPdfSignature) -> str | None:
    try:
        return str(stamp.field_name)
    except Exception:  # noqa: BLE001 - a name that cannot be decoded is left out
        return None


def _holds_dss(reader: PdfFileReader, revision: int) -> bool:
    """Whether the document as the time-stamp signed it had a DSS."""
    try:
        return "/DSS" in reader.get_historical_root(revision)
    except Exception:  # noqa: BLE001 - an unreadable historical revision: nothing covered
        return False


def _validate_stamp(
    stamp: StampSource,
    data: ValidationData,
    policy: SignaturePolicy,
    trust: TrustStore,
    at: datetime,
) -> TimestampReport:
    message = stamp.message
    try:
        if isinstance(message, TokenParts):  # read by tst_der (pades_fast_lta)
            token = message.token
        else:
            if message is None:
                message = cms.ContentInfo.load(stamp.pkcs7_content)
            token = message.dump()  # as received, without the /Contents padding
    except PARSE_ERRORS:
        token, message = b"", None

    def imprint_of(hash_name: str) -> bytes:
        try:
            return stamp.compute_digest(hash_name)
        except Exception as exc:  # pyHanko: unknown algorithm or unreadable range
            raise crypto.UnknownAlgorithm(hash_name) from exc

    return validate_timestamp(
        token,
        kind=TimestampKind.DOCUMENT_TIMESTAMP,
        imprint_of=imprint_of,
        trust=trust,
        policy=policy,
        now=at,
        revocation_values=data.revocation,
        parsed=message,
    )
