"""CAdES levels LT and LTA (issue 13, point 7, the CMS side): validation data carried in the
SignedData (certificates; CRLs and RFC 5940 OCSP responses in ``crls``) or in the
certificate-values / revocation-values attributes, and archive-time-stamp-v3 tokens, validated at
the best proven time (EN 319 102-1 §5.6, past signature validation).

Vectors from peers: the signature by ``openssl cms``, signature and archive time-stamp tokens by
``openssl ts``, OCSP responses by ``openssl ocsp`` acting as responder, CRLs by ``openssl ca
-gencrl``; ``sig_cades_lta`` places them with asn1crypto and computes the archive imprint by its
own reading of EN 319 122-1 §5.5.3. Validation happens 40 days later, when the demo CRLs are
long stale: the trust directory then holds fresh CRLs only.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sig_cades_lta import (
    ARCHIVE_TIME_STAMP_V1,
    ARCHIVE_TIME_STAMP_V2,
    ATS_HASH_INDEX,
    ATS_HASH_INDEX_V3,
    add_archive_timestamp,
    add_archive_timestamp_v2,
    add_signature_timestamp,
    add_unsigned,
    archive_token,
    as_attributes,
    attribute,
    basic_response,
    drop_certificate,
    flip_inside,
    hash_index,
    in_signed_data,
    openssl_crl,
    openssl_ocsp,
    replace_archive_token,
    swap_unsigned,
    token_with_index,
)
from sig_cms_vectors import openssl_cms
from sig_scenarios import PKI_NOW
from sig_vectors import OpenSslTsa, describe, issue_leaf, only
from test_sig_xades_lta import VALIDATED_AT, fresh_trust

from gateway.pki import DemoPki
from gateway.signatures import Indication, SignaturePolicy, SubIndication, TimestampKind, validate

DAY = timedelta(days=1)
CONTENT = b"".join(b"<acuse n='%d'>recibido</acuse>\n" % n for n in range(40))
PASSED = (Indication.TOTAL_PASSED, None)


def judge(document: bytes, trust, detached: bytes | None = None):
    report = validate(
        document, detached_content=detached, policy=SignaturePolicy(), trust=trust,
        now=VALIDATED_AT,
    )  # fmt: skip
    signature = only(report)
    return (signature.indication, signature.sub_indication), signature, report


def tsa(credential):
    return OpenSslTsa(credential).timestamp


@pytest.fixture(scope="module")
def expiring(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory):
    """A signer valid until PKI_NOW + 10 days and a TSU until PKI_NOW + 5 days."""
    folder: Path = tmp_path_factory.mktemp("cades-lta")
    signer = issue_leaf(
        pki, folder, "cades-expiring", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 10 * DAY
    )
    unit = issue_leaf(
        pki, folder, "cades-short-tsu", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 5 * DAY,
        eku=(ExtendedKeyUsageOID.TIME_STAMPING,),
    )  # fmt: skip
    return signer, unit


def _lt_in_signed_data(pki: DemoPki, document: bytes, leaves, revoked_at=None) -> bytes:
    """The issuing CA and the leaves' certificates, an OCSP response per leaf (the first one
    revoked at ``revoked_at`` when given) and the root's CRL, in the SignedData."""
    responses = [
        openssl_ocsp(pki.issuing_ca, leaf, revoked_at=revoked_at if index == 0 else None)
        for index, leaf in enumerate(leaves)
    ]
    root_crl = openssl_crl(
        pki.root_ca, [(pki.revoked_issuing_ca.certificate(), PKI_NOW - DAY)], this_update=PKI_NOW
    )
    return in_signed_data(
        document,
        certificates=[*leaves, pki.issuing_ca.certificate()],
        crls=[root_crl],
        responses=responses,
    )


@pytest.mark.parametrize("attached", [True, False], ids=["attached", "detached"])
def test_expired_signer_and_unit_pass_with_an_archive_time_stamp(
    attached, pki: DemoPki, expiring
) -> None:
    signer, unit = expiring
    options = ("-nodetach",) if attached else ()
    detached = None if attached else CONTENT
    signed = add_signature_timestamp(openssl_cms(CONTENT, signer, *options), tsa(unit))
    with_data = _lt_in_signed_data(pki, signed, [signer.certificate, unit.certificate])
    archived = add_archive_timestamp(with_data, tsa(pki.tsa), content=detached)
    trust = fresh_trust(pki)
    result, signature, report = judge(archived, trust, detached)
    assert result == PASSED, describe(report)
    assert signature.level == "CAdES-BASELINE-LTA"
    assert report.to_dict()["signatures"][0]["level"] == "CAdES-BASELINE-LTA"
    assert [ts.kind for ts in signature.timestamps] == [
        TimestampKind.SIGNATURE_TIMESTAMP,
        TimestampKind.ARCHIVE_TIMESTAMP,
    ]
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    # Level LT: the short-lived unit's token proves nothing at validation time, so nothing
    # proves the signer's certificate was valid when it signed.
    result, signature, report = judge(with_data, trust, detached)
    assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE), describe(
        report
    )
    assert signature.level == "CAdES-BASELINE-B"
    # Tampered twins: each loses the archive time-stamp (HASH_FAILURE) and with it the proof.
    crls = cms.ContentInfo.load(archived)["content"]["crls"]
    root_crl, ocsp_entry = crls[0].dump(), crls[1].dump()
    token = archive_token(archived)
    twins = {
        # Covered through the index (the imprint itself still matches):
        "carried OCSP response altered": flip_inside(archived, ocsp_entry, len(ocsp_entry) - 30),
        "carried CRL altered": flip_inside(archived, root_crl, 40),
        "carried CA certificate removed": drop_certificate(archived, pki.issuing_ca.certificate()),
        # Covered by the imprint: an index that lists less than was stamped.
        "hash index replaced": replace_archive_token(
            archived, token_with_index(token, hash_index(signed))
        ),
    }
    for name, twin in twins.items():
        result, signature, report = judge(twin, trust, detached)
        archive = signature.timestamps[-1]
        assert archive.kind is TimestampKind.ARCHIVE_TIMESTAMP, name
        assert archive.sub_indication is SubIndication.HASH_FAILURE, (name, describe(report))
        assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE), name
        assert signature.level == "CAdES-BASELINE-B", name
    # The signed content changed: the signature and the archive time-stamp both fail.
    if attached:
        result, signature, report = judge(flip_inside(archived, CONTENT[:64], 10), trust)
    else:
        result, signature, report = judge(archived, trust, CONTENT + b" ")
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)
    assert signature.timestamps[-1].sub_indication is SubIndication.HASH_FAILURE


def test_signer_revoked_after_the_archive_time_stamp_passes(pki: DemoPki, tmp_path: Path) -> None:
    signer = issue_leaf(
        pki, tmp_path, "cades-revoked-later", not_before=PKI_NOW - DAY,
        not_after=PKI_NOW + 300 * DAY,
    )  # fmt: skip
    signed = openssl_cms(CONTENT, signer, "-nodetach")
    with_data = _lt_in_signed_data(pki, signed, [signer.certificate])
    archived = add_archive_timestamp(with_data, tsa(pki.tsa))
    revoked_at = PKI_NOW + 3 * DAY
    trust = fresh_trust(pki, [(signer.certificate.serial_number, revoked_at)])
    # B + archive time-stamp only: the archive token is the proof of existence.
    result, signature, report = judge(archived, trust)
    assert result == PASSED, describe(report)
    assert signature.revocation_time == revoked_at
    assert any("revoked after the proven signing time" in w for w in signature.warnings)
    # Without it, the revocation cannot be placed after the signature.
    result, _, report = judge(with_data, trust)
    assert result == (Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE), describe(report)
    # With a signature time-stamp as well: level LTA.
    stamped = add_signature_timestamp(signed, tsa(pki.tsa))
    full = add_archive_timestamp(
        _lt_in_signed_data(pki, stamped, [signer.certificate, pki.tsa.certificate()]),
        tsa(pki.tsa),
    )
    result, signature, report = judge(full, trust)
    assert result == PASSED, describe(report)
    assert signature.level == "CAdES-BASELINE-LTA"


@pytest.mark.parametrize("placement", ["signed-data", "attributes"])
def test_signer_revoked_before_the_archive_time_stamp_is_revoked(
    placement, pki: DemoPki, tmp_path: Path
) -> None:
    signer = issue_leaf(
        pki, tmp_path, "cades-revoked-early", not_before=PKI_NOW - DAY,
        not_after=PKI_NOW + 300 * DAY,
    )  # fmt: skip
    revoked_at = PKI_NOW - timedelta(hours=2)  # before openssl signs and stamps (system clock)
    signed = add_signature_timestamp(openssl_cms(CONTENT, signer, "-nodetach"), tsa(pki.tsa))
    leaves = [signer.certificate, pki.tsa.certificate()]
    if placement == "signed-data":
        with_data = _lt_in_signed_data(pki, signed, leaves, revoked_at=revoked_at)
    else:
        with_data = as_attributes(
            signed,
            certificates=[*leaves, pki.issuing_ca.certificate()],
            crls=[openssl_crl(pki.root_ca, this_update=PKI_NOW)],
            responses=[
                openssl_ocsp(pki.issuing_ca, signer.certificate, revoked_at=revoked_at),
                openssl_ocsp(pki.issuing_ca, pki.tsa.certificate()),
            ],
        )
    archived = add_archive_timestamp(with_data, tsa(pki.tsa))
    # The trust directory's CRL does not list it: the carried OCSP response is the evidence.
    result, signature, report = judge(archived, fresh_trust(pki))
    assert result == (Indication.TOTAL_FAILED, SubIndication.REVOKED), describe(report)
    assert signature.revocation_time == revoked_at
    assert signature.level == "CAdES-BASELINE-LTA"
    assert all(ts.passed for ts in signature.timestamps), describe(report)


@pytest.mark.parametrize("version", [ATS_HASH_INDEX_V3, ATS_HASH_INDEX], ids=["v3", "v2-index"])
def test_validation_data_as_attributes_gives_lt_then_lta(version, pki: DemoPki, expiring) -> None:
    signer, unit = expiring
    signed = add_signature_timestamp(openssl_cms(CONTENT, signer, "-nodetach"), tsa(unit))
    crl = openssl_crl(pki.root_ca, this_update=PKI_NOW)
    response = openssl_ocsp(pki.issuing_ca, signer.certificate)
    with_data = as_attributes(
        signed,
        certificates=[unit.certificate, pki.issuing_ca.certificate()],
        crls=[crl],
        responses=[response, openssl_ocsp(pki.issuing_ca, unit.certificate)],
    )
    # Validated while the unit is still valid: level LT.
    report = validate(with_data, policy=SignaturePolicy(), trust=fresh_trust(pki),
                      now=PKI_NOW + 2 * DAY)  # fmt: skip
    assert only(report).passed, describe(report)
    assert only(report).level == "CAdES-BASELINE-LT"
    archived = add_archive_timestamp(with_data, tsa(pki.tsa), version=version)
    trust = fresh_trust(pki)
    result, signature, report = judge(archived, trust)
    assert result == PASSED, describe(report)
    assert signature.level == "CAdES-BASELINE-LTA"
    # A byte of the carried OCSP response (inside revocation-values) changed after archiving.
    basic = basic_response(response)
    twin = flip_inside(archived, basic, len(basic) - 20)
    result, signature, report = judge(twin, trust)
    assert signature.timestamps[-1].sub_indication is SubIndication.HASH_FAILURE, describe(report)
    assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE)


def test_bouncy_castle_rfc5940_validation_data_is_evidence(pki: DemoPki, tmp_path: Path) -> None:
    """Bouncy Castle places the CRL and the OCSP response (id-ri-ocsp-response) in the
    SignedData; the carried OCSP response saying the signer was revoked before it signed is what
    fails the signature (the trust directory's CRL does not list it), and an archive time-stamp
    over Bouncy Castle's structure verifies."""
    from sig_cades_lta import bouncy_castle_lt

    signer = issue_leaf(
        pki, tmp_path, "bc-lt", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )
    crl = openssl_crl(pki.root_ca, this_update=PKI_NOW)

    def signed(revoked_at=None) -> bytes:
        response = openssl_ocsp(pki.issuing_ca, signer.certificate, revoked_at=revoked_at)
        document = bouncy_castle_lt(
            CONTENT, signer.key_path, signer.cert_path,
            certificates=[pki.issuing_ca.certificate()], crls=[crl], responses=[response],
        )  # fmt: skip
        kinds = [c.name for c in cms.ContentInfo.load(document)["content"]["crls"]]
        assert sorted(kinds) == ["crl", "other"]
        return add_archive_timestamp(document, tsa(pki.tsa))

    trust = fresh_trust(pki)
    result, signature, report = judge(signed(), trust)
    assert result == PASSED, describe(report)
    assert signature.timestamps[-1].passed, describe(report)
    result, signature, report = judge(signed(revoked_at=PKI_NOW - timedelta(hours=2)), trust)
    assert result == (Indication.TOTAL_FAILED, SubIndication.REVOKED), describe(report)


def test_a_later_archive_time_stamp_renews_an_expired_one(pki: DemoPki, expiring) -> None:
    """The first archive time-stamp's unit has expired by validation time; a second one (three
    days later, by a unit still valid) lists the first in its hash index, so the first is
    judged at the second's time, and the signature time-stamp at the first's."""
    from sig_vectors import local_tsa

    signer, unit = expiring
    signed = add_signature_timestamp(openssl_cms(CONTENT, signer, "-nodetach"), tsa(unit))
    with_data = _lt_in_signed_data(pki, signed, [signer.certificate, unit.certificate])
    first = add_archive_timestamp(with_data, tsa(unit))
    renewed = add_archive_timestamp(first, local_tsa(pki, PKI_NOW + 3 * DAY).timestamp)
    trust = fresh_trust(pki)
    result, signature, report = judge(renewed, trust)
    assert result == PASSED, describe(report)
    assert signature.level == "CAdES-BASELINE-LTA"
    assert [ts.kind for ts in signature.timestamps] == [TimestampKind.SIGNATURE_TIMESTAMP] + [
        TimestampKind.ARCHIVE_TIMESTAMP
    ] * 2
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    # Without the renewal nothing is proven any more.
    result, signature, report = judge(first, trust)
    assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE), describe(
        report
    )
    assert not any(ts.passed for ts in signature.timestamps)


# --- archive-time-stamp-v2 (RFC 5126 / TS 101 733 §6.4.1: CAdES-A of older national tools) ------


def _x_long(
    pki: DemoPki, signer, unit, *, attached: bool = True, stream: bool = False
) -> tuple[bytes, bytes]:
    """CAdES-T plus certificate-values and revocation-values (CAdES-X-Long's attributes) and
    the signer's OCSP response: (document, the signer's BasicOCSPResponse). ``stream``: BER,
    as ``openssl cms -stream`` writes it."""
    options = (("-nodetach",) if attached else ()) + (("-stream",) if stream else ())
    signed = add_signature_timestamp(openssl_cms(CONTENT, signer, *options), tsa(unit))
    response = openssl_ocsp(pki.issuing_ca, signer.certificate)
    document = as_attributes(
        signed,
        certificates=[unit.certificate, pki.issuing_ca.certificate()],
        crls=[openssl_crl(pki.root_ca, this_update=PKI_NOW)],
        responses=[response, openssl_ocsp(pki.issuing_ca, unit.certificate)],
    )
    return document, basic_response(response)


@pytest.mark.parametrize(
    ("attached", "annex_k_183"),
    [(True, False), (False, False), (True, True)],
    ids=["attached", "detached", "attached-annex-k-v1.8.3"],
)
def test_expired_signer_and_unit_pass_with_an_archive_time_stamp_v2(
    attached, annex_k_183, pki: DemoPki, expiring
) -> None:
    """The imprint is computed by the test helper's own reading of RFC 5126 §6.4.1 (and of the
    older Annex K, without the [1] tag and length) and stamped by ``openssl ts``."""
    signer, unit = expiring
    detached = None if attached else CONTENT
    with_data, basic = _x_long(pki, signer, unit, attached=attached)
    archived = add_archive_timestamp_v2(
        with_data, tsa(pki.tsa), content=detached, annex_k_183=annex_k_183
    )
    trust = fresh_trust(pki)
    result, signature, report = judge(archived, trust, detached)
    assert result == PASSED, describe(report)
    assert signature.level == "CAdES-BASELINE-LTA"
    assert [ts.kind for ts in signature.timestamps] == [
        TimestampKind.SIGNATURE_TIMESTAMP,
        TimestampKind.ARCHIVE_TIMESTAMP,
    ]
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    assert not any("archive-time-stamp-v2" in warning for warning in signature.warnings)
    # Without it, the expired unit's token proves nothing.
    result, _, report = judge(with_data, trust, detached)
    assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE), describe(
        report
    )
    # Tampered twins: the archive time-stamp's imprint fails, and with it the proof.
    twins = {
        "revocation value altered": flip_inside(archived, basic, len(basic) - 20),
        # signature-time-stamp, certificate-values, revocation-values, then the archive one
        "unsigned attributes reordered": swap_unsigned(archived, 1, 2),
    }
    for name, twin in twins.items():
        result, signature, report = judge(twin, trust, detached)
        archive = signature.timestamps[-1]
        assert archive.kind is TimestampKind.ARCHIVE_TIMESTAMP, name
        assert archive.sub_indication is SubIndication.HASH_FAILURE, (name, describe(report))
        assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE), name
        assert signature.level == "CAdES-BASELINE-B", name
    if attached:
        result, signature, report = judge(flip_inside(archived, CONTENT[:64], 10), trust)
    else:
        result, signature, report = judge(archived, trust, CONTENT + b" ")
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)
    assert signature.timestamps[-1].sub_indication is SubIndication.HASH_FAILURE


def test_ber_signature_with_an_archive_time_stamp_v2(pki: DemoPki, expiring) -> None:
    """``openssl cms -stream`` writes indefinite lengths and a chunked content: the archive
    time-stamp covers the encapContentInfo as encoded."""
    signer, unit = expiring
    with_data, _ = _x_long(pki, signer, unit, stream=True)
    archived = add_archive_timestamp_v2(with_data, tsa(pki.tsa))
    assert archived[:2] == b"\x30\x80" and b"\x24\x80" in archived  # still BER
    trust = fresh_trust(pki)
    result, signature, report = judge(archived, trust)
    assert result == PASSED, describe(report)
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    result, signature, report = judge(flip_inside(archived, CONTENT[:64], 10), trust)
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)
    assert signature.timestamps[-1].sub_indication is SubIndication.HASH_FAILURE


def test_attributes_added_after_an_archive_time_stamp_v2_are_not_covered(
    pki: DemoPki, expiring
) -> None:
    """Validation data added after the archive time-stamp (and a v1 archive time-stamp, which
    is reported, not validated) leave it valid: it covers only what preceded it."""
    signer, unit = expiring
    with_data, _ = _x_long(pki, signer, unit)
    archived = add_archive_timestamp_v2(with_data, tsa(pki.tsa))
    later = add_unsigned(
        archived,
        attribute(ARCHIVE_TIME_STAMP_V1, archive_token(archived, kind=ARCHIVE_TIME_STAMP_V2)),
    )
    result, signature, report = judge(later, fresh_trust(pki))
    assert result == PASSED, describe(report)
    assert [ts.kind for ts in signature.timestamps][-1] is TimestampKind.ARCHIVE_TIMESTAMP
    assert len(signature.timestamps) == 2
    assert "Not validated (reported only): archive-time-stamp (v1, RFC 3126)" in (
        signature.warnings
    )


@pytest.mark.parametrize("renewal", ["v2", "v3"])
def test_a_later_archive_time_stamp_renews_an_expired_v2_one(
    renewal, pki: DemoPki, expiring
) -> None:
    from sig_vectors import local_tsa

    signer, unit = expiring
    with_data, _ = _x_long(pki, signer, unit)
    first = add_archive_timestamp_v2(with_data, tsa(unit))
    later = local_tsa(pki, PKI_NOW + 3 * DAY).timestamp
    renewed = (
        add_archive_timestamp_v2(first, later)
        if renewal == "v2"
        else add_archive_timestamp(first, later)
    )
    trust = fresh_trust(pki)
    result, signature, report = judge(renewed, trust)
    assert result == PASSED, describe(report)
    assert [ts.kind for ts in signature.timestamps] == [TimestampKind.SIGNATURE_TIMESTAMP] + [
        TimestampKind.ARCHIVE_TIMESTAMP
    ] * 2
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    result, signature, report = judge(first, trust)
    assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE), describe(
        report
    )


@pytest.fixture(scope="module")
def v2_archived(pki: DemoPki, expiring):
    signer, unit = expiring
    with_data, _ = _x_long(pki, signer, unit)
    archived = add_archive_timestamp_v2(with_data, tsa(pki.tsa))
    return archived, archive_token(archived, kind=ARCHIVE_TIME_STAMP_V2), fresh_trust(pki)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_archive_time_stamp_v2_is_a_report_never_an_exception(data, v2_archived) -> None:
    """Bytes of the unsigned attributes (mostly of the archive-time-stamp-v2 attribute: its
    token or its header) mutated: a report, FORMAT_FAILURE or a failed archive time-stamp,
    never an internal error."""
    archived, token, trust = v2_archived
    header = 21  # SEQUENCE header, the attribute type's OID, the SET header
    end = archived.index(token) + len(token)
    unsigned = cms.ContentInfo.load(archived)["content"]["signer_infos"][0]["unsigned_attrs"]
    start = data.draw(st.sampled_from([archived.index(token) - header, end - len(unsigned.dump())]))
    document = bytearray(archived)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(start, end - 1))
        document[position] = data.draw(st.integers(0, 255))
    report = validate(bytes(document), policy=SignaturePolicy(), trust=trust, now=VALIDATED_AT)
    assert report.signatures
    for signature in report.signatures:
        assert all(finding.message != "internal error" for finding in signature.findings)


def test_bouncy_castle_archive_time_stamp_v2_proves_an_expired_signer(
    pki: DemoPki, expiring
) -> None:
    """Bouncy Castle computes the imprint (its own DER, the unsigned attributes in the sorted
    order it writes a SET in) and makes the token: the expired signer passes; a changed
    revocation value fails the archive time-stamp."""
    from sig_cades_lta import bouncy_castle_cades_a

    signer, unit = expiring
    with_data, basic = _x_long(pki, signer, unit)
    archived = bouncy_castle_cades_a(with_data, pki.tsa)
    trust = fresh_trust(pki)
    result, signature, report = judge(archived, trust)
    assert result == PASSED, describe(report)
    assert [ts.kind for ts in signature.timestamps] == [
        TimestampKind.SIGNATURE_TIMESTAMP,
        TimestampKind.ARCHIVE_TIMESTAMP,
    ]
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    result, signature, report = judge(flip_inside(archived, basic, len(basic) - 20), trust)
    assert signature.timestamps[-1].sub_indication is SubIndication.HASH_FAILURE, describe(report)
    assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE)
