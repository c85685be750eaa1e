"""The steps every format shares once its signature has been verified cryptographically.

Given what a format validator established (findings so far, signer certificate, claimed signing
time, signed data objects, validated time-stamps), :func:`conclude` runs:

* X.509 validation of the signer with the best signature time as proof of existence
  (``chain.assess_certificate``; EN 319 102-1 §5.5.4 and §5.6.2.1);
* signature acceptance (§5.2.8): a required signing time is present and not in the future, the
  signing time is not later than a valid signature time-stamp (TIMESTAMP_ORDER_FAILURE, §5.6.2.4),
  whole-document coverage when the policy asks for it;

and builds the frozen :class:`~gateway.signatures.report.SignatureReport`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from gateway.signatures.adbe_revocation import merged
from gateway.signatures.chain import NO_REVOCATION_VALUES, assess_certificate
from gateway.signatures.findings import Findings, Step
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import (
    CertificateInfo,
    SignatureFormat,
    SignatureReport,
    SignedDataObject,
    SubIndication,
    TimestampKind,
    TimestampReport,
)
from gateway.trust.certificates import TrustStore
from gateway.trust.revocation import RevocationValues

_TIMESTAMP_NAMES = {
    TimestampKind.SIGNATURE_TIMESTAMP: "signature time-stamp",
    TimestampKind.DOCUMENT_TIMESTAMP: "document time-stamp",
    TimestampKind.ARCHIVE_TIMESTAMP: "archive time-stamp",
}


@dataclass(frozen=True, slots=True)
class Established:
    """What a format validator hands over to :func:`conclude`."""

    identifier: str
    format: SignatureFormat
    signer_certificate: x509.Certificate | None
    claimed_signing_time: datetime | None
    signature_algorithm: str | None
    signature_value: bytes
    signed_data_objects: tuple[SignedDataObject, ...]
    timestamps: tuple[TimestampReport, ...]
    signing_certificate_reference: bool
    signature_policy_identifier: str | None = None
    signature_policy_digest_algorithm: str | None = None
    signature_policy_digest: bytes | None = None
    signing_time_required: bool = True
    carried_certificates: tuple[x509.Certificate, ...] = ()
    """Certificates the signature carries (XAdES KeyInfo, CertificateValues): candidates for the
    intermediates of the signer's path, never anchors."""
    revocation_values: RevocationValues = NO_REVOCATION_VALUES
    """CRLs and OCSP responses the signature carries (XAdES RevocationValues): evidence."""
    signed_revocation_values: RevocationValues = NO_REVOCATION_VALUES
    """Those of its adbe-revocationInfoArchival signed attribute (``adbe_revocation``):
    evidence too, but not the unsigned validation data the LT level names."""


def format_failure(
    identifier: str, signature_format: SignatureFormat | None, message: str
) -> SignatureReport:
    """A report for a signature (or document) that could not be processed at all."""
    findings = Findings()
    findings.add(Step.FORMAT, SubIndication.FORMAT_FAILURE, message)
    return SignatureReport(
        identifier=identifier, format=signature_format, findings=findings.ordered()
    )


def conclude(
    established: Established,
    findings: Findings,
    *,
    trust: TrustStore,
    policy: SignaturePolicy,
    now: datetime,
) -> SignatureReport:
    """Run path validation and acceptance checks; build the signature's report."""
    valid_timestamps = [ts for ts in established.timestamps if ts.passed]
    for timestamp in established.timestamps:
        if not timestamp.passed and timestamp.sub_indication is not None:
            what = _TIMESTAMP_NAMES[timestamp.kind]
            findings.warnings.append(
                f"A {what} is not valid ({timestamp.sub_indication.value}) and was ignored"
            )
    poe = min((ts.generation_time for ts in valid_timestamps if ts.generation_time), default=None)
    claimed = established.claimed_signing_time
    chain: tuple[CertificateInfo, ...] = ()
    signer: CertificateInfo | None = None
    revocation_time: datetime | None = None
    certificate = established.signer_certificate
    if certificate is not None:
        signer = CertificateInfo.from_certificate(
            certificate, representative_policies=policy.representative_policies
        )
        assessment = assess_certificate(
            certificate,
            trust=trust,
            policy=policy,
            now=now,
            poe=poe,
            claimed_signing_time=claimed,
            carried=established.carried_certificates,
            revocation_values=merged(
                established.revocation_values, established.signed_revocation_values
            ),
        )
        findings.extend(Step.CHAIN, assessment.findings)
        if assessment.weak_key is not None:
            findings.mark_weak(*assessment.weak_key)
        findings.warnings.extend(assessment.warnings)
        revocation_time = assessment.revocation_time
        chain = tuple(
            signer if position == 0 else CertificateInfo.from_certificate(member)
            for position, member in enumerate(assessment.chain)
        )
    _acceptance(established, findings, policy, now, valid_timestamps)
    for name in findings.excuse_weak(lambda name: policy.weak_algorithm_accepted(name, poe)):
        findings.warnings.append(
            f"{name} is accepted: a time-stamp proves the signature existed before the date the "
            "policy accepts it until"
        )
    return SignatureReport(
        identifier=established.identifier,
        format=established.format,
        findings=findings.ordered(),
        signer=signer,
        certificate_chain=chain,
        claimed_signing_time=claimed,
        signature_algorithm=established.signature_algorithm,
        signature_value=established.signature_value,
        signed_data_objects=established.signed_data_objects,
        timestamps=established.timestamps,
        signing_certificate_reference=established.signing_certificate_reference,
        signature_policy_identifier=established.signature_policy_identifier,
        signature_policy_digest_algorithm=established.signature_policy_digest_algorithm,
        signature_policy_digest=established.signature_policy_digest,
        revocation_time=revocation_time,
        warnings=tuple(findings.warnings),
        validation_data=bool(established.revocation_values),
    )


def _acceptance(
    established: Established,
    findings: Findings,
    policy: SignaturePolicy,
    now: datetime,
    valid_timestamps: Sequence[TimestampReport],
) -> None:
    claimed = established.claimed_signing_time
    if claimed is None:
        if policy.require_signing_time and established.signing_time_required:
            findings.add(
                Step.ACCEPTANCE,
                SubIndication.SIG_CONSTRAINTS_FAILURE,
                "The signature does not claim a signing time",
            )
    else:
        if claimed > now + policy.future_signing_time_tolerance:
            findings.add(
                Step.ACCEPTANCE,
                SubIndication.SIG_CONSTRAINTS_FAILURE,
                "The claimed signing time is later than the validation time",
            )
        for timestamp in valid_timestamps:
            generated = timestamp.generation_time
            if generated is not None and claimed > generated + policy.timestamp_order_tolerance:
                findings.add(
                    Step.ACCEPTANCE,
                    SubIndication.TIMESTAMP_ORDER_FAILURE,
                    "The claimed signing time is later than the time-stamp over the signature",
                )
                break
    if policy.require_whole_document and not any(
        item.covers_whole_document for item in established.signed_data_objects
    ):
        findings.add(
            Step.ACCEPTANCE,
            SubIndication.SIG_CONSTRAINTS_FAILURE,
            "The signature does not cover the whole document",
        )
