"""The fast canonicaliser (``gateway.signatures.c14n``) renders libxml2's octets, byte for byte,
or declines.

Generated documents exercise what canonicalisation must get right: default and prefixed
namespaces declared, redeclared, rebound, undeclared (``xmlns=""``) and bound twice to one URI;
relative namespace URIs (libxml2 refuses them); attributes in no namespace, in a namespace and in
``xml:``; values and text needing escaping (``& < > "``, tab, line feed, carriage return as a
character reference, non-ASCII, CDATA sections); comments and processing instructions inside
the root and around it. Each is canonicalised whole (exclusive and inclusive, with and without
comments), element by element (exclusive), and with one element left out as the
enveloped-signature transform does (the reference: libxml2 on a copy without it); the tree must
come out of every digest exactly as it went in. The walk's text-heaviness guard is switched off so that
small documents take the fast path too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.signatures import c14n, enveloped
from gateway.signatures.transforms import (
    C14N10,
    C14N10_COMMENTS,
    EXC_C14N,
    EXC_C14N_COMMENTS,
    C14nMethod,
)
from gateway.signatures.xmldsig import canonical_digest
from gateway.xmlsafe import parse_xml

PREFIXES = ["a", "b", "ds"]
URIS = ["urn:a", "urn:b", "http://www.w3.org/2000/09/xmldsig#", "http://x.example/n?q=1#f"]
RELATIVE_URI = "relative/ns"
LOCAL_NAMES = ["e", "Signature", "f-1", "g.h"]
ATTRIBUTE_NAMES = ["Id", "a", "z", "URI"]
CHARACTERS = st.sampled_from(
    ["x", "Y", "0", " ", "&", "<", ">", '"', "'", "\t", "\n", "\r", "]", "é", "€", "𝄞", "="]
)
LIBXML = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def text_markup(value: str, draw_cdata: bool) -> str:
    if draw_cdata and "]]>" not in value and "\r" not in value:
        return f"<![CDATA[{value}]]>"
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def attribute_markup(value: str, raw_whitespace: bool) -> str:
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    value = value.replace("\r", "&#13;")
    if not raw_whitespace:  # raw tabs and line feeds are normalised to spaces by the parser
        value = value.replace("\t", "&#9;").replace("\n", "&#10;")
    return value


@dataclass
class Scope:
    """Prefixes in scope while generating (None is the default namespace)."""

    bindings: dict[str | None, str] = field(default_factory=dict)


@st.composite
def comments(draw: st.DrawFn) -> str:
    content = draw(st.text(st.sampled_from(["c", " ", "-", "é", "\n", "<", "&"]), max_size=8))
    if "--" in content or content.endswith("-"):
        content = content.replace("-", "_")
    return f"<!--{content}-->"


@st.composite
def processing_instructions(draw: st.DrawFn) -> str:
    target = draw(st.sampled_from(["t", "pi-x", "xml-stylesheet"]))
    content = draw(st.text(st.sampled_from(["d", " ", "?", ">", "é", "&"]), max_size=8))
    content = content.replace("?>", "? >")
    return f"<?{target} {content}?>" if draw(st.booleans()) else f"<?{target}?>"


@st.composite
def elements(draw: st.DrawFn, scope: Scope, depth: int) -> str:
    bindings = dict(scope.bindings)
    declarations: list[str] = []
    for prefix in draw(st.lists(st.sampled_from([None, *PREFIXES]), max_size=3, unique=True)):
        choices = [*URIS, RELATIVE_URI] if draw(st.integers(0, 30)) == 0 else URIS
        uri = (
            ""
            if prefix is None and draw(st.integers(0, 3)) == 0
            else draw(st.sampled_from(choices))
        )
        bindings[prefix] = uri
        declarations.append(f' xmlns="{uri}"' if prefix is None else f' xmlns:{prefix}="{uri}"')
    prefixes = [prefix for prefix in bindings if prefix is not None]
    prefix = draw(st.sampled_from([None, *prefixes]))
    name = draw(st.sampled_from(LOCAL_NAMES))
    qualified = name if prefix is None else f"{prefix}:{name}"
    attributes: dict[tuple[str, str], str] = {}
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["plain", "plain", "prefixed", "xml"]))
        local = draw(st.sampled_from(ATTRIBUTE_NAMES))
        value = attribute_markup(draw(st.text(CHARACTERS, max_size=6)), draw(st.booleans()))
        if kind == "prefixed" and prefixes:
            attribute_prefix = draw(st.sampled_from(prefixes))
            key = (bindings[attribute_prefix], local)  # one URI bound twice: one attribute
            if key not in attributes:
                attributes[key] = f' {attribute_prefix}:{local}="{value}"'
        elif kind == "xml":
            local = draw(st.sampled_from(["lang", "space"]))
            value = "preserve" if local == "space" else value
            attributes.setdefault(("xml", local), f' xml:{local}="{value}"')
        else:
            attributes.setdefault(("", local), f' {local}="{value}"')
    children: list[str] = []
    for _ in range(draw(st.integers(0, 4 if depth else 0))):
        kind = draw(st.sampled_from(["text", "text", "element", "element", "comment", "pi"]))
        if kind == "text":
            children.append(
                text_markup(draw(st.text(CHARACTERS, max_size=12)), draw(st.booleans()))
            )
        elif kind == "element":
            children.append(draw(elements(Scope(bindings), depth - 1)))
        elif kind == "comment":
            children.append(draw(comments()))
        else:
            children.append(draw(processing_instructions()))
    head = f"<{qualified}{''.join(declarations)}{''.join(attributes.values())}"
    if not children and draw(st.booleans()):
        return head + "/>"
    return f"{head}>{''.join(children)}</{qualified}>"


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    misc = st.one_of(comments(), processing_instructions(), st.just("\n"))
    before = draw(st.lists(misc, max_size=2))
    after = draw(st.lists(misc, max_size=2))
    declaration = "<?xml version='1.0' encoding='UTF-8'?>\n" if draw(st.booleans()) else ""
    root = draw(elements(Scope(), depth=3))
    return (declaration + "".join(before) + root + "".join(after)).encode()


def parse(document: bytes) -> etree._Element:
    return parse_xml(document, max_bytes=1 << 20, max_depth=64)


def libxml2(
    node: etree._Element | etree._ElementTree, *, exclusive: bool, with_comments: bool
) -> bytes | None:
    try:
        octets: bytes = etree.tostring(
            node, method="c14n", exclusive=exclusive, with_comments=with_comments
        )
    except etree.C14NError:
        return None
    return octets


def fast(
    node: etree._Element | etree._ElementTree, *, exclusive: bool, with_comments: bool
) -> bytes | None:
    """The walk's octets, its guard off; short text is escaped as str, long text as bytes:
    both ways must agree."""
    rendered = c14n.canonical_octets(
        node, exclusive=exclusive, with_comments=with_comments, min_bytes_per_node=0
    )
    with mock.patch.object(c14n, "_DIRECT_WRITE", 1):
        as_long_text = c14n.canonical_octets(
            node, exclusive=exclusive, with_comments=with_comments, min_bytes_per_node=0
        )
    assert as_long_text == rendered
    return rendered


def assert_same_or_declined(
    node: etree._Element | etree._ElementTree, *, exclusive: bool, with_comments: bool
) -> None:
    expected = libxml2(node, exclusive=exclusive, with_comments=with_comments)
    rendered = fast(node, exclusive=exclusive, with_comments=with_comments)
    event("fast path" if rendered is not None else "declined")
    if expected is None:
        assert rendered is None, "libxml2 refuses this tree; the fast path must decline it too"
    elif rendered is not None:
        assert rendered == expected


MODES = [(True, False), (True, True), (False, False), (False, True)]


@pytest.mark.slow
@LIBXML
@given(document=documents())
def test_whole_document_matches_libxml2(document: bytes) -> None:
    tree = parse(document).getroottree()
    for exclusive, with_comments in MODES:
        assert_same_or_declined(tree, exclusive=exclusive, with_comments=with_comments)


@pytest.mark.slow
@LIBXML
@given(document=documents())
def test_every_element_matches_libxml2_exclusive(document: bytes) -> None:
    root = parse(document)
    for element in root.iter(tag=etree.Element):
        for with_comments in (False, True):
            assert_same_or_declined(element, exclusive=True, with_comments=with_comments)


def reparsed_without(
    document: bytes, root: etree._Element, signature: etree._Element
) -> etree._ElementTree:
    """The reference enveloped-signature transform: the document parsed again, without
    ``signature`` (its tail text kept)."""
    path = []
    element = signature
    while element is not root:
        parent = element.getparent()
        assert parent is not None
        path.insert(0, parent.index(element))
        element = parent
    target = parse(document)
    for position in path:
        target = target[position]
    parent = target.getparent()
    assert parent is not None
    if target.tail:
        previous = target.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + target.tail
        else:
            parent.text = (parent.text or "") + target.tail
    target.tail = None
    parent.remove(target)
    return parent.getroottree()


@pytest.mark.slow
@LIBXML
@given(document=documents(), data=st.data())
def test_enveloped_transform_matches_libxml2(document: bytes, data: st.DataObject) -> None:
    root = parse(document)
    candidates = [element for element in root.iter(tag=etree.Element) if element is not root]
    if not candidates:
        return
    signature = data.draw(st.sampled_from(candidates))
    before = etree.tostring(root.getroottree())
    copied = reparsed_without(document, root, signature)
    for exclusive, with_comments in MODES:
        expected = libxml2(copied, exclusive=exclusive, with_comments=with_comments)
        rendered = c14n.canonical_octets(
            root.getroottree(),
            exclusive=exclusive,
            with_comments=with_comments,
            excluding=signature,
            min_bytes_per_node=0,
        )
        if expected is None:
            assert rendered is None
        elif rendered is not None:
            assert rendered == expected
    assert etree.tostring(root.getroottree()) == before


def meaning(tree: etree._ElementTree, signature: etree._Element) -> tuple[bytes | None, ...]:
    """What later digests see of the tree and of the signature: their canonical forms (a
    redundant declaration lxml drops on re-insertion changes none; a changed prefix changes all).
    """
    return (
        libxml2(tree, exclusive=False, with_comments=True),
        libxml2(signature, exclusive=True, with_comments=True),
        libxml2(signature, exclusive=False, with_comments=True),
    )


def test_a_default_namespace_redeclared_inside_the_signature_survives_the_digest() -> None:
    # Found by the property below: lxml drops the inner, redundant xmlns="urn:a" when the
    # detached subtree is put back and leaves that element in no namespace at all; such a
    # subtree is now canonicalised on a copy.
    document = b'<e Id=""><e xmlns:a="urn:b" xmlns="urn:a"><e><e xmlns="urn:a"></e></e></e></e>'
    root = parse(document)
    signature = root[0]
    assert not enveloped.reattaches_faithfully(signature)
    before = meaning(root.getroottree(), signature)
    for uri in (EXC_C14N, C14N10):
        method = C14nMethod(uri, exclusive=uri == EXC_C14N, with_comments=False)
        expected = libxml2(reparsed_without(document, root, signature),
                           exclusive=method.exclusive, with_comments=False)
        assert expected is not None
        digest = canonical_digest(root.getroottree(), method, with_comments=False,
                                  hash_name="sha256", excluding=signature, text_heavy=False)
        assert digest == hashlib.sha256(expected).digest()
        assert meaning(root.getroottree(), signature) == before


@pytest.mark.slow
@LIBXML
@given(document=documents(), data=st.data(), text_heavy=st.booleans())
def test_enveloped_digest_leaves_the_tree_as_it_was(
    document: bytes, data: st.DataObject, text_heavy: bool
) -> None:
    """Through the real entry point, by either path (libxml2 detaches the signature and puts it
    back, or works on a copy when putting it back would change a prefix)."""
    root = parse(document)
    candidates = [element for element in root.iter(tag=etree.Element) if element is not root]
    if not candidates:
        return
    signature = data.draw(st.sampled_from(candidates))
    before = meaning(root.getroottree(), signature)
    copied = reparsed_without(document, root, signature)
    for uri in (EXC_C14N, C14N10):
        method = C14nMethod(uri, exclusive=uri == EXC_C14N, with_comments=False)
        expected = libxml2(copied, exclusive=method.exclusive, with_comments=False)
        if expected is None:
            continue
        digest = canonical_digest(
            root.getroottree(),
            method,
            with_comments=False,
            hash_name="sha256",
            excluding=signature,
            text_heavy=text_heavy,
        )
        assert digest == hashlib.sha256(expected).digest()
        assert meaning(root.getroottree(), signature) == before


@pytest.mark.slow
@LIBXML
@given(document=documents(), text_heavy=st.booleans())
def test_canonical_digest_is_the_digest_of_libxml2_octets(
    document: bytes, text_heavy: bool
) -> None:
    """Through the real entry point, walk or libxml2: document, root element, any element."""
    root = parse(document)
    for uri in (EXC_C14N, EXC_C14N_COMMENTS, C14N10, C14N10_COMMENTS):
        method = C14nMethod(uri, exclusive=uri.startswith(EXC_C14N), with_comments="#W" in uri)
        tree = root.getroottree()
        expected = libxml2(tree, exclusive=method.exclusive, with_comments=method.with_comments)
        if expected is not None:
            digest = canonical_digest(
                tree,
                method,
                with_comments=method.with_comments,
                hash_name="sha256",
                text_heavy=text_heavy,
            )
            assert digest == hashlib.sha256(expected).digest()
        if not method.exclusive:
            continue
        for element in (root, *root.iterchildren(tag=etree.Element)):
            expected = libxml2(element, exclusive=True, with_comments=method.with_comments)
            if expected is None:
                continue
            digest = canonical_digest(
                element,
                method,
                with_comments=method.with_comments,
                hash_name="sha256",
                text_heavy=text_heavy,
            )
            assert digest == hashlib.sha256(expected).digest()


# --- deterministic cases -------------------------------------------------------------------------

BIG = "QUJD" * 4096  # 16 KiB of Base64 text: a text-heavy node


def test_text_heavy_document_takes_the_fast_path() -> None:
    document = (
        '<r:Receipt xmlns:r="urn:r" a="1&amp;2"><r:Attachment>'
        + BIG
        + "&amp;&lt;&gt;&#13;é</r:Attachment>\n</r:Receipt>"
    ).encode()
    tree = parse(document).getroottree()
    assert c14n.worth_walking(tree.getroot(), len(document))
    rendered = c14n.canonical_octets(tree, exclusive=True, with_comments=False)
    assert rendered is not None
    assert rendered == libxml2(tree, exclusive=True, with_comments=False)
    assert rendered.endswith("&amp;&lt;&gt;&#xD;é</r:Attachment>\n</r:Receipt>".encode())


def test_node_heavy_document_is_left_to_libxml2() -> None:
    items = "".join(f"<item n='{position}'>x</item>" for position in range(200))
    document = f"<r>{items}</r>".encode()
    tree = parse(document).getroottree()
    assert not c14n.worth_walking(tree.getroot(), len(document))
    assert not c14n.worth_walking(tree.getroot(), 1 << 20)  # 200 elements, 400 nodes: > 256
    assert c14n.worth_walking(tree.getroot(), 2 << 20)  # 512 nodes allowed
    # Told it is text-heavy anyway, the walk gives up after a few nodes (and libxml2 answers).
    assert c14n.canonical_octets(tree, exclusive=True, with_comments=False) is None
    method = C14nMethod(EXC_C14N, exclusive=True, with_comments=False)
    digest = canonical_digest(
        tree, method, with_comments=False, hash_name="sha256", text_heavy=True
    )
    expected = libxml2(tree, exclusive=True, with_comments=False)
    assert expected is not None and digest == hashlib.sha256(expected).digest()


@pytest.mark.parametrize("big", [True, False], ids=["fast", "libxml2"])
def test_root_element_reference_leaves_out_document_level_nodes(big: bool) -> None:
    """``#id`` of the root designates its subtree, not the comments and PIs around it."""
    text = BIG if big else "x"
    items = "" if big else "".join("<i/>" for _ in range(40))
    document = f'<?pi before?><!--c--><r Id="r">{text}{items}</r><?pi after?>'.encode()
    root = parse(document)
    method = C14nMethod(EXC_C14N, exclusive=True, with_comments=False)
    digest = canonical_digest(root, method, with_comments=False, hash_name="sha256", text_heavy=big)
    expected = libxml2(root, exclusive=True, with_comments=False)
    assert expected is not None and expected.startswith(b'<r Id="r">')
    assert digest == hashlib.sha256(expected).digest()


def test_inclusive_element_and_prefix_lists_are_declined() -> None:
    root = parse(b'<a xmlns:p="urn:p"><b p:x="1">' + BIG.encode() + b"</b></a>")
    assert fast(root[0], exclusive=False, with_comments=False) is None
    assert (
        c14n.canonical_octets(root, exclusive=True, with_comments=False, inclusive_prefixes=("p",))
        is None
    )


@pytest.mark.parametrize(
    "document",
    [
        b'<a xmlns:p="urn:p" xmlns:q="urn:p" p:x="1"/>',  # attribute prefix ambiguous
        b'<a xmlns:p="relative"/>',  # libxml2 refuses a relative namespace URI
        b'<xml:a xmlns:p="urn:p"/>',  # an element in the xml namespace
    ],
)
def test_outside_the_subset_is_declined(document: bytes) -> None:
    root = parse(document)
    assert fast(root.getroottree(), exclusive=True, with_comments=False) is None


def test_carriage_return_in_a_built_comment_is_declined() -> None:
    root = etree.fromstring(b"<a/>")
    root.append(etree.Comment("x\ry"))
    root.append(etree.ProcessingInstruction("t", "x\ry"))
    assert fast(root.getroottree(), exclusive=True, with_comments=True) is None


DS = "http://www.w3.org/2000/09/xmldsig#"


@pytest.mark.parametrize("text_heavy", [True, False], ids=["walk", "libxml2-on-a-copy"])
@pytest.mark.parametrize("uri", [EXC_C14N_COMMENTS, C14N10_COMMENTS])
def test_signature_whose_namespace_the_root_binds_to_another_prefix(
    text_heavy: bool, uri: str
) -> None:
    """Detaching and re-inserting would turn ``ds:`` into ``dsig:``; neither path may."""
    document = (
        f'<?a x?><!--b--><r:R xmlns:r="urn:r" xmlns:dsig="{DS}">{BIG}'
        f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo/></ds:Signature>\n</r:R><!--c--><?d?>'
    ).encode()
    root = parse(document)
    signature = root[0]
    assert not enveloped.reattaches_faithfully(signature)
    before = etree.tostring(root.getroottree())
    method = C14nMethod(uri, exclusive=uri.startswith(EXC_C14N), with_comments=True)
    digest = canonical_digest(
        root.getroottree(),
        method,
        with_comments=True,
        hash_name="sha256",
        excluding=signature,
        text_heavy=text_heavy,
    )
    expected = libxml2(
        reparsed_without(document, root, signature),
        exclusive=method.exclusive,
        with_comments=True,
    )
    assert expected is not None and expected.startswith(b"<?a x?>\n<!--b-->\n<r:R")
    assert expected.endswith(b"\n</r:R>\n<!--c-->\n<?d?>")
    assert digest == hashlib.sha256(expected).digest()
    assert etree.tostring(root.getroottree()) == before
