"""MTOM/XOP requests (issue 17): a ``multipart/related`` body read as a stream.

A ``PublishNotifications`` request may carry its documents as MTOM attachments (W3C XOP 1.0,
SOAP 1.1 MTOM): the first part (or the one named by the ``start`` parameter) is the SOAP
envelope as ``application/xop+xml``, and a document's ``content`` element holds an
``<xop:Include href="cid:..."/>`` instead of base64 text. What this module guarantees:

- **Bounded memory.** The body is read from ``wsgi.input`` in slices by a streaming parser
  (``python-multipart``); the root part is kept in memory up to the message cap, every other part
  is hashed (SHA-256) as it arrives and written to an anonymous spool file: in memory while all
  the request's parts together stay under ``SPOOL_MEMORY_BYTES``, on disk beyond. No part is ever
  held as a whole ``bytes`` until the store reads it, once, to insert it.
- **Caps.** A part over ``max_part_bytes`` (``GATEWAY_MAX_DOCUMENT_BYTES``) is refused with
  ``ATTACHMENT_TOO_LARGE``, the whole body over ``max_total_bytes`` (``GATEWAY_MAX_UPLOAD_BYTES``)
  with ``MESSAGE_TOO_LARGE`` -- both as soon as the limit is crossed, without reading further.
- **Strict structure.** Malformed multipart, no root, a root that is not ``application/xop+xml``,
  a part without a Content-ID or with one used twice, a transfer encoding other than binary /
  8bit / 7bit: ``MALFORMED_MULTIPART``. After the signature check (``resolve_includes``): an
  ``xop:Include`` naming no part is ``MISSING_ATTACHMENT``, one part named twice
  ``ATTACHMENT_REFERENCED_TWICE``, a part nobody names ``UNREFERENCED_ATTACHMENT``, an include
  anywhere but where the port allows one (a document's ``content``) ``XOP_NOT_ALLOWED``.

**Signature binding.** The WS-Security signature is verified over the envelope exactly as it
arrived, xop:Include elements included (not over a reconstructed infoset, which would need every
document in memory to canonicalise): the signed Body fixes which ``cid:`` each document is. The
part's bytes are bound by their digest: a document may carry a ``sha256`` element (in the signed
Body) that the server checks against the digest computed on the way in, and the digest the
server computed is stored with the document and returned in the (signed) response.
"""

from __future__ import annotations

import hashlib
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from lxml import etree
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.errors import InvalidRequest, LimitExceeded

XOP_NS = "http://www.w3.org/2004/08/xop/include"
XOP_INCLUDE = f"{{{XOP_NS}}}Include"
XOP_MEDIA_TYPE = "application/xop+xml"

SPOOL_MEMORY_BYTES = 8 * 1024 * 1024
"""Attachment bytes one request may hold in memory; parts beyond go to disk (``TMPDIR``)."""
READ_SLICE = 256 * 1024
MAX_PARTS = 1000 * 51 + 1
"""A batch's documents (1,000 items, a main document and 50 annexes each) and the root."""
_ENCODINGS = ("", "binary", "8bit", "7bit")


@dataclass(frozen=True)
class XopLimits:
    max_root_bytes: int
    """The envelope part (``GATEWAY_MAX_MESSAGE_BYTES``)."""
    max_part_bytes: int
    """One attachment (``GATEWAY_MAX_DOCUMENT_BYTES``)."""
    max_total_bytes: int
    """The whole body (``GATEWAY_MAX_UPLOAD_BYTES``)."""


@dataclass
class Attachment:
    """One received part: its digest and size computed on the way, its bytes in a spool."""

    content_id: str
    content_type: str
    size: int
    sha256: str
    file: IO[bytes]

    def chunks(self) -> Iterator[bytes]:
        """The part's bytes in slices (read when the store inserts them)."""
        self.file.seek(0)
        while chunk := self.file.read(READ_SLICE * 4):
            yield chunk

    def close(self) -> None:
        self.file.close()


@dataclass
class XopPackage:
    root: bytes
    attachments: dict[str, Attachment] = field(default_factory=dict)

    def close(self) -> None:
        for attachment in self.attachments.values():
            attachment.close()


def is_multipart(content_type: str) -> bool:
    return content_type.strip().lower().startswith("multipart/")


def _malformed(message: str) -> InvalidRequest:
    return InvalidRequest(f"malformed MTOM request: {message}", code="MALFORMED_MULTIPART")


def _too_large(limit: int) -> LimitExceeded:
    return LimitExceeded(f"the message exceeds {limit} bytes", code="MESSAGE_TOO_LARGE")


def _content_id(raw: str) -> str:
    value = raw.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.strip()


class _Receiver:
    """The parser's callbacks: one part at a time into the root buffer or a spool file."""

    def __init__(self, limits: XopLimits) -> None:
        self.limits = limits
        self.parts: list[tuple[dict[str, str], IO[bytes] | bytearray, int, str]] = []
        self.in_memory = 0
        self.ended = False
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._sink: IO[bytes] | bytearray | None = None
        self._digest: Any = None
        self._size = 0

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._data,
            "on_part_end": self._part_end, "on_end": self._end,
        }

    def _part_begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise _malformed(f"more than {MAX_PARTS} parts")
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        name = self._field.decode("latin-1").strip().lower()
        if name in self._headers:
            raise _malformed(f"the {name} header is repeated in a part")
        self._headers[name] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        encoding = self._headers.get("content-transfer-encoding", "").lower()
        if encoding not in _ENCODINGS:
            raise _malformed(f"transfer encoding {encoding!r} (binary, 8bit or 7bit only)")
        self._digest = hashlib.sha256()
        self._size = 0
        if not self.parts:
            self._sink = bytearray()  # the root, when it comes first (checked at the end)
        elif self.in_memory < SPOOL_MEMORY_BYTES:
            self._sink = tempfile.SpooledTemporaryFile(  # noqa: SIM115  # closed by XopPackage
                max_size=SPOOL_MEMORY_BYTES - self.in_memory)
        else:
            self._sink = tempfile.TemporaryFile()  # noqa: SIM115  # closed by XopPackage

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._sink is None:
            raise _malformed("part data before its headers")
        piece = data[start:end]
        self._size += len(piece)
        if isinstance(self._sink, bytearray):
            if self._size > self.limits.max_root_bytes:
                raise _too_large(self.limits.max_root_bytes)
            self._sink += piece
            return
        if self._size > self.limits.max_part_bytes:
            raise LimitExceeded(f"an attachment exceeds {self.limits.max_part_bytes} bytes",
                                code="ATTACHMENT_TOO_LARGE")
        self._digest.update(piece)
        self._sink.write(piece)

    def _part_end(self) -> None:
        sink = self._sink
        if sink is None:
            raise _malformed("a part without headers")
        if not isinstance(sink, bytearray) and not getattr(sink, "_rolled", True):
            self.in_memory += self._size
        self.parts.append((self._headers, sink, self._size, self._digest.hexdigest()))
        self._sink = None

    def _end(self) -> None:
        self.ended = True

    def discard(self) -> None:
        for _, sink, _, _ in self.parts:
            if not isinstance(sink, bytearray):
                sink.close()
        if self._sink is not None and not isinstance(self._sink, bytearray):
            self._sink.close()


def read_package(stream: Any, content_type: str, declared_length: int | None,
                 limits: XopLimits) -> XopPackage:
    """Read an MTOM request body from ``stream`` (refusing it as the module docstring says)."""
    media, params = parse_options_header(content_type)
    options = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in params.items()}
    if media.decode("latin-1").lower() != "multipart/related":
        raise _malformed(f"{media.decode('latin-1')!r} is not multipart/related")
    if options.get("type", "").lower() != XOP_MEDIA_TYPE:
        raise _malformed(f'the type parameter must be "{XOP_MEDIA_TYPE}"')
    boundary = options.get("boundary", "")
    if not boundary or len(boundary) > 70:
        raise _malformed("a boundary of 1 to 70 characters is required")
    if declared_length is not None and declared_length > limits.max_total_bytes:
        raise _too_large(limits.max_total_bytes)
    receiver = _Receiver(limits)
    try:
        parser = MultipartParser(boundary.encode("latin-1"), receiver.callbacks())
        remaining = limits.max_total_bytes + 1 if declared_length is None else declared_length
        total = 0
        while remaining > 0:
            chunk = stream.read(min(READ_SLICE, remaining))
            if not chunk:
                break
            total += len(chunk)
            remaining -= len(chunk)
            if total > limits.max_total_bytes:
                raise _too_large(limits.max_total_bytes)
            parser.write(chunk)
        parser.finalize()
        if not receiver.ended:
            raise _malformed("the body ends before the closing boundary")
        return _package(receiver.parts, options.get("start", ""))
    except MultipartParseError as exc:
        receiver.discard()
        raise _malformed(str(exc) or "bad multipart framing") from exc
    except BaseException:
        receiver.discard()
        raise


def _package(parts: list[tuple[dict[str, str], IO[bytes] | bytearray, int, str]],
             start: str) -> XopPackage:
    if not parts:
        raise _malformed("no parts")
    wanted = _content_id(start) if start else ""
    root_headers, root_sink, _, _ = parts[0]
    if wanted and _content_id(root_headers.get("content-id", "")) != wanted:
        raise _malformed("the root part (start parameter) must come first")
    root_type = parse_options_header(root_headers.get("content-type", ""))[0]
    if root_type.decode("latin-1").lower() != XOP_MEDIA_TYPE or not isinstance(
            root_sink, bytearray):
        raise _malformed(f"the root part must be {XOP_MEDIA_TYPE}")
    package = XopPackage(bytes(root_sink))
    for headers, sink, size, digest in parts[1:]:
        assert not isinstance(sink, bytearray)
        content_id = _content_id(headers.get("content-id", ""))
        if not content_id:
            package.close()
            sink.close()
            raise _malformed("an attachment without a Content-ID")
        if content_id in package.attachments:
            package.close()
            sink.close()
            raise _malformed(f"Content-ID <{content_id}> is used by two parts")
        package.attachments[content_id] = Attachment(
            content_id, headers.get("content-type", "application/octet-stream"), size, digest,
            sink)
    return package


def resolve_includes(envelope: etree._Element, package: XopPackage,
                     allowed_parent: str | None) -> dict[etree._Element, Attachment]:
    """Map each element holding an ``xop:Include`` to its part, and take the includes out
    (the signature was verified over them; the port reads the parts instead).

    Every part must be named exactly once, and only from an element whose tag is
    ``allowed_parent`` (``None``: none may be)."""
    found: dict[etree._Element, Attachment] = {}
    used: set[str] = set()
    for include in list(envelope.iter(XOP_INCLUDE)):
        parent = include.getparent()
        if parent is None or allowed_parent is None or parent.tag != allowed_parent or len(
                parent) != 1 or (parent.text or "").strip() or (include.tail or "").strip():
            raise InvalidRequest("an xop:Include may only be the whole content of a document",
                                 code="XOP_NOT_ALLOWED")
        href = include.get("href", "")
        if not href.lower().startswith("cid:"):
            raise InvalidRequest(f"xop:Include href {href!r} is not a cid: URL",
                                 code="MISSING_ATTACHMENT")
        content_id = urllib.parse.unquote(href[4:])
        attachment = package.attachments.get(content_id)
        if attachment is None:
            raise InvalidRequest(f"no part has Content-ID <{content_id}>",
                                 code="MISSING_ATTACHMENT")
        if content_id in used:
            raise InvalidRequest(f"the part <{content_id}> is referenced twice",
                                 code="ATTACHMENT_REFERENCED_TWICE")
        used.add(content_id)
        found[parent] = attachment
    unused = sorted(set(package.attachments) - used)
    if unused:
        raise InvalidRequest(f"the part <{unused[0]}> is not referenced by the message",
                             code="UNREFERENCED_ATTACHMENT")
    for parent in found:
        parent.remove(parent[0])
        parent.text = None
    return found


def attachments_by_position(body_child: etree._Element, item_tag: str,
                            document_tags: tuple[str, ...], content_tag: str,
                            attachments: Mapping[etree._Element, Attachment]
                            ) -> list[list[Attachment | None]]:
    """For each ``item_tag`` child of the operation element, its documents' attachments in
    order (``None``: inline base64)."""
    result: list[list[Attachment | None]] = []
    for item in body_child.iterchildren(item_tag):
        documents = [d for d in item.iterchildren(*document_tags)]
        result.append([attachments.get(c) if (c := d.find(content_tag)) is not None else None
                       for d in documents])
    return result
