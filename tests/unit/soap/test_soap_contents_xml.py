"""GetContents answers written by ``soap.contents_xml`` are what Spyne itself writes.

Each batch goes through the real port twice: through the fast path (``response_pieces`` spliced
in as the whole Body content), and through Spyne's own serialisation of ``types.ContentsResult``
(the fallback the service keeps for a contract the fast path does not know). Both responses are
parsed and compared in exclusive canonical form, the form the response signature covers. The
pieces themselves are also checked to be that canonical form already (what ``soap.splice``
relies on to write them unchanged).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from soap_doubles import InProcessPort, Response, StubQueries

from gateway import namespaces as ns
from gateway.domain.listing import Role
from gateway.domain.model import (
    Category,
    Document,
    DocumentRole,
    Issuer,
    ItemKind,
    Notification,
    Status,
)
from gateway.pki import DemoPki
from gateway.services.notifications import (
    CONTENT_REFUSAL_CODES,
    Content,
    ContentBatch,
    ContentRefusal,
    VisibleNotification,
)
from gateway.soap import contents_xml, listing_xml

T0 = datetime(2026, 1, 26, 10, 0, tzinfo=UTC)
TNS = f"{{{ns.NOTIFICATION_SERVICE}}}"
GW = f"{{{ns.FAULT_DETAIL}}}"
BODY = f"{{{ns.SOAP11_ENV}}}Body"


@dataclass
class ContentsQueries(StubQueries):
    """``StubQueries`` that also answers ``contents`` with ``batch`` (whatever the ids)."""

    batch: ContentBatch = field(default_factory=lambda: ContentBatch((), ()))
    asked: list[list[int]] = field(default_factory=list)

    def contents(self, _principal: Any, ids: list[int]) -> ContentBatch:
        self.asked.append(list(ids))
        return self.batch


def notification(index: int, *, documents: int, status: Status = Status.ACCEPTED,
                 kind: ItemKind = ItemKind.NOTIFICATION,
                 name: str | None = None) -> Notification:
    return Notification(
        id=5000 + index, kind=kind, issuer=Issuer.TGSS, issuer_reference=f"REF-{index}",
        procedure="Reclamación de deuda", subject=f"Acto {index}", recipient="B12345674",
        ccc="28123456742" if kind is ItemKind.NOTIFICATION else None,
        category=Category.NORMAL, made_available_at=T0,
        deadline_at=T0 + timedelta(days=10) if kind is ItemKind.NOTIFICATION else None,
        status=status, status_at=T0 + timedelta(hours=1),
        documents=tuple(
            Document(name=(name if name is not None else
                           "resolucion.pdf" if p == 0 else f"anexo{p}.pdf"),
                     content_type="application/pdf", sha256=f"{p:064x}", size=10 * p,
                     role=DocumentRole.MAIN if p == 0 else DocumentRole.ANNEX, position=p)
            for p in range(documents)),
    )


def released(n: Notification, data: list[bytes], role: Role = Role.OWN) -> list[Content]:
    visible = VisibleNotification(n, role)
    return [Content(visible, d, piece) for d, piece in zip(n.documents, data, strict=True)]


def batch_of(contents: list[Content], refusals: list[ContentRefusal]) -> ContentBatch:
    return ContentBatch(tuple(contents), tuple(refusals))


AWKWARD = 'a&b <c> "d" \'e\' ]]> \r\n\tf é 😀 \u2028\u00a0'

BATCHES = {
    "nothing-at-all": batch_of([], []),
    "only-refusals": batch_of([], [
        ContentRefusal(7, "NOT_FOUND", "notification 7 not found"),
        ContentRefusal(3, "NOT_ACCEPTED", "content is released only after acceptance; the "
                                          "notification is AVAILABLE"),
        ContentRefusal(11, "TOO_LARGE", "a document is larger than 2097152 bytes"),
        ContentRefusal(12, "DEFERRED", "the response is full: ask again"),
        ContentRefusal(13, "CONTENT_UNAVAILABLE", "the stored content cannot be released"),
    ]),
    "one-document": batch_of(released(notification(1, documents=1), [b"%PDF-1.7 uno"]), []),
    "several-documents-empty-and-not": batch_of(
        released(notification(1, documents=3), [b"", bytes(range(256)), b"\x00"])
        + released(notification(2, documents=1, kind=ItemKind.COMMUNICATION,
                                status=Status.READ), [b""], Role.RED)
        + released(notification(3, documents=2), [b"x" * 1000, b""], Role.MANDATE),
        [ContentRefusal(4, "NOT_FOUND", "notification 4 not found")]),
    "released-and-refused": batch_of(
        released(notification(1, documents=2), [b"main", b"annex"]),
        [ContentRefusal(9, "DEFERRED", "the response is full: ask again"),
         ContentRefusal(10, "NOT_ACCEPTED", "the notification is EXPIRED")]),
    "awkward-text": batch_of(
        released(notification(1, documents=2, name=AWKWARD), [b"<not xml>&", b"]]>"]),
        [ContentRefusal(2, "NOT_FOUND", AWKWARD), ContentRefusal(3, "DEFERRED", "")]),
}


def both(port: Callable[..., InProcessPort], batch: ContentBatch,
         monkeypatch: pytest.MonkeyPatch, signed_by: DemoPki | None = None,
         ) -> tuple[Response, Response]:
    """The response through the fast path and through Spyne's own serialisation."""
    queries = ContentsQueries(batch=batch)
    service = port(queries, signed_by)
    fast = service.call("GetContents", id="5001")
    with monkeypatch.context() as patch:
        patch.setattr(contents_xml, "WRITES_CONTRACT", False)
        spyne = service.call("GetContents", id="5001")
    assert queries.asked == [[5001], [5001]]
    if fast.status.startswith("200"):  # the fallback really is Spyne's tree, not a splice
        assert fast.announced_length is not None and spyne.announced_length is None
    return fast, spyne


def body_c14n(response: Response) -> bytes:
    found = response.envelope.find(BODY)
    assert found is not None
    return b"".join(etree.tostring(child, method="c14n", exclusive=True) for child in found)


def test_the_fast_path_knows_the_current_contract() -> None:
    assert contents_xml.WRITES_CONTRACT
    assert contents_xml.CONTENT_FIELDS == ("notificationId", "document", "status", "offset",
                                           "data")
    assert contents_xml.REFUSAL_FIELDS == ("notificationId", "code", "message")


@pytest.mark.parametrize("name", list(BATCHES))
def test_batch_is_canonically_what_spyne_writes(
    name: str, port: Callable[..., InProcessPort], monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = BATCHES[name]
    fast, spyne = both(port, batch, monkeypatch)
    assert fast.status == spyne.status == "200 OK"
    assert fast.exclusive_c14n() == spyne.exclusive_c14n()
    # a streamed splice: the port tells soap.wsgi the length it sends as Content-Length
    assert fast.announced_length == len(fast.body)

    result = fast.envelope.find(f"{BODY}/{TNS}GetContentsResponse/{TNS}GetContentsResult")
    assert result is not None
    assert result.findtext(f"{TNS}count") == str(len(batch.released))
    contents = result.findall(f"{TNS}content")
    assert [(int(c.findtext(f"{TNS}notificationId") or 0),
             int(c.findtext(f"{TNS}document/{TNS}position") or -1),
             base64.b64decode(c.findtext(f"{TNS}data") or "")) for c in contents] == [
        (c.notification.notification.id, c.document.position, c.data) for c in batch.released]
    refused = result.findall(f"{TNS}refused")
    assert [(int(r.findtext(f"{TNS}notificationId") or 0), r.findtext(f"{TNS}code"),
             r.findtext(f"{TNS}message") or "") for r in refused] == [
        (r.notification_id, r.code, r.message) for r in batch.refused]


@pytest.mark.parametrize("name", list(BATCHES))
def test_joined_pieces_are_the_canonical_body_spyne_writes(
    name: str, port: Callable[..., InProcessPort], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``response_pieces`` joined: already in exclusive canonical form (written as is), and
    that form is Spyne's Body content for the same ``ContentsResult``."""
    batch = BATCHES[name]
    joined = b"".join(contents_xml.response_pieces(batch))
    parsed = etree.fromstring(joined)
    assert etree.tostring(parsed, method="c14n", exclusive=True) == joined
    _, spyne = both(port, batch, monkeypatch)
    assert joined == body_c14n(spyne)
    splice = contents_xml.batch_splice(batch)
    assert splice.path == ()
    assert splice.length == len(joined)
    assert b"".join(splice.iterate()) == joined


def test_each_document_is_one_piece_of_plain_base64() -> None:
    batch = BATCHES["several-documents-empty-and-not"]
    pieces = contents_xml.response_pieces(batch)
    encoded = [base64.b64encode(c.data) for c in batch.released]
    # head, then (open, base64, close) per document, then the refusals and the end
    assert len(pieces) == 2 + 3 * len(batch.released)
    assert pieces[2::3][:len(encoded)] == encoded
    assert all(b"\n" not in piece for piece in encoded)


def test_count_is_written_even_when_nothing_is_released(
    port: Callable[..., InProcessPort], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("nothing-at-all", "only-refusals"):
        fast, _ = both(port, BATCHES[name], monkeypatch)
        text = fast.body.decode()
        assert "<tns:count>0</tns:count>" in text
        assert "tns:content" not in text and "nil" not in text


def test_every_refusal_code_is_written_as_spyne_writes_it(
    port: Callable[..., InProcessPort], monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = batch_of([], [ContentRefusal(i, code, f"because {code}")
                          for i, code in enumerate(CONTENT_REFUSAL_CODES, start=1)])
    fast, spyne = both(port, batch, monkeypatch)
    assert fast.exclusive_c14n() == spyne.exclusive_c14n()
    assert [e.text for e in fast.envelope.iter(f"{TNS}code")] == list(CONTENT_REFUSAL_CODES)


def test_signed_batch_verifies_and_matches_spyne(
    port: Callable[..., InProcessPort], monkeypatch: pytest.MonkeyPatch, pki: DemoPki,
    verify_signature: Callable[[bytes], None],
) -> None:
    fast, spyne = both(port, BATCHES["awkward-text"], monkeypatch, signed_by=pki)
    verify_signature(fast.body)
    verify_signature(spyne.body)
    assert body_c14n(fast) == body_c14n(spyne)


def test_a_tampered_batch_fails_verification(
    port: Callable[..., InProcessPort], pki: DemoPki, verify_signature: Callable[[bytes], None]
) -> None:
    from zeep.exceptions import SignatureVerificationFailed

    data = b"the released document"
    batch = batch_of(released(notification(1, documents=1), [data]), [])
    response = port(ContentsQueries(batch=batch), pki).call("GetContents", id="5001")
    verify_signature(response.body)
    encoded = base64.b64encode(data)
    forged = base64.b64encode(b"the released documenT")
    assert response.body.count(encoded) == 1
    with pytest.raises(SignatureVerificationFailed):
        verify_signature(response.body.replace(encoded, forged))


def test_a_tampered_large_document_fails_verification(
    port: Callable[..., InProcessPort], pki: DemoPki, verify_signature: Callable[[bytes], None]
) -> None:
    """Documents above a few KiB are hashed by the client without canonicalising their base64
    (``gateway.client.xmldsig.canonical_digest``): one changed character still fails."""
    from zeep.exceptions import SignatureVerificationFailed

    data = bytes(range(256)) * 120  # 30 KiB, 40 KiB of base64
    batch = batch_of(released(notification(1, documents=1), [data]), [])
    response = port(ContentsQueries(batch=batch), pki).call("GetContents", id="5001")
    verify_signature(response.body)
    encoded = base64.b64encode(data)
    middle = len(encoded) // 2
    forged = encoded[:middle] + (b"A" if encoded[middle:middle + 1] != b"A" else b"B") \
        + encoded[middle + 1:]
    assert response.body.count(encoded) == 1
    with pytest.raises(SignatureVerificationFailed):
        verify_signature(response.body.replace(encoded, forged))
    with pytest.raises(SignatureVerificationFailed):  # nor one character less
        verify_signature(response.body.replace(encoded, encoded[:-4]))


def test_text_xml_cannot_carry_is_a_server_fault_on_both_paths(
    port: Callable[..., InProcessPort], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_name = batch_of(released(notification(1, documents=1, name="bell \x07"), [b"x"]), [])
    bad_message = batch_of([], [ContentRefusal(1, "NOT_FOUND", "bell \x07")])
    for batch in (bad_name, bad_message):
        for response in both(port, batch, monkeypatch):
            assert response.status.startswith("500")
            assert response.envelope.findtext(f".//{GW}code") == "INTERNAL_ERROR"


XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=40).filter(lambda s: listing_xml._NOT_XML.search(s) is None)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=XML_TEXT, message=XML_TEXT, data=st.lists(st.binary(max_size=50), min_size=1,
                                                      max_size=3))
def test_any_xml_text_is_written_as_spyne_writes_it(
    name: str, message: str, data: list[bytes], port: Callable[..., InProcessPort],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n = notification(1, documents=len(data), name=name)
    n = replace(n, documents=tuple(
        replace(d, content_type=name or "x", sha256=hashlib.sha256(piece).hexdigest(),
                size=len(piece))
        for d, piece in zip(n.documents, data, strict=True)))
    batch = batch_of(released(n, data), [ContentRefusal(2, "NOT_FOUND", message)])
    fast, spyne = both(port, batch, monkeypatch)
    assert fast.exclusive_c14n() == spyne.exclusive_c14n()
    assert b"".join(contents_xml.response_pieces(batch)) == body_c14n(spyne)


def test_an_answer_is_not_kept_alive_after_it_was_written(
    port: Callable[..., InProcessPort], pki: DemoPki,
) -> None:
    """The request's context sits in reference cycles; without the release on close, a 2 MiB
    answer would live on until a full garbage collection (worker memory growing with the run)."""
    import gc

    from gateway.soap.splice import Splice

    batch = batch_of(released(notification(1, documents=1), [bytes(range(256)) * 4096]), [])
    service = port(ContentsQueries(batch=batch), pki)
    gc.collect()
    gc.disable()  # nothing may be freed by a collection during the check
    try:
        response = service.call("GetContents", id="5001")
        assert response.status == "200 OK" and len(response.body) > 1_000_000
        del response
        alive = [o for o in gc.get_objects() if isinstance(o, Splice)]
        held = [o for o in gc.get_objects() if isinstance(o, list) and len(o) > 2
                and all(isinstance(x, bytes) for x in o) and sum(map(len, o)) > 1_000_000]
    finally:
        gc.enable()
    assert alive == [] and held == []
