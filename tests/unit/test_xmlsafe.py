"""The hardened parser: limits, DTD refusal, error translation; hypothesis for arbitrary input."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.errors import GatewayError, InvalidRequest, LimitExceeded
from gateway.xmlsafe import parse_xml

LIMITS = {"max_bytes": 64 * 1024, "max_depth": 32}

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)

REFUSED = [
    (b"", InvalidRequest, "MALFORMED_XML"),
    (b"<a>", InvalidRequest, "MALFORMED_XML"),
    (b"<a></b>", InvalidRequest, "MALFORMED_XML"),
    (b"not xml", InvalidRequest, "MALFORMED_XML"),
    (b'<?xml version="1.0" encoding="no-such"?><a/>', InvalidRequest, "MALFORMED_XML"),
    (b"<a/><b/>", InvalidRequest, "MALFORMED_XML"),
    (b"<a>&undefined;</a>", InvalidRequest, "MALFORMED_XML"),
    (b"<!DOCTYPE a><a/>", InvalidRequest, "DTD_FORBIDDEN"),
    (b'<!DOCTYPE a SYSTEM "http://example.invalid/a.dtd"><a/>', InvalidRequest, "DTD_FORBIDDEN"),
    (
        b'<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>',
        InvalidRequest,
        "DTD_FORBIDDEN",
    ),
    (
        b'<!DOCTYPE a [<!ENTITY % p SYSTEM "http://example.invalid/p.dtd"> %p;]><a/>',
        InvalidRequest,
        "DTD_FORBIDDEN",
    ),
    (BILLION_LAUGHS, InvalidRequest, "DTD_FORBIDDEN"),
    (
        BILLION_LAUGHS.decode()
        .replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
        .encode("utf-16"),
        InvalidRequest,
        "DTD_FORBIDDEN",
    ),
    (b"<a>" * 33 + b"</a>" * 33, LimitExceeded, "XML_TOO_DEEP"),
    (b"<a>" * 300 + b"</a>" * 300, LimitExceeded, "XML_TOO_DEEP"),
    (b"<a>" + b"x" * (64 * 1024) + b"</a>", LimitExceeded, "MESSAGE_TOO_LARGE"),
]


@pytest.mark.parametrize("data, error, code", REFUSED)
def test_refused(data: bytes, error: type[GatewayError], code: str) -> None:
    with pytest.raises(GatewayError) as info:
        parse_xml(data, **LIMITS)
    assert (type(info.value), info.value.code) == (error, code)


def test_library_errors_are_chained() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_xml(b"<a>", **LIMITS)
    assert isinstance(info.value.__cause__, etree.XMLSyntaxError)
    assert "line" not in info.value.message  # libxml2's message stays internal


def test_limits_are_inclusive() -> None:
    parse_xml(b"<a>" * 32 + b"</a>" * 32, **LIMITS)
    exactly = b"<a>" + b"x" * (64 * 1024 - 7) + b"</a>"
    assert len(exactly) == 64 * 1024
    parse_xml(exactly, **LIMITS)


def test_xxe_is_not_expanded_even_on_the_way_to_refusal() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_xml(b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/hostname">]><a>&x;</a>', **LIMITS)
    assert "root" not in str(info.value)


def test_comments_and_processing_instructions_are_kept() -> None:
    root = parse_xml(b"<a><!-- note --><?pi data?><b/></a>", **LIMITS)
    assert isinstance(root[0], etree._Comment)
    assert isinstance(root[1], etree._ProcessingInstruction)


def test_only_bytes() -> None:
    with pytest.raises(TypeError):
        parse_xml("<a/>", **LIMITS)  # type: ignore[arg-type]


def test_parsers_are_per_thread() -> None:
    results: list[str] = []

    def work(index: int) -> None:
        for _ in range(200):
            results.append(parse_xml(b"<t%d/>" % index, **LIMITS).tag)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(results)) == ["t0", "t1", "t2", "t3"]
    assert len(results) == 800


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_gateway_errors(data: bytes) -> None:
    try:
        root = parse_xml(data, **LIMITS)
    except GatewayError:
        return
    assert isinstance(root, etree._Element)


_TAGS = st.sampled_from(["a", "b", "soap:Body", "x:y", "Envelope"])
_XMLISH = st.recursive(
    st.text(alphabet="<>&;'\"=/!?[]-# abcxyz\u00e9\u20ac\x00\x1f", max_size=12),
    lambda children: st.builds(
        lambda tag, body, attribute: f"<{tag}{attribute}>{body}</{tag}>",
        _TAGS,
        st.lists(children, max_size=4).map("".join),
        st.sampled_from(["", ' id="1"', ' xmlns:x="urn:x"', " a='&lt;'", ' b="&#0;"']),
    ),
    max_leaves=20,
)
_PROLOGS = st.sampled_from(
    [
        "",
        '<?xml version="1.0"?>',
        '<?xml version="1.0" encoding="ISO-8859-1"?>',
        "<!DOCTYPE a>",
        '<!DOCTYPE a [<!ENTITY e "x">]>',
        "<!-- c -->",
    ]
)


@settings(max_examples=400, deadline=None)
@given(_PROLOGS, _XMLISH, st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_xml_like_input_raises_only_gateway_errors(prolog: str, body: str, encoding: str) -> None:
    try:
        data = (prolog + body).encode(encoding)
    except UnicodeEncodeError:
        return
    try:
        parse_xml(data, **LIMITS)
    except GatewayError as error:
        if "DOCTYPE" in prolog and error.code != "DTD_FORBIDDEN":
            assert error.code in {"MALFORMED_XML", "XML_TOO_DEEP"}
