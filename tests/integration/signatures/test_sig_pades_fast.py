"""The PAdES fast path (``pades_fast``: one signature over the whole file, read without
pyHanko's reader) gives the very report pyHanko's full path gives: on our own and pyHanko's
signatures, certified and stamped ones, files of other producers (qpdf, reportlab, the legacy
sub-filters), multi-revision files, incremental updates after signing, tampered twins and
randomly mutated files. Where the fast path declines, the full path answers, so the comparison
also runs on the files it must decline; which ones take it is checked too, so that the
comparison is not vacuous."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.sign.fields import MDPPerm
from sig_adbe import pyhanko_adbe
from sig_ocsp import ocsp_response
from sig_pades_lta import test_tsa
from sig_pdf_vectors import (
    add_comment,
    add_page,
    fill_field,
    hybrid_update,
    legacy_sign,
    pyhanko_certify,
    pyhanko_sign,
    qpdf,
    reportlab_form,
    tamper_signed_comment,
    trailer_size_slip,
)
from sig_scenarios import PKI_NOW, VALIDATION_TIME
from sig_vectors import Vector, minimal_pdf, modify_pdf_page, own_sign, tamper_signature

from gateway.domain.clock import FixedClock
from gateway.signatures import (
    Indication,
    SubIndication,
    VisibleStamp,
    add_document_timestamp,
    pades,
    sign_pades,
    validate,
)
from gateway.signatures.pades_fast import read_simple


def _full_path(document: bytes, trust, policy) -> str:
    """pyHanko's path: the fast readers made to decline."""
    with (
        mock.patch.object(pades, "read_simple", lambda *_: None),
        mock.patch.object(pades, "read_lta", lambda *_: None),
    ):
        return validate(document, policy=policy, trust=trust, now=VALIDATION_TIME).to_json()


def _fast_path(document: bytes, trust, policy) -> str:
    return validate(document, policy=policy, trust=trust, now=VALIDATION_TIME).to_json()


@pytest.fixture(scope="module")
def corpus(signer, tsa, pki) -> dict[str, tuple[bytes, bool]]:
    """name -> (document, whether the fast path must take it)."""
    company, person = signer("company"), signer("person")
    pdf = minimal_pdf()
    own = own_sign("pades", company, at=PKI_NOW).document
    stamped_b_t = own_sign("pades", company, at=PKI_NOW, tsa=tsa).document
    pyhanko = pyhanko_sign(pdf, company, password=None)
    form = reportlab_form()
    certified = pyhanko_certify(form, company, field="Author", certify=MDPPerm.FILL_FORMS)
    second = sign_pades(own, person.key, person.certificate, clock=FixedClock(PKI_NOW),
                        field_name="Signature2")  # fmt: skip
    visible = sign_pades(
        pdf, company.key, company.certificate, clock=FixedClock(PKI_NOW),
        stamp=VisibleStamp(text="Signed", page=0, box=(20, 20, 220, 60)),
    )  # fmt: skip
    # pyHanko's non-PAdES signer with adbe-revocationInfoArchival: OCSP responses saying good,
    # and saying revoked before signing (the evidence must reach both paths alike).
    def adobe(revoked_at=None):
        at = PKI_NOW + timedelta(hours=1)  # after pyHanko's /M (the system clock)
        responses = [
            ocsp_response(company.certificate, pki.issuing_ca, this_update=at,
                          revoked_at=revoked_at),
            ocsp_response(pki.issuing_ca.certificate(), pki.root_ca, this_update=at),
        ]  # fmt: skip
        return pyhanko_adbe(pdf, company, test_tsa(tsa_signer, at),
                            roots=[pki.root_ca.certificate()],
                            intermediates=[pki.issuing_ca.certificate()],
                            responses=responses, moment=at)  # fmt: skip

    tsa_signer = pki.tsa
    adobe_good = adobe()
    documents: dict[str, tuple[bytes, bool]] = {
        "own": (own, True),
        "own-b-t": (stamped_b_t, True),
        "own-visible-stamp": (visible, True),
        "own-large": (sign_pades(minimal_pdf(padding_bytes=200_000), company.key,
                                 company.certificate, clock=FixedClock(PKI_NOW)), True),
        "pyhanko": (pyhanko, True),
        "pyhanko-untrusted": (pyhanko_sign(pdf, signer("untrusted"), password=None), True),
        "pyhanko-ecdsa": (pyhanko_sign(pdf, signer("company_ec"), password=None), True),
        "certified-p1": (pyhanko_certify(form, company, field="Author",
                                         certify=MDPPerm.NO_CHANGES), True),
        "certified-p2": (certified, True),
        "own-tampered-page": (own.replace(b"(Hello PDF)", b"(Jello PDF)"), True),
        "own-tampered-comment": (tamper_signed_comment(own), True),
        "own-tampered-signature": (tamper_signature("pades", Vector(own)).document, True),
        "pyhanko-tampered": (tamper_signed_comment(pyhanko), True),
        "own-tampered-byte-range": (own.replace(b"/ByteRange [0 ", b"/ByteRange [1 "), False),
        "own-appended-junk": (own + b"% trailing junk\n", False),
        "own-then-second": (second, False),
        "own-then-page-changed": (modify_pdf_page(own), False),
        "own-then-page-added": (add_page(own), False),
        "own-then-document-time-stamp": (add_document_timestamp(own, tsa), False),
        "document-time-stamp-only": (add_document_timestamp(pdf, tsa), False),
        "certified-p2-filled": (fill_field(certified, "name", "Alice"), False),
        "certified-p2-commented": (add_comment(certified), False),
        "qpdf-object-streams": (pyhanko_sign(qpdf(pdf, "--object-streams=generate"), company,
                                             password=None), False),
        "qpdf-linearized": (pyhanko_sign(qpdf(pdf, "--linearize"), company, password=None),
                            False),
        "qpdf-aes256": (pyhanko_sign(qpdf(pdf, "--encrypt", "", "owner", "256", "--"), company,
                                     password=""), False),
        "hybrid-reference": (pyhanko_sign(hybrid_update(pdf), company, strict=False,
                                          password=None), False),
        "trailer-size-slip": (pyhanko_sign(trailer_size_slip(pdf), company, strict=False,
                                           password=None), False),
        "adbe-pkcs7-sha1": (legacy_sign(pdf, company, "/adbe.pkcs7.sha1"), False),
        "adbe-x509-rsa-sha1": (legacy_sign(pdf, company, "/adbe.x509.rsa_sha1"), False),
        "pyhanko-adbe-revinfo": (adobe_good, True),
        "pyhanko-adbe-revinfo-revoked": (adobe(PKI_NOW - timedelta(hours=1)), True),
        "pyhanko-adbe-revinfo-tampered": (tamper_signed_comment(adobe_good), True),
        "unsigned": (pdf, False),
    }  # fmt: skip
    return documents


def test_fast_path_is_taken_exactly_where_it_may_be(corpus) -> None:
    taken = {name: read_simple(document) is not None for name, (document, _) in corpus.items()}
    assert taken == {name: expected for name, (_, expected) in corpus.items()}


def test_fast_and_full_paths_give_the_same_report(corpus, trust, policy) -> None:
    for name, (document, _) in corpus.items():
        assert _fast_path(document, trust, policy) == _full_path(document, trust, policy), name


def test_tampered_files_on_the_fast_path_fail(corpus, trust, policy) -> None:
    results = {}
    for name in ("own-tampered-page", "own-tampered-comment", "own-tampered-signature",
                 "pyhanko-tampered"):  # fmt: skip
        report = validate(corpus[name][0], policy=policy, trust=trust, now=VALIDATION_TIME)
        results[name] = [(s.indication, s.sub_indication) for s in report.signatures]
    hash_failure = [(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)]
    assert results == {
        "own-tampered-page": hash_failure,
        "own-tampered-comment": hash_failure,
        "own-tampered-signature": [(Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)],
        "pyhanko-tampered": hash_failure,
    }


def test_adobe_revocation_evidence_on_the_fast_path(corpus, trust, policy) -> None:
    """The adbe-revocationInfoArchival vectors take the fast path and its evidence counts there
    (the equivalence test above shows the full path agrees)."""
    results = {}
    for name in ("pyhanko-adbe-revinfo", "pyhanko-adbe-revinfo-revoked",
                 "pyhanko-adbe-revinfo-tampered"):  # fmt: skip
        report = validate(corpus[name][0], policy=policy, trust=trust, now=VALIDATION_TIME)
        results[name] = [(s.indication, s.sub_indication) for s in report.signatures]
    assert results == {
        "pyhanko-adbe-revinfo": [(Indication.TOTAL_PASSED, None)],
        "pyhanko-adbe-revinfo-revoked": [(Indication.TOTAL_FAILED, SubIndication.REVOKED)],
        "pyhanko-adbe-revinfo-tampered": [(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)],
    }


def _structure_mutation(document: bytes, data: st.DataObject) -> bytes:
    """One to three bytes changed, inserted or removed, mostly after the signature's
    ``/Contents`` (the structure the fast path reads: objects, cross-reference, trailer)."""
    out = bytearray(document)
    start = document.rfind(b">", 0, document.rfind(b"/ByteRange")) - 64
    for _ in range(data.draw(st.integers(1, 3))):
        lower = data.draw(st.sampled_from([0, max(0, start)]))
        position = data.draw(st.integers(lower, len(out) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "delete"]))
        byte = data.draw(st.sampled_from([*b" \n\r0123456789<>[]()/%RnfRobjendxref", 0, 255]))
        if action == "set":
            out[position] = byte
        elif action == "insert":
            out.insert(position, byte)
        else:
            del out[position]
    return bytes(out)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_files_get_the_same_report_on_both_paths(data, corpus, trust, policy) -> None:
    name = data.draw(st.sampled_from(sorted(n for n, (_, fast) in corpus.items() if fast)))
    document = _structure_mutation(corpus[name][0], data)
    assert _fast_path(document, trust, policy) == _full_path(document, trust, policy)



@settings(max_examples=300, deadline=None)
@given(body=st.lists(st.sampled_from([b"a", b"0", b"9", b" ", b"\r", b"\n", b"\xff", b"\\",
                                      b"\\(", b"\\)", b"\\n", b"\\r", b"\\t", b"\\b", b"\\f",
                                      b"\\\\", b"\\072", b"\\377", b"\\400", b"\\8", b"\\07",
                                      b"\\1", b"\\\n", b"\\x", b"\xfe\xff"]),
                     max_size=12).map(b"".join))  # fmt: skip
def test_literal_strings_read_as_pyhanko_reads_them(body) -> None:
    """The fast reader's literal strings (its own decoding of the common escapes, pyHanko's for
    the rest) are the objects pyHanko's reader makes, or the reader declines."""
    from io import BytesIO

    from pyhanko.pdf_utils import generic

    from gateway.signatures.pades_fast import _Reader

    token = b"(" + body + b")"
    stream = BytesIO(token)
    try:
        expected = generic.read_string_from_stream(stream)
    except Exception:  # noqa: BLE001 - pyHanko refuses it: the fast reader must decline
        expected = None
    try:
        found, end = _Reader(token + b" ").value(0)
    except Exception:  # noqa: BLE001 - _Decline or pyHanko's error: read_simple declines
        found, end = None, None
    if expected is None:
        assert found is None
    if found is not None:
        assert (type(found), found, end) == (type(expected), expected, stream.tell())
