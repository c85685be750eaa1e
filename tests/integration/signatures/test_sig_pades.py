"""PAdES validation: PDFs signed by pyHanko's own signer (not our wrapper), incremental updates
(permitted and not), several signatures, document time-stamps; our output checked by pyHanko's
validator."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sig_scenarios import PKI_NOW, VALIDATION_TIME, RevokedLater
from sig_vectors import (
    Signer,
    describe,
    local_tsa,
    minimal_pdf,
    modify_pdf_page,
    only,
    own_sign,
)

from gateway.domain.clock import FixedClock
from gateway.pki import DemoPki
from gateway.signatures import (
    Indication,
    SignedObjectKind,
    SubIndication,
    TimestampKind,
    add_document_timestamp,
    sign_pades,
    validate,
)


def verdict(document: bytes, trust, policy, *, now: datetime = VALIDATION_TIME):
    report = validate(document, policy=policy, trust=trust, now=now)
    return report, [(s.indication, s.sub_indication) for s in report.signatures]


def pyhanko_sign(pdf: bytes, signer_: Signer, *, md: str = "sha256", field: str = "Sig1") -> bytes:
    """pyHanko's documented signing path (system clock, its own CMS builder)."""
    simple = signers.SimpleSigner.load(str(signer_.key_path), str(signer_.cert_path))
    assert simple is not None
    meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm=md)
    output = signers.sign_pdf(IncrementalPdfFileWriter(BytesIO(pdf)), meta, signer=simple)
    return output.getvalue()


@pytest.mark.parametrize("client", ["company", "company_ec", "person"])
def test_pyhanko_signed_pdf_passes(client, signer, trust, policy) -> None:
    report, results = verdict(pyhanko_sign(minimal_pdf(), signer(client)), trust, policy)
    assert results == [(Indication.TOTAL_PASSED, None)], describe(report)
    signature = only(report)
    assert signature.identifier == "Sig1"
    assert signature.covers_whole_document
    data = signature.signed_data_objects[0]
    assert data.kind is SignedObjectKind.PDF_BYTE_RANGE and len(data.byte_range) == 4
    assert signature.claimed_signing_time is not None


def test_pyhanko_signed_tampering(signer, trust, policy) -> None:
    signed = pyhanko_sign(minimal_pdf(), signer("company"))
    _, results = verdict(signed.replace(b"(Hello PDF)", b"(Hello PDX)"), trust, policy)
    assert results == [(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)]


def test_pyhanko_untrusted_and_sha1(signer, trust, policy) -> None:
    _, results = verdict(pyhanko_sign(minimal_pdf(), signer("untrusted")), trust, policy)
    assert results == [(Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)]
    report, results = verdict(
        pyhanko_sign(minimal_pdf(), signer("company"), md="sha1"), trust, policy
    )
    assert results == [(Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)], (
        describe(report)
    )


def test_content_change_after_approval_signature_is_warned(signer, trust, policy) -> None:
    # no DocMDP permission forbids it (ISO 32000-1): the signed revision is intact, the
    # signature passes, and the report says the document shown is no longer what was signed
    signed = own_sign("pades", signer("company"), at=PKI_NOW).document
    report, results = verdict(modify_pdf_page(signed), trust, policy)
    assert results == [(Indication.TOTAL_PASSED, None)], describe(report)
    assert any("no longer what was signed" in warning for warning in only(report).warnings)
    assert not only(report).covers_whole_document


def test_second_signature_is_a_permitted_update(signer, trust, policy) -> None:
    first = own_sign("pades", signer("company"), at=PKI_NOW).document
    both = sign_pades(
        first,
        signer("person").key,
        signer("person").certificate,
        clock=FixedClock(PKI_NOW),
        field_name="Signature2",
    )
    report, results = verdict(both, trust, policy)
    assert results == [(Indication.TOTAL_PASSED, None)] * 2, describe(report)
    assert [s.identifier for s in report.signatures] == ["Signature1", "Signature2"]
    assert [s.covers_whole_document for s in report.signatures] == [False, True]
    assert report.signatures[1].signer is not None
    assert report.signatures[1].signer.principal is not None
    assert report.signatures[1].signer.principal.kind.value == "PERSON"


def test_modification_after_second_signature_is_warned_on_both(signer, trust, policy) -> None:
    first = own_sign("pades", signer("company"), at=PKI_NOW).document
    both = sign_pades(
        first,
        signer("person").key,
        signer("person").certificate,
        clock=FixedClock(PKI_NOW),
        field_name="Signature2",
    )
    report, results = verdict(modify_pdf_page(both), trust, policy)
    assert results == [(Indication.TOTAL_PASSED, None)] * 2
    assert all(any("no longer" in w for w in s.warnings) for s in report.signatures)


def test_document_time_stamp_gives_level_t(signer, trust, policy, tsa) -> None:
    signed = own_sign("pades", signer("company"), at=PKI_NOW).document
    stamped = add_document_timestamp(signed, tsa)
    report, results = verdict(stamped, trust, policy)
    assert results == [(Indication.TOTAL_PASSED, None)], describe(report)
    signature = only(report)
    assert [ts.kind for ts in signature.timestamps] == [TimestampKind.DOCUMENT_TIMESTAMP]
    assert signature.level == "PAdES-BASELINE-T"


def test_document_time_stamp_proves_existence_before_revocation(
    pki: DemoPki, policy, revoked_later: RevokedLater
) -> None:
    from datetime import timedelta

    signed_at = revoked_later.revoked_at - timedelta(days=1)
    signed = own_sign("pades", revoked_later.signer, at=signed_at).document
    _, results = verdict(signed, revoked_later.trust, policy, now=revoked_later.validate_at)
    assert results == [(Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE)]
    stamped = add_document_timestamp(signed, local_tsa(pki, signed_at))
    report, results = verdict(stamped, revoked_later.trust, policy, now=revoked_later.validate_at)
    assert results == [(Indication.TOTAL_PASSED, None)], describe(report)


def test_pdf_without_signature_is_format_failure(trust, policy) -> None:
    _, results = verdict(minimal_pdf(), trust, policy)
    assert results == [(Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)]


def _asn1(path) -> asn1_x509.Certificate:
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def test_own_pades_validates_with_pyhanko(pki: DemoPki, signer, tsa) -> None:
    signed = own_sign("pades", signer("company"), at=PKI_NOW, tsa=tsa).document
    context = ValidationContext(
        trust_roots=[_asn1(pki.root_ca.cert_path)],
        other_certs=[_asn1(pki.issuing_ca.cert_path)],
        moment=VALIDATION_TIME,
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    embedded = PdfFileReader(BytesIO(signed)).embedded_signatures[0]
    status = validate_pdf_signature(embedded, context, ts_validation_context=context)
    assert status.intact and status.valid and status.bottom_line
    assert status.signer_reported_dt == PKI_NOW.astimezone(UTC)
    assert status.timestamp_validity is not None and status.timestamp_validity.valid
