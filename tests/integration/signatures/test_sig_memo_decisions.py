"""The memo tables that make XAdES-LTA validation cheap never carry a decision over to input
that differs: each case first validates something that passes (filling the tables with the same
time-stamping unit, CA and certificate objects), then something that must fail, and expects the
failure.

* Revocation evidence (``trust.revocation``, by the identity of response, certificate and
  issuer): a revoked or forged OCSP response for the same unit, or the same good response at a
  time it no longer covers, after a pass.
* Carried intermediates (``chain.with_carried``): a signature without them after one with them.
* CMS signer checks (``signatures.cms``, by encodings): a time-stamp token from the same unit
  whose SignerIdentifier names another certificate, whose ESS reference is altered, or whose
  certificates are another's, after a good token.
* End to end: an XAdES-LTA signature whose unit the carried OCSP response says was revoked,
  validated right after its twin that passed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from sig_lta import add_archive_timestamp, add_validation_data
from sig_ocsp import der, ocsp_response, responder
from sig_scenarios import PKI_NOW
from sig_vectors import describe, issue_leaf, local_tsa, make_crl, only, own_sign, trust_store

from gateway.domain.clock import FixedClock
from gateway.pki import DemoPki
from gateway.signatures import (
    Indication,
    LocalTimeStampAuthority,
    SignaturePolicy,
    SubIndication,
    TimestampKind,
    validate,
)
from gateway.signatures.chain import Purpose, assess_certificate
from gateway.signatures.crypto import digest
from gateway.signatures.timestamps import validate_timestamp
from gateway.trust.revocation import RevocationValues, load_ocsp_response

DAY = timedelta(days=1)
POLICY = SignaturePolicy()
STRICT = SignaturePolicy(require_revocation_info=True)
"""No evidence at all is TRY_LATER, so that evidence left out shows."""


def _root_crl_only(pki: DemoPki, at):
    """The trust directory with the root's CRL only: OCSP is the unit's only evidence."""
    return trust_store(pki, [make_crl(pki.root_ca, [], this_update=at - DAY, next_update=at + DAY)])


def _unit_findings(pki: DemoPki, trust, now, responses) -> set[SubIndication]:
    assessment = assess_certificate(
        pki.tsa.certificate(),
        trust=trust,
        policy=STRICT,
        now=now,
        purpose=Purpose.TIME_STAMPING,
        revocation_values=RevocationValues((), tuple(responses)),
    )
    return {finding.sub_indication for finding in assessment.findings}


def test_a_cached_good_response_does_not_excuse_a_revoked_forged_or_stale_one(
    pki: DemoPki,
) -> None:
    now = PKI_NOW + DAY
    trust = _root_crl_only(pki, now)
    unit = pki.tsa.certificate()
    good = load_ocsp_response(der(ocsp_response(unit, pki.issuing_ca, this_update=now - DAY)))
    assert load_ocsp_response(der(good)) is good  # the same DER, the same object: memo hits
    for _ in range(2):
        assert _unit_findings(pki, trust, now, [good]) == set()
    revoked = load_ocsp_response(
        der(ocsp_response(unit, pki.issuing_ca, this_update=now - DAY, revoked_at=now - 2 * DAY))
    )
    assert _unit_findings(pki, trust, now, [revoked]) == {SubIndication.REVOKED_NO_POE}
    assert _unit_findings(pki, trust, now, [good, revoked]) == {SubIndication.REVOKED_NO_POE}
    # Signed by a delegated responder without the OCSP-signing usage: no evidence at all.
    forged = load_ocsp_response(
        der(
            ocsp_response(
                unit,
                pki.issuing_ca,
                this_update=now - DAY,
                delegated=responder(pki.issuing_ca, at=now, ocsp_signing=False),
            )
        )
    )
    assert _unit_findings(pki, trust, now, [forged]) == {SubIndication.TRY_LATER}
    # The good response, judged at a time after its nextUpdate: nothing current says good.
    assert _unit_findings(pki, trust, now + 30 * DAY, [good]) == {SubIndication.TRY_LATER}
    assert _unit_findings(pki, trust, now, [good]) == set()


def test_a_signature_without_the_intermediate_finds_no_path_after_one_with_it(
    pki: DemoPki, tmp_path: Path
) -> None:
    from gateway.trust.certificates import TrustStore

    now = PKI_NOW + DAY
    root_only = TrustStore(
        [pki.root_ca.certificate()],
        [make_crl(pki.root_ca, [], this_update=now - DAY, next_update=now + DAY)],
    )
    signer = issue_leaf(pki, tmp_path, "carried", not_before=now - DAY, not_after=now + 30 * DAY)
    policy = SignaturePolicy(check_revocation=False)
    intermediate = pki.issuing_ca.certificate()
    for _ in range(2):
        with_it = assess_certificate(
            signer.certificate,
            trust=root_only,
            policy=policy,
            now=now,
            carried=(signer.certificate, intermediate),
        )
        assert with_it.findings == () and with_it.chain[1] == intermediate
    without = assess_certificate(
        signer.certificate, trust=root_only, policy=policy, now=now, carried=(signer.certificate,)
    )
    assert [finding.sub_indication for finding in without.findings] == [
        SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    ]


def _token(pki: DemoPki, at, data: bytes = b"stamped") -> bytes:
    return local_tsa(pki, at).timestamp(digest("sha256", data), "sha256")


def _check(pki: DemoPki, trust, token: bytes, at, data: bytes = b"stamped"):
    return validate_timestamp(
        token,
        kind=TimestampKind.SIGNATURE_TIMESTAMP,
        imprint_of=lambda name: digest(name, data),
        trust=trust,
        policy=POLICY,
        now=at,
    )


def _rewritten(token: bytes, change) -> bytes:
    content_info = cms.ContentInfo.load(token)
    change(content_info["content"])
    return content_info.dump(force=True)


def test_tokens_of_the_same_unit_are_each_judged_on_their_own(pki: DemoPki, trust) -> None:
    at = PKI_NOW + timedelta(hours=1)
    good = _token(pki, at)
    for _ in range(2):
        report = _check(pki, trust, good, at)
        assert report.passed, report.findings

    def other_serial(signed_data) -> None:
        sid = signed_data["signer_infos"][0]["sid"].chosen
        sid["serial_number"] = sid["serial_number"].native + 1

    def other_reference(signed_data) -> None:
        attributes = signed_data["signer_infos"][0]["signed_attrs"]
        for attribute in attributes:
            if attribute["type"].native == "signing_certificate_v2":
                reference = attribute["values"][0]["certs"][0]
                reference["cert_hash"] = bytes(32)

    def other_certificates(signed_data) -> None:
        ca = asn1_x509.Certificate.load(pki.issuing_ca.certificate().public_bytes(Encoding.DER))
        signed_data["certificates"] = cms.CertificateSet(
            [cms.CertificateChoices(name="certificate", value=ca)]
        )

    for change in (other_serial, other_reference, other_certificates):
        report = _check(pki, trust, _rewritten(good, change), at)
        subs = {finding.sub_indication for finding in report.findings}
        assert SubIndication.NO_SIGNING_CERTIFICATE_FOUND in subs, (change.__name__, subs)
        assert not report.passed
    assert _check(pki, trust, good, at).passed


def test_an_lta_signature_whose_unit_was_revoked_fails_after_its_twin_passed(
    pki: DemoPki, tmp_path: Path
) -> None:
    signed_at = PKI_NOW
    archived_at = PKI_NOW + 2 * DAY
    now = PKI_NOW + 3 * DAY
    signer = issue_leaf(pki, tmp_path, "twin", not_before=PKI_NOW - DAY, not_after=now + 300 * DAY)
    unit = issue_leaf(
        pki,
        tmp_path,
        "twin-tsu",
        not_before=PKI_NOW - DAY,
        not_after=now + 300 * DAY,
        eku=(ExtendedKeyUsageOID.TIME_STAMPING,),
    )
    tsa = LocalTimeStampAuthority(unit.key, unit.certificate, FixedClock(signed_at))
    signed = own_sign("xades", signer, at=signed_at, tsa=tsa).document
    trust = _root_crl_only(pki, now)

    def lta(unit_revoked_at) -> bytes:
        responses = [
            ocsp_response(signer.certificate, pki.issuing_ca, this_update=signed_at + DAY),
            ocsp_response(
                unit.certificate,
                pki.issuing_ca,
                this_update=signed_at + DAY,
                revoked_at=unit_revoked_at,
            ),
        ]
        with_data = add_validation_data(
            signed,
            certificates=[signer.certificate, unit.certificate, pki.issuing_ca.certificate()],
            crls=[make_crl(pki.root_ca, [], this_update=signed_at + DAY, next_update=now + DAY)],
            responses=responses,
        )
        archive_unit = LocalTimeStampAuthority(unit.key, unit.certificate, FixedClock(archived_at))
        return add_archive_timestamp(with_data, archive_unit)

    def judge(document: bytes):
        report = validate(document, policy=POLICY, trust=trust, now=now)
        return only(report), report

    passing = lta(None)
    for _ in range(2):
        signature, report = judge(passing)
        assert signature.indication is Indication.TOTAL_PASSED, describe(report)
        assert signature.level == "XAdES-BASELINE-LTA"
    # The same unit, revoked before it made either time-stamp: neither proves anything.
    signature, report = judge(lta(signed_at - DAY))
    assert [ts.sub_indication for ts in signature.timestamps] == [
        SubIndication.REVOKED_NO_POE,
        SubIndication.REVOKED_NO_POE,
    ], describe(report)
    assert signature.level == "XAdES-BASELINE-B"  # no valid time-stamp: not even T


def test_a_replaced_trust_store_is_not_kept_alive_by_the_memo(pki: DemoPki) -> None:
    """A reload builds a new store: the old one, its CRLs and the stores derived from it for
    carried intermediates must be freed, however much was memoised about them."""
    import gc
    import weakref

    from gateway.trust.certificates import TrustStore

    now = PKI_NOW + DAY
    store = TrustStore(
        [pki.root_ca.certificate()],
        [make_crl(pki.root_ca, [], this_update=now - DAY, next_update=now + DAY)],
    )
    company = pki.client("company").certificate()
    for carried in ((company,), (company, pki.issuing_ca.certificate())):
        assess_certificate(company, trust=store, policy=POLICY, now=now, carried=carried)
    gone = weakref.ref(store)
    del store
    gc.collect()
    assert gone() is None


def test_a_second_archive_time_stamp_covers_the_first_and_both_pass(
    pki: DemoPki, tmp_path: Path
) -> None:
    """The references' octets are kept from their digests for the archive time-stamps: each of
    two (the second over the first; inclusive, then exclusive canonicalisation) matches the
    imprint ``sig_lta`` computed on its own, from scratch."""
    from sig_lta import C14N_10

    signer = issue_leaf(
        pki, tmp_path, "twice", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )
    signed = own_sign("xades", signer, at=PKI_NOW, tsa=local_tsa(pki, PKI_NOW)).document
    with_data = add_validation_data(
        signed,
        certificates=[signer.certificate, pki.tsa.certificate(), pki.issuing_ca.certificate()],
        crls=[make_crl(pki.root_ca, [], this_update=PKI_NOW + DAY, next_update=PKI_NOW + 9 * DAY)],
        responses=[
            ocsp_response(leaf, pki.issuing_ca, this_update=PKI_NOW + DAY)
            for leaf in (signer.certificate, pki.tsa.certificate())
        ],
    )
    once = add_archive_timestamp(with_data, local_tsa(pki, PKI_NOW + 2 * DAY), c14n=C14N_10)
    twice = add_archive_timestamp(once, local_tsa(pki, PKI_NOW + 3 * DAY))
    trust = _root_crl_only(pki, PKI_NOW + 4 * DAY)
    report = validate(twice, policy=POLICY, trust=trust, now=PKI_NOW + 4 * DAY)
    signature = only(report)
    assert signature.indication is Indication.TOTAL_PASSED, describe(report)
    assert [ts.kind for ts in signature.timestamps][-2:] == [TimestampKind.ARCHIVE_TIMESTAMP] * 2
    assert all(ts.passed for ts in signature.timestamps), describe(report)


def test_a_parsed_token_from_other_bytes_is_not_taken_for_the_token(pki: DemoPki, trust) -> None:
    """``validate_timestamp(parsed=...)`` shares a reader's parse only when it is of the very
    token: handed the parse of a good token with a tampered token's bytes (or the reverse), the
    verdict is the bytes' own."""
    at = PKI_NOW + timedelta(hours=1)
    good = _token(pki, at)

    def other_reference(signed_data) -> None:
        for attribute in signed_data["signer_infos"][0]["signed_attrs"]:
            if attribute["type"].native == "signing_certificate_v2":
                attribute["values"][0]["certs"][0]["cert_hash"] = bytes(32)

    tampered = _rewritten(good, other_reference)
    for token, parsed, passes in (
        (tampered, cms.ContentInfo.load(good), False),
        (good, cms.ContentInfo.load(tampered), True),
        (good, cms.ContentInfo.load(good), True),
    ):
        report = validate_timestamp(
            token,
            kind=TimestampKind.DOCUMENT_TIMESTAMP,
            imprint_of=lambda name: digest(name, b"stamped"),
            trust=trust,
            policy=POLICY,
            now=at,
            parsed=parsed,
        )
        assert report.passed is passes, report.findings


def test_the_same_carried_values_are_judged_again_at_another_time(pki: DemoPki) -> None:
    """What carried values say of a certificate is gathered once per values object; whether it
    is current is decided at each call's time: the same object, judged after its response's
    nextUpdate, is TRY_LATER."""
    now = PKI_NOW + DAY
    trust = _root_crl_only(pki, now)
    unit = pki.tsa.certificate()
    good = load_ocsp_response(der(ocsp_response(unit, pki.issuing_ca, this_update=now - DAY)))
    carried = RevocationValues((), (good,))
    next_update = good.next_update_utc
    assert next_update is not None

    def findings_at(at) -> set[SubIndication]:
        assessment = assess_certificate(
            unit,
            trust=trust,
            policy=STRICT,
            now=at,
            purpose=Purpose.TIME_STAMPING,
            revocation_values=carried,
        )
        return {finding.sub_indication for finding in assessment.findings}

    assert findings_at(now) == set()
    assert SubIndication.TRY_LATER in findings_at(next_update + DAY)
    assert findings_at(now) == set()
