"""GetContent streams the document into ``ContentResult/data`` and still signs it exactly.

The stub service hands the port a ``ContentStream`` whose slices have awkward sizes; the
response must carry the document's base64, its Content-Length, and a server signature that
xmlsec verifies -- and a document whose bytes do not match its sha256 must become a server
fault before any of it is sent.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from soap_doubles import InProcessPort, StubQueries
from zeep.exceptions import SignatureVerificationFailed

from gateway import namespaces as ns
from gateway.domain.listing import Role
from gateway.domain.model import Category, Document, Issuer, ItemKind, Notification, Status
from gateway.pki import DemoPki
from gateway.services.notifications import ContentStream, VisibleNotification
from gateway.soap.content_stream import base64_length, base64_pieces

TNS = f"{{{ns.NOTIFICATION_SERVICE}}}"
GW = f"{{{ns.FAULT_DETAIL}}}"
T0 = datetime(2026, 1, 26, 10, 0, tzinfo=UTC)


def stream_of(slices: Sequence[bytes], *, sha256: str | None = None) -> tuple[ContentStream, list[int]]:
    """A released communication whose document is ``slices``; the list counts the passes."""
    data = b"".join(slices)
    document = Document("big.pdf", "application/pdf",
                        sha256 or hashlib.sha256(data).hexdigest(), len(data))
    notification = Notification(
        id=7, kind=ItemKind.COMMUNICATION, issuer=Issuer.TGSS, issuer_reference="R-7",
        procedure="p", subject="s", recipient="B12345674", ccc=None, category=Category.NORMAL,
        made_available_at=T0, deadline_at=None, status=Status.READ, status_at=T0,
        documents=(document,))
    passes: list[int] = []

    def chunks() -> Iterator[bytes]:
        passes.append(1)
        digest = hashlib.sha256()
        for piece in slices:
            digest.update(piece)
            yield piece
        if digest.hexdigest() != document.sha256:
            raise RuntimeError("stored content is corrupt")

    return ContentStream(VisibleNotification(notification, Role.OWN), document, chunks), passes


SLICES = [bytes(range(256)) * 40, b"\x00", b"abcd" * 1001, b"", bytes(1000) + b"\xff" * 7]


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_document_arrives_whole_with_its_length(
    signed: bool, port: Callable[..., InProcessPort], pki: DemoPki,
    verify_signature: Callable[[bytes], None],
) -> None:
    content, passes = stream_of(SLICES)
    response = port(StubQueries(content=content), pki if signed else None).call(
        "GetContent", id="7")

    assert response.status == "200 OK"
    assert response.announced_length == len(response.body)  # soap.wsgi sends it
    result = response.envelope.find(f"*/{TNS}GetContentResponse/{TNS}GetContentResult")
    assert result is not None
    assert base64.b64decode(result.findtext(f"{TNS}data") or "") == b"".join(SLICES)
    assert result.findtext(f"{TNS}document/{TNS}sha256") == content.document.sha256
    assert result.findtext(f"{TNS}status") == "READ"
    assert len(passes) == 2  # checked (and digested) before sending, then sent
    if signed:
        verify_signature(response.body)


def test_a_changed_byte_of_the_streamed_document_fails_verification(
    port: Callable[..., InProcessPort], pki: DemoPki, verify_signature: Callable[[bytes], None],
) -> None:
    content, _ = stream_of([b"A" * 3000])
    response = port(StubQueries(content=content), pki).call("GetContent", id="7")
    verify_signature(response.body)
    with pytest.raises(SignatureVerificationFailed):
        verify_signature(response.body.replace(b"QUFB", b"QUFC", 1))


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_a_corrupt_document_is_a_server_fault_and_none_of_it_is_sent(
    signed: bool, port: Callable[..., InProcessPort], pki: DemoPki,
    verify_signature: Callable[[bytes], None],
) -> None:
    content, passes = stream_of(SLICES, sha256="0" * 64)
    response = port(StubQueries(content=content), pki if signed else None).call(
        "GetContent", id="7")

    assert response.status.startswith("500")
    assert response.envelope.findtext(f".//{GW}code") == "INTERNAL_ERROR"
    assert response.envelope.find(f".//{TNS}data") is None
    assert base64.b64encode(SLICES[0])[:40] not in response.body
    assert len(passes) == 1
    if signed:
        verify_signature(response.body)


@given(st.lists(st.binary(max_size=50), max_size=8))
def test_base64_pieces_concatenate_to_the_base64_of_the_whole(chunks: list[bytes]) -> None:
    whole = b"".join(chunks)
    pieces = list(base64_pieces(chunks))
    assert b"".join(pieces) == base64.b64encode(whole)
    assert base64_length(len(whole)) == len(base64.b64encode(whole))
