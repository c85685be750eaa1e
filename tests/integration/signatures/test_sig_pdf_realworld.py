"""PDF signatures on files other producers wrote (issue 13, point 5): each vector with the
expected indication of every signature, a tampered twin, and poppler's ``pdfsig`` as the
independent check of both. Producers: qpdf (cross-reference streams, AES-256 and AES-128
encryption with the empty user password, ``--check`` of the hybrid file), pyHanko's signer,
openssl (the legacy sub-filters' CMS and PKCS #1 values), reportlab (forms certified with
DocMDP P=1/2/3 or approved with a FieldMDP lock by pyHanko, then filled, commented or signed
again as permitted)."""

from __future__ import annotations

from dataclasses import dataclass
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec, MDPPerm
from sig_cms_vectors import FORMAT_FAILURE, HASH_FAILURE, PASSED, SIG_CRYPTO_FAILURE
from sig_pdf_vectors import (
    add_comment,
    fill_field,
    hybrid_update,
    legacy_sign,
    pdfsig,
    pyhanko_certify,
    pyhanko_sign,
    qpdf,
    qpdf_check,
    reportlab_form,
    tamper_signed_comment,
    trailer_size_slip,
)
from sig_scenarios import VALIDATION_TIME
from sig_vectors import describe, minimal_pdf

from gateway.signatures import Indication, SignatureFormat, SubIndication, pades, validate

VALID = "Signature is Valid."
MISMATCH = "Digest Mismatch."
UNCHECKED = "Signature has not yet been verified."  # pdfsig's word for adbe.x509.rsa_sha1
CONSTRAINED = (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
NOT_BOUND = (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND)


@dataclass(frozen=True)
class PdfVector:
    name: str
    document: bytes
    expected: tuple[tuple[str, tuple[Indication, SubIndication | None]], ...]
    poppler: tuple[str, ...]
    twin_expected: tuple[tuple[str, tuple[Indication, SubIndication | None]], ...]
    twin_poppler: tuple[str, ...]
    warning: str | None = None


NAMES = (
    "qpdf-object-streams", "qpdf-aes256-empty-password", "qpdf-aes128-empty-password",
    "hybrid-reference", "trailer-size-slip", "adbe-pkcs7-sha1", "adbe-x509-rsa-sha1",
    "legacy-then-pades", "qpdf-linearized", "qpdf-object-streams-ecdsa",
    "qpdf-aes256-two-signatures", "reportlab-certified-p1", "reportlab-certified-p2-filled",
    "reportlab-certified-p3-commented", "reportlab-approval-filled-commented",
    "reportlab-field-lock-other-field-filled", "reportlab-certified-p2-then-approval",
)  # fmt: skip


@pytest.fixture(scope="session")
def pdf_corpus(signer) -> dict[str, PdfVector]:
    company, company_ec = signer("company"), signer("company_ec")
    pdf = minimal_pdf()
    hybrid = hybrid_update(pdf)
    assert "No syntax or stream encoding errors" in qpdf_check(hybrid)
    rsa_sha1 = legacy_sign(pdf, company, "/adbe.x509.rsa_sha1")
    form = reportlab_form()
    vectors = [
        PdfVector(
            "qpdf-object-streams",
            pyhanko_sign(qpdf(pdf, "--object-streams=generate"), company, password=None),
            (("Sig1", PASSED),), (VALID,), (("Sig1", HASH_FAILURE),), (MISMATCH,),
        ),
        PdfVector(
            "qpdf-aes256-empty-password",
            pyhanko_sign(qpdf(pdf, "--encrypt", "", "owner", "256", "--"), company, password=""),
            (("Sig1", PASSED),), (VALID,), (("Sig1", HASH_FAILURE),), (MISMATCH,),
            warning="empty user password",
        ),
        PdfVector(
            "qpdf-aes128-empty-password",
            pyhanko_sign(
                qpdf(pdf, "--encrypt", "", "owner", "128", "--use-aes=y", "--"),
                company,
                password="",
            ),
            (("Sig1", PASSED),), (VALID,), (("Sig1", HASH_FAILURE),), (MISMATCH,),
            warning="empty user password",
        ),
        PdfVector(
            "hybrid-reference",
            pyhanko_sign(hybrid, company, strict=False, password=None),
            (("Sig1", PASSED),), (VALID,), (("Sig1", HASH_FAILURE),), (MISMATCH,),
            warning="hybrid-reference",
        ),
        PdfVector(
            "trailer-size-slip",
            pyhanko_sign(trailer_size_slip(pdf), company, strict=False, password=None),
            (("Sig1", PASSED),), (VALID,), (("Sig1", HASH_FAILURE),), (MISMATCH,),
            warning="read leniently",
        ),
        PdfVector(
            # Validated, and held back only by SHA-1 (the signature itself is correct).
            "adbe-pkcs7-sha1", legacy_sign(pdf, company, "/adbe.pkcs7.sha1"),
            (("Legacy", CONSTRAINED),), (VALID,), (("Legacy", HASH_FAILURE),), (MISMATCH,),
            warning="adbe.pkcs7.sha1",
        ),
        PdfVector(
            # No signed attribute can bind the certificate; a changed byte breaks the value.
            "adbe-x509-rsa-sha1", rsa_sha1,
            (("Legacy", NOT_BOUND),), (UNCHECKED,), (("Legacy", SIG_CRYPTO_FAILURE),),
            (UNCHECKED,), warning="adbe.x509.rsa_sha1",
        ),
        PdfVector(
            "legacy-then-pades",
            pyhanko_sign(rsa_sha1, company, field="Second", password=None),
            (("Second", PASSED), ("Legacy", NOT_BOUND)), (UNCHECKED, VALID),
            (("Second", HASH_FAILURE), ("Legacy", SIG_CRYPTO_FAILURE)), (UNCHECKED, MISMATCH),
        ),
        PdfVector(
            "qpdf-linearized",
            pyhanko_sign(qpdf(pdf, "--linearize"), company, password=None),
            (("Sig1", PASSED),), (VALID,), (("Sig1", HASH_FAILURE),), (MISMATCH,),
        ),
        PdfVector(
            "qpdf-object-streams-ecdsa",
            pyhanko_sign(qpdf(pdf, "--object-streams=generate"), company_ec, password=None),
            (("Sig1", PASSED),), (VALID,), (("Sig1", HASH_FAILURE),), (MISMATCH,),
        ),
        PdfVector(
            # Two signers of an encrypted file: both decrypted, both reported, in order.
            "qpdf-aes256-two-signatures",
            pyhanko_sign(
                pyhanko_sign(
                    qpdf(pdf, "--encrypt", "", "owner", "256", "--"), company, password=""
                ),
                company_ec, field="Sig2", password="",
            ),
            (("Sig1", PASSED), ("Sig2", PASSED)), (VALID, VALID),
            (("Sig1", HASH_FAILURE), ("Sig2", HASH_FAILURE)), (MISMATCH, MISMATCH),
            warning="empty user password",
        ),
        # reportlab forms, certified (DocMDP) or approved by pyHanko's signer, then changed as
        # the permission allows (issue 13, point 6)
        PdfVector(
            "reportlab-certified-p1",
            pyhanko_certify(form, company, field="Author", certify=MDPPerm.NO_CHANGES),
            (("Author", PASSED),), (VALID,), (("Author", HASH_FAILURE),), (MISMATCH,),
        ),
        PdfVector(
            "reportlab-certified-p2-filled",
            fill_field(
                pyhanko_certify(form, company, field="Author", certify=MDPPerm.FILL_FORMS),
                "name", "Alice",
            ),
            (("Author", PASSED),), (VALID,), (("Author", HASH_FAILURE),), (MISMATCH,),
        ),
        PdfVector(
            "reportlab-certified-p3-commented",
            add_comment(pyhanko_certify(form, company_ec, field="Author",
                                        certify=MDPPerm.ANNOTATE)),
            (("Author", PASSED),), (VALID,), (("Author", HASH_FAILURE),), (MISMATCH,),
        ),
        PdfVector(
            "reportlab-approval-filled-commented",
            add_comment(fill_field(pyhanko_certify(form, company, field="Sig1"), "city", "Ly")),
            (("Sig1", PASSED),), (VALID,), (("Sig1", HASH_FAILURE),), (MISMATCH,),
        ),
        PdfVector(
            "reportlab-field-lock-other-field-filled",
            fill_field(
                pyhanko_certify(form, company, field="Approve",
                                lock=FieldMDPSpec(FieldMDPAction.INCLUDE, fields=["name"])),
                "city", "Lyon",
            ),
            (("Approve", PASSED),), (VALID,), (("Approve", HASH_FAILURE),), (MISMATCH,),
        ),
        PdfVector(
            "reportlab-certified-p2-then-approval",
            pyhanko_certify(
                pyhanko_certify(form, company, field="Author", certify=MDPPerm.FILL_FORMS),
                company_ec, field="Approver",
            ),
            (("Author", PASSED), ("Approver", PASSED)), (VALID, VALID),
            (("Author", HASH_FAILURE), ("Approver", HASH_FAILURE)), (MISMATCH, MISMATCH),
        ),
    ]  # fmt: skip
    return {vector.name: vector for vector in vectors}


def _indications(document: bytes, trust, policy):
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    assert report.format is SignatureFormat.PADES
    return report, tuple(
        (signature.identifier, (signature.indication, signature.sub_indication))
        for signature in report.signatures
    )


def test_the_corpus_is_the_named_table(pdf_corpus) -> None:
    assert tuple(pdf_corpus) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_pdf_vector_and_its_tampered_twin(name, pdf_corpus, trust, policy) -> None:
    vector = pdf_corpus[name]
    assert tuple(pdfsig(vector.document)) == vector.poppler
    report, found = _indications(vector.document, trust, policy)
    assert found == vector.expected, describe(report)
    if vector.warning is not None:
        for signature in report.signatures:
            assert any(vector.warning in warning for warning in signature.warnings), describe(
                report
            )
    twin = tamper_signed_comment(vector.document)
    assert tuple(pdfsig(twin)) == vector.twin_poppler
    report, found = _indications(twin, trust, policy)
    assert found == vector.twin_expected, describe(report)


def test_a_user_password_is_a_format_failure(signer, trust, policy) -> None:
    locked = qpdf(minimal_pdf(), "--encrypt", "secret", "owner", "256", "--")
    signed = pyhanko_sign(locked, signer("company"), password="secret")
    report = validate(signed, policy=policy, trust=trust, now=VALIDATION_TIME)
    assert (report.indication, report.sub_indication) == FORMAT_FAILURE
    assert "user password" in report.signatures[0].findings[0].message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_pdf_is_a_report_never_an_exception(data, pdf_corpus, trust, policy) -> None:
    vector = data.draw(st.sampled_from(sorted(pdf_corpus.values(), key=lambda v: v.name)))
    document = bytearray(vector.document)
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(document) - 1))
        document[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.sampled_from([len(document), data.draw(st.integers(1, len(document)))]))
    report = validate(bytes(document[:cut]), policy=policy, trust=trust, now=VALIDATION_TIME)
    for signature in report.signatures:
        assert all(finding.message != "internal error" for finding in signature.findings)


@pytest.mark.parametrize("name", NAMES)
def test_pades_fast_path_reports_as_pyhanko_reads(name, pdf_corpus, trust, policy) -> None:
    """``pades_fast`` (one signature over the whole file), ``pades_fast_lta`` (then only DSS and
    document time-stamp revisions) and pyHanko's reader give one report
    for each vector and its tampered twin (most of them decline to pyHanko: object streams,
    encryption, hybrid files, legacy sub-filters, later revisions)."""
    for document in (pdf_corpus[name].document, tamper_signed_comment(pdf_corpus[name].document)):
        fast = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
        with (
            mock.patch.object(pades, "read_simple", lambda *_: None),
            mock.patch.object(pades, "read_lta", lambda *_: None),
        ):
            full = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
        assert fast.to_json() == full.to_json()
