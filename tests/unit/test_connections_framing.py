"""Where a request ends (``gateway.connections.RequestFraming``): accept/reject table and a
property: however the bytes are split across reads, the same end is found."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.connections import FrontLimits, RequestFraming

LIMITS = FrontLimits(max_header_bytes=1024, max_body_bytes=100)
HEAD = b"POST /NotificationService HTTP/1.1\r\nHost: x\r\n"


def frame(data: bytes) -> int | None:
    return RequestFraming(LIMITS).scan(bytearray(data))


CASES = [
    # (name, bytes, expected end: length, None = need more, -1 = hand over now)
    ("no body", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 34),
    ("headers incomplete", HEAD + b"Content-Length: 3\r\n", None),
    ("body incomplete", HEAD + b"Content-Length: 3\r\n\r\nab", None),
    ("body complete", HEAD + b"Content-Length: 3\r\n\r\nabc", len(HEAD) + 24),
    ("pipelined next request", HEAD + b"Content-Length: 3\r\n\r\nabcGET /", len(HEAD) + 24),
    ("chunked complete", HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
     len(HEAD) + 43),
    ("chunked with trailer", HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: y\r\n\r\n",
     len(HEAD) + 49),
    ("chunked incomplete", HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\nab", None),
    ("chunked last chunk without end", HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\r\n", None),
    ("declared body over the cap", HEAD + b"Content-Length: 101\r\n\r\n", -1),
    ("chunked body over the cap", HEAD + b"Transfer-Encoding: chunked\r\n\r\n65\r\n", -1),
    ("length and chunked (smuggling)",
     HEAD + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", -1),
    ("two different lengths", HEAD + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\n", -1),
    ("length not a number", HEAD + b"Content-Length: -3\r\n\r\n", -1),
    ("bad chunk size", HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", -1),
    ("headers over the cap", HEAD + b"X: " + b"a" * 2000, -1),
]


@pytest.mark.parametrize(("data", "expected"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_framing(data: bytes, expected: int | None) -> None:
    assert frame(data) == expected


@given(st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=30),
       st.booleans())
def test_split_reads_find_the_same_end(cuts: list[int], chunked: bool) -> None:
    body = (b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n" if chunked
            else b"Content-Length: 8\r\n\r\nhelloabc")
    data = HEAD + body + b"GET / HTTP/1.1\r\n"
    framing = RequestFraming(LIMITS)
    buffer = bytearray()
    position, result = 0, None
    for cut in [*cuts, len(data)]:
        buffer += data[position:position + cut]
        position += cut
        result = framing.scan(buffer)
        if result is not None:
            break
    assert result == len(HEAD + body)
