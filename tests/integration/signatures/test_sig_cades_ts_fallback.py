"""CAdES signature time-stamps judged at the time a later proof dates them, else as they stand
today (issue 13, points 3 and 7; EN 319 102-1 §5.4 and §5.6.2.1), the rule XAdES and PAdES share
(``timestamps.past_or_present``), reported the same way: each time-stamp's ``validation_time``
(JSON) and ``ValidationTimeInfo`` (ETSI TS 119 102-2 XML) say when it was judged.

Vectors from peers we did not write: the signature by ``openssl cms``, signature and archive
time-stamp tokens by ``openssl ts`` (a TSA made with openssl in the test), the OCSP responses by
``openssl ocsp``, the root's CRL by ``openssl ca -gencrl``; ``sig_cades_lta`` places them with
asn1crypto. Validation happens 40 days later; the trust directory then holds fresh CRLs only
(issued on day 39), so at the archive time-stamp's time a unit with no carried revocation
evidence cannot be judged -- today it can.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree
from sig_cades_lta import (
    SIGNATURE_TIME_STAMP,
    add_archive_timestamp,
    add_signature_timestamp,
    add_unsigned,
    attribute,
    in_signed_data,
    openssl_crl,
    openssl_ocsp,
)
from sig_cms_vectors import openssl_cms
from sig_scenarios import PKI_NOW
from sig_vectors import OpenSslTsa, describe, issue_leaf, only
from test_sig_xades_lta import VALIDATED_AT, fresh_trust

from gateway.pki import DemoPki
from gateway.signatures import Indication, SignaturePolicy, SubIndication, TimestampKind, validate
from gateway.signatures.etsi_xml import VALIDATION_REPORT_NS

DAY = timedelta(days=1)
CONTENT = b"<acuse>recibido</acuse>\n" * 20
VR = f"{{{VALIDATION_REPORT_NS}}}"
TIMESTAMP_OBJECT = "urn:etsi:019102:validationObject:timestamp"


def judge(document: bytes, trust):
    report = validate(document, policy=SignaturePolicy(), trust=trust, now=VALIDATED_AT)
    signature = only(report)
    return (signature.indication, signature.sub_indication), signature, report


def tsa(credential):
    return OpenSslTsa(credential).timestamp


def tampered(stamp):
    """``stamp``'s tokens with one bit of the TSU's signature value flipped."""

    def make(digest: bytes, hash_algorithm: str) -> bytes:
        token = stamp(digest, hash_algorithm)
        value = cms.ContentInfo.load(token)["content"]["signer_infos"][0]["signature"].native
        at = token.index(value) + len(value) // 2
        return token[:at] + bytes([token[at] ^ 0x01]) + token[at + 1 :]

    return make


def with_lt_data(pki: DemoPki, document: bytes, leaves) -> bytes:
    """The issuing CA's and the leaves' certificates, an OCSP response per leaf and the root's
    CRL, all from the signing day, in the SignedData."""
    return in_signed_data(
        document,
        certificates=[*leaves, pki.issuing_ca.certificate()],
        crls=[
            openssl_crl(
                pki.root_ca,
                [(pki.revoked_issuing_ca.certificate(), PKI_NOW - DAY)],
                this_update=PKI_NOW,
            )
        ],
        responses=[openssl_ocsp(pki.issuing_ca, leaf) for leaf in leaves],
    )


@pytest.fixture(scope="module")
def signer(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("cades-ts-fallback")
    return issue_leaf(
        pki, folder, "cades-fallback", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )


def _timestamp_objects(report) -> list[etree._Element]:
    root = etree.fromstring(report.to_etsi_xml())
    return [
        element
        for element in root.iter(f"{VR}ValidationObject")
        if element.findtext(f"{VR}ObjectType") == TIMESTAMP_OBJECT
    ]


def _judged_at(element: etree._Element) -> str | None:
    return element.findtext(f"{VR}ValidationReport/{VR}ValidationTimeInfo/{VR}ValidationTime")


def test_signature_time_stamp_judged_as_it_stands_today(pki: DemoPki, signer) -> None:
    """The LT data covers the signer only: at the archive time-stamp's time nothing speaks for
    the signature time-stamp's unit (the trust directory's CRL is from day 39), so it is judged
    as it stands today, passes, and the report says so; the signature reaches LTA."""
    signed = add_signature_timestamp(openssl_cms(CONTENT, signer, "-nodetach"), tsa(pki.tsa))
    archived = add_archive_timestamp(
        with_lt_data(pki, signed, [signer.certificate]), tsa(pki.tsa)
    )
    result, signature, report = judge(archived, fresh_trust(pki))
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "CAdES-BASELINE-LTA"
    stamp, archive = signature.timestamps
    assert (stamp.kind, archive.kind) == (
        TimestampKind.SIGNATURE_TIMESTAMP,
        TimestampKind.ARCHIVE_TIMESTAMP,
    )
    assert stamp.passed and archive.passed, describe(report)
    assert archive.generation_time is not None and archive.generation_time < VALIDATED_AT
    # Judged today, not at the archive time-stamp's time; it still proves the signing time.
    assert stamp.validation_time == VALIDATED_AT
    assert signature.proof_of_existence == stamp.generation_time
    today = VALIDATED_AT.strftime("%Y-%m-%dT%H:%M:%SZ")
    stamp_json = json.loads(report.to_json())["signatures"][0]["timestamps"][0]
    assert stamp_json["kind"] == "SIGNATURE_TIMESTAMP" and stamp_json["validation_time"] == today
    first_object = _timestamp_objects(report)[0]
    assert _judged_at(first_object) == today

    # With the unit's OCSP response carried too, it passes at the archive time-stamp's time,
    # and is reported as judged then.
    covered = add_archive_timestamp(
        with_lt_data(pki, signed, [signer.certificate, pki.tsa.certificate()]), tsa(pki.tsa)
    )
    result, signature, report = judge(covered, fresh_trust(pki))
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    stamp, archive = signature.timestamps
    assert stamp.passed, describe(report)
    assert stamp.validation_time == archive.generation_time != VALIDATED_AT
    assert archive.validation_time == VALIDATED_AT
    assert _judged_at(_timestamp_objects(report)[0]) == archive.generation_time.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def test_tampered_token_fails_that_time_stamp_only(pki: DemoPki, signer) -> None:
    """One bit of the TSU's signature flipped (before the archive time-stamp was added, so the
    archive covers the token as it is): that time-stamp fails at the archive's time and today
    (SIG_CRYPTO_FAILURE, the earlier judgement reported); the signature is still valid, at level
    B -- only a valid token is a proof of existence (EN 319 102-1 §5.4). Likewise an
    unreadable token (FORMAT_FAILURE) next to a good one, which still makes it level T."""
    signed = openssl_cms(CONTENT, signer, "-nodetach")
    bad = add_signature_timestamp(signed, tampered(tsa(pki.tsa)))
    archived = add_archive_timestamp(
        with_lt_data(pki, bad, [signer.certificate, pki.tsa.certificate()]), tsa(pki.tsa)
    )
    trust = fresh_trust(pki)
    for document, judged in ((bad, "today"), (archived, "archive")):
        result, signature, report = judge(document, trust)
        assert result == (Indication.TOTAL_PASSED, None), describe(report)
        assert signature.level == "CAdES-BASELINE-B", describe(report)
        stamp = signature.timestamps[0]
        assert stamp.kind is TimestampKind.SIGNATURE_TIMESTAMP
        assert (stamp.indication, stamp.sub_indication) == (
            Indication.TOTAL_FAILED,
            SubIndication.SIG_CRYPTO_FAILURE,
        ), describe(report)
        if judged == "archive":
            archive = signature.timestamps[1]
            assert archive.passed, describe(report)
            assert stamp.validation_time == archive.generation_time
            # the archive time-stamp alone proves the signature existed, not its signing time
            assert signature.proof_of_existence == archive.generation_time
        else:
            assert stamp.validation_time == VALIDATED_AT
            assert signature.proof_of_existence is None

    good = add_signature_timestamp(signed, tsa(pki.tsa))
    garbled = add_unsigned(good, attribute(SIGNATURE_TIME_STAMP, b"\x30\x03\x02\x01"))
    result, signature, report = judge(garbled, trust)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert [ts.sub_indication for ts in signature.timestamps] == [
        None,
        SubIndication.FORMAT_FAILURE,
    ], describe(report)
    assert signature.level == "CAdES-BASELINE-T"
    assert signature.timestamps[1].validation_time is None  # never judged at any time


def test_expired_unit(pki: DemoPki, signer, tmp_path: Path) -> None:
    """A unit valid until day 5, validated on day 40. Without an archive time-stamp its token
    proves nothing (INDETERMINATE/OUT_OF_BOUNDS_NO_POE: an expired certificate and no proof that
    the token existed while it was valid); the signature stays at level B. An archive
    time-stamp from the signing day, with the unit's OCSP response carried, proves it existed
    then: it passes, judged at that time; without that response it cannot be judged then
    (INDETERMINATE/TRY_LATER) and the expired unit fails it today: the earlier judgement is
    reported."""
    unit = issue_leaf(
        pki, tmp_path, "short-unit", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 5 * DAY,
        eku=(ExtendedKeyUsageOID.TIME_STAMPING,),
    )  # fmt: skip
    signed = add_signature_timestamp(openssl_cms(CONTENT, signer, "-nodetach"), tsa(unit))
    trust = fresh_trust(pki)
    result, signature, report = judge(signed, trust)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "CAdES-BASELINE-B"
    stamp = only_timestamp(signature)
    assert (stamp.indication, stamp.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.OUT_OF_BOUNDS_NO_POE,
    ), describe(report)
    assert stamp.validation_time == VALIDATED_AT

    proven = add_archive_timestamp(
        with_lt_data(pki, signed, [signer.certificate, unit.certificate]), tsa(pki.tsa)
    )
    result, signature, report = judge(proven, trust)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "CAdES-BASELINE-LTA"
    stamp, archive = signature.timestamps
    assert stamp.passed and stamp.validation_time == archive.generation_time, describe(report)

    unproven = add_archive_timestamp(
        with_lt_data(pki, signed, [signer.certificate]), tsa(pki.tsa)
    )
    result, signature, report = judge(unproven, trust)
    stamp, archive = signature.timestamps
    assert archive.passed and not stamp.passed, describe(report)
    assert stamp.validation_time == archive.generation_time
    # then: no revocation evidence for the unit (as XAdES and PAdES report it)
    assert (stamp.indication, stamp.sub_indication) == (
        Indication.INDETERMINATE,
        SubIndication.TRY_LATER,
    ), describe(report)
    assert signature.level == "CAdES-BASELINE-B"


def test_revoked_unit(pki: DemoPki, signer, tmp_path: Path) -> None:
    """A unit revoked two hours before it stamped (the trust directory's CRL and, with an archive
    time-stamp, a carried OCSP response say so): its token fails, at the archive time-stamp's
    time and today alike -- the fallback never rescues it -- and the signature stays at level B
    (EN 319 102-1 §5.2.6: a certificate revoked with no proof of existence before the
    revocation, INDETERMINATE/REVOKED_NO_POE)."""
    unit = issue_leaf(
        pki, tmp_path, "revoked-unit", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY,
        eku=(ExtendedKeyUsageOID.TIME_STAMPING,),
    )  # fmt: skip
    revoked_at = PKI_NOW - timedelta(hours=2)
    trust = fresh_trust(pki, [(unit.certificate.serial_number, revoked_at)])
    signed = add_signature_timestamp(openssl_cms(CONTENT, signer, "-nodetach"), tsa(unit))
    expected = (Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE)
    result, signature, report = judge(signed, trust)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "CAdES-BASELINE-B"
    stamp = only_timestamp(signature)
    assert (stamp.indication, stamp.sub_indication) == expected, describe(report)
    assert stamp.validation_time == VALIDATED_AT

    with_data = in_signed_data(
        signed,
        certificates=[signer.certificate, unit.certificate, pki.issuing_ca.certificate()],
        crls=[openssl_crl(pki.root_ca, this_update=PKI_NOW)],
        responses=[
            openssl_ocsp(pki.issuing_ca, signer.certificate),
            openssl_ocsp(pki.issuing_ca, unit.certificate, revoked_at=revoked_at),
        ],
    )
    archived = add_archive_timestamp(with_data, tsa(pki.tsa))
    result, signature, report = judge(archived, trust)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "CAdES-BASELINE-B"
    stamp, archive = signature.timestamps
    assert archive.passed, describe(report)
    assert (stamp.indication, stamp.sub_indication) == expected, describe(report)
    assert stamp.validation_time == archive.generation_time


def only_timestamp(signature):
    [stamp] = signature.timestamps
    return stamp
