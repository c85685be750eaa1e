"""The Id index: the walk in Python (small documents) and the XPath (large ones) agree.

``IdIndex.build`` walks documents of up to ``WALK_AT_MOST`` nodes in Python and hands larger
ones to an XPath union; both must index the same Ids, refuse the same duplicates and notice
the same comments and processing instructions (WSS 1.1 §4, DESIGN.md §5.4).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway import namespaces as ns
from gateway.errors import InvalidSecurity
from gateway.xmlsig.references import WALK_AT_MOST, IdIndex

ID_ATTRIBUTES = [ns.qname(ns.WSU, "Id"), "Id", ns.qname(ns.XML, "id")]
NOT_ID_ATTRIBUTES = ["{urn:other}Id", "id", "ID", "URI"]
VALUES = ["a", "b", " a ", "c"]


def _outcome(build: object, root: etree._Element) -> object:
    try:
        index = build(root)  # type: ignore[operator]
    except InvalidSecurity as exc:
        return exc.code
    return {value: element for value, element in index.elements.items()}, index.element_only


Node = tuple[str, list[tuple[str, str]]]

attribute = st.tuples(st.sampled_from(ID_ATTRIBUTES + NOT_ID_ATTRIBUTES), st.sampled_from(VALUES))
node = st.one_of(
    st.tuples(st.just("element"), st.lists(attribute, max_size=3)),
    st.tuples(st.just("comment"), st.just([])),
    st.tuples(st.just("pi"), st.just([])),
)


def _document(nodes: list[Node], depth_pattern: list[int]) -> etree._Element:
    root = etree.Element("root")
    parents = [root]
    for (kind, attributes), depth in zip(nodes, depth_pattern):
        parent = parents[min(depth, len(parents) - 1)]
        if kind == "comment":
            parent.append(etree.Comment("c"))
        elif kind == "pi":
            parent.append(etree.ProcessingInstruction("pi", 'Id="a" id="b"'))
        else:
            child = etree.SubElement(parent, "{urn:x}e")
            for name, value in attributes:
                child.set(name, value)
            parents.append(child)
    return root


@settings(max_examples=300, deadline=None)
@given(
    nodes=st.lists(node, max_size=12),
    depths=st.lists(st.integers(min_value=0, max_value=6), min_size=12, max_size=12),
)
def test_walk_and_xpath_agree(nodes: list[Node], depths: list[int]) -> None:
    root = _document(nodes, depths)
    assert _outcome(IdIndex.build, root) == _outcome(IdIndex._build_with_xpath, root)


def test_a_processing_instruction_defines_no_id() -> None:
    root = etree.fromstring(b'<r xmlns:u="%s" u:Id="a"><?pi Id="a"?></r>' % ns.WSU.encode())
    index = IdIndex.build(root)
    assert index.elements == {"a": root}
    assert not index.element_only


@pytest.mark.parametrize("extra_nodes", [0, WALK_AT_MOST])
@pytest.mark.parametrize("attribute", ID_ATTRIBUTES)
def test_a_value_defined_twice_is_refused_whatever_the_size(
    extra_nodes: int, attribute: str
) -> None:
    root = etree.Element("root")
    etree.SubElement(root, "first", {ns.qname(ns.WSU, "Id"): "x"})
    for _ in range(extra_nodes):
        etree.SubElement(root, "filler")
    etree.SubElement(root, "second", {attribute: " x "})
    with pytest.raises(InvalidSecurity) as refused:
        IdIndex.build(root)
    assert refused.value.code == "DUPLICATE_ID"


def test_the_same_value_twice_on_one_element_is_not_ambiguous() -> None:
    root = etree.Element("root", {ns.qname(ns.WSU, "Id"): "x", "Id": "x"})
    assert IdIndex.build(root).elements == {"x": root}
