"""The validation report model, after ETSI EN 319 102-1 §5.1.3 (indications) and TS 119 102-2.

Reports are frozen dataclasses holding only facts: what each validation step *found*
(:class:`Finding`), the signer's certificate, the claimed signing time, what was signed, the
time-stamps. Verdicts -- indication, sub-indication, level, best signature time, whole-document
coverage -- are properties derived from those facts, never stored twice.

Precedence of findings (EN 319 102-1 §5.3 and §5.5): a TOTAL_FAILED finding (the signature is
proven bad: HASH_FAILURE, SIG_CRYPTO_FAILURE, FORMAT_FAILURE, REVOKED, EXPIRED, NOT_YET_VALID)
outranks any INDETERMINATE one; among findings of the same class the first one found, in the
order the building blocks run (format, signing-certificate identification, cryptographic
verification, certificate path, acceptance), is the sub-indication. Every finding stays in
``findings`` with its message.

Serialisations: :meth:`ValidationReport.to_dict` / :meth:`ValidationReport.to_json` (stable keys,
ISO 8601 UTC times, Base64 for binary values) and :meth:`ValidationReport.to_etsi_xml`
(``gateway.signatures.etsi_xml``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from gateway.domain.principal import Principal
from gateway.errors import AuthenticationError
from gateway.trust.memo import IdentityMemo
from gateway.trust.principals import principal_from_certificate


class Indication(str, Enum):
    """Main status indication (EN 319 102-1 Table 4)."""

    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"

    @property
    def uri(self) -> str:
        """The TS 119 102-2 URI (``urn:etsi:019102:mainindication:total-passed``)."""
        return "urn:etsi:019102:mainindication:" + self.value.lower().replace("_", "-")


class SubIndication(str, Enum):
    """Sub-indications (EN 319 102-1 Table 5); each belongs to one main indication."""

    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    SIGNATURE_POLICY_NOT_AVAILABLE = "SIGNATURE_POLICY_NOT_AVAILABLE"
    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    NO_POE = "NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"

    @property
    def indication(self) -> Indication:
        if self in _TOTAL_FAILED:
            return Indication.TOTAL_FAILED
        return Indication.INDETERMINATE

    @property
    def uri(self) -> str:
        """The TS 119 102-2 URI (``urn:etsi:019102:subindication:HASH_FAILURE``)."""
        return "urn:etsi:019102:subindication:" + self.value


_TOTAL_FAILED = frozenset(
    {
        SubIndication.FORMAT_FAILURE,
        SubIndication.HASH_FAILURE,
        SubIndication.SIG_CRYPTO_FAILURE,
        SubIndication.REVOKED,
        SubIndication.EXPIRED,
        SubIndication.NOT_YET_VALID,
    }
)


class SignatureFormat(str, Enum):
    """Signature format families (ETSI EN 319 132, 319 122, 319 142)."""

    XADES = "XAdES"
    CADES = "CAdES"
    PADES = "PAdES"
    ASIC = "ASiC"
    """A container (ETSI EN 319 162-1); its signatures are XAdES or CAdES."""


class SignedObjectKind(str, Enum):
    """What one signed data object is."""

    XML_DOCUMENT = "XML_DOCUMENT"
    """The whole XML document (``URI=""``), minus the enveloped signature."""
    XML_ELEMENT = "XML_ELEMENT"
    """One element of the same document (``URI="#id"``); see ``element_path``."""
    MANIFEST = "MANIFEST"
    """A ``ds:Manifest`` (XMLDSig §5.1): its own references follow it, each naming it."""
    SIGNED_PROPERTIES = "SIGNED_PROPERTIES"
    """The XAdES SignedProperties (the signer's own attributes, not the document)."""
    DETACHED_CONTENT = "DETACHED_CONTENT"
    """Content supplied by the caller next to a detached signature."""
    ENCAPSULATED_CONTENT = "ENCAPSULATED_CONTENT"
    """The eContent of an attached CMS signature."""
    PDF_BYTE_RANGE = "PDF_BYTE_RANGE"
    """The ``/ByteRange`` of a PDF signature; see ``byte_range``."""
    CONTAINER_ENTRY = "CONTAINER_ENTRY"
    """A data object of an ASiC container, by its entry name (``identifier``)."""
    COUNTER_SIGNED_SIGNATURE = "COUNTER_SIGNED_SIGNATURE"
    """The signature value of the signature a CMS counter-signature countersigns (RFC 5652
    §11.4); ``identifier`` names that signature."""


class TimestampKind(str, Enum):
    SIGNATURE_TIMESTAMP = "SIGNATURE_TIMESTAMP"
    """Over the signature value (XAdES SignatureTimeStamp, CMS signature-time-stamp)."""
    DOCUMENT_TIMESTAMP = "DOCUMENT_TIMESTAMP"
    """A PAdES document time-stamp covering a later revision than the signature."""
    ARCHIVE_TIMESTAMP = "ARCHIVE_TIMESTAMP"
    """A XAdES ArchiveTimeStamp over the signature and its validation data (level LTA)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a validation step established against the signature."""

    sub_indication: SubIndication
    message: str


def _verdict(findings: tuple[Finding, ...]) -> SubIndication | None:
    for finding in findings:
        if finding.sub_indication.indication is Indication.TOTAL_FAILED:
            return finding.sub_indication
    return findings[0].sub_indication if findings else None


class _Judged:
    """Verdicts derived from ``findings``, never stored twice (one rule for every report part)."""

    __slots__ = ()
    findings: tuple[Finding, ...]

    @property
    def sub_indication(self) -> SubIndication | None:
        return _verdict(self.findings)

    @property
    def indication(self) -> Indication:
        sub = self.sub_indication
        return Indication.TOTAL_PASSED if sub is None else sub.indication


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """A certificate as reported: names, serial, validity, fingerprint and mapped principal."""

    subject: str
    issuer: str
    serial_number: int
    not_before: datetime
    not_after: datetime
    sha256: str
    der: bytes
    principal: Principal | None = None

    @classmethod
    def from_certificate(
        cls,
        certificate: x509.Certificate,
        *,
        representative_policies: frozenset[str] | None = None,
    ) -> CertificateInfo:
        """Memoised by DER and policies (bounded): the same certificates come back each call."""
        der = _DER.get((certificate,), lambda: certificate.public_bytes(serialization.Encoding.DER))
        if len(der) > 16 * 1024:  # hostile sizes are not kept
            return cls._build(certificate, der, representative_policies)
        key = (der, representative_policies)
        known = _CERTIFICATE_INFOS.get(key)
        if known is None:
            if len(_CERTIFICATE_INFOS) >= _CERTIFICATE_INFOS_MAX:
                _CERTIFICATE_INFOS.clear()
            known = _CERTIFICATE_INFOS[key] = cls._build(certificate, der, representative_policies)
        return known

    @classmethod
    def _build(
        cls,
        certificate: x509.Certificate,
        der: bytes,
        representative_policies: frozenset[str] | None,
    ) -> CertificateInfo:
        fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
        try:
            principal: Principal | None = principal_from_certificate(
                certificate,
                fingerprint=fingerprint,
                representative_policies=representative_policies,
            )
        except AuthenticationError:
            principal = None
        return cls(
            subject=certificate.subject.rfc4514_string(),
            issuer=certificate.issuer.rfc4514_string(),
            serial_number=certificate.serial_number,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            sha256=fingerprint,
            der=der,
            principal=principal,
        )


_CERTIFICATE_INFOS: dict[tuple[bytes, frozenset[str] | None], CertificateInfo] = {}
_CERTIFICATE_INFOS_MAX = 512
_DER: IdentityMemo[bytes] = IdentityMemo(512)
"""A certificate's DER by its identity (the loaders return one object per DER): encoding it
again costs more than the rest of a memo hit."""


@dataclass(frozen=True, slots=True)
class SignedDataObject:
    """One thing the signature covers, as resolved by the validator (not as claimed)."""

    kind: SignedObjectKind
    identifier: str
    """The reference URI, ``eContent``, ``detached`` or ``/ByteRange``."""
    digest_algorithm: str
    """hashlib name of the digest the signature commits to (``sha256``)."""
    digest: bytes
    covers_whole_document: bool
    element_path: str | None = None
    """For XML: the path of the element the reference resolved to (``/rcpt:Receipt``)."""
    byte_range: tuple[int, ...] = ()
    transforms: tuple[str, ...] = ()
    """For XML: the reference's transforms in order (``enveloped-signature``, ``xpath: ...``)."""
    manifest: str | None = None
    """For XML: the URI of the ``ds:Manifest`` reference this entry belongs to, if any."""
    intact: bool = True
    """Whether the data matches its digest. Always true for a signature's own references (a
    mismatch is its HASH_FAILURE); a Manifest entry may be false (XMLDSig §5.1: the
    application decides), and then it covers nothing."""


@dataclass(frozen=True, slots=True)
class TimestampReport(_Judged):
    """An RFC 3161 time-stamp token attached to a signature, validated on its own."""

    kind: TimestampKind
    findings: tuple[Finding, ...]
    generation_time: datetime | None = None
    tsa: CertificateInfo | None = None
    serial_number: int | None = None
    imprint_algorithm: str | None = None
    token: bytes = b""
    identifier: str | None = None
    """A PAdES document time-stamp: its signature field's name."""
    covers_validation_data: bool = False
    """A PAdES document time-stamp over a revision holding the DSS: with the DSS's revocation
    data, the signature reaches level LTA (EN 319 142-1 §6.3)."""
    validation_time: datetime | None = None
    """The time the token was judged at: the time a later proof of existence (an archive or
    document time-stamp) dates it, or the validation time -- also when it failed at the earlier
    time and was judged as it stands today instead (``timestamps.past_or_present``). None when
    it could not be read at all."""

    @property
    def passed(self) -> bool:
        return not self.findings and self.generation_time is not None


@dataclass(frozen=True, slots=True)
class SignatureReport(_Judged):
    """The validation of one signature."""

    identifier: str
    format: SignatureFormat | None
    """None when the document's format could not be recognised at all."""
    findings: tuple[Finding, ...]
    signer: CertificateInfo | None = None
    certificate_chain: tuple[CertificateInfo, ...] = ()
    """Leaf first, trust anchor last, when a path was built."""
    claimed_signing_time: datetime | None = None
    signature_algorithm: str | None = None
    signature_value: bytes = b""
    signed_data_objects: tuple[SignedDataObject, ...] = ()
    timestamps: tuple[TimestampReport, ...] = ()
    signing_certificate_reference: bool = False
    """A signed attribute binds the signer's certificate (what makes it an AdES)."""
    signature_policy_identifier: str | None = None
    """XAdES-EPES / CAdES-EPES SigPolicyId, reported but not processed."""
    signature_policy_digest_algorithm: str | None = None
    signature_policy_digest: bytes | None = None
    """The signed SigPolicyHash (XAdES-EPES), reported: the policy document is not fetched."""
    revocation_time: datetime | None = None
    """When the signer (or a CA of its path) was revoked, if it was."""
    warnings: tuple[str, ...] = ()
    counter_signature_of: str | None = None
    """The identifier of the signature this one countersigns (XML: whose QualifyingProperties
    hold it; CMS: whose countersignature unsigned attribute holds it)."""
    validation_data: bool = False
    """The signature carries revocation values (XAdES RevocationValues, CRLs or OCSP): with a
    signature time-stamp, level LT."""

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def proof_of_existence(self) -> datetime | None:
        """Earliest time a valid time-stamp proves the signature existed (best signature time)."""
        times = [ts.generation_time for ts in self.timestamps if ts.passed and ts.generation_time]
        return min(times) if times else None

    @property
    def covers_whole_document(self) -> bool:
        return any(item.covers_whole_document for item in self.signed_data_objects)

    @property
    def level(self) -> str:
        """``XAdES-BASELINE-B`` / ``-T`` / ``-LT`` / ``-LTA`` (EN 319 132-1 §6); ``XML-NOT-ETSI``
        (etc.) without a signed certificate reference. T: a valid time-stamp over the
        signature; LT: T and the signature carries its revocation data; LTA: LT and a valid
        archive time-stamp (PAdES: a document time-stamp covering the DSS; a document
        time-stamp alone is T, EN 319 142-1 §6.3)."""
        if self.format is None:
            return "UNKNOWN"
        if not self.signing_certificate_reference:
            return _NOT_ETSI[self.format]
        valid = [ts for ts in self.timestamps if ts.passed]
        level = "B"
        if any(ts.kind is not TimestampKind.ARCHIVE_TIMESTAMP for ts in valid):
            level = "T"
            if self.validation_data:
                archived = any(
                    ts.kind is TimestampKind.ARCHIVE_TIMESTAMP or ts.covers_validation_data
                    for ts in valid
                )
                level = "LTA" if archived else "LT"
        return f"{self.format.value}-BASELINE-{level}"


_NOT_ETSI = {
    SignatureFormat.XADES: "XML-NOT-ETSI",
    SignatureFormat.CADES: "CMS-NOT-ETSI",
    SignatureFormat.PADES: "PDF-NOT-ETSI",
    SignatureFormat.ASIC: "ASiC-NOT-ETSI",
}


@dataclass(frozen=True, slots=True)
class ContainerObject:
    """One data object of an ASiC container and the signatures whose scope includes it."""

    name: str
    covered_by: tuple[str, ...]
    """Identifiers of the signatures that reference it (whatever their indication)."""

    @property
    def covered(self) -> bool:
        return bool(self.covered_by)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The validation of every signature of one document at one validation time."""

    validation_time: datetime
    format: SignatureFormat | None
    signatures: tuple[SignatureReport, ...]
    container_objects: tuple[ContainerObject, ...] = ()
    """ASiC: every data object of the container, covered or not (EN 319 162-1)."""

    def __post_init__(self) -> None:
        if not self.signatures:
            raise ValueError("a report has at least one signature entry")
        if self.validation_time.tzinfo is None:
            raise ValueError("validation_time must be timezone-aware")

    @property
    def sub_indication(self) -> SubIndication | None:
        """The worst signature's sub-indication (TOTAL_FAILED before INDETERMINATE)."""
        subs = [s.sub_indication for s in self.signatures if s.sub_indication is not None]
        return _verdict(tuple(Finding(sub, "") for sub in subs))

    @property
    def indication(self) -> Indication:
        sub = self.sub_indication
        return Indication.TOTAL_PASSED if sub is None else sub.indication

    @property
    def passed(self) -> bool:
        return all(signature.passed for signature in self.signatures)

    @property
    def document_timestamps(self) -> tuple[TimestampReport, ...]:
        """PAdES: every document time-stamp that covers a signature, once, in revision order."""
        found: dict[bytes, TimestampReport] = {}
        for signature in self.signatures:
            for timestamp in signature.timestamps:
                if timestamp.kind is TimestampKind.DOCUMENT_TIMESTAMP:
                    found.setdefault(timestamp.token, timestamp)
        return tuple(found.values())  # signatures in revision order, each's stamps too

    def best_signature_time(self, signature: SignatureReport) -> datetime:
        """POE of ``signature`` from its time-stamps, else the validation time."""
        return signature.proof_of_existence or self.validation_time

    def to_dict(self) -> dict[str, Any]:
        data = {
            "validation_time": _time(self.validation_time),
            "format": self.format.value if self.format else None,
            "indication": self.indication.value,
            "sub_indication": _enum(self.sub_indication),
            "signatures": [self._signature_dict(s) for s in self.signatures],
        }
        stamps = self.document_timestamps
        if stamps:  # the key exists for PDFs with document time-stamps only
            data["document_timestamps"] = [_timestamp(t) for t in stamps]
        if self.format is SignatureFormat.ASIC:  # the key exists for containers only
            data["container_objects"] = [
                {"name": o.name, "covered": o.covered, "covered_by": list(o.covered_by)}
                for o in self.container_objects
            ]
        return data

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    def to_etsi_xml(self) -> bytes:
        """The report as an ETSI TS 119 102-2 ``ValidationReport`` document."""
        from gateway.signatures.etsi_xml import render_validation_report

        return render_validation_report(self)

    def _signature_dict(self, signature: SignatureReport) -> dict[str, Any]:
        return {
            "id": signature.identifier,
            "format": _enum(signature.format),
            "level": signature.level,
            "indication": signature.indication.value,
            "sub_indication": _enum(signature.sub_indication),
            "findings": [_finding(f) for f in signature.findings],
            "warnings": list(signature.warnings),
            "signer": _certificate(signature.signer),
            "certificate_chain": [_certificate(c) for c in signature.certificate_chain],
            "claimed_signing_time": _time(signature.claimed_signing_time),
            "best_signature_time": _time(self.best_signature_time(signature)),
            "signature_algorithm": signature.signature_algorithm,
            "signature_value": _b64(signature.signature_value),
            "signing_certificate_reference": signature.signing_certificate_reference,
            "signature_policy_identifier": signature.signature_policy_identifier,
            "signature_policy_digest": (
                None
                if signature.signature_policy_digest is None
                else {
                    "algorithm": signature.signature_policy_digest_algorithm,
                    "value": _b64(signature.signature_policy_digest),
                }
            ),
            "revocation_time": _time(signature.revocation_time),
            "covers_whole_document": signature.covers_whole_document,
            "signed_data_objects": [_data_object(o) for o in signature.signed_data_objects],
            "timestamps": [_timestamp(t) for t in signature.timestamps],
            "counter_signature_of": signature.counter_signature_of,
        }


def _time(instant: datetime | None) -> str | None:
    if instant is None:
        return None
    text = instant.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def _enum(value: Enum | None) -> str | None:
    return None if value is None else str(value.value)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _finding(finding: Finding) -> dict[str, Any]:
    return {"sub_indication": finding.sub_indication.value, "message": finding.message}


def _certificate(info: CertificateInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    principal = info.principal
    return {
        "subject": info.subject,
        "issuer": info.issuer,
        "serial_number": str(info.serial_number),
        "not_before": _time(info.not_before),
        "not_after": _time(info.not_after),
        "sha256": info.sha256,
        "principal": None
        if principal is None
        else {
            "kind": principal.kind.value,
            "identifier": principal.identifier,
            "person_identifier": principal.person_identifier,
            "name": principal.name,
        },
    }


def _data_object(item: SignedDataObject) -> dict[str, Any]:
    return {
        "kind": item.kind.value,
        "identifier": item.identifier,
        "element_path": item.element_path,
        "byte_range": list(item.byte_range),
        "digest_algorithm": item.digest_algorithm,
        "digest": _b64(item.digest),
        "covers_whole_document": item.covers_whole_document,
        "transforms": list(item.transforms),
        "manifest": item.manifest,
        "intact": item.intact,
    }


def _timestamp(timestamp: TimestampReport) -> dict[str, Any]:
    return {
        "id": timestamp.identifier,
        "kind": timestamp.kind.value,
        "indication": timestamp.indication.value,
        "sub_indication": _enum(timestamp.sub_indication),
        "findings": [_finding(f) for f in timestamp.findings],
        "generation_time": _time(timestamp.generation_time),
        "tsa": _certificate(timestamp.tsa),
        "serial_number": None if timestamp.serial_number is None else str(timestamp.serial_number),
        "imprint_algorithm": timestamp.imprint_algorithm,
        "validation_time": _time(timestamp.validation_time),
    }
