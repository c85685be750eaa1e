"""Real time-stamp tokens -- ``openssl ts -reply`` and our local TSA, inside XAdES, CAdES and
PAdES signatures of levels T and LTA -- read by the strict DER reader (``tst_der``) give the
very report the asn1crypto path gives, and so do their tampered twins. Each document is
validated twice, once with the DER reader switched off; the tokens are checked to take it."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from sig_scenarios import FORMATS, PKI_NOW, VALIDATION_TIME
from sig_vectors import OpenSslTsa, describe, minimal_pdf, only, own_sign

from gateway.domain.clock import FixedClock
from gateway.pki import DemoPki
from gateway.signatures import (
    Indication,
    LocalTimeStampAuthority,
    SignaturePolicy,
    add_document_timestamp,
    sign_pades,
    sign_xades_enveloped,
    timestamps,
    tst_der,
    validate,
)
from gateway.signatures.cms import prepare_signer
from gateway.signatures.pades_fast_lta import read_lta
from gateway.signatures.report import TimestampKind, ValidationReport
from gateway.signatures.tst_der import TokenParts, read_token
from gateway.signatures.xades_extend import extend_xades
from gateway.trust.certificates import TrustStore


@contextmanager
def asn1crypto_only() -> Iterator[None]:
    with (
        mock.patch.object(timestamps, "read_token", lambda token: None),
        mock.patch.object(tst_der, "read_token", lambda token: None),  # read_padded's
    ):
        yield


def same_report(
    document: bytes, trust: TrustStore, policy: SignaturePolicy
) -> ValidationReport:
    with asn1crypto_only():
        expected = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    got = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    assert got.to_json() == expected.to_json()
    return got


def takes_der_path(token: bytes) -> bool:
    parts = read_token(token)
    return parts is not None and prepare_signer(parts.signer) is not None


@pytest.mark.parametrize("imprint", ["sha256", "sha384", "sha512"])  # what the TSA config allows
def test_openssl_ts_tokens_read_alike(
    imprint: str, pki: DemoPki, trust: TrustStore, policy: SignaturePolicy
) -> None:
    data = b"data time-stamped by openssl"
    token = OpenSslTsa(pki.tsa).timestamp(hashlib.new(imprint, data).digest(), imprint)

    def check(covered: bytes) -> None:
        reports = []
        for switch in (asn1crypto_only, _der_allowed):
            with switch():
                reports.append(
                    timestamps.validate_timestamp(
                        token,
                        kind=TimestampKind.SIGNATURE_TIMESTAMP,
                        imprint_of=lambda name: hashlib.new(name, covered).digest(),
                        trust=trust,
                        policy=policy,
                        now=VALIDATION_TIME,
                    )
                )
        assert reports[0] == reports[1]
        assert reports[0].passed == (covered == data)

    check(data)
    assert takes_der_path(token)
    check(b"other data")


@contextmanager
def _der_allowed() -> Iterator[None]:
    yield


@pytest.mark.parametrize("kind", FORMATS)
@pytest.mark.parametrize("authority", ["openssl", "local"])
def test_level_t_signatures_read_alike(
    kind: str, authority: str, pki: DemoPki, signer, tsa, trust, policy  # type: ignore[no-untyped-def]
) -> None:
    unit = OpenSslTsa(pki.tsa) if authority == "openssl" else tsa
    vector = own_sign(kind, signer("company"), at=PKI_NOW, tsa=unit)
    with asn1crypto_only():
        expected = validate(
            vector.document, detached_content=vector.detached, policy=policy, trust=trust,
            now=VALIDATION_TIME,
        )
    report = validate(
        vector.document, detached_content=vector.detached, policy=policy, trust=trust,
        now=VALIDATION_TIME,
    )
    assert report.to_json() == expected.to_json()
    signature = only(report)
    assert signature.indication is Indication.TOTAL_PASSED, describe(report)
    assert all(takes_der_path(stamp.token) for stamp in signature.timestamps)


def _xades_lta(pki: DemoPki, policy: SignaturePolicy) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    company = pki.client("company")
    unit = LocalTimeStampAuthority(pki.tsa.private_key(), pki.tsa.certificate(), FixedClock(PKI_NOW))
    ca_key, ca = pki.issuing_ca.private_key(), pki.issuing_ca.certificate()

    def good(subject):  # type: ignore[no-untyped-def]
        return (
            ocsp.OCSPResponseBuilder()
            .add_response(cert=subject, issuer=ca, algorithm=hashes.SHA1(),
                          cert_status=ocsp.OCSPCertStatus.GOOD, this_update=PKI_NOW,
                          next_update=PKI_NOW + (VALIDATION_TIME - PKI_NOW) * 48,
                          revocation_time=None, revocation_reason=None)
            .responder_id(ocsp.OCSPResponderEncoding.HASH, ca)
            .sign(ca_key, hashes.SHA256())
        )

    level_t = sign_xades_enveloped(
        b"<doc>archived</doc>", company.private_key(), company.certificate(),
        clock=FixedClock(PKI_NOW), tsa=OpenSslTsa(pki.tsa),
    )
    return extend_xades(
        level_t, certificates=[company.certificate(), ca], crls=[],
        responses=[good(company.certificate()), good(pki.tsa.certificate())], tsa=unit,
        policy=policy,
    )


def test_xades_lta_and_its_tampered_twins_read_alike(
    pki: DemoPki, trust: TrustStore, policy: SignaturePolicy
) -> None:
    document = _xades_lta(pki, policy)
    report = same_report(document, trust, policy)
    assert only(report).level == "XAdES-BASELINE-LTA", describe(report)
    tokens = [base64.b64decode(text) for text in
              re.findall(rb"EncapsulatedTimeStamp[^>]*>([^<]+)<", document)]
    assert len(tokens) == 2 and all(takes_der_path(token) for token in tokens)
    for token in tokens:
        parts = read_token(token)
        assert parts is not None
        # the TSTInfo's imprint, the token's signature and its message-digest attribute changed
        for changed in (parts.hashed_message, parts.signer.signature, parts.signer.message_digest):
            flipped = bytearray(changed)
            flipped[len(flipped) // 2] ^= 0x01
            twin = token.replace(changed, bytes(flipped))
            tampered = document.replace(base64.b64encode(token), base64.b64encode(twin))
            assert tampered != document
            stamps = only(same_report(tampered, trust, policy)).timestamps
            assert len(stamps) == 2 and not all(stamp.passed for stamp in stamps)


def test_pades_document_time_stamps_and_their_tampered_twins_read_alike(
    pki: DemoPki, tsa: LocalTimeStampAuthority, trust: TrustStore, policy: SignaturePolicy
) -> None:
    company = pki.client("company")
    level_t = sign_pades(
        minimal_pdf(), company.private_key(), company.certificate(), clock=FixedClock(PKI_NOW),
        tsa=OpenSslTsa(pki.tsa),
    )
    document = add_document_timestamp(level_t, tsa)
    read = read_lta(document)
    assert read is not None and len(read.stamps) == 1
    parts = read.stamps[0].message
    assert isinstance(parts, TokenParts)  # the fast reader handed over the DER reading
    report = same_report(document, trust, policy)
    assert only(report).indication is Indication.TOTAL_PASSED, describe(report)
    assert len(report.document_timestamps) == 1 and report.document_timestamps[0].passed
    for changed in (parts.hashed_message, parts.signer.signature):
        hex_old = changed.hex().upper().encode()
        flipped = bytearray(changed)
        flipped[0] ^= 0x01
        twin = document.replace(hex_old, bytes(flipped).hex().upper().encode())
        if twin == document:  # pyHanko writes lower-case hex
            twin = document.replace(changed.hex().encode(), bytes(flipped).hex().encode())
        assert twin != document
        stamps = same_report(twin, trust, policy).document_timestamps
        assert len(stamps) == 1 and not stamps[0].passed
