"""``soap.xop``: an MTOM body read as a stream, whatever the slices it arrives in, with every
part hashed on the way, spooled to disk past the memory budget, and refused when malformed or
too large -- before any part is handed on."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.errors import GatewayError
from gateway.soap import xop
from gateway.soap.xop import XOP_INCLUDE, XopLimits, read_package, resolve_includes

BOUNDARY = "uuid:5e2b-boundary"
CONTENT_TYPE = (f'multipart/related; type="application/xop+xml"; boundary="{BOUNDARY}"; '
                'start="<root>"')
LIMITS = XopLimits(max_root_bytes=64 * 1024, max_part_bytes=4 * 1024 * 1024,
                   max_total_bytes=32 * 1024 * 1024)
ROOT = b'<e xmlns:x="http://www.w3.org/2004/08/xop/include"><c><x:Include href="cid:a"/></c></e>'


def body(parts: list[tuple[str, bytes]], root: bytes = ROOT) -> bytes:
    out = [f"--{BOUNDARY}\r\nContent-Type: application/xop+xml; type=\"text/xml\"\r\n"
           "Content-ID: <root>\r\n\r\n".encode(), root, b"\r\n"]
    for content_id, data in parts:
        out += [f"--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\n"
                f"Content-ID: <{content_id}>\r\n\r\n".encode(), data, b"\r\n"]
    out.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(out)


class Slices(io.RawIOBase):
    """A stream that hands out at most the given sizes per read, as a socket would."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.position = data, sizes or [1], 0

    def read(self, size: int = -1) -> bytes:
        step = self.sizes[self.position % len(self.sizes)] if self.sizes else size
        chunk = self.data[:min(size, step)]
        self.data = self.data[len(chunk):]
        self.position += 1
        return chunk


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 5000), min_size=1, max_size=8),
       st.binary(min_size=0, max_size=3000))
def test_any_slicing_gives_the_same_parts_and_digests(sizes: list[int], data: bytes) -> None:
    raw = body([("a", data), ("b", b"\r\n--" + data)])
    package = read_package(Slices(raw, sizes), CONTENT_TYPE, None, LIMITS)
    try:
        assert package.root == ROOT
        for content_id, expected in (("a", data), ("b", b"\r\n--" + data)):
            part = package.attachments[content_id]
            assert b"".join(part.chunks()) == expected
            assert (part.size, part.sha256) == (len(expected),
                                                hashlib.sha256(expected).hexdigest())
    finally:
        package.close()


def test_parts_beyond_the_memory_budget_go_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xop, "SPOOL_MEMORY_BYTES", 100_000)
    parts = [(f"p{i}", os.urandom(60_000)) for i in range(4)]
    package = read_package(io.BytesIO(body(parts)), CONTENT_TYPE, None, LIMITS)
    try:
        on_disk = [getattr(package.attachments[c].file, "_rolled", True) for c, _ in parts]
        assert on_disk == [False, True, True, True]  # the first fits; the rest do not
        assert [b"".join(package.attachments[c].chunks()) for c, _ in parts] == [
            d for _, d in parts]
    finally:
        package.close()


@pytest.mark.parametrize(("raw", "code"), [
    (body([("a", b"x")])[:-40], "MALFORMED_MULTIPART"),  # cut short
    (body([("a", b"x")]).replace(b"Content-ID: <a>\r\n", b""), "MALFORMED_MULTIPART"),
    (body([("a", b"x"), ("a", b"y")]), "MALFORMED_MULTIPART"),
    (body([("a", b"x")]).replace(b"application/xop+xml", b"text/xml", 1), "MALFORMED_MULTIPART"),
    (body([("a", b"x" * (LIMITS.max_part_bytes + 1))]), "ATTACHMENT_TOO_LARGE"),
    (body([("a", b"x")], root=b"<e>" + b" " * LIMITS.max_root_bytes + b"</e>"),
     "MESSAGE_TOO_LARGE"),
    (b"garbage without any boundary", "MALFORMED_MULTIPART"),
])
def test_hostile_bodies_are_refused(raw: bytes, code: str) -> None:
    with pytest.raises(GatewayError) as refused:
        read_package(io.BytesIO(raw), CONTENT_TYPE, None, LIMITS)
    assert refused.value.code == code


def test_the_whole_body_is_capped_from_its_length_or_as_it_arrives() -> None:
    small = XopLimits(LIMITS.max_root_bytes, LIMITS.max_part_bytes, 10_000)
    raw = body([(f"p{i}", b"z" * 3000) for i in range(5)])
    for declared in (len(raw), None):
        with pytest.raises(GatewayError) as refused:
            read_package(io.BytesIO(raw), CONTENT_TYPE, declared, small)
        assert refused.value.code == "MESSAGE_TOO_LARGE"


def includes(*hrefs: str, parent: str = "c") -> Any:
    root = etree.Element("e")
    for href in hrefs:
        etree.SubElement(etree.SubElement(root, parent), XOP_INCLUDE, href=href)
    return root


@pytest.mark.parametrize(("tree", "parts", "code"), [
    (includes("cid:a", "cid:b"), ["a"], "MISSING_ATTACHMENT"),
    (includes("http://elsewhere/a"), ["a"], "MISSING_ATTACHMENT"),
    (includes("cid:a", "cid:a"), ["a"], "ATTACHMENT_REFERENCED_TWICE"),
    (includes("cid:a"), ["a", "b"], "UNREFERENCED_ATTACHMENT"),
    (includes("cid:a", parent="d"), ["a"], "XOP_NOT_ALLOWED"),
])
def test_includes_name_each_part_exactly_once(tree: Any, parts: list[str], code: str) -> None:
    package = read_package(io.BytesIO(body([(p, b"x") for p in parts])), CONTENT_TYPE, None,
                           LIMITS)
    with pytest.raises(GatewayError) as refused:
        resolve_includes(tree, package, "c")
    assert refused.value.code == code
    package.close()


def test_resolved_includes_leave_their_content_elements_empty() -> None:
    package = read_package(io.BytesIO(body([("a", b"x"), ("b%40c", b"y")])), CONTENT_TYPE,
                           None, LIMITS)
    tree = includes("cid:a", "cid:b%2540c")
    found = resolve_includes(tree, package, "c")
    assert sorted(a.content_id for a in found.values()) == ["a", "b%40c"]
    assert all(len(element) == 0 and element.text is None for element in found)
    package.close()
