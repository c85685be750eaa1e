"""CAdES / CMS SignedData validation, attached and detached (ETSI EN 319 122-1, EN 319 102-1).

Every SignerInfo is one signature. The content is the encapsulated eContent when present,
otherwise the caller's ``detached_content`` (neither: SIGNED_DATA_NOT_FOUND). The per-signer CMS
checks are ``cms.verify_signer``; the signature-time-stamp unsigned attribute
(id-aa-signatureTimeStampToken, imprint over the signature value, EN 319 122-1 §5.3) gives the
proof of existence; then path validation and acceptance (``assessment.conclude``). A
signature-policy-identifier attribute (CAdES-EPES) is reported, not processed.

Beyond the signers of the outer SignedData (issue 13):

* a time-stamp that cannot be read or does not verify fails on its own report; the signature
  stays at level B (EN 319 102-1 §5.4 / §5.6.2.1: only a valid token is a proof of existence);
* each countersignature unsigned attribute (RFC 5652 §11.4) is one more signature, over the
  parent's signature value, reported after its parent with ``counter_signature_of`` naming it,
  nested to ``MAX_NESTING`` levels;
* an eContent of type id-signedData (a signed signature) is read as a SignedData too, its
  signers reported as ``nested-<n>/signer-<m>``, to ``MAX_NESTING`` levels;
* levels LT and LTA (``cades_archive``): the certificates and revocation values of the
  SignedData and of the certificate-values / revocation-values attributes are evidence for the
  path and revocation decisions; archive-time-stamp-v3 tokens prove the signature and its
  time-stamps existed, and the signature time-stamps are judged at the time they prove; one
  that fails there is judged as it stands today too (``timestamps.past_or_present``, as XAdES
  and PAdES do: a later proof never makes a time-stamp worse), its report's
  ``validation_time`` saying which.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from asn1crypto import core
from cryptography import x509

from gateway.signatures import crypto
from gateway.signatures.adbe_revocation import adobe_revocation_values, merged
from gateway.signatures.assessment import Established, conclude, format_failure
from gateway.signatures.cades_archive import (
    MAX_VALIDATION_VALUES,
    archive_timestamps,
    unvalidated_archive_attributes,
    validation_data,
)
from gateway.signatures.chain import NO_REVOCATION_VALUES
from gateway.signatures.cms import (
    PARSE_ERRORS,
    ContentDigest,
    encoded_elements,
    load_signed_data,
    present,
    verify_signer,
)
from gateway.signatures.findings import Findings, FormatError
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import (
    SignatureFormat,
    SignatureReport,
    SignedDataObject,
    SignedObjectKind,
    TimestampKind,
    TimestampReport,
)
from gateway.signatures.timestamps import failed_timestamp, past_or_present, validate_timestamp
from gateway.trust.certificates import TrustStore
from gateway.trust.revocation import RevocationValues

SIGNATURE_POLICY_IDENTIFIER = "1.2.840.113549.1.9.16.2.15"


class _Content:
    """The signed content and its digests, computed once per algorithm."""

    def __init__(self, content: bytes | None) -> None:
        self.content = content
        self._digests: dict[str, bytes] = {}

    def digest(self, hash_name: str) -> bytes | None:
        if self.content is None:
            return None
        value = self._digests.get(hash_name)
        if value is None:
            value = self._digests[hash_name] = crypto.digest(hash_name, self.content)
        return value


MAX_NESTING = 4
"""Counter-signatures of counter-signatures, and SignedData inside SignedData, stop here."""

NESTED_NOTE = "The signed content is itself a CMS SignedData; its signers are reported too"


def validate_cades(
    document: bytes,
    *,
    detached_content: bytes | None,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
) -> tuple[SignatureReport, ...]:
    """Validate every signer of a CMS SignedData; FormatError when it cannot be read."""
    return _validate_signed_data(document, detached_content, policy, trust, now, prefix="")


def _validate_signed_data(
    document: bytes,
    detached_content: bytes | None,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
    *,
    prefix: str,
    depth: int = 0,
) -> tuple[SignatureReport, ...]:
    notes: list[str] = []
    signed_data = load_signed_data(document, notes)
    try:
        encapsulated = signed_data["encap_content_info"]
        embedded = encapsulated["content"]
        content = bytes(embedded) if present(embedded) else None
        nested = encapsulated["content_type"].native == "signed_data"
        signer_infos = list(signed_data["signer_infos"])
    except PARSE_ERRORS as exc:
        raise FormatError("The CMS SignedData is malformed") from exc
    attached = content is not None
    source = _Content(content if attached else detached_content)
    if len(signer_infos) > policy.max_signatures:
        raise FormatError("The signature holds too many signers")
    context = _Context(signed_data, source, attached, policy, trust, now, tuple(notes), document)
    reports: list[SignatureReport] = []
    for position, signer_info in enumerate(signer_infos, start=1):
        reports.extend(_validate_signer(context, signer_info, f"{prefix}signer-{position}"))
        if len(reports) > policy.max_signatures:
            raise FormatError("The signature holds too many signers")
    if nested and content is not None and depth < MAX_NESTING:
        inner_prefix = f"{prefix}nested-{depth + 1}/"
        try:
            inner = _validate_signed_data(
                content,
                None,
                policy,
                trust,
                now,
                prefix=inner_prefix,
                depth=depth + 1,
            )
        except FormatError as exc:
            inner = (format_failure(f"{inner_prefix}signer-1", SignatureFormat.CADES, exc.message),)
        reports = [replace(r, warnings=(*r.warnings, NESTED_NOTE)) for r in reports]
        reports.extend(inner)
    return tuple(reports)


@dataclass(frozen=True, slots=True)
class _Context:
    """What every signer of one SignedData shares."""

    signed_data: Any
    source: _Content
    attached: bool
    policy: SignaturePolicy
    trust: TrustStore
    now: datetime
    notes: tuple[str, ...]
    """Lenient parsing paths taken for this SignedData (``cms.load_signed_data``)."""
    document: bytes = b""
    """The ContentInfo as received (an archive-time-stamp-v2 covers BER as encoded)."""


def _validate_signer(
    context: _Context,
    signer_info: Any,
    identifier: str,
    *,
    parent: tuple[str, bytes] | None = None,
    depth: int = 0,
) -> list[SignatureReport]:
    """The signer's report, then its counter-signatures' (``parent``: id and signature value)."""
    findings = Findings()
    findings.warnings.extend(context.notes)
    policy, trust, now = context.policy, context.trust, context.now
    try:
        digest_of = context.source.digest if parent is None else _digests_of(parent[1])
        signer = verify_signer(
            context.signed_data,
            signer_info,
            content_digest=digest_of,
            policy=policy,
            findings=findings,
            counter_signature=parent is not None,
        )
        data = validation_data(
            context.signed_data,
            signer_info,
            warnings=findings.warnings,
            max_values=MAX_VALIDATION_VALUES,
        )
        adobe = adobe_revocation_values(
            signer_info, warnings=findings.warnings, max_values=MAX_VALIDATION_VALUES
        )
        evidence = replace(data, revocation=merged(data.revocation, adobe))
        archives: tuple[TimestampReport, ...] = ()
        if parent is None:
            findings.warnings.extend(unvalidated_archive_attributes(signer_info))
            archives = archive_timestamps(
                context.signed_data,
                signer_info,
                context.source.content,
                policy=policy,
                trust=trust,
                now=now,
                data=evidence,
                document=context.document,
            )
        # A valid archive time-stamp proves the signature time-stamps existed at its genTime:
        # they are judged then (past signature validation, EN 319 102-1 §5.6.2.1), and one that
        # fails then as it stands today (the shared rule of XAdES and PAdES).
        proven = min(
            (ts.generation_time for ts in archives if ts.passed and ts.generation_time),
            default=now,
        )
        signature_value = signer.signature_value
        timestamps = (
            past_or_present(
                lambda at: signature_timestamps(
                    signer_info,
                    signature_value,
                    policy,
                    trust,
                    at,
                    revocation_values=evidence.revocation,
                    carried=data.certificates,
                ),
                proven,
                now,
            )
            + archives
        )
        policy_identifier = _signature_policy(signer_info)
        counter_signers = _counter_signer_infos(signer_info, findings, policy.max_signatures)
    except FormatError as exc:
        report = format_failure(identifier, SignatureFormat.CADES, exc.message)
        return [_as_counter_signature(report, parent)]
    except PARSE_ERRORS:
        report = format_failure(
            identifier, SignatureFormat.CADES, "The signer information is malformed"
        )
        return [_as_counter_signature(report, parent)]
    data_objects: tuple[SignedDataObject, ...] = ()
    if signer.content_digest is not None:
        if parent is not None:
            kind, name = SignedObjectKind.COUNTER_SIGNED_SIGNATURE, parent[0]
        elif context.attached:
            kind, name = SignedObjectKind.ENCAPSULATED_CONTENT, "eContent"
        else:
            kind, name = SignedObjectKind.DETACHED_CONTENT, "detached"
        data_objects = (
            SignedDataObject(
                kind=kind,
                identifier=name,
                digest_algorithm=signer.digest_algorithm,
                digest=signer.content_digest,
                covers_whole_document=parent is None,
            ),
        )
    established = Established(
        identifier=identifier,
        format=SignatureFormat.CADES,
        signer_certificate=signer.certificate,
        claimed_signing_time=signer.signing_time,
        signature_algorithm=signer.signature_algorithm or None,
        signature_value=signer.signature_value,
        signed_data_objects=data_objects,
        timestamps=timestamps,
        signing_certificate_reference=signer.signing_certificate_reference,
        signature_policy_identifier=policy_identifier,
        signing_time_required=signer.signing_certificate_reference,
        carried_certificates=data.certificates,
        revocation_values=data.revocation,
        signed_revocation_values=adobe,
    )
    # A counter-signature signs its parent's signature value, never the document: the policy's
    # whole-document requirement is the primary signatures' (ETSI EN 319 122-1 §5.2.7).
    own_policy = policy if parent is None else replace(policy, require_whole_document=False)
    reports = [
        _as_counter_signature(
            conclude(established, findings, trust=trust, policy=own_policy, now=now), parent
        )
    ]
    if depth >= MAX_NESTING and counter_signers:
        reports[0] = replace(
            reports[0],
            warnings=(*reports[0].warnings, "Counter-signatures nested deeper were not validated"),
        )
        return reports
    if len(counter_signers) > policy.max_signatures:
        raise FormatError("The signature holds too many counter-signatures")
    for position, counter_signer in enumerate(counter_signers, start=1):
        reports.extend(
            _validate_signer(
                context,
                counter_signer,
                f"{identifier}/counter-{position}",
                parent=(identifier, signer.signature_value),
                depth=depth + 1,
            )
        )
    return reports


def _digests_of(value: bytes) -> ContentDigest:
    def digest(name: str) -> bytes | None:
        return crypto.digest(name, value)

    return digest


def _as_counter_signature(
    report: SignatureReport, parent: tuple[str, bytes] | None
) -> SignatureReport:
    return report if parent is None else replace(report, counter_signature_of=parent[0])


def _unsigned_values(signer_info: Any, name: str, findings: Findings | None) -> list[Any]:
    """The values of the unsigned attributes called ``name``; unreadable ones are skipped with
    a warning (unsigned attributes are outside the signature: they cannot fail it)."""
    unsigned = signer_info["unsigned_attrs"]
    if not present(unsigned):
        return []
    values: list[Any] = []
    try:
        for attribute in unsigned:
            if attribute["type"].native == name:
                values.extend(attribute["values"])
    except PARSE_ERRORS:
        if findings is not None:
            findings.warnings.append("The unsigned attributes are malformed; ignored")
        return []
    return values


def _counter_signer_infos(signer_info: Any, findings: Findings, limit: int) -> list[Any]:
    """The countersignature values, at most ``limit`` + 1 (one more than may be validated, so
    that the caller's count refuses the document before validating an unbounded list)."""
    found: list[Any] = []
    for value in _unsigned_values(signer_info, "counter_signature", findings)[: limit + 1]:
        try:
            value["sid"].name  # noqa: B018 - force parsing of the SignerInfo
        except PARSE_ERRORS:
            findings.warnings.append("A counter-signature attribute is malformed; ignored")
            continue
        found.append(value)
    return found


def signature_timestamps(
    signer_info: Any,
    signature_value: bytes,
    policy: SignaturePolicy,
    trust: TrustStore,
    now: datetime,
    *,
    revocation_values: RevocationValues = NO_REVOCATION_VALUES,
    carried: tuple[x509.Certificate, ...] = (),
) -> tuple[TimestampReport, ...]:
    """Each signature-time-stamp token validated on its own (a bad one fails only itself), at
    ``now`` (or the time an archive time-stamp proves it existed); ``revocation_values`` and
    ``carried``: the validation data the signature holds (level LT)."""
    reports: list[TimestampReport] = []
    try:
        unsigned = signer_info["unsigned_attrs"]
        if not present(unsigned):
            return ()
        for attribute in unsigned:
            if attribute["type"].native != "signature_time_stamp_token":
                continue
            # Each value as received: an unreadable token fails its own report (EN 319 102-1
            # §5.4), not the attribute, the SignerInfo or the signature.
            limit = policy.max_timestamps - len(reports)
            for token in encoded_elements(attribute["values"].contents, limit):
                reports.append(
                    validate_timestamp(
                        token,
                        kind=TimestampKind.SIGNATURE_TIMESTAMP,
                        imprint_of=lambda name: crypto.digest(name, signature_value),
                        trust=trust,
                        policy=policy,
                        now=now,
                        revocation_values=revocation_values,
                        carried=carried,
                    )
                )
    except PARSE_ERRORS:
        reports.append(
            failed_timestamp(
                TimestampKind.SIGNATURE_TIMESTAMP, b"", "The time-stamp attribute is malformed"
            )
        )
    return tuple(reports)


def _signature_policy(signer_info: Any) -> str | None:
    signed = signer_info["signed_attrs"]
    if not present(signed):
        return None
    for attribute in signed:
        if attribute["type"].dotted == SIGNATURE_POLICY_IDENTIFIER:
            value = core.Asn1Value.load(attribute["values"][0].dump())
            if isinstance(value, core.Sequence) or value.tag == 16:
                identifier = core.Sequence.load(value.dump())[0]
                oid = core.ObjectIdentifier.load(identifier.dump())
                return str(oid.dotted)
            return None
    return None
