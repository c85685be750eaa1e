"""PAdES levels LT and LTA (issue 13, point 7): the Document Security Store as validation
evidence and document time-stamps as proof of existence, validated at the best proven time (EN
319 142-1 §5.4, §6.3; EN 319 102-1 §5.6.2.1).

Vectors by pyHanko's own signer, DSS writer and document time-stamper (``sig_pades_lta``) with
its test TSA signing with our demo units; OCSP responses and CRLs made with cryptography
(``sig_ocsp``, ``sig_vectors.make_crl``). Validation happens 40 days after signing, when the demo
CRLs are long stale: the trust directory then holds fresh CRLs only (``fresh_trust``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from sig_ocsp import ocsp_response
from sig_pades_lta import add_document_time_stamp, add_dss, pades_t, pyhanko_lta, test_tsa
from sig_scenarios import PKI_NOW
from sig_vectors import describe, issue_leaf, make_crl, minimal_pdf, only, trust_store

from gateway.pki import DemoPki
from gateway.signatures import Indication, SignaturePolicy, SubIndication, TimestampKind, validate

DAY = timedelta(days=1)
SIGNED_AT = PKI_NOW + timedelta(hours=1)
"""The signature time-stamp's genTime (pyHanko puts the system clock's time in ``/M``)."""
ARCHIVED_AT = PKI_NOW + 2 * DAY
VALIDATED_AT = PKI_NOW + 40 * DAY


def fresh_trust(pki: DemoPki, revoked=()):
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


def judge(document: bytes, trust, policy=None):
    report = validate(document, policy=policy or SignaturePolicy(), trust=trust, now=VALIDATED_AT)
    signature = only(report)
    return (signature.indication, signature.sub_indication), signature, report


def lt(pki: DemoPki, pdf: bytes, leaves, *, at=SIGNED_AT + timedelta(hours=1), revoked_at=None):
    """B-LT: the issuing CA and the leaves in the DSS, an OCSP response for each leaf issued at
    ``at`` (the first says revoked at ``revoked_at`` when given) and the root's CRL."""
    responses = [
        ocsp_response(leaf, pki.issuing_ca, this_update=at, revoked_at=None if i else revoked_at)
        for i, leaf in enumerate(leaves)
    ]
    root_crl = make_crl(
        pki.root_ca,
        [(pki.revoked_issuing_ca.certificate().serial_number, PKI_NOW - DAY)],
        this_update=at,
        next_update=at + 7 * DAY,
    )
    return add_dss(
        pdf,
        certificates=[*leaves, pki.issuing_ca.certificate()],
        responses=responses,
        crls=[root_crl],
    )


@pytest.fixture(scope="module")
def expiring(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory):
    """A signer valid until PKI_NOW + 10 days and a TSU until PKI_NOW + 5 days."""
    folder: Path = tmp_path_factory.mktemp("pades-lta")
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


def _flip_inside(document: bytes, needle: bytes, offset: int) -> bytes:
    position = document.rindex(needle) + offset
    return document[:position] + bytes([document[position] ^ 0x01]) + document[position + 1 :]


def test_expired_signer_passes_at_b_lta_and_fails_without_it(pki: DemoPki, expiring) -> None:
    signer, unit = expiring
    signed = pades_t(minimal_pdf(), signer, test_tsa(unit, SIGNED_AT))
    with_data = lt(pki, signed, [signer.certificate, unit.certificate])
    archived = add_document_time_stamp(with_data, test_tsa(pki.tsa, ARCHIVED_AT), "DocTs1")
    trust = fresh_trust(pki)

    result, signature, report = judge(archived, trust)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "PAdES-BASELINE-LTA"
    assert [ts.kind for ts in signature.timestamps] == [
        TimestampKind.SIGNATURE_TIMESTAMP,
        TimestampKind.DOCUMENT_TIMESTAMP,
    ]
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    assert signature.proof_of_existence == SIGNED_AT
    data = report.to_dict()
    assert data["signatures"][0]["level"] == "PAdES-BASELINE-LTA"
    [stamp] = data["document_timestamps"]
    assert (stamp["id"], stamp["indication"]) == ("DocTs1", "TOTAL_PASSED")
    assert stamp["generation_time"].startswith(ARCHIVED_AT.strftime("%Y-%m-%dT%H:%M"))

    # Level LT: nothing proves the expired unit's time-stamp, so nothing proves the signing time.
    result, signature, report = judge(with_data, trust)
    assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE), describe(
        report
    )
    assert signature.level == "PAdES-BASELINE-B"
    assert "document_timestamps" not in report.to_dict()

    # The DSS changed after the document time-stamp (one byte of the carried OCSP response):
    # the document time-stamp fails HASH_FAILURE and proves nothing.
    ocsp_der = ocsp_response(
        signer.certificate, pki.issuing_ca, this_update=SIGNED_AT + timedelta(hours=1)
    ).public_bytes(Encoding.DER)
    tampered = _flip_inside(archived, ocsp_der[:40], 60)
    result, signature, report = judge(tampered, trust)
    assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE), describe(
        report
    )
    assert signature.timestamps[-1].sub_indication is SubIndication.HASH_FAILURE


def test_a_later_document_time_stamp_proves_an_earlier_one(pki: DemoPki, expiring) -> None:
    """B-B, DSS, a document time-stamp by the short-lived unit, the unit's OCSP response in the
    DSS, a second document time-stamp: the first is validated when the second proves it existed
    (its unit had not expired then), and it proves the expired signer's signature."""
    signer, unit = expiring
    signed = pades_t(minimal_pdf(), signer, None)
    with_data = lt(pki, signed, [signer.certificate])
    first = add_document_time_stamp(with_data, test_tsa(unit, PKI_NOW + DAY), "DocTs1")
    refreshed = lt(pki, first, [unit.certificate], at=PKI_NOW + DAY + timedelta(hours=1))
    second = add_document_time_stamp(refreshed, test_tsa(pki.tsa, PKI_NOW + 3 * DAY), "DocTs2")
    trust = fresh_trust(pki)

    result, signature, report = judge(second, trust)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "PAdES-BASELINE-LTA"
    assert [ts.identifier for ts in report.document_timestamps] == ["DocTs1", "DocTs2"]
    assert all(ts.passed for ts in report.document_timestamps), describe(report)
    assert signature.proof_of_existence == PKI_NOW + DAY

    result, signature, report = judge(first, trust)  # the first stamp's unit has expired
    assert result == (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE), describe(
        report
    )
    assert not report.document_timestamps[0].passed


def test_signer_revoked_after_the_document_time_stamp_passes(pki: DemoPki, tmp_path: Path) -> None:
    signer = issue_leaf(
        pki, tmp_path, "revoked-later", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )
    signed = pades_t(minimal_pdf(), signer, test_tsa(pki.tsa, SIGNED_AT))
    with_data = lt(pki, signed, [signer.certificate, pki.tsa.certificate()])
    archived = add_document_time_stamp(with_data, test_tsa(pki.tsa, ARCHIVED_AT), "DocTs1")
    revoked_at = ARCHIVED_AT + 3 * DAY
    result, signature, report = judge(
        archived, fresh_trust(pki, [(signer.certificate.serial_number, revoked_at)])
    )
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "PAdES-BASELINE-LTA"
    assert signature.revocation_time == revoked_at
    assert any("revoked after the proven signing time" in w for w in signature.warnings)
    # Its twin with the signed page text changed: the signature and the document time-stamp
    # over it both fail their digests.
    tampered = archived.replace(b"(Hello PDF)", b"(Hello PDX)")
    result, signature, report = judge(
        tampered, fresh_trust(pki, [(signer.certificate.serial_number, revoked_at)])
    )
    assert result == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), describe(report)
    assert report.document_timestamps[0].sub_indication is SubIndication.HASH_FAILURE


def test_signer_revoked_before_signing_is_revoked_by_the_dss_evidence(
    pki: DemoPki, tmp_path: Path
) -> None:
    signer = issue_leaf(
        pki, tmp_path, "revoked-early", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )
    revoked_at = PKI_NOW - timedelta(hours=1)  # before pyHanko's /M (the system clock)
    signed = pades_t(minimal_pdf(), signer, test_tsa(pki.tsa, SIGNED_AT))
    with_data = lt(pki, signed, [signer.certificate, pki.tsa.certificate()], revoked_at=revoked_at)
    archived = add_document_time_stamp(with_data, test_tsa(pki.tsa, ARCHIVED_AT), "DocTs1")
    # The trust directory's CRL does not list it: the DSS's OCSP response is the evidence.
    result, signature, report = judge(archived, fresh_trust(pki))
    assert result == (Indication.TOTAL_FAILED, SubIndication.REVOKED), describe(report)
    assert signature.revocation_time == revoked_at
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    # Without the DSS nothing says so.
    result, _, report = judge(
        add_document_time_stamp(signed, test_tsa(pki.tsa, ARCHIVED_AT), "DocTs1"),
        fresh_trust(pki),
    )
    assert result == (Indication.TOTAL_PASSED, None), describe(report)


def test_dss_evidence_is_authenticated_not_trusted(pki: DemoPki, tmp_path: Path) -> None:
    """An OCSP response signed by a key that is not the issuer's (the signer's own, for
    the test) saying revoked is no evidence; a policy requiring revocation data then finds the
    signer's status unknown (TRY_LATER), where the genuine DSS response proves it good."""
    signer = issue_leaf(
        pki, tmp_path, "forged-ocsp", not_before=PKI_NOW - DAY, not_after=PKI_NOW + 300 * DAY
    )
    signed = pades_t(minimal_pdf(), signer, test_tsa(pki.tsa, SIGNED_AT))
    # Names the real issuer in its CertID, signed with another key.
    forged = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=signer.certificate,
            issuer=pki.issuing_ca.certificate(),
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.REVOKED,
            this_update=SIGNED_AT + timedelta(hours=1),
            next_update=SIGNED_AT + 8 * DAY,
            revocation_time=PKI_NOW - DAY,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.certificate)
        .sign(signer.key, hashes.SHA256())
    )
    with_forged = add_document_time_stamp(
        add_dss(signed, certificates=[signer.certificate], responses=[forged]),
        test_tsa(pki.tsa, ARCHIVED_AT),
        "DocTs1",
    )
    # Revocation data required; the trust directory has the root's CRL and a current OCSP
    # response for the document time-stamp's unit, nothing about the signer.
    from gateway.trust.certificates import TrustStore

    current = fresh_trust(pki)
    root_only = TrustStore(
        current.certificates,
        current.crls_for(pki.root_ca.certificate()),
        ocsp_responses=[
            ocsp_response(pki.tsa.certificate(), pki.issuing_ca, this_update=VALIDATED_AT - DAY)
        ],
    )
    strict = SignaturePolicy(require_revocation_info=True)
    result, _, report = judge(with_forged, root_only, strict)
    assert result == (Indication.INDETERMINATE, SubIndication.TRY_LATER), describe(report)
    genuine = add_document_time_stamp(
        lt(pki, signed, [signer.certificate, pki.tsa.certificate()]),
        test_tsa(pki.tsa, ARCHIVED_AT),
        "DocTs1",
    )
    result, signature, report = judge(genuine, root_only, strict)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "PAdES-BASELINE-LTA"


def test_dss_certificates_complete_the_path(pki: DemoPki, signer) -> None:
    """A trust directory holding the root alone: the issuing CA, found only in the DSS, completes
    the signer's and the units' paths; a self-signed CA in the DSS never becomes an anchor (the
    path of the client it issued stays unfound)."""
    from gateway.trust.certificates import TrustStore

    company = signer("company")
    current = fresh_trust(pki)
    root_only = TrustStore([pki.root_ca.certificate()], current.crls_for(pki.root_ca.certificate()))
    signed = pades_t(minimal_pdf(), company, test_tsa(pki.tsa, SIGNED_AT))
    stamped = add_document_time_stamp(signed, test_tsa(pki.tsa, ARCHIVED_AT), "DocTs1")
    result, _, report = judge(stamped, root_only)
    assert result == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND), describe(
        report
    )
    with_data = lt(pki, signed, [company.certificate, pki.tsa.certificate()])
    # and a response for the unit current at validation time (nothing else speaks for it)
    with_data = lt(pki, with_data, [pki.tsa.certificate()], at=VALIDATED_AT - DAY)
    archived = add_document_time_stamp(with_data, test_tsa(pki.tsa, ARCHIVED_AT), "DocTs1")
    result, signature, report = judge(archived, root_only)
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert [c.subject for c in signature.certificate_chain][1:] == [
        pki.issuing_ca.certificate().subject.rfc4514_string(),
        pki.root_ca.certificate().subject.rfc4514_string(),
    ]
    untrusted = signer("untrusted")
    with_root = add_dss(
        pades_t(minimal_pdf(), untrusted, None),
        certificates=[untrusted.certificate, pki.untrusted_ca.certificate()],
    )
    result, _, report = judge(with_root, root_only)
    assert result == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND), describe(
        report
    )


def test_a_document_time_stamp_never_makes_the_signature_time_stamp_worse(
    pki: DemoPki, signer
) -> None:
    """No DSS: the signature time-stamp's unit has only the trust directory's current CRL, issued
    after the document time-stamp. Judged at that stamp's time it would have no revocation
    evidence; it is then judged as it stands today, and still proves the signing time."""
    company = signer("company")
    level_t = pades_t(minimal_pdf(), company, test_tsa(pki.tsa, SIGNED_AT))
    stamped = add_document_time_stamp(level_t, test_tsa(pki.tsa, ARCHIVED_AT), "DocTs1")
    result, signature, report = judge(stamped, fresh_trust(pki))
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert all(ts.passed for ts in signature.timestamps), describe(report)
    assert signature.proof_of_existence == SIGNED_AT
    assert signature.level == "PAdES-BASELINE-T"
    # reported as judged today, not at the document time-stamp's time (as in XAdES and CAdES)
    assert signature.timestamps[0].validation_time == VALIDATED_AT, describe(report)


def test_levels_t_and_lt(pki: DemoPki, signer) -> None:
    company = signer("company")
    trust = fresh_trust(pki)
    level_t = pades_t(minimal_pdf(), company, test_tsa(pki.tsa, SIGNED_AT))
    level_lt = lt(pki, level_t, [company.certificate, pki.tsa.certificate()])
    # A document time-stamp before the DSS: T by the stamp, LT by the DSS, not LTA.
    stamped_then_lt = lt(
        pki,
        add_document_time_stamp(
            pades_t(minimal_pdf(), company, None), test_tsa(pki.tsa, ARCHIVED_AT), "DocTs1"
        ),
        [company.certificate, pki.tsa.certificate()],
    )
    for document, level in (
        (level_t, "PAdES-BASELINE-T"),
        (level_lt, "PAdES-BASELINE-LT"),
        (stamped_then_lt, "PAdES-BASELINE-LT"),
    ):
        result, signature, report = judge(document, trust)
        assert result == (Indication.TOTAL_PASSED, None), describe(report)
        assert signature.level == level, describe(report)


def test_pyhanko_b_lta_flow_passes(pki: DemoPki, signer) -> None:
    """pyHanko's own B-LTA: embed_validation_info + use_pades_lta, with a context holding OCSP
    responses for the signer, the TSU and the issuing CA."""
    company = signer("company")
    at = SIGNED_AT
    responses = [
        ocsp_response(company.certificate, pki.issuing_ca, this_update=at),
        ocsp_response(pki.tsa.certificate(), pki.issuing_ca, this_update=at),
        ocsp_response(pki.issuing_ca.certificate(), pki.root_ca, this_update=at),
    ]
    document = pyhanko_lta(
        minimal_pdf(),
        company,
        test_tsa(pki.tsa, at),
        roots=[pki.root_ca.certificate()],
        intermediates=[pki.issuing_ca.certificate()],
        responses=responses,
        moment=at,
    )
    result, signature, report = judge(document, fresh_trust(pki))
    assert result == (Indication.TOTAL_PASSED, None), describe(report)
    assert signature.level == "PAdES-BASELINE-LTA"
    assert len(report.document_timestamps) == 1


def _stream(data: bytes):
    from pyhanko.pdf_utils import generic

    return generic.StreamObject(stream_data=data)


HOSTILE_DSS = {
    "dictionary-as-ocsp": lambda w: {
        "/OCSPs": generic_array([w.add_object(generic_dict({"/Type": generic_number(1)}))])
    },
    "number-as-array": lambda w: {"/OCSPs": generic_number(7)},
    "string-as-certificate": lambda w: {"/Certs": generic_array([generic_string("no")])},
    "garbage-crl": lambda w: {"/CRLs": generic_array([w.add_object(_stream(b"0" * 64))])},
    "missing-object": lambda w: {"/CRLs": generic_array([generic_ref(w, 999)])},
    "number-as-vri": lambda w: {"/VRI": generic_number(5)},
    "one-stream-listed-5000-times": lambda w: {
        "/CRLs": generic_array([w.add_object(_stream(b"0" * 64))] * 5000)
    },
    "garbage-in-vri": lambda w: {
        "/VRI": generic_dict(
            {
                "/AB": generic_dict(
                    {"/OCSP": generic_array([w.add_object(_stream(b"\x30\x82\xff\xff"))])}
                )
            }
        )
    },
}


def generic_array(items):
    from pyhanko.pdf_utils import generic

    return generic.ArrayObject(items)


def generic_number(value: int):
    from pyhanko.pdf_utils import generic

    return generic.NumberObject(value)


def generic_string(value: str):
    from pyhanko.pdf_utils import generic

    return generic.TextStringObject(value)


def generic_dict(entries):
    from pyhanko.pdf_utils import generic

    return generic.DictionaryObject({generic.NameObject(k): v for k, v in entries.items()})


def generic_ref(writer, number: int):
    from pyhanko.pdf_utils import generic

    return generic.IndirectObject(number, 0, writer)


@pytest.mark.parametrize("case", sorted(HOSTILE_DSS))
def test_hostile_dss_entries_are_no_evidence_and_no_crash(pki: DemoPki, signer, case) -> None:
    """Unreadable DSS entries give a warning and no evidence (the genuine OCSP response next to
    them is still read); the document gets its report."""
    from io import BytesIO

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader

    from gateway.signatures.pades_ltv import read_dss

    company = signer("company")
    signed = pades_t(minimal_pdf(), company, test_tsa(pki.tsa, SIGNED_AT))
    writer = IncrementalPdfFileWriter(BytesIO(signed))
    genuine = ocsp_response(company.certificate, pki.issuing_ca, this_update=SIGNED_AT)
    entries = {
        "/OCSPs": generic_array([writer.add_object(_stream(genuine.public_bytes(Encoding.DER)))])
    }
    hostile_entries = HOSTILE_DSS[case](writer)
    if "/OCSPs" in hostile_entries:
        entries = {"/Certs": entries["/OCSPs"]} | hostile_entries  # genuine bytes, wrong kind
    else:
        entries |= hostile_entries
    writer.root["/DSS"] = writer.add_object(generic_dict(entries))
    writer.update_root()
    output = BytesIO()
    writer.write(output)
    hostile = output.getvalue()

    data = read_dss(PdfFileReader(BytesIO(hostile)))
    assert any("Document Security Store" in warning for warning in data.warnings), data
    if "/OCSPs" not in hostile_entries:
        assert len(data.revocation.responses) == 1
    report = validate(hostile, policy=SignaturePolicy(), trust=fresh_trust(pki), now=VALIDATED_AT)
    assert [s.identifier for s in report.signatures] == ["Sig1"], describe(report)
    assert all("internal error" not in f.message for f in only(report).findings)
