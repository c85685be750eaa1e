"""Validation of RFC 3161 time-stamp tokens (EN 319 102-1 §5.4 "time-stamp validation").

A token is a CMS SignedData over a TSTInfo. It is valid for a signature when:

* its message imprint equals the digest of the time-stamped data (the signature value for a
  signature time-stamp, the canonicalised ``ds:SignatureValue`` for XAdES, the ``/ByteRange`` for
  a PDF document time-stamp) -- otherwise HASH_FAILURE;
* the imprint algorithm is allowed (CRYPTO_CONSTRAINTS_FAILURE);
* its SignedData verifies, with an ESS signing-certificate(-v2) reference to the TSU's
  certificate (RFC 3161 §2.4.2, RFC 5816) -- the shared CMS checks of ``cms.verify_signer``;
* the TSU's certificate carries the timeStamping EKU, chains to the trust store and is not revoked
  at validation time (``chain.assess_certificate``), and genTime lies inside its validity.

Only a valid token is a proof of existence; an invalid one is reported with its findings and
ignored for the signature's best signature time.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from cryptography import x509

from gateway.signatures import crypto
from gateway.signatures.chain import NO_REVOCATION_VALUES, Purpose, assess_certificate
from gateway.signatures.cms import (
    PARSE_ERRORS,
    PreparedSigner,
    load_signed_data,
    oid_name,
    prepare_signer,
    verify_prepared_signer,
    verify_signer,
)
from gateway.signatures.findings import Findings, FormatError, Step
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import CertificateInfo, SubIndication, TimestampKind, TimestampReport
from gateway.signatures.tst_der import TokenParts, read_token
from gateway.trust.certificates import TrustStore
from gateway.trust.revocation import RevocationValues

ImprintSource = Callable[[str], bytes]
"""Digest of the time-stamped data under the named hash (``sha256``)."""


def validate_timestamp(
    token: bytes,
    *,
    kind: TimestampKind,
    imprint_of: ImprintSource,
    trust: TrustStore,
    policy: SignaturePolicy,
    now: datetime,
    revocation_values: RevocationValues = NO_REVOCATION_VALUES,
    carried: tuple[x509.Certificate, ...] = (),
    parsed: Any | None = None,
) -> TimestampReport:
    """Validate one DER TimeStampToken against the data it should cover, at ``now`` (the
    validation time, or the time a later archive time-stamp proves it existed);
    ``revocation_values`` are CRLs and OCSP responses the signature carries; ``parsed``: the
    asn1crypto ContentInfo the caller already loaded from ``token`` or the
    :class:`tst_der.TokenParts` it read from it (not parsed again)."""
    findings = Findings()
    # The plain DER layout is read without asn1crypto (tst_der); anything else, or a unit
    # whose certificates verify_signer has not seen yet, takes the asn1crypto path.
    prepared: PreparedSigner | None = None
    if isinstance(parsed, TokenParts) and parsed.token == token:
        fast: TokenParts | None = parsed
        parsed = None
    else:
        fast = read_token(token)
    if fast is not None:
        econtent, generation_time = fast.econtent, fast.generation_time
        serial_number, imprint_algorithm = fast.serial_number, fast.imprint_algorithm
        hashed_message = fast.hashed_message
        prepared = prepare_signer(fast.signer)
    if fast is None or prepared is None:
        prepared = None
        try:
            signed_data = load_signed_data(token, content_info=parsed)
            encapsulated = signed_data["encap_content_info"]
            if oid_name(encapsulated["content_type"]) != "tst_info":
                raise FormatError("The time-stamp token does not hold a TSTInfo")
            econtent = bytes(encapsulated["content"])
            tst_info = encapsulated["content"].parsed
            generation_time = tst_info["gen_time"].native
            serial_number = int(tst_info["serial_number"].native)
            imprint = tst_info["message_imprint"]
            imprint_algorithm = oid_name(imprint["hash_algorithm"]["algorithm"])
            hashed_message = imprint["hashed_message"].native
            signer_info = signed_data["signer_infos"][0]  # built here: it may not parse
        except FormatError as exc:
            return failed_timestamp(kind, token, exc.message)
        except PARSE_ERRORS:
            return failed_timestamp(kind, token, "The time-stamp token is malformed")
    if generation_time.tzinfo is None:
        return failed_timestamp(kind, token, "The time-stamp genTime has no time zone")
    try:
        expected = imprint_of(imprint_algorithm)
    except crypto.UnknownAlgorithm:
        findings.add(
            Step.ACCEPTANCE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            f"The time-stamp imprint uses an unknown algorithm ({imprint_algorithm})",
        )
    else:
        if not hmac.compare_digest(expected, hashed_message):
            findings.add(
                Step.CRYPTO, SubIndication.HASH_FAILURE, "The time-stamp does not cover this data"
            )
    if not policy.allows_digest(imprint_algorithm):
        findings.add_weak_algorithm(
            imprint_algorithm,
            f"The time-stamp imprint algorithm {imprint_algorithm} is not accepted",
        )
    token_policy = (
        policy
        if policy.require_signing_certificate_reference
        else replace(policy, require_signing_certificate_reference=True)  # RFC 3161 §2.4.2
    )
    try:
        signer = (
            verify_prepared_signer(
                prepared,
                content_digest=lambda name: crypto.digest(name, econtent),
                policy=token_policy,
                findings=findings,
            )
            if prepared is not None
            else verify_signer(
                signed_data,
                signer_info,
                content_digest=lambda name: crypto.digest(name, econtent),
                policy=token_policy,
                findings=findings,
            )
        )
    except FormatError as exc:
        return failed_timestamp(kind, token, exc.message, generation_time)
    tsa: CertificateInfo | None = None
    if signer.certificate is not None:
        certificate = signer.certificate
        tsa = CertificateInfo.from_certificate(certificate)
        assessment = assess_certificate(
            certificate,
            trust=trust,
            policy=policy,
            now=now,
            purpose=Purpose.TIME_STAMPING,
            revocation_values=revocation_values,
            carried=carried,
        )
        findings.extend(Step.CHAIN, assessment.findings)
        if assessment.weak_key is not None:
            findings.mark_weak(*assessment.weak_key)
        if generation_time < certificate.not_valid_before_utc:
            findings.add(
                Step.CHAIN,
                SubIndication.NOT_YET_VALID,
                "The time-stamp predates its unit's certificate",
            )
        elif generation_time > certificate.not_valid_after_utc:
            findings.add(
                Step.CHAIN, SubIndication.EXPIRED, "The time-stamp postdates its unit's certificate"
            )
    _judge_dated_algorithms(findings, policy, now)
    return TimestampReport(
        kind=kind,
        findings=findings.ordered(),
        generation_time=generation_time,
        tsa=tsa,
        serial_number=serial_number,
        imprint_algorithm=imprint_algorithm,
        token=token,
        validation_time=now,
    )


Stamp = TypeVar("Stamp")


def past_or_present(
    validate_at: Callable[[datetime], tuple[TimestampReport, ...]], proven: datetime, now: datetime
) -> tuple[TimestampReport, ...]:
    """Time-stamps validated at ``proven`` (when a later proof of existence dates them) and,
    those that fail there, at ``now`` too: the passing report kept, else the one at ``proven``.
    Past validation helps a token that fails today; one whose unit's revocation evidence is
    only current (the trust directory's CRL) is valid as it stands today, and a later proof
    must not make it worse (EN 319 102-1 §5.6.2.1). Each report's ``validation_time`` says
    which judgement it is (``proven``, or ``now`` when the fallback decided)."""
    reports = validate_at(proven)
    if proven == now or all(report.passed for report in reports):
        return reports
    current = validate_at(now)
    return tuple(
        today if today.passed else then for then, today in zip(reports, current, strict=True)
    )


def renewal_chain(
    stamps: Sequence[Stamp],
    validate_at: Callable[[Stamp, datetime], TimestampReport],
    now: datetime,
) -> tuple[TimestampReport, ...]:
    """Time-stamps each covering the ones before it (XAdES archive time-stamps renewed, PAdES
    document time-stamps), validated from the last back: the last at ``now``, each earlier one
    at the earliest genTime of the valid ones after it, when it provably existed (a unit that
    expired or was revoked since then no longer matters), or as it stands today
    (:func:`past_or_present`). A stamp that fails proves nothing. Reports in ``stamps``'
    order."""
    reports: list[TimestampReport] = []
    proven = now
    for stamp in reversed(stamps):
        [report] = past_or_present(functools.partial(_one, validate_at, stamp), proven, now)
        if report.passed and report.generation_time is not None:
            proven = min(proven, report.generation_time)
        reports.append(report)
    return tuple(reversed(reports))


def _one(
    validate_at: Callable[[Stamp, datetime], TimestampReport], stamp: Stamp, at: datetime
) -> tuple[TimestampReport]:
    return (validate_at(stamp, at),)


def failed_timestamp(
    kind: TimestampKind, token: bytes, message: str, generation_time: datetime | None = None
) -> TimestampReport:
    findings = Findings()
    findings.add(Step.FORMAT, SubIndication.FORMAT_FAILURE, message)
    return TimestampReport(
        kind=kind, findings=findings.ordered(), generation_time=generation_time, token=token
    )


def _judge_dated_algorithms(findings: Findings, policy: SignaturePolicy, at: datetime) -> None:
    """A token's own weak algorithms (imprint, token signature and its digests, TSU key) under the
    policy's dates, at ``at``: the time the token is validated, which is the validation time or
    the time a later archive or document time-stamp proves the token existed (its own genTime
    proves nothing about the token). Before an algorithm's date it is accepted; after it, a dated
    algorithm is CRYPTO_CONSTRAINTS_FAILURE_NO_POE (an earlier proof of the token would have
    saved it), an undated one CRYPTO_CONSTRAINTS_FAILURE."""

    def verdict(name: str) -> bool | None:
        if policy.weak_algorithm_accepted(name, at):
            return True
        return None if policy.weak_algorithm_accepted(name, None) is None else False

    findings.excuse_weak(verdict)
