"""``gateway.client.xmldsig.canonical_digest``: the digest of an element's exclusive canonical
form, long texts hashed as they are. Whatever the document, it must equal hashing libxml2's
canonical form -- escaped characters, non-ASCII text, tails, nesting, a text that looks like the
marker -- or a forged answer could pass (or a genuine one fail) verification."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.client.xmldsig import SPLICE_ABOVE, c14n, canonical_digest

LONG = "QUJD" * (SPLICE_ABOVE // 4 + 10)


def expected(element: etree._Element, name: str = "sha256") -> bytes:
    return hashlib.new(name, c14n(element)).digest()


@pytest.mark.parametrize("document", [
    f'<a xmlns="urn:t"><b>{LONG}</b><c>short</c><b>{LONG[::-1]}</b></a>',
    f'<p:a xmlns:p="urn:p" xmlns:q="urn:q"><q:b attr="1">{LONG}</q:b>{LONG}</p:a>',  # a tail
    f"<a><b>{LONG}&amp;{LONG}</b><c>{LONG}&lt;&gt;</c><d>{LONG}&#13;</d></a>",  # escaped
    f"<a><b>{'ñandú €' * 2000}</b></a>",  # non-ASCII, no escapes: spliced
    f"<a><b>notess-splice-{LONG}</b><c>{LONG}</c></a>",  # looks like the marker
    f"<a><b>{LONG}<i>x</i>{LONG}</b></a>",  # mixed content
    "<a><b>short</b></a>",
])
@pytest.mark.parametrize("name", ["sha256", "sha512"])
def test_the_spliced_digest_is_the_canonical_one(document: str, name: str) -> None:
    root = etree.fromstring(document.encode(), etree.XMLParser(huge_tree=True))
    before = etree.tostring(root)
    assert canonical_digest(root, name) == expected(root, name)
    assert etree.tostring(root) == before  # the tree is left as it was
    for child in root:
        assert canonical_digest(child, name) == expected(child, name)


def test_a_marker_in_the_document_itself_falls_back_to_canonicalising(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    fixed = uuid.UUID(int=7)
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed)
    marker = f"notess-splice-{fixed.hex}-00000001"
    root = etree.fromstring(f"<a><b>{LONG}</b><c>{marker}</c><d>{LONG}</d></a>".encode())
    assert canonical_digest(root, "sha256") == expected(root)


TEXT = st.text(st.characters(blacklist_categories=("Cs",),
                             blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b"
                                                  "\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17"
                                                  "\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\ufffe\uffff"),
               max_size=20)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(TEXT, st.integers(0, 3), TEXT), min_size=1, max_size=6))
def test_any_text_gives_the_canonical_digest(parts: list[tuple[str, int, str]]) -> None:
    root = etree.Element("{urn:t}a", nsmap={"t": "urn:t"})
    for text, repeat, tail in parts:
        child = etree.SubElement(root, "{urn:t}b")
        child.text = (text or "x") * (repeat * SPLICE_ABOVE // max(1, len(text or "x")) + 1)
        child.tail = tail
    assert canonical_digest(root, "sha256") == expected(root)
