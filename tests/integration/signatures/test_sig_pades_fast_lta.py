"""The PAdES B-LT/B-LTA fast path (``pades_fast_lta``: one signature, then revisions that only
add a DSS and document time-stamps, read without pyHanko's reader) gives the very report the full
path gives: on pyHanko's LT/LTA vectors (its DSS writer with VRI entries, its time-stamper, its
own B-LTA flow), on ours, on hostile twins (a DSS byte or stream changed, a document time-stamp
tampered, a revision appended with other content) and on randomly mutated files. Which files take
the fast path is checked too, so that the comparison is not vacuous."""

from __future__ import annotations

import re
from datetime import timedelta
from io import BytesIO
from unittest import mock

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sig_ocsp import ocsp_response
from sig_pades_lta import add_document_time_stamp, add_dss, pades_t, pyhanko_lta, test_tsa
from sig_pdf_vectors import add_comment, add_page
from sig_scenarios import PKI_NOW
from sig_vectors import make_crl, minimal_pdf, modify_pdf_page, trust_store

from gateway.domain.clock import FixedClock
from gateway.pki import DemoPki
from gateway.signatures import (
    Indication,
    SignaturePolicy,
    SubIndication,
    add_document_timestamp,
    pades,
    sign_pades,
    validate,
)
from gateway.signatures.pades_fast import read_simple, read_structure
from gateway.signatures.pades_fast_lta import read_lta

DAY = timedelta(days=1)
SIGNED_AT = PKI_NOW + timedelta(hours=1)
ARCHIVED_AT = PKI_NOW + 2 * DAY
VALIDATED_AT = PKI_NOW + 40 * DAY


def _full_path(document: bytes, trust, policy) -> str:
    """pyHanko's path: both fast readers made to decline."""
    with (
        mock.patch.object(pades, "read_simple", lambda *_: None),
        mock.patch.object(pades, "read_lta", lambda *_: None),
    ):
        return validate(document, policy=policy, trust=trust, now=VALIDATED_AT).to_json()


def _fast_path(document: bytes, trust, policy) -> str:
    return validate(document, policy=policy, trust=trust, now=VALIDATED_AT).to_json()


@pytest.fixture(scope="module")
def lta_trust(pki: DemoPki):
    """Current CRLs of both demo CAs at validation time."""
    return trust_store(
        pki,
        [
            make_crl(pki.issuing_ca, [], this_update=VALIDATED_AT - DAY,
                     next_update=VALIDATED_AT + 6 * DAY),
            make_crl(pki.root_ca,
                     [(pki.revoked_issuing_ca.certificate().serial_number, PKI_NOW - DAY)],
                     this_update=VALIDATED_AT - DAY, next_update=VALIDATED_AT + 6 * DAY),
        ],
    )  # fmt: skip


def _flip(document: bytes, needle: bytes, offset: int = 0) -> bytes:
    position = document.rindex(needle) + offset
    return document[:position] + bytes([document[position] ^ 0x01]) + document[position + 1 :]


def _dss_changed(pdf: bytes, key: str, value_of) -> bytes:
    """An incremental update that rewrites the DSS dictionary with ``key`` set."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    dss = writer.root["/DSS"]
    dss[generic.NameObject(key)] = value_of(dss)
    writer.update_container(dss)
    output = BytesIO()
    writer.write(output)
    return output.getvalue()


def _vri_emptied(dss):
    vri = dss["/VRI"]
    return generic.DictionaryObject(
        {generic.NameObject(name): generic.DictionaryObject() for name in vri}
    )


def _hex_digit_changed(document: bytes, needle: bytes, offset: int) -> bytes:
    """One hex digit of the last ``needle``'s string changed (still a hex digit)."""
    position = document.rindex(needle) + len(needle) + offset
    digit = b"1" if document[position : position + 1] == b"0" else b"0"
    return document[:position] + digit + document[position + 1 :]


def _stamp_content_tag_broken(pdf: bytes) -> bytes:
    """The document time-stamp token's eContent ``[0]`` tag (after the id-ct-TSTInfo OID) made
    ``00``: pyHanko cannot take the field, and the full path reports it unreadable."""
    marker = b"2A864886F70D0109100104A0"
    position = pdf.rindex(marker) + len(marker) - 2
    return pdf[:position] + b"00" + pdf[position + 2 :]


def _append_object(pdf: bytes) -> bytes:
    """An incremental update that adds an object and names it from the catalog (not DSS)."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    writer.root[generic.NameObject("/Extra")] = writer.add_object(generic.NumberObject(7))
    writer.update_root()
    output = BytesIO()
    writer.write(output)
    return output.getvalue()


@pytest.fixture(scope="module")
def corpus(pki: DemoPki, signer, tsa) -> dict[str, tuple[bytes, bool]]:
    """name -> (document, whether the LTA fast path must take it)."""
    company = signer("company")
    unit = test_tsa(pki.tsa, SIGNED_AT)
    level_t = pades_t(minimal_pdf(), company, unit)
    level_b = pades_t(minimal_pdf(), company, None)
    responses = [
        ocsp_response(company.certificate, pki.issuing_ca, this_update=SIGNED_AT),
        ocsp_response(pki.tsa.certificate(), pki.issuing_ca, this_update=SIGNED_AT),
    ]
    lt = add_dss(level_t, certificates=[company.certificate, pki.issuing_ca.certificate()],
                 responses=responses,
                 crls=[make_crl(pki.root_ca, [], this_update=SIGNED_AT,
                                next_update=SIGNED_AT + 7 * DAY)])  # fmt: skip
    lta = add_document_time_stamp(lt, test_tsa(pki.tsa, ARCHIVED_AT), "DocTs1")
    lt_no_vri = add_dss(level_t, certificates=[company.certificate], responses=responses,
                        field=None)  # fmt: skip
    lta_no_vri = add_document_time_stamp(lt_no_vri, test_tsa(pki.tsa, ARCHIVED_AT), "DocTs1")
    refreshed = add_dss(lta, certificates=[pki.tsa.certificate()], responses=responses[1:],
                        field=None)  # fmt: skip
    second = add_document_time_stamp(refreshed, test_tsa(pki.tsa, ARCHIVED_AT + DAY), "DocTs2")
    stamp_then_dss = add_dss(
        add_document_time_stamp(level_b, test_tsa(pki.tsa, ARCHIVED_AT), "DocTs1"),
        certificates=[company.certificate], responses=responses,
    )  # fmt: skip
    flow = pyhanko_lta(
        minimal_pdf(), company, unit, roots=[pki.root_ca.certificate()],
        intermediates=[pki.issuing_ca.certificate()],
        responses=[*responses, ocsp_response(pki.issuing_ca.certificate(), pki.root_ca,
                                             this_update=SIGNED_AT)],
        moment=SIGNED_AT,
    )  # fmt: skip
    own = sign_pades(minimal_pdf(), company.key, company.certificate,
                     clock=FixedClock(PKI_NOW), tsa=tsa)  # fmt: skip
    own_lta = add_document_timestamp(add_dss(own, certificates=[company.certificate],
                                             responses=responses, field=None), tsa)  # fmt: skip
    ocsp_der = responses[0].public_bytes(Encoding.DER)
    return {
        "lt": (lt, True),
        "lta": (lta, True),
        "lta-no-vri": (lta_no_vri, True),
        "lta-two-stamps": (second, True),
        "stamp-then-dss": (stamp_then_dss, True),
        "pyhanko-lta-flow": (flow, True),
        "own-lta": (own_lta, True),
        "stamp-only": (add_document_time_stamp(level_b, test_tsa(pki.tsa, ARCHIVED_AT),
                                               "DocTs1"), True),
        "lta-dss-byte-changed": (_flip(lta, ocsp_der[:40], 60), True),
        "lta-stamp-tampered": (_hex_digit_changed(lta, b"/Contents <", 600), True),
        "lta-stamp-content-tag-broken": (_stamp_content_tag_broken(lta), False),
        "lta-signed-page-changed": (lta.replace(b"(Hello PDF)", b"(Hello PDX)"), True),
        "lta-signature-tampered": (_flip(lta, b"/ByteRange", -900), True),
        "lta-dss-length-changed": (lta.replace(b"/Length 475", b"/Length 474", 1), False),
        "lta-then-comment": (add_comment(lta), False),
        "lta-then-page-added": (add_page(lta), False),
        "lta-then-page-changed": (modify_pdf_page(lta), False),
        "lta-then-catalog-entry": (_append_object(lta), False),
        "lta-appended-junk": (lta + b"% junk\n", False),
        "lta-then-dss-foreign-key": (_dss_changed(lta, "/Foo", lambda _: generic.NumberObject(1)),
                                     False),
        "lta-then-vri-entries-emptied": (_dss_changed(lta, "/VRI", _vri_emptied), False),
        "lta-then-dss-certs-dropped": (_dss_changed(lta, "/Certs",
                                                    lambda _: generic.ArrayObject()), True),
        "lta-then-second-signature": (sign_pades(lta, company.key, company.certificate,
                                                 clock=FixedClock(PKI_NOW),
                                                 field_name="Signature2"), False),
        "level-t": (level_t, False),  # pades_fast's
    }  # fmt: skip


def test_lta_fast_path_is_taken_exactly_where_it_may_be(corpus) -> None:
    taken = {name: read_lta(document) is not None for name, (document, _) in corpus.items()}
    assert taken == {name: expected for name, (_, expected) in corpus.items()}


def test_fast_and_full_paths_give_the_same_lta_report(corpus, lta_trust) -> None:
    for policy in (SignaturePolicy(), SignaturePolicy(require_revocation_info=True)):
        for name, (document, _) in corpus.items():
            assert _fast_path(document, lta_trust, policy) == _full_path(
                document, lta_trust, policy
            ), name


def test_lta_vectors_on_the_fast_path_pass_and_their_twins_fail(corpus, lta_trust) -> None:
    results = {}
    for name in ("lta", "pyhanko-lta-flow", "lta-signed-page-changed", "lta-stamp-tampered",
                 "lta-dss-byte-changed"):  # fmt: skip
        report = validate(corpus[name][0], policy=SignaturePolicy(), trust=lta_trust,
                          now=VALIDATED_AT)  # fmt: skip
        [signature] = report.signatures
        results[name] = (signature.indication, signature.sub_indication, signature.level,
                         [(t.indication, t.sub_indication) for t in report.document_timestamps])  # fmt: skip
    passed = (Indication.TOTAL_PASSED, None)
    assert results["lta"] == (*passed, "PAdES-BASELINE-LTA", [passed])
    assert results["pyhanko-lta-flow"] == (*passed, "PAdES-BASELINE-LTA", [passed])
    hash_failure = (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
    indication, sub_indication, _, stamps = results["lta-signed-page-changed"]
    assert ((indication, sub_indication), stamps) == (hash_failure, [hash_failure])
    # a broken document time-stamp proves nothing, the signature itself still passes
    for name in ("lta-stamp-tampered", "lta-dss-byte-changed"):
        indication, sub_indication, level, stamps = results[name]
        assert level != "PAdES-BASELINE-LTA", name
        assert [stamp[0] for stamp in stamps] != [Indication.TOTAL_PASSED], name


def _mutation(document: bytes, data: st.DataObject) -> bytes:
    """One to three bytes changed, inserted or removed, mostly after the signature's
    ``/Contents`` (the revisions the fast path reads: DSS, time-stamp, cross-references)."""
    out = bytearray(document)
    start = document.find(b"/ByteRange") - 64
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
def test_mutated_lta_files_get_the_same_report_on_both_paths(data, corpus, lta_trust) -> None:
    name = data.draw(st.sampled_from(sorted(n for n, (_, fast) in corpus.items() if fast)))
    document = _mutation(corpus[name][0], data)
    policy = SignaturePolicy()
    assert _fast_path(document, lta_trust, policy) == _full_path(document, lta_trust, policy)


def _key_facts(found):
    """What a read LTA document says, without the parsed CMS objects (compared by identity)."""
    if found is None:
        return None
    return (
        found.signature.field_name,
        found.signature.byte_range,
        found.signed_revision,
        [(s.revision, s.field_name, s.pkcs7_content, s.byte_range, s.holds_dss)
         for s in found.stamps],
        found.dss,
        found.field_count,
    )  # fmt: skip


def test_objects_read_simple_resolved_are_reused_unchanged(corpus) -> None:
    """``read_lta`` after ``read_simple`` declined (as ``validate_pades`` calls them) starts from
    the objects ``read_simple`` already read; it finds exactly what it finds on its own."""
    for name, (document, _) in corpus.items():
        structure = read_structure(document)
        alone = read_lta(document, structure)
        structure = read_structure(document)
        assert read_simple(document, structure) is None or name == "level-t", name
        assert _key_facts(read_lta(document, structure)) == _key_facts(alone), name


def _same_width(document: bytes, pattern: bytes, replacement) -> bytes:
    """``document`` with the first match of ``pattern`` replaced by ``replacement(match)``, of
    the same length (the cross-reference offsets stay right, so the fast reader gets that far)."""
    match = re.search(pattern, document)
    assert match is not None, pattern
    new = replacement(match)
    assert len(new) == len(match.group(0)), (match.group(0), new)
    return document[: match.start()] + new + document[match.end() :]


def _last_prev_to_itself(document: bytes) -> bytes:
    *_, last = re.finditer(rb"/Prev (\d+)", document)
    own = document[document.rfind(b"startxref") :].split()[1]
    assert len(own) == len(last.group(1))
    return document[: last.start(1)] + own + document[last.end(1) :]


def _hostile(document: bytes) -> dict[str, bytes]:
    dss = re.search(rb"(\d+) 0 obj\s*<<\s*/Certs", document)
    assert dss is not None
    dss_ref = dss.group(1) + b" 0 R"
    first_certificate = re.search(rb"/Certs\s*\[\s*(\d+) 0 R", document)
    assert first_certificate is not None
    stream_header = rb"(\b" + first_certificate.group(1) + rb" 0 obj)\s*<<\s*/Length (\d+)\s*>>"

    def pad(text: bytes, width: int) -> bytes:
        return text + b" " * (width - len(text))

    return {
        "truncated in half": document[: len(document) // 2],
        "truncated before %%EOF": document[:-8],
        "truncated inside the last object": document[: document.rfind(b"endobj") - 3],
        "DSS stream length past its data": _same_width(
            document, stream_header,
            lambda m: m.group(0).replace(m.group(2), b"9" * len(m.group(2))),
        ),
        "DSS stream length far past the end of the file": _same_width(
            document, stream_header,
            lambda m: m.group(1) + b"<</Length " + b"9" * (len(m.group(0)) - len(m.group(1)) - 12)
            + b">>",
        ),
        "DSS certificates array is the DSS itself (cycle)": _same_width(
            document, rb"/Certs\s*\[\s*\d+ 0 R",
            lambda m: pad(b"/Certs " + dss_ref, len(m.group(0))),
        ),
        "DSS certificate is the DSS itself (cycle)": _same_width(
            document, rb"/Certs\s*\[\s*\d+ 0 R",
            lambda m: pad(b"/Certs [" + dss_ref, len(m.group(0))),
        ),
        "catalog's DSS refers to the catalog (cycle)": _same_width(
            document, rb"/DSS \d+ 0 R",
            lambda m: pad(b"/DSS 1 0 R", len(m.group(0))),
        ),
        "field listed twice": _same_width(
            document, rb"/Fields\s*\[\s*(\d+ 0 R)\s+(\d+ 0 R)",
            lambda m: pad(b"/Fields [" + m.group(1) + b" " + m.group(1), len(m.group(0))),
        ),
        "cross-reference chain loops (the last /Prev to itself)": _last_prev_to_itself(document),
    }  # fmt: skip


@pytest.mark.parametrize("name", ["lta", "pyhanko-lta-flow"])
def test_hostile_lta_files_fall_back_to_the_full_path(name, corpus, lta_trust) -> None:
    """Truncated files, lengths past the data, cyclic references: the fast reader declines or
    reads what pyHanko reads -- never an exception, never a hang, the full path's report."""
    policy = SignaturePolicy()
    for twin, document in _hostile(corpus[name][0]).items():
        structure = read_structure(document)
        if structure is not None:
            read_simple(document, structure)
            assert read_lta(document, structure) is None, twin
        assert _fast_path(document, lta_trust, policy) == _full_path(
            document, lta_trust, policy
        ), twin
