"""XAdES-LTA renewed (EN 319 132-1 §5.5.2; issue 12, point 6): several archive time-stamps, each
later one covering the earlier ones and the validation data added for them
(``xades141:TimeStampValidationData``), as DSS writes a signature extended to LTA several times.

Vectors are built by ``sig_lta`` (the test's own imprint rules, not the engine's):

* signed at day 0 by a signer and time-stamped by a unit whose certificates expire at day 3.5;
* LT data at day 0 + 1 h; first archive time-stamp at day 2 by unit ``tsu1``;
* ``tsu1``'s certificate, an OCSP response for it and the root's CRL at day 3 in a
  TimeStampValidationData; second archive time-stamp at day 4 by the suite's TSA;
* validated at day 40.

The second archive time-stamp proves the first one and its validation data existed at day 4, so
the first is judged then: a ``tsu1`` that expired (day 5) or was revoked (day 10) since then still
proves day 2, when the signature time-stamp's unit was valid. Without the renewal, or with a
tampered renewal whose imprint leaves out the first archive time-stamp, nothing proves the
signing time (OUT_OF_BOUNDS_NO_POE). A ``tsu1`` revoked at day 3, before the renewal, proves
nothing either.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree
from sig_lta import (
    EXC_C14N,
    add_archive_timestamp,
    add_timestamp_validation_data,
    archive_input,
)
from sig_ocsp import ocsp_response
from sig_scenarios import PKI_NOW
from sig_vectors import describe, issue_leaf, local_tsa, own_sign
from test_sig_xades_lta import fresh_trust, judge, lt, root_crl_at

from gateway import namespaces as ns
from gateway.domain.clock import FixedClock
from gateway.pki import DemoPki
from gateway.signatures import (
    Indication,
    LocalTimeStampAuthority,
    SubIndication,
    TimestampKind,
)
from gateway.signatures.xades_extend import extend_xades

DAY = timedelta(days=1)
SIGNED_AT = PKI_NOW
FIRST_ARCHIVE = PKI_NOW + 2 * DAY
VALIDATION_DATA_AT = PKI_NOW + 3 * DAY
SECOND_ARCHIVE = PKI_NOW + 4 * DAY
PASSED = (Indication.TOTAL_PASSED, None)
NO_POE = (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE)
TSU = (ExtendedKeyUsageOID.TIME_STAMPING,)


def _unit(pki: DemoPki, folder: Path, name: str, not_after, at) -> tuple:
    unit = issue_leaf(pki, folder, name, not_before=PKI_NOW - DAY, not_after=not_after, eku=TSU)
    return unit, LocalTimeStampAuthority(unit.key, unit.certificate, FixedClock(at))


@pytest.fixture(scope="module")
def first_archive(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory):
    """The signature at LTA with one archive time-stamp, by a unit made per scenario."""
    folder = tmp_path_factory.mktemp("renewal")
    signer = issue_leaf(
        pki, folder, "renewed", not_before=PKI_NOW - DAY, not_after=PKI_NOW + DAY * 3.5
    )
    signature_unit, signature_tsa = _unit(pki, folder, "sig-tsu", PKI_NOW + DAY * 3.5, SIGNED_AT)
    signed = own_sign("xades", signer, at=SIGNED_AT, tsa=signature_tsa).document
    with_data = lt(
        pki,
        signed,
        [signer.certificate, signature_unit.certificate, pki.issuing_ca.certificate()],
        SIGNED_AT + timedelta(hours=1),
    )

    def archive(name: str, not_after) -> tuple[bytes, object]:
        unit, tsa = _unit(pki, folder, name, not_after, FIRST_ARCHIVE)
        return add_archive_timestamp(with_data, tsa), unit

    return archive


def _renew(pki: DemoPki, archived: bytes, unit, revoked_at=None, **options) -> tuple[bytes, bytes]:
    """(the document with tsu1's validation data, that document renewed at day 4)."""
    with_tsvd = add_timestamp_validation_data(
        archived,
        certificates=[unit.certificate],
        crls=[root_crl_at(pki, VALIDATION_DATA_AT)],
        responses=[
            ocsp_response(
                unit.certificate,
                pki.issuing_ca,
                this_update=VALIDATION_DATA_AT,
                revoked_at=revoked_at,
            )
        ],
    )
    return with_tsvd, add_archive_timestamp(with_tsvd, local_tsa(pki, SECOND_ARCHIVE), **options)


@pytest.mark.parametrize("lapse", ["expired", "revoked"])
def test_first_archive_unit_lapsed_after_the_renewal_passes(
    lapse, pki: DemoPki, first_archive
) -> None:
    if lapse == "expired":
        archived, unit = first_archive("tsu1-expiring", PKI_NOW + 5 * DAY)
        revoked = []
    else:
        archived, unit = first_archive("tsu1-revoked-later", PKI_NOW + 300 * DAY)
        revoked = [(unit.certificate.serial_number, PKI_NOW + 10 * DAY)]
    trust = fresh_trust(pki, revoked)
    with_tsvd, renewed = _renew(pki, archived, unit)
    result, signature, report = judge(renewed, trust)
    assert result == PASSED, describe(report)
    assert signature.level == "XAdES-BASELINE-LTA"
    assert [ts.kind for ts in signature.timestamps] == [
        TimestampKind.SIGNATURE_TIMESTAMP,
        TimestampKind.ARCHIVE_TIMESTAMP,
        TimestampKind.ARCHIVE_TIMESTAMP,
    ]
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    assert [ts.generation_time for ts in signature.timestamps[1:]] == [
        FIRST_ARCHIVE,
        SECOND_ARCHIVE,
    ]
    assert signature.proof_of_existence == SIGNED_AT
    # Not renewed: tsu1 has lapsed by day 40, its archive time-stamp proves nothing, and the
    # signature time-stamp's unit expired at day 3.5.
    result, signature, report = judge(with_tsvd, trust)
    assert result == NO_POE, describe(report)
    assert not signature.timestamps[-1].passed
    # A renewal whose imprint leaves out the first archive time-stamp: HASH_FAILURE, no proof.
    _, tampered = _renew(pki, archived, unit, leave_out_earlier_archives=True)
    result, signature, report = judge(tampered, trust)
    assert result == NO_POE, describe(report)
    assert signature.timestamps[-1].sub_indication is SubIndication.HASH_FAILURE
    assert not signature.timestamps[1].passed


def test_first_archive_unit_revoked_before_the_renewal_proves_nothing(
    pki: DemoPki, first_archive
) -> None:
    """tsu1 revoked at day 2.5, which the OCSP response in its validation data says: the
    renewal at day 4 cannot save the first archive time-stamp, and itself comes too late for the
    signer and the signature time-stamp's unit (both expired at day 3.5)."""
    archived, unit = first_archive("tsu1-revoked-early", PKI_NOW + 300 * DAY)
    revoked_at = PKI_NOW + DAY * 2.5
    _, renewed = _renew(pki, archived, unit, revoked_at=revoked_at)
    trust = fresh_trust(pki, [(unit.certificate.serial_number, revoked_at)])
    result, signature, report = judge(renewed, trust)
    assert result == NO_POE, describe(report)
    first, second = signature.timestamps[1:]
    assert second.passed, describe(report)
    assert not first.passed
    assert first.sub_indication is not SubIndication.HASH_FAILURE


def test_extend_xades_renews_what_the_independent_rules_accept(
    pki: DemoPki, first_archive, tmp_path: Path
) -> None:
    """``extend_xades`` run twice: the second run writes a TimeStampValidationData and a second
    archive time-stamp whose imprint is the one ``sig_lta`` computes, and the signature passes
    after tsu1 expired."""
    signer = issue_leaf(
        pki, tmp_path, "extended", not_before=PKI_NOW - DAY, not_after=PKI_NOW + DAY * 3.5
    )
    signature_unit, signature_tsa = _unit(
        pki, tmp_path, "sig-tsu-x", PKI_NOW + DAY * 3.5, SIGNED_AT
    )
    unit, tsa = _unit(pki, tmp_path, "tsu1-x", PKI_NOW + 5 * DAY, FIRST_ARCHIVE)
    signed = own_sign("xades", signer, at=SIGNED_AT, tsa=signature_tsa).document
    once = extend_xades(
        signed,
        certificates=[signer.certificate, signature_unit.certificate, pki.issuing_ca.certificate()],
        crls=[root_crl_at(pki, SIGNED_AT + DAY)],
        responses=[
            ocsp_response(leaf, pki.issuing_ca, this_update=SIGNED_AT + DAY)
            for leaf in (signer.certificate, signature_unit.certificate)
        ],
        tsa=tsa,
    )
    twice = extend_xades(
        once,
        certificates=[unit.certificate],
        crls=[root_crl_at(pki, VALIDATION_DATA_AT)],
        responses=[ocsp_response(unit.certificate, pki.issuing_ca, this_update=VALIDATION_DATA_AT)],
        tsa=local_tsa(pki, SECOND_ARCHIVE),
    )
    trust = fresh_trust(pki)
    result, signature, report = judge(twice, trust)
    assert result == PASSED, describe(report)
    assert signature.proof_of_existence == SIGNED_AT
    assert judge(once, trust)[0] == NO_POE
    root = etree.fromstring(twice)
    properties = root.find(f".//{{{ns.XADES}}}UnsignedSignatureProperties")
    names = [etree.QName(child).localname for child in properties]
    assert names[-3:] == ["ArchiveTimeStamp", "TimeStampValidationData", "ArchiveTimeStamp"]
    stamp = properties[-1]
    token = base64.b64decode(stamp[-1].text)
    properties.remove(stamp)
    signature_element = root.find(f".//{{{ns.DS}}}Signature")
    expected = hashlib.sha256(archive_input(root, signature_element, EXC_C14N)).digest()
    tst_info = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    assert tst_info["message_imprint"]["hashed_message"].native == expected


def test_first_archive_valid_today_needs_no_validation_data(pki: DemoPki, first_archive) -> None:
    """Renewed without TimeStampValidationData, tsu1 still valid: at day 4 nothing says tsu1
    was not revoked (the trust directory's CRL is from day 39), but it is valid today, so the
    first archive time-stamp still proves day 2."""
    archived, _ = first_archive("tsu1-valid", PKI_NOW + 300 * DAY)
    renewed = add_archive_timestamp(archived, local_tsa(pki, SECOND_ARCHIVE))
    result, signature, report = judge(renewed, fresh_trust(pki))
    assert result == PASSED, describe(report)
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    assert signature.proof_of_existence == SIGNED_AT
