"""XAdES levels LT and LTA (issue 12, point 6): validation data carried by the signature and
archive time-stamps, validated at the best proven time (EN 319 102-1 §5.6, past signature
validation).

Vectors: our XAdES-T (signature time-stamped by the suite's TSA), extended by ``sig_lta`` with
CertificateValues, RevocationValues (the root's CRL and OCSP responses made with cryptography)
and an ArchiveTimeStamp whose imprint the test computes with lxml. Validation happens 40 days
later, when the demo CRLs are long stale: the trust directory then holds fresh CRLs only.

* A signer whose certificate expired after the archive time-stamp passes -- and the signature
  time-stamp's unit has expired too: only the archive time-stamp proves it. Without it (level
  LT), or with a tampered one, the signature is OUT_OF_BOUNDS_NO_POE.
* A signer revoked after the archive time-stamp passes (revoked after the proven time).
* A signer revoked before it -- signed and time-stamped after the revocation, which a carried
  OCSP response says -- is TOTAL_FAILED/REVOKED.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from sig_lta import C14N_10, EXC_C14N, add_archive_timestamp, add_validation_data
from sig_ocsp import ocsp_response
from sig_scenarios import PKI_NOW
from sig_vectors import describe, issue_leaf, local_tsa, make_crl, only, own_sign, trust_store

from gateway.domain.clock import FixedClock
from gateway.pki import DemoPki
from gateway.signatures import (
    Indication,
    LocalTimeStampAuthority,
    SubIndication,
    TimestampKind,
    validate,
)

DAY = timedelta(days=1)
SIGNED_AT = PKI_NOW
ARCHIVED_AT = PKI_NOW + 2 * DAY
VALIDATED_AT = PKI_NOW + 40 * DAY


def fresh_trust(pki: DemoPki, revoked: list[tuple[int, object]] = ()):
    """The trust directory at validation time: current CRLs of both demo CAs."""
    return trust_store(
        pki,
        [
            make_crl(
                pki.issuing_ca,
                list(revoked),
                this_update=VALIDATED_AT - DAY,
                next_update=VALIDATED_AT + 6 * DAY,
            ),
            make_crl(
                pki.root_ca,
                [(pki.revoked_issuing_ca.certificate().serial_number, PKI_NOW - DAY)],
                this_update=VALIDATED_AT - DAY,
                next_update=VALIDATED_AT + 6 * DAY,
            ),
        ],
    )


def root_crl_at(pki: DemoPki, at):
    return make_crl(
        pki.root_ca,
        [(pki.revoked_issuing_ca.certificate().serial_number, PKI_NOW - DAY)],
        this_update=at,
        next_update=at + 7 * DAY,
    )


def lt(pki: DemoPki, vector: bytes, certificates, revocation_at, revoked_at=None) -> bytes:
    """XAdES-LT: the issuing CA and TSU certificates, the root's CRL and an OCSP response for
    each leaf, all issued at ``revocation_at``."""
    leaves = [c for c in certificates if c.subject != pki.issuing_ca.certificate().subject]
    responses = [
        ocsp_response(
            leaf,
            pki.issuing_ca,
            this_update=revocation_at,
            revoked_at=revoked_at if index == 0 else None,
        )
        for index, leaf in enumerate(leaves)
    ]
    return add_validation_data(
        vector,
        certificates=certificates,
        crls=[root_crl_at(pki, revocation_at)],
        responses=responses,
    )


def judge(document: bytes, trust):
    report = validate(document, policy=_policy(), trust=trust, now=VALIDATED_AT)
    signature = only(report)
    return (signature.indication, signature.sub_indication), signature, report


def _policy():
    from gateway.signatures import SignaturePolicy

    return SignaturePolicy()


@pytest.fixture(scope="module")
def expiring(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory):
    """A signer valid until PKI_NOW + 10 days and a TSU until PKI_NOW + 5 days."""
    folder: Path = tmp_path_factory.mktemp("lta")
    signer = issue_leaf(
        pki, folder, "expiring", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 10 * DAY
    )
    unit = issue_leaf(
        pki,
        folder,
        "short-tsu",
        not_before=PKI_NOW - DAY,
        not_after=PKI_NOW + 5 * DAY,
        eku=(ExtendedKeyUsageOID.TIME_STAMPING,),
    )
    return signer, unit


@pytest.mark.parametrize(
    ("form", "c14n"),
    [("1.4.1", None), ("1.3.2", C14N_10)],
    ids=["xades141-exclusive", "xades132-inclusive"],
)
def test_signer_expired_after_the_archive_time_stamp_passes(
    form, c14n, pki: DemoPki, expiring
) -> None:
    signer, unit = expiring
    short_tsa = LocalTimeStampAuthority(unit.key, unit.certificate, FixedClock(SIGNED_AT))
    signed = own_sign("xades", signer, at=SIGNED_AT, tsa=short_tsa).document
    with_data = lt(
        pki,
        signed,
        [signer.certificate, unit.certificate, pki.issuing_ca.certificate()],
        SIGNED_AT + timedelta(hours=1),
    )
    options = {"form": form} | ({"c14n": c14n} if c14n else {})
    archived = add_archive_timestamp(with_data, local_tsa(pki, ARCHIVED_AT), **options)
    trust = fresh_trust(pki)
    result, signature, report = judge(archived, trust)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "XAdES-BASELINE-LTA"
    assert [ts.kind for ts in signature.timestamps] == [
        TimestampKind.SIGNATURE_TIMESTAMP,
        TimestampKind.ARCHIVE_TIMESTAMP,
    ]
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    assert signature.proof_of_existence == SIGNED_AT
    assert report.to_dict()["signatures"][0]["level"] == "XAdES-BASELINE-LTA"
    # Level LT: nothing proves the expired unit's time-stamp, so nothing proves the signing time.
    result, signature, report = judge(with_data, trust)
    assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE), describe(
        report
    )
    assert signature.level == "XAdES-BASELINE-B"
    # The archived data changed after stamping (a carried certificate's Base64 wrapped): the
    # archive time-stamp fails HASH_FAILURE and proves nothing.
    head, _, rest = archived.partition(b"<xades:EncapsulatedX509Certificate>")
    value, _, tail = rest.partition(b"</xades:EncapsulatedX509Certificate>")
    wrapped = head + b"<xades:EncapsulatedX509Certificate>" + value[:64] + b"\n" + value[64:]
    wrapped += b"</xades:EncapsulatedX509Certificate>" + tail
    result, signature, report = judge(wrapped, trust)
    assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE), describe(
        report
    )
    archive = signature.timestamps[-1]
    assert archive.kind is TimestampKind.ARCHIVE_TIMESTAMP
    assert archive.sub_indication is SubIndication.HASH_FAILURE


def test_signer_revoked_after_the_archive_time_stamp_passes(pki: DemoPki, tmp_path: Path) -> None:
    signer = issue_leaf(
        pki, tmp_path, "revoked-later", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )
    signed = own_sign("xades", signer, at=SIGNED_AT, tsa=local_tsa(pki, SIGNED_AT)).document
    with_data = lt(
        pki,
        signed,
        [signer.certificate, pki.tsa.certificate(), pki.issuing_ca.certificate()],
        SIGNED_AT + timedelta(hours=1),
    )
    archived = add_archive_timestamp(with_data, local_tsa(pki, ARCHIVED_AT))
    revoked_at = ARCHIVED_AT + 3 * DAY
    trust = fresh_trust(pki, [(signer.certificate.serial_number, revoked_at)])
    result, signature, report = judge(archived, trust)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "XAdES-BASELINE-LTA"
    assert signature.revocation_time == revoked_at
    assert any("revoked after the proven signing time" in w for w in signature.warnings)


def test_signer_revoked_before_the_archive_time_stamp_is_revoked(
    pki: DemoPki, tmp_path: Path
) -> None:
    signer = issue_leaf(
        pki, tmp_path, "revoked-early", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )
    revoked_at = PKI_NOW + DAY
    signed_at = PKI_NOW + DAY + timedelta(hours=6)  # signed and time-stamped after revocation
    signed = own_sign("xades", signer, at=signed_at, tsa=local_tsa(pki, signed_at)).document
    with_data = lt(
        pki,
        signed,
        [signer.certificate, pki.tsa.certificate(), pki.issuing_ca.certificate()],
        signed_at + timedelta(hours=1),
        revoked_at=revoked_at,
    )
    archived = add_archive_timestamp(with_data, local_tsa(pki, ARCHIVED_AT))
    # The trust directory's CRL does not list it: the carried OCSP response is the evidence.
    result, signature, report = judge(archived, fresh_trust(pki))
    assert result == (Indication.TOTAL_FAILED, SubIndication.REVOKED), describe(report)
    assert signature.revocation_time == revoked_at
    assert all(ts.passed for ts in signature.timestamps), describe(report)


def test_extend_xades_writes_what_validation_and_the_independent_rules_accept(
    pki: DemoPki, tmp_path: Path
) -> None:
    import hashlib

    from asn1crypto import cms
    from lxml import etree
    from sig_lta import archive_input

    from gateway.signatures.xades_extend import extend_xades

    signer = issue_leaf(
        pki, tmp_path, "extended", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )
    signed = own_sign("xades", signer, at=SIGNED_AT, tsa=local_tsa(pki, SIGNED_AT)).document
    extended = extend_xades(
        signed,
        certificates=[signer.certificate, pki.issuing_ca.certificate()],
        crls=[root_crl_at(pki, SIGNED_AT + DAY)],
        responses=[
            ocsp_response(leaf, pki.issuing_ca, this_update=SIGNED_AT + DAY)
            for leaf in (signer.certificate, pki.tsa.certificate())
        ],
        tsa=local_tsa(pki, ARCHIVED_AT),
    )
    result, signature, report = judge(extended, fresh_trust(pki))
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "XAdES-BASELINE-LTA"
    # The imprint is the one sig_lta computes by its own reading of EN 319 132-1 §5.5.2.2.
    root = etree.fromstring(extended)
    stamp = root.find(".//{http://uri.etsi.org/01903/v1.4.1#}ArchiveTimeStamp")
    token = base64.b64decode(stamp[-1].text)
    stamp.getparent().remove(stamp)
    signature_element = root.find(".//{http://www.w3.org/2000/09/xmldsig#}Signature")
    expected = hashlib.sha256(archive_input(root, signature_element, EXC_C14N)).digest()
    tst_info = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    assert tst_info["message_imprint"]["hashed_message"].native == expected


@pytest.mark.parametrize("version", ["1.3.2", "1.4.1"])
def test_xmlsec1_signature_time_stamped_by_openssl_extended_to_lta(
    version, pki: DemoPki, signer
) -> None:
    """The base signature by xmlsec1, its SignatureTimeStamp by openssl ts, then LT and LTA."""
    from sig_vectors import OpenSslTsa
    from test_sig_xades_versions import add_signature_timestamp, sign

    company = signer("company")
    stamped = add_signature_timestamp(sign(company, version), version, OpenSslTsa(pki.tsa))
    with_data = lt(
        pki,
        stamped,
        [company.certificate, pki.tsa.certificate(), pki.issuing_ca.certificate()],
        SIGNED_AT + timedelta(hours=1),
    )
    archived = add_archive_timestamp(with_data, local_tsa(pki, ARCHIVED_AT))
    result, signature, report = judge(archived, fresh_trust(pki))
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "XAdES-BASELINE-LTA"
    # Its twin with a carried OCSP response altered after archiving: HASH_FAILURE of the archive
    # time-stamp, the signature back at LT.
    marker = b"<xades:EncapsulatedOCSPValue>"
    position = archived.index(marker) + len(marker) + 40
    flipped = archived[:position] + (b"A" if archived[position:position + 1] != b"A" else b"B")
    flipped += archived[position + 1:]
    result, signature, report = judge(flipped, fresh_trust(pki))
    assert signature.timestamps[-1].sub_indication is SubIndication.HASH_FAILURE, describe(report)
    assert signature.level == "XAdES-BASELINE-LT"


def test_certificates_in_time_stamp_validation_data_complete_the_paths(
    pki: DemoPki, tmp_path: Path
) -> None:
    """The issuing CA only inside xades141:TimeStampValidationData (as DSS writes LT/LTA), and
    a trust directory holding the root alone: the signer's and the TSU's paths are built."""
    from lxml import etree

    from gateway import namespaces as ns
    from gateway.trust.certificates import TrustStore

    signer = issue_leaf(
        pki, tmp_path, "tsvd", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )
    signed = own_sign("xades", signer, at=SIGNED_AT, tsa=local_tsa(pki, SIGNED_AT)).document
    # The signer's and the TSU's certificates and OCSP responses, then the CA moved into TSVD.
    with_data = lt(
        pki, signed, [signer.certificate, pki.tsa.certificate()], SIGNED_AT + timedelta(hours=1)
    )
    root = etree.fromstring(with_data)
    xades = f"{{{ns.XADES}}}"
    properties = root.find(f".//{xades}UnsignedSignatureProperties")
    values = properties.find(f"{xades}CertificateValues")
    properties.remove(values)
    validation_data = etree.SubElement(properties, f"{{{ns.XADES141}}}TimeStampValidationData")
    validation_data.append(values)
    etree.SubElement(values, f"{xades}EncapsulatedX509Certificate").text = base64.b64encode(
        pki.issuing_ca.certificate().public_bytes(Encoding.DER)
    ).decode()
    document = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    # The trust directory holds the root and its CRL; validation two days after signing, while
    # the carried OCSP responses are current.
    at = SIGNED_AT + 2 * DAY
    root_only = TrustStore(
        [pki.root_ca.certificate()],
        [make_crl(pki.root_ca, [], this_update=at - DAY, next_update=at + 6 * DAY)],
    )

    def judge(document: bytes, trust):
        report = validate(document, policy=_policy(), trust=trust, now=at)
        signature = only(report)
        return (signature.indication, signature.sub_indication), signature, report

    result, signature, report = judge(document, root_only)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "XAdES-BASELINE-LT"
    # Without them, no path.
    bare = document.replace(b"TimeStampValidationData", b"NotValidationData")
    result, _, report = judge(bare, root_only)
    assert result == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND), (
        describe(report)
    )


def test_properties_not_validated_are_named(pki: DemoPki, signer, trust) -> None:
    """XAdES-X time-stamps and content time-stamps are not validated: the report says so."""
    signed = own_sign(
        "xades", signer("company"), at=SIGNED_AT, tsa=local_tsa(pki, SIGNED_AT)
    ).document
    extra = (
        b"<xades:SigAndRefsTimeStamp><xades:EncapsulatedTimeStamp>AAAA"
        b"</xades:EncapsulatedTimeStamp></xades:SigAndRefsTimeStamp>"
    )
    document = signed.replace(
        b"</xades:UnsignedSignatureProperties>", extra + b"</xades:UnsignedSignatureProperties>"
    )
    report = validate(document, policy=_policy(), trust=trust, now=SIGNED_AT + DAY)
    signature = only(report)
    assert signature.indication is Indication.TOTAL_PASSED, describe(report)
    assert "Not validated (reported only): XAdES-X time-stamp (SigAndRefsTimeStamp)" in (
        signature.warnings
    )


def test_signature_time_stamp_valid_today_needs_no_carried_data(
    pki: DemoPki, tmp_path: Path
) -> None:
    """The LT data covers the signer only, not the signature time-stamp's unit: at the archive
    time nothing says the unit was not revoked (the trust directory's CRL is from day 39), but
    the unit is valid today, so the signature time-stamp holds and the level is LTA -- an
    archive time-stamp never makes a signature worse than it is without one."""
    signer = issue_leaf(
        pki, tmp_path, "no-tsu-data", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )
    signed = own_sign("xades", signer, at=SIGNED_AT, tsa=local_tsa(pki, SIGNED_AT)).document
    with_data = lt(
        pki,
        signed,
        [signer.certificate, pki.issuing_ca.certificate()],
        SIGNED_AT + timedelta(hours=1),
    )
    archived = add_archive_timestamp(with_data, local_tsa(pki, ARCHIVED_AT))
    result, signature, report = judge(archived, fresh_trust(pki))
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    assert signature.level == "XAdES-BASELINE-LTA"
    assert signature.proof_of_existence == SIGNED_AT
    # reported as judged today (the same in CAdES and PAdES: ``validation_time``)
    stamp, archive = signature.timestamps
    assert (stamp.validation_time, archive.validation_time) == (VALIDATED_AT, VALIDATED_AT)
