"""The node-set canonicaliser (``gateway.signatures.nodeset``) and the transform parser
(``gateway.signatures.transforms``).

Where libxml2 is right -- whole documents, exclusive C14N of an element -- the Python renderer
must give its octets byte for byte (hypothesis, the generator of ``test_sig_c14n``). Where it is
not -- an inclusive subset under a default namespace -- the expected octets are written out from
C14N 1.0 §2.4. The XPath safety rules are an accept/reject table.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from test_sig_c14n import LIBXML, documents, libxml2, parse

from gateway.signatures import nodeset
from gateway.signatures.findings import FormatError
from gateway.signatures.nodeset import Mode, NodeSet
from gateway.signatures.transforms import lint_xpath, parse_transforms

MODES = [(True, False), (True, True), (False, False), (False, True)]


def rendered(
    root: etree._Element, apex: etree._Element | None, mode: Mode, comments: bool
) -> bytes:
    return nodeset.canonical_octets(NodeSet(root, apex, comments), mode)


@LIBXML
@given(document=documents())
def test_whole_document_matches_libxml2(document: bytes) -> None:
    root = parse(document)
    for exclusive, with_comments in MODES:
        expected = libxml2(root.getroottree(), exclusive=exclusive, with_comments=with_comments)
        if expected is not None:
            assert rendered(root, None, Mode(exclusive=exclusive), with_comments) == expected


@LIBXML
@given(document=documents())
def test_every_element_matches_libxml2_exclusive(document: bytes) -> None:
    root = parse(document)
    for element in root.iter(tag=etree.Element):
        for with_comments in (False, True):
            expected = libxml2(element, exclusive=True, with_comments=with_comments)
            if expected is not None:
                assert rendered(root, element, Mode(exclusive=True), with_comments) == expected


@LIBXML
@given(document=documents(), data=st.data())
def test_an_excluded_subtree_is_as_if_detached(document: bytes, data: st.DataObject) -> None:
    root = parse(document)
    candidates = [element for element in root.iter(tag=etree.Element) if element is not root]
    if not candidates:
        return
    excluded = data.draw(st.sampled_from(candidates))
    exclusive = data.draw(st.booleans())
    octets = nodeset.canonical_octets(
        NodeSet(root, None, False, excluded=(excluded,)), Mode(exclusive=exclusive)
    )
    parent = excluded.getparent()
    assert parent is not None
    # Detach on a copy: the tail text of the excluded element stays in its parent.
    copy = parse(etree.tostring(root.getroottree(), encoding="UTF-8"))
    twin = next(e for e, o in zip(copy.iter(), root.iter(), strict=True) if o is excluded)
    twin_parent = twin.getparent()
    assert twin_parent is not None
    previous = twin.getprevious()
    if twin.tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + twin.tail
        else:
            twin_parent.text = (twin_parent.text or "") + twin.tail
    twin_parent.remove(twin)
    expected = libxml2(copy.getroottree(), exclusive=exclusive, with_comments=False)
    if expected is not None:
        assert octets == expected


def test_inclusive_subset_carries_its_namespace_context() -> None:
    """C14N 1.0 §2.4: the apex renders every namespace in scope and the xml:* attributes of its
    ancestors; no spurious xmlns="" below a default namespace declared above the apex."""
    root = etree.fromstring(
        b'<r xmlns="urn:r" xmlns:p="urn:p" xml:lang="es"><s xmlns="urn:ds"><si><c/>'
        b'<e xmlns=""><f/></e></si></s></r>'
    )
    signed_info = root[0][0]
    assert rendered(signed_info, signed_info, Mode(exclusive=False), False) == (
        b'<si xmlns="urn:ds" xmlns:p="urn:p" xml:lang="es"><c></c><e xmlns=""><f></f></e></si>'
    )
    assert rendered(root, signed_info, Mode(exclusive=False, version_11=True), False) == (
        b'<si xmlns="urn:ds" xmlns:p="urn:p" xml:lang="es"><c></c><e xmlns=""><f></f></e></si>'
    )
    assert rendered(root, signed_info, Mode(exclusive=True), False) == (
        b'<si xmlns="urn:ds"><c></c><e xmlns=""><f></f></e></si>'
    )
    assert rendered(root, signed_info, Mode(exclusive=True, inclusive_prefixes=("p",)), False) == (
        b'<si xmlns="urn:ds" xmlns:p="urn:p"><c></c><e xmlns=""><f></f></e></si>'
    )


def test_c14n11_does_not_inherit_xml_id_and_fixes_up_xml_base() -> None:
    root = etree.fromstring(b'<r xml:id="x" xml:space="preserve"><a><b/></a></r>')
    assert rendered(root, root[0], Mode(exclusive=False, version_11=True), False) == (
        b'<a xml:space="preserve"><b></b></a>'
    )
    assert rendered(root, root[0], Mode(exclusive=False), False) == (
        b'<a xml:id="x" xml:space="preserve"><b></b></a>'
    )
    based = etree.fromstring(
        b'<r xml:base="http://a.example/d/"><w xml:base="s/"><a xml:base="../x"><b/></a></w></r>'
    )
    apex = based[0][0]
    assert rendered(based, apex, Mode(exclusive=False, version_11=True), False) == (
        b'<a xml:base="http://a.example/d/x"><b></b></a>'
    )
    # C14N 1.0 inherits the nearest value unchanged (the element's own wins).
    assert rendered(based, based[0], Mode(exclusive=False), False) == (
        b'<w xml:base="s/"><a xml:base="../x"><b></b></a></w>'
    )


@pytest.mark.parametrize(
    "document",
    [
        b'<r xml:base="../up/"><a xml:base="x"/></r>',  # relative with dot segments
        b'<r xml:base=""><a/></r>',  # empty
        b'<r xml:base="urn:a:b"><a xml:base="c"/></r>',  # not hierarchical
    ],
)
def test_c14n11_xml_base_fix_ups_the_peers_may_not_agree_on_are_refused(document: bytes) -> None:
    root = etree.fromstring(document)
    with pytest.raises(FormatError, match="xml:base"):
        rendered(root, root[0], Mode(exclusive=False, version_11=True), False)


# --- XPath safety ---------------------------------------------------------------------------------

PER_NODE_ACCEPTED = [
    "not(ancestor-or-self::ds:Signature)",
    (
        "count(ancestor-or-self::dsig:Signature | here()/ancestor::dsig:Signature[1]) > "
        "count(ancestor-or-self::dsig:Signature)"
    ),
    "ancestor-or-self::soap:Body",
    "not(self::text()) and @Id != 'x'",
    "string-length(normalize-space(.)) > 0",
]
PER_NODE_REFUSED = [
    ("//x", "'//'"),
    ("descendant::x", "axis"),
    ("not(following-sibling::*)", "axis"),
    ("preceding::x", "axis"),
    ("$v", "variables"),
    ("document('http://x.example/')", "document"),
    ("exsl:node-set(.)", "exsl:node-set"),
    ("re:test(., 'a')", "re:test"),
    ("position() = 1", "position"),
    ("id('a')", "'id'"),
    ("a[b[c[d[e]]]]", "nested"),
    ("'unterminated", "literal"),
]
FILTER2_ACCEPTED = ["//i:Line", "here()/ancestor::dsig:Signature[1]", "/"]
FILTER2_REFUSED = [
    ("//*[count(//*) > 1]", "'//'"),
    ("//*[descendant::x]", "'//' and far axes"),
    ("id('a')", "'id'"),
]


@pytest.mark.parametrize("expression", PER_NODE_ACCEPTED)
def test_per_node_xpath_accepted(expression: str) -> None:
    lint_xpath(expression, per_node=True)


@pytest.mark.parametrize(("expression", "reason"), PER_NODE_REFUSED)
def test_per_node_xpath_refused(expression: str, reason: str) -> None:
    with pytest.raises(FormatError, match=reason.replace("(", r"\(")):
        lint_xpath(expression, per_node=True)


@pytest.mark.parametrize("expression", FILTER2_ACCEPTED)
def test_filter2_xpath_accepted(expression: str) -> None:
    lint_xpath(expression, per_node=False)


@pytest.mark.parametrize(("expression", "reason"), FILTER2_REFUSED)
def test_filter2_xpath_refused(expression: str, reason: str) -> None:
    with pytest.raises(FormatError, match=reason):
        lint_xpath(expression, per_node=False)


@pytest.mark.parametrize(
    ("algorithm", "content"),
    [
        ("http://www.w3.org/TR/1999/REC-xslt-19991116", ""),
        ("http://www.w3.org/2001/04/xmldsig-more#xptr", ""),
        ("urn:anything", ""),
    ],
)
def test_unsupported_transforms_are_named(algorithm: str, content: str) -> None:
    element = etree.fromstring(
        f'<ds:Transforms xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
        f'<ds:Transform Algorithm="{algorithm}">{content}</ds:Transform></ds:Transforms>'
    )
    with pytest.raises(FormatError, match=algorithm.replace("#", ".").replace("?", ".")):
        parse_transforms(element)
