"""The acceptance table, once per format (XAdES, CAdES, PAdES), with our own signers.

Each row: how the vector is made -> the indication and sub-indication expected. The independent
signers (xmlsec1, openssl, pyHanko) have their own files.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sig_scenarios import FORMATS, PKI_NOW, VALIDATION_TIME, ExpiresSoon, RevokedLater
from sig_vectors import (
    Vector,
    describe,
    local_tsa,
    only,
    own_sign,
    tamper_content,
    tamper_signature,
)

from gateway.pki import DemoPki
from gateway.signatures import (
    Indication,
    LocalTimeStampAuthority,
    SignatureFormat,
    SignaturePolicy,
    SubIndication,
    validate,
)
from gateway.trust.certificates import TrustStore

TOTAL_FAILED = Indication.TOTAL_FAILED
INDETERMINATE = Indication.INDETERMINATE
EXPECTED_FORMAT = {
    "xades": SignatureFormat.XADES,
    "cades": SignatureFormat.CADES,
    "pades": SignatureFormat.PADES,
}

pytestmark = pytest.mark.parametrize("kind", FORMATS)


def check(
    vector: Vector,
    trust: TrustStore,
    policy: SignaturePolicy,
    indication: Indication,
    sub: SubIndication | None,
    *,
    now=VALIDATION_TIME,
):
    report = validate(
        vector.document, detached_content=vector.detached, policy=policy, trust=trust, now=now
    )
    signature = only(report)
    assert (signature.indication, signature.sub_indication) == (indication, sub), describe(report)
    assert (report.indication, report.sub_indication) == (indication, sub)
    return report


def test_valid_signature_passes(kind, signer, trust, policy) -> None:
    report = check(
        own_sign(kind, signer("company"), at=PKI_NOW), trust, policy, Indication.TOTAL_PASSED, None
    )
    signature = only(report)
    assert report.format is EXPECTED_FORMAT[kind]
    assert signature.level == f"{EXPECTED_FORMAT[kind].value}-BASELINE-B"
    assert signature.covers_whole_document
    assert signature.signer is not None and signature.signer.principal is not None
    assert signature.signer.principal.kind.value == "ENTITY"
    assert [c.subject.split(",")[0] for c in signature.certificate_chain][1:] == [
        "CN=NOTESS Demo Issuing CA",
        "CN=NOTESS Demo Root CA",
    ]
    assert signature.claimed_signing_time == PKI_NOW


def test_ecdsa_signer_passes(kind, signer, trust, policy) -> None:
    check(
        own_sign(kind, signer("company_ec"), at=PKI_NOW),
        trust,
        policy,
        Indication.TOTAL_PASSED,
        None,
    )


def test_time_stamped_signature_is_level_t(kind, signer, trust, policy, tsa) -> None:
    report = check(
        own_sign(kind, signer("company"), at=PKI_NOW, tsa=tsa),
        trust,
        policy,
        Indication.TOTAL_PASSED,
        None,
    )
    signature = only(report)
    assert signature.level.endswith("-BASELINE-T")
    assert signature.proof_of_existence == PKI_NOW
    assert [ts.passed for ts in signature.timestamps] == [True]
    assert signature.timestamps[0].tsa is not None
    assert "TSU" in signature.timestamps[0].tsa.subject


def test_modified_content_is_hash_failure(kind, signer, trust, policy) -> None:
    vector = tamper_content(kind, own_sign(kind, signer("company"), at=PKI_NOW))
    check(vector, trust, policy, TOTAL_FAILED, SubIndication.HASH_FAILURE)


def test_modified_signature_value_is_sig_crypto_failure(kind, signer, trust, policy) -> None:
    vector = tamper_signature(kind, own_sign(kind, signer("company"), at=PKI_NOW))
    check(vector, trust, policy, TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


def test_untrusted_chain(kind, signer, trust, policy) -> None:
    report = check(
        own_sign(kind, signer("untrusted"), at=PKI_NOW),
        trust,
        policy,
        INDETERMINATE,
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
    )
    assert only(report).certificate_chain == ()


def test_revoked_signer_without_time_stamp_is_revoked_no_poe(kind, signer, trust, policy) -> None:
    report = check(
        own_sign(kind, signer("revoked"), at=PKI_NOW),
        trust,
        policy,
        INDETERMINATE,
        SubIndication.REVOKED_NO_POE,
    )
    assert only(report).revocation_time is not None


def test_revoked_signer_time_stamped_after_revocation_is_revoked(
    kind, signer, trust, policy, tsa
) -> None:
    # The demo CRL revokes the client at PKI_NOW - 1 day; signed and time-stamped at PKI_NOW.
    check(
        own_sign(kind, signer("revoked"), at=PKI_NOW, tsa=tsa),
        trust,
        policy,
        TOTAL_FAILED,
        SubIndication.REVOKED,
    )


def test_revoked_intermediate_without_time_stamp(kind, signer, trust, policy) -> None:
    check(
        own_sign(kind, signer("revoked_intermediate"), at=PKI_NOW),
        trust,
        policy,
        INDETERMINATE,
        SubIndication.REVOKED_CA_NO_POE,
    )


def test_revoked_after_time_stamped_signing_passes(
    kind, pki: DemoPki, policy, revoked_later: RevokedLater
) -> None:
    signed_at = revoked_later.revoked_at - _days(1)
    vector = own_sign(kind, revoked_later.signer, at=signed_at, tsa=local_tsa(pki, signed_at))
    report = check(
        vector,
        revoked_later.trust,
        policy,
        Indication.TOTAL_PASSED,
        None,
        now=revoked_later.validate_at,
    )
    signature = only(report)
    assert signature.revocation_time == revoked_later.revoked_at
    assert any("revoked after" in warning for warning in signature.warnings)


def test_revoked_after_signing_without_time_stamp_is_revoked_no_poe(
    kind, policy, revoked_later: RevokedLater
) -> None:
    vector = own_sign(kind, revoked_later.signer, at=revoked_later.revoked_at - _days(1))
    check(
        vector,
        revoked_later.trust,
        policy,
        INDETERMINATE,
        SubIndication.REVOKED_NO_POE,
        now=revoked_later.validate_at,
    )


def test_signed_and_time_stamped_after_revocation_is_revoked(
    kind, pki: DemoPki, policy, revoked_later: RevokedLater
) -> None:
    signed_at = revoked_later.revoked_at + _days(0.5)
    vector = own_sign(kind, revoked_later.signer, at=signed_at, tsa=local_tsa(pki, signed_at))
    check(
        vector,
        revoked_later.trust,
        policy,
        TOTAL_FAILED,
        SubIndication.REVOKED,
        now=revoked_later.validate_at,
    )


def test_expired_demo_signer_is_out_of_bounds_no_poe(kind, signer, trust, policy) -> None:
    # The demo 'expired' client was valid until PKI_NOW - 35 days; it signs inside its validity.
    vector = own_sign(kind, signer("expired"), at=PKI_NOW - _days(100))
    report = check(vector, trust, policy, INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE)
    assert len(only(report).certificate_chain) == 3


def test_expired_signer_with_time_stamp_inside_validity_passes(
    kind, pki: DemoPki, trust, policy, expires_soon: ExpiresSoon
) -> None:
    vector = own_sign(kind, expires_soon.signer, at=PKI_NOW, tsa=local_tsa(pki, PKI_NOW))
    check(vector, trust, policy, Indication.TOTAL_PASSED, None, now=expires_soon.validate_at)


def test_expired_signer_without_time_stamp_is_out_of_bounds(
    kind, trust, policy, expires_soon: ExpiresSoon
) -> None:
    vector = own_sign(kind, expires_soon.signer, at=PKI_NOW)
    check(
        vector,
        trust,
        policy,
        INDETERMINATE,
        SubIndication.OUT_OF_BOUNDS_NO_POE,
        now=expires_soon.validate_at,
    )


def test_time_stamp_older_than_signing_time_is_order_failure(
    kind, pki: DemoPki, signer, trust, policy
) -> None:
    backdated: LocalTimeStampAuthority = local_tsa(pki, PKI_NOW - _days(1 / 24))
    report = check(
        own_sign(kind, signer("company"), at=PKI_NOW, tsa=backdated),
        trust,
        policy,
        INDETERMINATE,
        SubIndication.TIMESTAMP_ORDER_FAILURE,
    )
    assert only(report).timestamps[0].passed  # the token itself is fine; the order is not


def test_time_stamp_over_other_data_is_ignored(kind, signer, trust, policy, tsa) -> None:
    class WrongImprint:
        def __init__(self, inner: LocalTimeStampAuthority) -> None:
            self.inner = inner

        def timestamp(self, digest: bytes, hash_algorithm: str) -> bytes:
            return self.inner.timestamp(bytes(len(digest)), hash_algorithm)

    # Revoked signer: only a valid time-stamp could change the outcome, and this one must not.
    vector = own_sign(kind, signer("revoked"), at=PKI_NOW, tsa=WrongImprint(tsa))
    report = check(vector, trust, policy, INDETERMINATE, SubIndication.REVOKED_NO_POE)
    signature = only(report)
    assert signature.timestamps[0].sub_indication is SubIndication.HASH_FAILURE
    assert signature.proof_of_existence is None


def test_truncated_document_is_format_failure(kind, signer, trust, policy) -> None:
    vector = own_sign(kind, signer("company"), at=PKI_NOW)
    for length in (len(vector.document) // 2, 40, 1):
        report = validate(vector.document[:length], policy=policy, trust=trust, now=VALIDATION_TIME)
        assert report.indication is TOTAL_FAILED, describe(report)
        assert report.sub_indication is SubIndication.FORMAT_FAILURE


def test_declared_format_overrides_detection(kind, signer, trust, policy) -> None:
    other = {
        "xades": SignatureFormat.CADES,
        "cades": SignatureFormat.PADES,
        "pades": SignatureFormat.XADES,
    }
    vector = own_sign(kind, signer("company"), at=PKI_NOW)
    report = validate(
        vector.document, format=other[kind], policy=policy, trust=trust, now=VALIDATION_TIME
    )
    assert report.sub_indication is SubIndication.FORMAT_FAILURE
    assert report.format is other[kind]


def _days(count: float) -> timedelta:
    return timedelta(days=count)
