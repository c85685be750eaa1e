"""``gateway.client.download``: a client writes the document to disk as it reads the response,
and keeps it only when the server's signature and the document's sha256 check out.

The responses come from the port in-process (``conftest.InProcessPort``), served to the client
through a stand-in for ``requests.Session`` that delivers them in small network chunks; a
man in the middle is a function that changes the bytes on the way.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import pytest
from soap_doubles import InProcessPort, StubQueries
from test_soap_content_splice import stream_of
from zeep.exceptions import Fault, SignatureVerificationFailed

from gateway.client.download import download_content
from gateway.client.transport import ServerVerifyingSignature
from gateway.errors import NotFound
from gateway.pki import DemoPki

DOCUMENT = os.urandom(100_000)


class _Response:
    def __init__(self, status: int, body: bytes, chunk: int) -> None:
        self.status_code, self._body, self._chunk = status, body, chunk

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        step = min(chunk_size, self._chunk)
        for start in range(0, len(self._body), step):
            yield self._body[start:start + step]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        return None


class _Session:
    """Answers every POST with what ``port`` answers to GetContent, through ``tamper``."""

    def __init__(self, port: InProcessPort, tamper: Callable[[bytes], bytes], chunk: int) -> None:
        self.port, self.tamper, self.chunk = port, tamper, chunk

    def post(self, *_: Any, **__: Any) -> _Response:
        response = self.port.call("GetContent", id="7")
        return _Response(int(response.status[:3]), self.tamper(response.body), self.chunk)


def _download(port: InProcessPort, pki: DemoPki, target: Path, *,
              tamper: Callable[[bytes], bytes] = lambda body: body, chunk: int = 997) -> Any:
    client = pki.client("company")
    signature = ServerVerifyingSignature(client.key_path, client.cert_path, pki.server.cert_path)
    return download_content("http://gateway.invalid/NotificationService", signature,
                            pki.server.cert_path, 7, target,
                            session=_Session(port, tamper, chunk))  # type: ignore[arg-type]


@pytest.mark.parametrize("chunk", [997, 4093, 1 << 20])
def test_the_document_is_written_and_checked(
    chunk: int, port: Callable[..., InProcessPort], pki: DemoPki, tmp_path: Path
) -> None:
    content, _ = stream_of([DOCUMENT[:33_333], DOCUMENT[33_333:]])
    target = tmp_path / "document.pdf"
    downloaded = _download(port(StubQueries(content=content), pki), pki, target,
                           chunk=chunk)
    assert target.read_bytes() == DOCUMENT
    assert downloaded.sha256 == hashlib.sha256(DOCUMENT).hexdigest()
    assert (downloaded.size, downloaded.status, downloaded.name) == (len(DOCUMENT), "READ",
                                                                     "big.pdf")
    assert [p.name for p in tmp_path.iterdir()] == ["document.pdf"]


def _one_base64_character(body: bytes) -> bytes:
    at = body.index(b"<tns:data>") + 100
    return body[:at] + (b"B" if body[at:at + 1] == b"A" else b"A") + body[at + 1:]


TAMPERING = {
    "a base64 character": _one_base64_character,
    "the status": lambda body: body.replace(b">READ<", b">AVAILABLE<", 1),
    "the Timestamp": lambda body: body.replace(b"<wsu:Created>2", b"<wsu:Created>3", 1),
    "a truncated body": lambda body: body[:len(body) // 2],
}


@pytest.mark.parametrize("change", list(TAMPERING))
def test_a_tampered_response_leaves_no_file(
    change: str, port: Callable[..., InProcessPort], pki: DemoPki, tmp_path: Path
) -> None:
    content, _ = stream_of([DOCUMENT])
    with pytest.raises(SignatureVerificationFailed):
        _download(port(StubQueries(content=content), pki), pki, tmp_path / "document.pdf",
                  tamper=TAMPERING[change])
    assert not list(tmp_path.iterdir())


def test_a_fault_is_verified_and_raised(
    port: Callable[..., InProcessPort], pki: DemoPki, tmp_path: Path
) -> None:
    class Refusing(StubQueries):
        def open_content(self, *_: Any) -> Any:
            raise NotFound("notification 7 not found")

    with pytest.raises(Fault) as refused:
        _download(port(Refusing(), pki), pki, tmp_path / "document.pdf")
    assert refused.value.code.endswith("Client.NotFound")
    assert not list(tmp_path.iterdir())
