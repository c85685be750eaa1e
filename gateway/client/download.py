"""Downloading a document with ``GetContent`` straight to disk, for clients of the gateway.

zeep reads a whole response into memory and parses it, so a 200 MB document costs a client
over a gigabyte. ``download_content`` instead signs the request as the zeep client does
(``gateway.client.transport.ServerVerifyingSignature``), reads the response as it arrives, decodes the base64
of ``ContentResult/data`` into ``<target>.part`` as it goes, and renames the file to ``target``
only once the whole response checked out:

- the server's signature (OASIS WSS 1.1 over Body and Timestamp, exclusive c14n): the Body's
  digest is computed while streaming -- the canonical form of everything before the base64 (from
  the head of the response), the base64 text as it arrives, the canonical form of the rest --
  and SignedInfo is verified with the pinned server certificate, like ``ServerVerifyingSignature``
  does for ordinary responses (with the same XML-signature-wrapping checks);
- the document's bytes against the sha256 the signed response states.

Memory stays bounded by the head and tail of the response (a few kilobytes) and one network chunk.
A fault answer is verified the same way and raised as ``zeep.exceptions.Fault``.

Resuming (issue 14): with ``resume=True`` a ``<target>.part`` left by a download whose
connection broke (``requests.RequestException``: reset, refused, truncated) is kept, and the
next call asks ``GetContent`` for the bytes from its size on (the signed request's ``offset``;
the signed answer states the same ``offset``). The document's sha256 and size the server signs
are the whole document's, so what is checked at the end is the sha256 of the assembled file:
bytes received before the break are trusted only once the whole checks out. If it does not (or
the part is longer than the document: ``INVALID_OFFSET``), the part is dropped and the document
fetched again from the start, once.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pybase64
import requests
from cryptography import x509
from lxml import etree
from zeep.exceptions import Fault, SignatureVerificationFailed, TransportError

from gateway import namespaces as ns
from gateway.client.server_certs import ServerCertificates
from gateway.client.transport import (
    Accepted,
    ServerVerifyingSignature,
    _check_signed_parts,
    _digest_name,
    _reference_to,
    _verify_signed_info,
)
from gateway.client.xmldsig import c14n

MAX_ENVELOPE_BYTES = 1024 * 1024
"""The response around the document (headers, signature, metadata) is never larger than this."""

_DS = f"{{{ns.DS}}}"
_TNS = f"{{{ns.NOTIFICATION_SERVICE}}}"
_WSU_ID = f"{{{ns.WSU}}}Id"
_DATA_START = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?data>")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")


@dataclass(frozen=True)
class DownloadedContent:
    notification_id: int
    status: str
    name: str
    content_type: str
    sha256: str
    size: int
    path: Path


def partial_path(target: Path) -> Path:
    """Where the bytes of ``target`` are written while they arrive (kept to resume)."""
    return target.with_name(target.name + ".part")


def download_content(service_url: str, signature: ServerVerifyingSignature,
                     server_cert: Path | ServerCertificates, notification_id: int,
                     target: Path, *,
                     document: int = 0, session: requests.Session | None = None,
                     timeout: float = 300.0, chunk_bytes: int = 1024 * 1024,
                     resume: bool = False) -> DownloadedContent:
    """``GetContent(notification_id, document)`` written to ``target`` (see the module doc).

    Raises ``zeep.exceptions.Fault`` for a (verified) fault, ``SignatureVerificationFailed``
    when the response is not exactly what the server signed, ``ValueError`` when the bytes do not
    match the sha256 the server states; ``target`` is then left untouched. A transport failure
    (``requests.RequestException``) leaves ``<target>.part`` for a call with ``resume=True``
    to continue from; without ``resume`` any such part is discarded first."""
    certificate: Accepted = (
        server_cert if isinstance(server_cert, ServerCertificates)
        else x509.load_pem_x509_certificate(Path(server_cert).read_bytes()))
    partial = partial_path(target)
    if not resume:
        partial.unlink(missing_ok=True)
    offset = partial.stat().st_size if partial.exists() else 0
    request = _signed_request(signature, notification_id, document, offset)
    http = session or requests.Session()
    try:
        with http.post(service_url, data=request, stream=True, timeout=timeout, headers={
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": '"GetContent"'}) as response:
            chunks = response.iter_content(chunk_size=chunk_bytes)
            if response.status_code != 200:
                _raise_fault(_bounded(chunks), certificate, response.status_code)
            prefix = hashlib.sha256()
            if offset:
                with partial.open("rb") as received:
                    prefix = hashlib.file_digest(received, "sha256")
            with partial.open("ab" if offset else "wb") as sink:
                downloaded = _receive(chunks, sink, certificate, target, prefix, offset)
            os.replace(partial, target)
    except requests.RequestException:
        raise  # the connection broke: what arrived stays in the part, to resume from
    except Fault as fault:  # answered before anything was written: the part stays...
        if not offset or _fault_code(fault) != "INVALID_OFFSET":
            raise
        partial.unlink(missing_ok=True)  # ...unless it is longer than the document
        return download_content(service_url, signature, server_cert, notification_id, target,
                                document=document, session=session, timeout=timeout,
                                chunk_bytes=chunk_bytes, resume=False)
    except ResumedMismatch:
        partial.unlink(missing_ok=True)  # the bytes kept from before do not fit: start over
        return download_content(service_url, signature, server_cert, notification_id, target,
                                document=document, session=session, timeout=timeout,
                                chunk_bytes=chunk_bytes, resume=False)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return downloaded


class ResumedMismatch(ValueError):
    """A resumed download whose assembled bytes fail the stated sha256."""


def _fault_code(fault: Fault) -> str | None:
    detail = fault.detail
    return detail.findtext(f".//{{{ns.FAULT_DETAIL}}}code") if detail is not None else None


def _signed_request(signature: ServerVerifyingSignature, notification_id: int,
                    document: int, offset: int = 0) -> bytes:
    resume = f"<ns0:offset>{int(offset)}</ns0:offset>" if offset else ""
    envelope = etree.fromstring(
        f'<soap-env:Envelope xmlns:soap-env="{ns.SOAP11_ENV}"><soap-env:Body>'
        f'<ns0:GetContent xmlns:ns0="{ns.NOTIFICATION_SERVICE}"><ns0:id>{int(notification_id)}'
        f"</ns0:id><ns0:document>{int(document)}</ns0:document>{resume}</ns0:GetContent>"
        "</soap-env:Body></soap-env:Envelope>".encode())
    signature.apply(envelope, {})
    octets: bytes = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    return octets


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False)


def _bounded(chunks: Any) -> bytes:
    received = bytearray()
    for chunk in chunks:
        received += chunk
        if len(received) > MAX_ENVELOPE_BYTES:
            raise SignatureVerificationFailed("the response is larger than any answer but content")
    return bytes(received)


def _raise_fault(data: bytes, certificate: Accepted, status: int) -> None:
    try:
        envelope = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:  # not SOAP at all: a proxy, a server restarting
        raise TransportError(f"HTTP {status} without a fault",  # type: ignore[no-untyped-call]
                             status_code=status) from exc
    _check_signed_parts(envelope)
    body = _body(envelope)
    _verify_signed_info(envelope, body, None, certificate)
    fault = body.find(f"{{{ns.SOAP11_ENV}}}Fault")
    if fault is None:
        raise SignatureVerificationFailed("an error status without a SOAP fault")
    raise Fault(fault.findtext("faultstring"),  # type: ignore[no-untyped-call]  # zeep
                code=fault.findtext("faultcode"), detail=fault.find("detail"))


def _receive(chunks: Any, sink: Any, certificate: Accepted, target: Path,
             content_digest: Any, offset: int) -> DownloadedContent:
    iterator = iter(chunks)
    received = bytearray()
    found = None
    while found is None:
        chunk = next(iterator, None)
        if chunk is None or len(received) > MAX_ENVELOPE_BYTES:
            raise SignatureVerificationFailed("no document in the response")
        received += chunk
        found = _DATA_START.search(received)
    segment, head = bytes(received[found.end():]), bytes(received[:found.end()])
    del received
    placeholder = f"notess-download-{uuid.uuid4().hex}".encode()

    # The canonical form of the Body up to the base64, from the head closed artificially.
    skeleton = etree.fromstring(head + placeholder + _closing_tags(head + placeholder),
                                _parser())
    body = _body(skeleton)
    _data_element(body, placeholder)
    canonical_head, _ = _split(_c14n(body), placeholder)
    body_digest = hashlib.new(_digest_name(_reference_to(skeleton, body)))
    body_digest.update(canonical_head)

    size, pending, padded = offset, b"", False
    tail = bytearray()
    while True:
        end = segment.find(b"<")
        text = segment if end < 0 else segment[:end]
        if _NOT_BASE64.search(text) or (padded and text):
            raise SignatureVerificationFailed("the document is not base64")
        body_digest.update(text)
        text = pending + text
        cut = len(text) - len(text) % 4
        decoded = pybase64.b64decode(text[:cut], validate=True)
        padded = padded or text[:cut].endswith(b"=")
        pending = text[cut:]
        sink.write(decoded)
        content_digest.update(decoded)
        size += len(decoded)
        if end >= 0:
            tail += segment[end:]
            break
        next_segment = next(iterator, None)
        if next_segment is None:
            raise SignatureVerificationFailed("the response ends inside the document")
        segment = next_segment
    for chunk in iterator:
        tail += chunk
        if len(tail) > MAX_ENVELOPE_BYTES:
            raise SignatureVerificationFailed("the response is too long after the document")
    if pending:
        raise SignatureVerificationFailed("the document is not base64")

    envelope = etree.fromstring(head + placeholder + bytes(tail), _parser())
    _check_signed_parts(envelope)
    body = _body(envelope)
    data = _data_element(body, placeholder)
    same_head, canonical_tail = _split(_c14n(body), placeholder)
    if same_head != canonical_head:
        raise SignatureVerificationFailed("the response changed its head")
    body_digest.update(canonical_tail)
    _verify_signed_info(envelope, body, body_digest.digest(), certificate)

    result = data.getparent()
    assert result is not None
    stated_sha256 = result.findtext(f"{_TNS}document/{_TNS}sha256") or ""
    stated_size = result.findtext(f"{_TNS}document/{_TNS}size") or "-1"
    if int(result.findtext(f"{_TNS}offset") or "0") != offset:
        raise SignatureVerificationFailed("the answer resumes elsewhere than asked")
    if content_digest.hexdigest() != stated_sha256 or size != int(stated_size):
        if offset:
            raise ResumedMismatch("the resumed document does not match the sha256 the server "
                                  "states")
        raise ValueError("the document does not match the sha256 the server states")
    return DownloadedContent(
        notification_id=int(result.findtext(f"{_TNS}notificationId") or 0),
        status=result.findtext(f"{_TNS}status") or "",
        name=result.findtext(f"{_TNS}document/{_TNS}name") or "",
        content_type=result.findtext(f"{_TNS}document/{_TNS}contentType") or "",
        sha256=stated_sha256, size=size, path=target)


def _closing_tags(prefix: bytes) -> bytes:
    """End tags for every element still open at the end of ``prefix`` (a well-formed start)."""
    parser = etree.XMLPullParser(events=("start", "end"), resolve_entities=False,
                                 no_network=True, load_dtd=False)
    parser.feed(prefix)
    open_tags: list[str] = []
    for event, element in parser.read_events():
        if event == "start":
            local = etree.QName(element).localname
            open_tags.append(f"{element.prefix}:{local}" if element.prefix else local)
        else:
            open_tags.pop()
    return "".join(f"</{tag}>" for tag in reversed(open_tags)).encode()


def _body(envelope: etree._Element) -> etree._Element:
    body = envelope.find(f"{{{ns.SOAP11_ENV}}}Body")
    if body is None:
        raise SignatureVerificationFailed("no SOAP 1.1 Body")
    return body


def _data_element(body: etree._Element, placeholder: bytes) -> etree._Element:
    data = body.find(f"{_TNS}GetContentResponse/{_TNS}GetContentResult/{_TNS}data")
    if data is None or data.text != placeholder.decode() or len(data):
        raise SignatureVerificationFailed("not a GetContent response")
    return data


def _c14n(element: etree._Element) -> bytes:
    return c14n(element)


def _split(octets: bytes, placeholder: bytes) -> tuple[bytes, bytes]:
    head, found, tail = octets.partition(placeholder)
    if not found or placeholder in tail:
        raise SignatureVerificationFailed("the document is not where the signature says")
    return head, tail
