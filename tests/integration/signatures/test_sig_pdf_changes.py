"""Changes after signing, judged against DocMDP/FieldMDP (issue 13, point 6): reportlab forms
signed and certified (P=1/2/3) by pyHanko's signer, then filled, annotated, signed again,
time-stamped, given a page or a locked field's new value by later incremental updates. A change
the permissions forbid fails *that* signature as FORMAT_FAILURE with a message, its own bytes
intact; only a byte-range digest that fails is HASH_FAILURE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec, MDPPerm
from sig_pdf_vectors import (
    add_comment,
    add_page,
    add_page_keeping_count,
    fill_field,
    legacy_sign,
    pyhanko_certify,
    reportlab_form,
    tamper_signed_comment,
)
from sig_scenarios import VALIDATION_TIME
from sig_vectors import describe, local_tsa, modify_pdf_page

from gateway.signatures import Indication, SubIndication, add_document_timestamp, validate

PASSED = (Indication.TOTAL_PASSED, None)
FLAGGED = (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
TAMPERED = (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


def verdicts(document: bytes, trust, policy):
    report = validate(document, policy=policy, trust=trust, now=VALIDATION_TIME)
    return report, [(s.indication, s.sub_indication) for s in report.signatures]


@pytest.fixture(scope="module")
def form() -> bytes:
    return reportlab_form()


def _stamp(pki, document: bytes) -> bytes:
    # pyHanko's signer takes the system clock: the time-stamp must come after the signing,
    # however long after the PKI (PKI_NOW) this test runs on a loaded machine
    return add_document_timestamp(document, local_tsa(pki, datetime.now(UTC).replace(
        microsecond=0) + timedelta(minutes=1)))


CHANGES = {
    "fill": lambda pki, pdf: fill_field(pdf, "name", "Alice"),
    "comment": lambda pki, pdf: add_comment(pdf),
    "time-stamp": _stamp,
}
# what each DocMDP permission allows after the certification (ISO 32000-1 §12.8.2.2)
ALLOWED = {
    MDPPerm.NO_CHANGES: {"time-stamp"},
    MDPPerm.FILL_FORMS: {"fill", "time-stamp"},
    MDPPerm.ANNOTATE: {"fill", "comment", "time-stamp"},
}


@pytest.mark.parametrize("permission", list(MDPPerm), ids=lambda p: f"P{p.value}")
@pytest.mark.parametrize("change", list(CHANGES))
def test_certification_permissions(permission, change, form, pki, signer, trust, policy) -> None:
    certified = pyhanko_certify(form, signer("company"), field="Author", certify=permission)
    assert verdicts(certified, trust, policy)[1] == [PASSED]
    changed = CHANGES[change](pki, certified)
    report, results = verdicts(changed, trust, policy)
    author = report.signatures[0]
    if change in ALLOWED[permission]:
        assert results == [PASSED], describe(report)
    else:
        assert results == [FLAGGED], describe(report)
        assert f"DocMDP permission P={permission.value}" in author.findings[0].message
        assert "signed revision itself is intact" in author.findings[0].message
    assert not author.covers_whole_document
    # the tampered twin: a byte inside every signed range; now the digest fails as well
    report, _ = verdicts(tamper_signed_comment(changed), trust, policy)
    found = [finding.sub_indication for finding in report.signatures[0].findings]
    assert SubIndication.HASH_FAILURE in found, describe(report)
    assert report.signatures[0].indication is Indication.TOTAL_FAILED


@pytest.mark.parametrize("permission", [MDPPerm.FILL_FORMS, MDPPerm.ANNOTATE])
def test_second_signature_after_certification(permission, form, signer, trust, policy) -> None:
    certified = pyhanko_certify(form, signer("company"), field="Author", certify=permission)
    both = pyhanko_certify(certified, signer("person"), field="Approver")
    filled = fill_field(both, "city", "Paris")
    report, results = verdicts(filled, trust, policy)
    assert results == [PASSED, PASSED], describe(report)
    assert [s.identifier for s in report.signatures] == ["Author", "Approver"]


def test_approval_signature_allows_form_filling_and_comments(form, signer, trust, policy) -> None:
    signed = pyhanko_certify(form, signer("company"), field="Sig1")
    changed = add_comment(fill_field(fill_field(signed, "name", "Alice"), "city", "Paris"))
    report, results = verdicts(changed, trust, policy)
    assert results == [PASSED], describe(report)
    assert only_warnings(report) == ()


def only_warnings(report) -> tuple[str, ...]:
    return report.signatures[0].warnings


def test_field_lock(form, signer, trust, policy) -> None:
    lock = FieldMDPSpec(FieldMDPAction.INCLUDE, fields=["name"])
    signed = pyhanko_certify(form, signer("company"), field="Approve", lock=lock)
    assert verdicts(fill_field(signed, "city", "Paris"), trust, policy)[1] == [PASSED]
    report, results = verdicts(fill_field(signed, "name", "Mallory"), trust, policy)
    assert results == [FLAGGED], describe(report)
    assert "locked by the signature (FieldMDP)" in report.signatures[0].findings[0].message


def test_pages_added_after_signing_are_flagged(form, signer, trust, policy) -> None:
    signed = pyhanko_certify(form, signer("company"), field="Sig1")
    report, results = verdicts(add_page(signed), trust, policy)
    assert results == [FLAGGED], describe(report)
    assert "Pages were added to or removed" in report.signatures[0].findings[0].message
    # a page slipped into /Kids with /Count left unchanged is found all the same
    report, results = verdicts(add_page_keeping_count(signed), trust, policy)
    assert results == [FLAGGED], describe(report)
    assert "(1 -> 2)" in report.signatures[0].findings[0].message


def test_content_change_judged_by_the_permission_in_force(form, signer, trust, policy) -> None:
    approved = pyhanko_certify(form, signer("company"), field="Sig1")
    report, results = verdicts(modify_pdf_page(approved), trust, policy)
    assert results == [PASSED], describe(report)
    assert any("no longer what was signed" in w for w in only_warnings(report))
    certified = pyhanko_certify(form, signer("company"), field="Author", certify=MDPPerm.ANNOTATE)
    report, results = verdicts(modify_pdf_page(certified), trust, policy)
    assert results == [FLAGGED], describe(report)
    # a later approval signature is bound by the certification in force before it
    both = pyhanko_certify(certified, signer("person"), field="Approver")
    _, results = verdicts(modify_pdf_page(both), trust, policy)
    assert results == [FLAGGED, FLAGGED]


def test_tampered_twin_of_a_filled_form_is_hash_failure(form, signer, trust, policy) -> None:
    certified = pyhanko_certify(form, signer("company"), field="Author", certify=MDPPerm.FILL_FORMS)
    filled = fill_field(certified, "name", "Alice")
    assert verdicts(filled, trust, policy)[1] == [PASSED]
    report, results = verdicts(tamper_signed_comment(filled), trust, policy)
    assert results == [TAMPERED], describe(report)


def test_encapsulated_cms_in_a_pdf_is_refused(form, signer, trust, policy) -> None:
    attached = legacy_sign(form, signer("company"), "/adbe.pkcs7.detached", field="Attached")
    report, results = verdicts(attached, trust, policy)
    assert results == [FLAGGED], describe(report)
    assert "must be detached" in report.signatures[0].findings[0].message
