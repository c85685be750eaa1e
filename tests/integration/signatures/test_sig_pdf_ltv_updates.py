"""The fast path for revisions that only add long-term validation data (``pdf_ltv_updates``).

pyHanko-written B-LT/B-LTA revisions take it, with the verdict pyHanko's full analysis gives;
every update that also changes something else -- page content, the catalog, metadata that is
not plain metadata, a visible or scripted "time-stamp" widget -- does not, and keeps the full
analysis' verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import BytesIO

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from sig_ocsp import ocsp_response
from sig_pades_lta import add_document_time_stamp, add_dss, pades_t, pyhanko_lta, test_tsa
from sig_scenarios import PKI_NOW
from sig_vectors import describe, minimal_pdf

from gateway.pki import DemoPki
from gateway.signatures import Indication, SignaturePolicy, pdf_changes, validate
from gateway.signatures.pdf_ltv_updates import only_ltv_updates

NAME = generic.NameObject
STAMPED_AT = PKI_NOW + timedelta(hours=1)
"""After pyHanko's ``/M`` (the system clock while the suite runs)."""
VALIDATION_TIME = PKI_NOW + timedelta(hours=2)


def _update(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    change(writer)
    output = BytesIO()
    writer.write(output)
    return output.getvalue()


def fast(pdf: bytes) -> bool:
    reader = PdfFileReader(BytesIO(pdf))
    [signature] = [s for s in reader.embedded_signatures if s.field_name == "Sig1"]
    return only_ltv_updates(reader, signature.signed_revision)


def outcome(pdf: bytes, trust) -> list[tuple[object, ...]]:
    report = validate(pdf, policy=SignaturePolicy(), trust=trust, now=VALIDATION_TIME)
    return [
        (s.identifier, s.indication, s.sub_indication, s.level, s.warnings)
        for s in report.signatures
    ]


@pytest.fixture(scope="module")
def signed(pki: DemoPki, signer) -> bytes:
    return pades_t(minimal_pdf(), signer("company"), test_tsa(pki.tsa, STAMPED_AT))


def lta(pki: DemoPki, signer, document: bytes) -> bytes:
    company = signer("company")
    with_data = add_dss(
        document,
        certificates=[company.certificate, pki.issuing_ca.certificate()],
        responses=[ocsp_response(company.certificate, pki.issuing_ca, this_update=STAMPED_AT)],
    )
    return add_document_time_stamp(with_data, test_tsa(pki.tsa, STAMPED_AT), "DocTs1")


def test_pyhanko_lta_revisions_take_the_fast_path_with_the_full_verdict(
    pki: DemoPki, signer, signed, trust, monkeypatch: pytest.MonkeyPatch
) -> None:
    company = signer("company")
    flow = pyhanko_lta(
        minimal_pdf(),
        company,
        test_tsa(pki.tsa, STAMPED_AT),
        roots=[pki.root_ca.certificate()],
        intermediates=[pki.issuing_ca.certificate()],
        responses=[
            ocsp_response(c, pki.issuing_ca, this_update=STAMPED_AT)
            for c in (company.certificate, pki.tsa.certificate())
        ]
        + [ocsp_response(pki.issuing_ca.certificate(), pki.root_ca, this_update=STAMPED_AT)],
        moment=STAMPED_AT,
    )
    for document in (lta(pki, signer, signed), flow):
        assert fast(document)
        quick = outcome(document, trust)
        monkeypatch.setattr(pdf_changes, "only_ltv_updates", lambda reader, revision: False)
        assert outcome(document, trust) == quick
        monkeypatch.undo()
        assert quick[0][1:4] == (Indication.TOTAL_PASSED, None, "PAdES-BASELINE-LTA"), quick


def _first_page(writer: IncrementalPdfFileWriter) -> tuple[generic.IndirectObject, object]:
    ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    return ref, ref.get_object()


def _with_dss(writer: IncrementalPdfFileWriter) -> None:
    dss = writer.add_object(generic.DictionaryObject({NAME("/Certs"): generic.ArrayObject()}))
    writer.root[NAME("/DSS")] = dss
    writer.update_root()


def dss_and_page_content(writer: IncrementalPdfFileWriter) -> None:
    _with_dss(writer)
    page_ref, page = _first_page(writer)
    page[NAME("/Contents")] = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 12 Tf 20 100 Td (Changed) Tj ET")
    )
    writer.mark_update(page_ref)


def dss_and_open_action(writer: IncrementalPdfFileWriter) -> None:
    _with_dss(writer)
    writer.root[NAME("/OpenAction")] = generic.DictionaryObject(
        {NAME("/S"): NAME("/JavaScript"), NAME("/JS"): generic.TextStringObject("app.alert(1)")}
    )


def info_with_a_number(writer: IncrementalPdfFileWriter) -> None:
    _with_dss(writer)
    info_ref = writer.trailer.raw_get("/Info")
    info = info_ref.get_object()
    info[NAME("/CA")] = generic.FloatObject(0.0)  # as an ExtGState's opacity would be
    writer.mark_update(info_ref)


def _timestamp_field(rect, **extra) -> Callable[[IncrementalPdfFileWriter], None]:
    """A field shaped like a document time-stamp's (no real token: only the shape matters)."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        page_ref, page = _first_page(writer)
        value = writer.add_object(generic.DictionaryObject({NAME("/Type"): NAME("/DocTimeStamp")}))
        entries = {
            NAME("/FT"): NAME("/Sig"),
            NAME("/T"): generic.TextStringObject("Shape"),
            NAME("/Type"): NAME("/Annot"),
            NAME("/Subtype"): NAME("/Widget"),
            NAME("/F"): generic.NumberObject(132),
            NAME("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in rect]),
            NAME("/V"): value,
            NAME("/P"): page_ref,
        } | {NAME(k): v for k, v in extra.items()}
        field = writer.add_object(generic.DictionaryObject(entries))
        form_ref = writer.root.raw_get("/AcroForm")
        form = form_ref.get_object()
        fields = form.raw_get("/Fields")
        form[NAME("/Fields")] = generic.ArrayObject(
            [fields.raw_get(i) for i in range(len(fields))] + [field]
        )
        writer.mark_update(form_ref)
        annots = page.raw_get("/Annots")
        page[NAME("/Annots")] = generic.ArrayObject(
            [annots.raw_get(i) for i in range(len(annots))] + [field]
        )
        writer.mark_update(page_ref)

    return change


def test_an_invisible_time_stamp_shaped_field_is_recognised(signed) -> None:
    assert fast(_update(signed, _timestamp_field((0, 0, 0, 0))))


@pytest.mark.parametrize(
    "change",
    [
        dss_and_page_content,
        dss_and_open_action,
        info_with_a_number,
        _timestamp_field((10, 10, 200, 60)),
        _timestamp_field(
            (0, 0, 0, 0),
            **{"/AA": generic.DictionaryObject({NAME("/PO"): generic.DictionaryObject()})},
        ),
    ],
    ids=["page-content", "open-action", "info-number", "visible-widget", "widget-action"],
)
def test_other_changes_go_to_the_full_analysis(change, signed, trust, monkeypatch) -> None:
    changed = _update(signed, change)
    assert not fast(changed)
    full = outcome(changed, trust)
    monkeypatch.setattr(pdf_changes, "only_ltv_updates", lambda reader, revision: False)
    assert outcome(changed, trust) == full, describe(
        validate(changed, policy=SignaturePolicy(), trust=trust, now=VALIDATION_TIME)
    )


@pytest.fixture(scope="module")
def lta_document(pki: DemoPki, signer, signed) -> bytes:
    return lta(pki, signer, signed)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_ltv_revisions_never_pass_the_fast_path_past_pyhanko(
    data: st.DataObject, lta_document: bytes, signed: bytes, trust
) -> None:
    """Byte mutations of the revisions after the signature: a report, never the internal-error
    branch; and whenever the fast path accepts, pyHanko's own analysis rates the changes no
    worse than LTA_UPDATES."""
    from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel

    tail = len(signed)
    mutated = bytearray(lta_document)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(tail, len(mutated) - 1))
        mutated[position] = data.draw(st.sampled_from(b" 0123456789/[]<>()RDSTV"))
    document = bytes(mutated)
    report = validate(document, policy=SignaturePolicy(), trust=trust, now=VALIDATION_TIME)
    assert all("internal error" not in f.message for s in report.signatures for f in s.findings)
    try:
        reader = PdfFileReader(BytesIO(document), strict=False)
        [signature] = [s for s in reader.embedded_signatures if s.field_name == "Sig1"]
        revision = signature.signed_revision
    except Exception:  # noqa: BLE001 - unreadable: nothing more to compare
        return
    accepted = only_ltv_updates(reader, revision)
    event(f"fast path {accepted}")
    if accepted:
        result = pdf_changes.POLICY.review_file(reader, revision)
        assert isinstance(result, DiffResult), result
        assert result.modification_level.value <= ModificationLevel.LTA_UPDATES.value
