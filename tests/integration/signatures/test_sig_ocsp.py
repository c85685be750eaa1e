"""OCSP responses as revocation evidence (RFC 6960; issue 12, the trust package).

Responses made with cryptography's OCSPResponseBuilder: signed by the issuing CA or by a
delegated responder it issued. Accepted only when authenticated; hostile twins (a byte of the
signature changed, a responder without id-kp-OCSPSigning, a responder of another CA, another
certificate's status, an issuer that does not match the CertID) are no evidence at all.
Then through the engine: an OCSP response in the trust directory decides a signer's status as a
CRL does.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from sig_ocsp import der, ocsp_response, responder
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import describe, local_tsa, only, own_sign

from gateway.pki import DemoPki
from gateway.signatures import Indication, SignaturePolicy, SubIndication, validate
from gateway.trust.certificates import TrustStore
from gateway.trust.revocation import (
    Evidence,
    judge,
    load_ocsp_response,
    ocsp_evidence,
)

DAY = timedelta(days=1)


def test_an_issuer_signed_response_says_good_or_revoked(pki: DemoPki, signer) -> None:
    person = signer("person").certificate
    issuer = pki.issuing_ca.certificate()
    for cert_id_hash in (hashes.SHA1(), hashes.SHA256()):
        good = ocsp_response(person, pki.issuing_ca, this_update=PKI_NOW, cert_id_hash=cert_id_hash)
        evidence = ocsp_evidence(good, person, issuer)
        assert evidence == Evidence("OCSP", PKI_NOW, PKI_NOW + 7 * DAY, None)
    revoked = ocsp_response(person, pki.issuing_ca, this_update=PKI_NOW, revoked_at=PKI_NOW - DAY)
    assert ocsp_evidence(revoked, person, issuer).revoked_at == PKI_NOW - DAY
    # Round trip through DER, as read from a file or a signature.
    assert ocsp_evidence(load_ocsp_response(der(revoked)), person, issuer).revoked_at is not None


def test_a_delegated_responder_needs_the_ocsp_signing_usage(pki: DemoPki, signer) -> None:
    person = signer("person").certificate
    issuer = pki.issuing_ca.certificate()
    delegated = responder(pki.issuing_ca, at=PKI_NOW)
    response = ocsp_response(person, pki.issuing_ca, this_update=PKI_NOW, delegated=delegated)
    assert ocsp_evidence(response, person, issuer) is not None
    plain = responder(pki.issuing_ca, at=PKI_NOW, ocsp_signing=False)
    response = ocsp_response(person, pki.issuing_ca, this_update=PKI_NOW, delegated=plain)
    assert ocsp_evidence(response, person, issuer) is None
    # A responder with the usage, but issued by another CA.
    stranger = responder(pki.untrusted_ca, at=PKI_NOW)
    response = ocsp_response(person, pki.issuing_ca, this_update=PKI_NOW, delegated=stranger)
    assert ocsp_evidence(response, person, issuer) is None


def test_hostile_responses_are_no_evidence(pki: DemoPki, signer) -> None:
    person = signer("person").certificate
    company = signer("company").certificate
    issuer = pki.issuing_ca.certificate()
    response = ocsp_response(person, pki.issuing_ca, this_update=PKI_NOW, revoked_at=PKI_NOW)
    encoded = bytearray(der(response))
    encoded[-5] ^= 0x01  # inside the signature value
    assert ocsp_evidence(load_ocsp_response(bytes(encoded)), person, issuer) is None
    # About another certificate: says nothing about this one.
    assert ocsp_evidence(response, company, issuer) is None
    # The right serial, but the CertID names the issuing CA: not the root's word.
    assert ocsp_evidence(response, person, pki.root_ca.certificate()) is None
    # Signed by a CA that did not issue the certificate.
    forged = ocsp_response(person, pki.untrusted_ca, this_update=PKI_NOW, revoked_at=PKI_NOW)
    assert ocsp_evidence(forged, person, issuer) is None
    # "unknown" is no evidence either way.
    unknown = ocsp_response(person, pki.issuing_ca, this_update=PKI_NOW, unknown=True)
    assert ocsp_evidence(unknown, person, issuer) is None
    with pytest.raises(ValueError):
        load_ocsp_response(b"\x30\x03\x0a\x01\x00garbage")


def test_judge_accepts_evidence_current_now_or_issued_after_the_proven_time() -> None:
    stale_good = Evidence("OCSP", PKI_NOW, PKI_NOW + DAY, None)
    now = PKI_NOW + 30 * DAY
    assert not judge([stale_good], now=now, poe=None).known
    assert judge([stale_good], now=now, poe=PKI_NOW - DAY).known
    assert not judge([stale_good], now=now, poe=PKI_NOW + DAY).known  # issued before the POE
    revoked = Evidence("CRL", PKI_NOW + 2 * DAY, PKI_NOW + 3 * DAY, PKI_NOW + DAY)
    status = judge([stale_good, revoked], now=now, poe=None)
    assert (status.known, status.revoked_at, status.source) == (True, PKI_NOW + DAY, "CRL")
    future = Evidence("OCSP", now + DAY, None, PKI_NOW)  # issued after the validation time
    assert not judge([future], now=now, poe=None).known


def test_the_trust_directory_reads_ocsp_responses(pki: DemoPki, signer, tmp_path) -> None:
    person = signer("person")
    crl_dir = tmp_path / "crl"
    crl_dir.mkdir()
    # The root's CRL (the issuing CA's status); the issuing CA's own CRL left out.
    root_crl = next(pki.crl_dir.glob("root*"))
    (crl_dir / root_crl.name).write_bytes(root_crl.read_bytes())
    revoked_at = PKI_NOW + DAY
    (crl_dir / "person.ocsp").write_bytes(
        der(
            ocsp_response(
                person.certificate,
                pki.issuing_ca,
                this_update=PKI_NOW + 2 * DAY,
                revoked_at=revoked_at,
            )
        )
    )
    (crl_dir / "tsu.ocsp").write_bytes(
        der(ocsp_response(pki.tsa.certificate(), pki.issuing_ca, this_update=PKI_NOW + 2 * DAY))
    )
    trust = TrustStore.from_directory(pki.trust_dir, crl_dir)
    assert len(trust.ocsp_responses) == 2
    policy = SignaturePolicy(require_revocation_info=True)
    at = PKI_NOW + 3 * DAY
    # Signed and time-stamped before the revocation: passes; after it: REVOKED.
    before = own_sign("xades", person, at=PKI_NOW, tsa=local_tsa(pki, PKI_NOW))
    report = validate(before.document, policy=policy, trust=trust, now=at)
    assert only(report).indication is Indication.TOTAL_PASSED, describe(report)
    later = PKI_NOW + 2 * DAY
    after = own_sign("xades", person, at=later, tsa=local_tsa(pki, later))
    report = validate(after.document, policy=policy, trust=trust, now=at)
    assert only(report).sub_indication is SubIndication.REVOKED, describe(report)
    # Without the response the signer's status is unknown (no CRL of its issuer here).
    bare_dir = tmp_path / "bare"
    bare_dir.mkdir()
    (bare_dir / root_crl.name).write_bytes(root_crl.read_bytes())
    bare = TrustStore.from_directory(pki.trust_dir, bare_dir)
    report = validate(before.document, policy=policy, trust=bare, now=at)
    assert only(report).sub_indication is SubIndication.TRY_LATER, describe(report)
    # A response no trusted CA signed is a configuration error, as an unauthenticated CRL is.
    (crl_dir / "forged.ocsp").write_bytes(
        der(ocsp_response(person.certificate, pki.untrusted_ca, this_update=PKI_NOW))
    )
    with pytest.raises(ValueError, match="OCSP"):
        TrustStore.from_directory(pki.trust_dir, crl_dir)
    assert VALIDATION_TIME > PKI_NOW
