"""Same-document references: Id attributes and ``#id`` URIs (XMLDSig §4.3.3.2, WSS 1.1 §4).

Three Id attributes are honoured, because the client lineages we serve use all three: ``wsu:Id``
(zeep, WSS4J), a plain ``Id`` (node-soap / xml-crypto) and ``xml:id`` (W3C xml:id). The index is
built over the whole document, and a value defined on two different elements -- under the same or
different attributes -- refuses the message (``DUPLICATE_ID``): which one a verifier resolves is
exactly what XML-signature-wrapping attacks exploit. The same value repeated on one element (some
toolkits add ``Id`` next to an existing ``wsu:Id``) is not ambiguous and is allowed.

Only bare-name URIs are accepted (``#`` followed by an NCName): no empty URI (whole document), no
external URIs, no ``#xpointer(...)`` and nothing with quotes or parentheses
(``REFERENCE_URI_FORBIDDEN``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from gateway import namespaces as ns
from gateway.errors import InvalidSecurity

WSU_ID = ns.qname(ns.WSU, "Id")
XML_ID = ns.qname(ns.XML, "id")
PLAIN_ID = "Id"

# An NCName restricted to ASCII: every toolkit we serve generates ids of this shape, and refusing
# the rest keeps quotes, spaces, colons and parentheses out of any later lookup.
_BARE_NAME = re.compile(r"#([A-Za-z_][A-Za-z0-9_.\-]{0,127})", re.ASCII)

_ID_NAMES = frozenset({WSU_ID, PLAIN_ID, XML_ID})
_NOT_ELEMENTS = (etree._Comment, etree._ProcessingInstruction, etree._Entity)

WALK_AT_MOST = 128
"""Nodes :meth:`IdIndex.build` visits in Python before it hands the document to XPath instead.

A request of our contract has some 30 to 60 nodes, where the walk in Python is the cheaper of
the two inside the request pipeline (the interpreter and lxml's element access are kept warm
by the SOAP stack; libxml2's XPath engine is not). Per node it costs about three times what the
XPath does, so on large documents (a 500-item acknowledgement, a hostile 10 MB one) the XPath
wins and bounds the work."""

# descendant-or-self::* visits elements only; "//" would also walk every text node.
_ID_ATTRIBUTES = etree.XPath(
    "/descendant-or-self::*/@wsu:Id | /descendant-or-self::*/@Id | /descendant-or-self::*/@xml:id",
    namespaces={"wsu": ns.WSU, "xml": ns.XML},
)


def bare_name(uri: str | None) -> str:
    """The Id a same-document bare-name URI points to; refuse any other kind of URI."""
    match = _BARE_NAME.fullmatch(uri or "")
    if match is None:
        raise InvalidSecurity(
            "Only same-document '#id' references are accepted", code="REFERENCE_URI_FORBIDDEN"
        )
    return match.group(1)


def _duplicate_id() -> InvalidSecurity:
    return InvalidSecurity(
        "An Id value is defined more than once in the message", code="DUPLICATE_ID"
    )


@dataclass(frozen=True)
class IdIndex:
    """Every Id value of one document and the single element that defines it."""

    elements: Mapping[str, etree._Element]
    element_only: bool = False
    """No comment or processing instruction anywhere in the document, so the children of any
    element are all elements (lets the signature parser skip filtering them)."""

    @classmethod
    def build(cls, root: etree._Element) -> IdIndex:
        """Index ``wsu:Id``, ``Id`` and ``xml:id`` of the whole document; refuse duplicates."""
        # Small documents: one walk over every node, in Python rather than an XPath union;
        # inside the request pipeline it costs about half as much (see WALK_AT_MOST). Comments
        # and PIs have no attributes (``items()`` is empty, even for a PI's pseudo-attributes);
        # noticing them here saves a second walk.
        elements: dict[str, etree._Element] = {}
        element_only = True
        budget = WALK_AT_MOST
        for node in root.iter():
            budget -= 1
            if budget < 0:
                return cls._build_with_xpath(root)
            attributes = node.items()
            if not attributes:
                if element_only and isinstance(node, _NOT_ELEMENTS):
                    element_only = False
                continue
            for name, raw in attributes:
                if name in _ID_NAMES:
                    value = raw.strip()
                    known = elements.setdefault(value, node)
                    if known is not node:
                        raise _duplicate_id()
        return cls(elements, element_only)

    @classmethod
    def _build_with_xpath(cls, root: etree._Element) -> IdIndex:
        elements: dict[str, etree._Element] = {}
        attributes = _ID_ATTRIBUTES(root)
        assert isinstance(attributes, list)
        for attribute in attributes:
            owner = attribute.getparent()
            value = attribute.strip()  # a plain str (smart-string subclass methods return str)
            known = elements.setdefault(value, owner)
            if known is not owner:
                raise _duplicate_id()
        element_only = next(root.iter(etree.Comment, etree.ProcessingInstruction), None) is None
        return cls(elements, element_only)

    def resolve(self, uri: str | None) -> etree._Element:
        """The element a Reference URI designates."""
        element = self.elements.get(bare_name(uri))
        if element is None:
            raise InvalidSecurity(
                "A reference points to no element of the message", code="REFERENCE_NOT_FOUND"
            )
        return element

    def id_of(self, element: etree._Element) -> str | None:
        """The Id an element is known by (first of ``wsu:Id``, ``Id``, ``xml:id``), if any."""
        for attribute in (WSU_ID, PLAIN_ID, XML_ID):
            value = element.get(attribute)
            if value is not None:
                return str(value).strip()
        return None
