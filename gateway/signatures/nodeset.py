"""Canonical XML of document subsets: XPath node-sets as XML Signature transforms produce them
(C14N 1.0 §2.4 "Document Subsets", C14N 1.1 §2.4, Exclusive XML Canonicalization 1.0 §3).

libxml2 -- through lxml -- canonicalises an element on its own by copying it under a fake
document root; the namespace declarations it copies there are not the ones the descendants point
at, so an element in a default namespace declared on an ancestor of the apex comes out with a
spurious ``xmlns=""`` below it (an unprefixed ``<Signature xmlns="...xmldsig#">``: its
``SignedInfo`` does not verify). lxml cannot hand libxml2 a node-set either. This module renders
any node-set the transforms of ``gateway.signatures.transforms`` can make, in Python, to the
spec:

* the node-set is an apex (an element and its descendants, or the whole document with its
  top-level comments and PIs), minus excluded subtrees (the enveloped signature), minus comments
  unless kept, intersected with :class:`Selection` filters (XPath, XPath Filter 2.0);
* the namespace nodes of an element in the node-set are all in it (the transforms refuse an
  XPath expression that drops some), so an inclusive element renders every in-scope
  namespace its nearest output ancestor does not have, and ``xmlns=""`` when that ancestor has
  a non-empty default (C14N 1.0 §2.3); exclusive rendering only what the element visibly
  utilises, plus the InclusiveNamespaces PrefixList by the inclusive rule (Exc-C14N §3);
* an element whose parent is omitted inherits the ``xml:*`` attributes of its ancestors
  (C14N 1.0 §2.4) -- in C14N 1.1 only ``xml:lang`` and ``xml:space``; ``xml:id`` is not
  inherited, and ``xml:base`` is fixed up where xmlsec1 and Santuario agree (an absolute
  hierarchical result, or a relative one without dot segments) and refused (FormatError)
  elsewhere rather than guessed;
* the octets stream to a sink; nothing is materialised.

Performance: Python per node. Callers keep libxml2 (and the text-node walk of
``gateway.signatures.c14n``) for the whole-document and exclusive cases it gets right.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol
from urllib.parse import urljoin, urlsplit

from lxml import etree

from gateway import namespaces as ns
from gateway.signatures.c14n import _split, escape_text, start_tag
from gateway.signatures.findings import FormatError

_FLUSH_AT = 64 * 1024
_XML_PREFIX = f"{{{ns.XML}}}"
_SIGNATURE = f"{{{ns.DS}}}Signature"
_INHERITED_11 = frozenset({f"{_XML_PREFIX}lang", f"{_XML_PREFIX}space"})
_XML_BASE = f"{_XML_PREFIX}base"


class WorkBudget:
    """How many more elements the Python renderer may render for one document.

    The renderer is linear, but references multiply it: 32 references (and their manifests) of
    16 signatures, each designating a large element, would cost hundreds of renderings of the
    whole tree. A document gets :data:`WORK_PER_ELEMENT` renderings of its elements (plus
    :data:`WORK_FLOOR`); past that, FormatError."""

    def __init__(self, root: etree._Element) -> None:
        self._root = root
        self._remaining: int | None = None  # counted at the first spending: most never spend

    @classmethod
    def for_document(cls, root: etree._Element) -> WorkBudget:
        return cls(root)

    def spend(self) -> None:
        if self._remaining is None:
            count = self._root.xpath("count(//*)")
            assert isinstance(count, float)
            self._remaining = int(count) * WORK_PER_ELEMENT + WORK_FLOOR
        self._remaining -= 1
        if self._remaining < 0:
            raise FormatError("The references need too much canonicalisation work")


WORK_PER_ELEMENT = 8
WORK_FLOOR = 10_000


class Selection(Protocol):
    """One filter of a node-set (an XPath or XPath Filter 2.0 transform's result).

    Element, comment and PI nodes are asked by :meth:`has_node`, text nodes by
    :meth:`has_text` (lxml's ``(element, is_tail)`` addressing), attributes by
    :meth:`has_attribute`. Namespace nodes follow their element."""

    def has_node(self, node: etree._Element) -> bool: ...

    def has_text(self, node: etree._Element, is_tail: bool) -> bool: ...

    def has_attribute(self, element: etree._Element, name: str) -> bool: ...

    def has_namespaces(self, element: etree._Element) -> bool:
        """Whether the element's namespace nodes (all or some) are in the set."""
        ...


@dataclass(frozen=True)
class NodeSet:
    """A document subset (XMLDSig §4.3.3.2): what a same-document reference and its node-set
    transforms designate."""

    root: etree._Element
    """The document element."""
    apex: etree._Element | None
    """The element whose subtree is the starting set; None for the whole document."""
    with_comments: bool
    excluded: tuple[etree._Element, ...] = ()
    """Subtrees left out (the enveloped-signature transform, XMLDSig §6.6.4)."""
    selections: tuple[Selection, ...] = field(default=())
    budget: WorkBudget | None = field(default=None, compare=False)
    """The document's rendering budget (None: unbounded, for small trusted trees)."""

    @property
    def whole_document(self) -> bool:
        return self.apex is None

    def excluding(self, element: etree._Element) -> NodeSet:
        return replace(self, excluded=(*self.excluded, element))

    def selecting(self, selection: Selection) -> NodeSet:
        return replace(self, selections=(*self.selections, selection))

    def without_comments(self) -> NodeSet:
        return replace(self, with_comments=False)

    # -- membership ---------------------------------------------------------------------------

    def has_node(self, node: etree._Element) -> bool:
        return all(selection.has_node(node) for selection in self.selections)

    def has_text(self, node: etree._Element, is_tail: bool) -> bool:
        return all(selection.has_text(node, is_tail) for selection in self.selections)

    def has_attribute(self, element: etree._Element, name: str) -> bool:
        return all(selection.has_attribute(element, name) for selection in self.selections)

    def has_namespaces(self, element: etree._Element) -> bool:
        return all(selection.has_namespaces(element) for selection in self.selections)

    def contains_element(self, element: etree._Element) -> bool:
        """Whether ``element`` is in the set (used for the parent test of §2.4)."""
        if self.apex is not None and not _is_inside(element, self.apex):
            return False
        if any(_is_inside(element, excluded) for excluded in self.excluded):
            return False
        return self.has_node(element)

    def omits_only_signatures(self) -> bool:
        """Whether every element, attribute and text node outside ``ds:Signature`` elements
        (and the excluded subtrees) is in the set: the filters narrowed nothing else."""
        stack = [self.root if self.apex is None else self.apex]
        while stack:
            element = stack.pop()
            if element in self.excluded or element.tag == _SIGNATURE:
                continue
            if not self.has_node(element) and isinstance(element.tag, str):
                return False
            if not isinstance(element.tag, str):
                continue
            if any(not self.has_attribute(element, name) for name in element.attrib):
                return False
            if element.text and not self.has_text(element, False):
                return False
            for child in element:
                if child.tail and not self.has_text(child, True):
                    return False
                stack.append(child)
        return True

    def text_nodes(self) -> Iterable[str]:
        """The text nodes in the set, in document order (the Base64 transform's input)."""
        yield from self._texts(self.root if self.apex is None else self.apex)

    def _texts(self, element: etree._Element) -> Iterable[str]:
        if any(element is excluded for excluded in self.excluded):
            return
        if element.text and self.has_text(element, False):
            yield element.text
        for child in element:
            if isinstance(child.tag, str):
                yield from self._texts(child)
            # The tail of a left-out subtree is its parent's text: kept (XMLDSig §6.6.4).
            if child.tail and self.has_text(child, True):
                yield child.tail


def _is_inside(element: etree._Element, ancestor: etree._Element) -> bool:
    node: etree._Element | None = element
    while node is not None:
        if node is ancestor:
            return True
        node = node.getparent()
    return False


@dataclass(frozen=True, slots=True)
class Mode:
    """A canonicalisation algorithm's rendering rules."""

    exclusive: bool
    version_11: bool = False
    inclusive_prefixes: tuple[str, ...] = ()
    """Exclusive only: the InclusiveNamespaces PrefixList (``#default`` for the default)."""


def _attribute_prefix(element: etree._Element, uri: str, local: str) -> str:
    """The prefix a namespaced attribute is written with (lxml reports only its URI)."""
    if uri == ns.XML:
        return "xml"
    prefixes = [p for p, u in element.nsmap.items() if u == uri and p is not None]
    if len(prefixes) == 1:
        return str(prefixes[0])
    name = element.xpath(
        "name(@*[namespace-uri()=$uri and local-name()=$local])", uri=uri, local=local
    )
    if not isinstance(name, str) or ":" not in name:
        raise FormatError("An attribute's namespace prefix cannot be determined")
    prefix: str = name.partition(":")[0]
    return prefix


class _Renderer:
    def __init__(self, nodes: NodeSet, mode: Mode, sink: Callable[[bytes], object]) -> None:
        self._nodes = nodes
        self._mode = mode
        self._sink = sink
        self._pending: list[str] = []
        self._size = 0
        self._excluded = set(nodes.excluded)
        self._filtered = bool(nodes.selections)
        self._budget = nodes.budget

    def out(self, piece: str) -> None:
        self._pending.append(piece)
        self._size += len(piece)
        if self._size >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._sink("".join(self._pending).encode("utf-8"))
            self._pending.clear()
            self._size = 0

    # -- the document -------------------------------------------------------------------------

    def document(self) -> None:
        root = self._nodes.root
        before = list(root.itersiblings(preceding=True))
        before.reverse()
        for sibling in before:
            if self._leaf(sibling):
                self.out("\n")
        self.element(root, {}, parent_in_set=False)
        for sibling in root.itersiblings():
            if self._wanted_leaf(sibling):
                self.out("\n")
                self._leaf(sibling)

    def _wanted_leaf(self, node: etree._Element) -> bool:
        if node.tag is etree.Comment:
            return self._nodes.with_comments and self._nodes.has_node(node)
        if node.tag is etree.ProcessingInstruction:
            return self._nodes.has_node(node)
        return False

    def _leaf(self, node: etree._Element) -> bool:
        """Render a comment or PI in the set; whether it was rendered."""
        if not self._wanted_leaf(node):
            if not isinstance(node.tag, str) and node.tag not in (
                etree.Comment,
                etree.ProcessingInstruction,
            ):
                raise FormatError("The document holds an entity reference")
            return False
        content = (node.text or "").replace("\r", "&#xD;")
        if node.tag is etree.Comment:
            self.out(f"<!--{content}-->")
        else:
            assert isinstance(node, etree._ProcessingInstruction)
            self.out(f"<?{node.target} {content}?>" if content else f"<?{node.target}?>")
        return True

    # -- elements -----------------------------------------------------------------------------

    def element(
        self, element: etree._Element, rendered: dict[str | None, str], *, parent_in_set: bool
    ) -> None:
        if self._budget is not None:
            self._budget.spend()
        included = not self._filtered or self._nodes.has_node(element)
        qualified = ""
        if included:
            qualified, rendered = self._start_tag(element, rendered, parent_in_set)
        else:
            self._refuse_orphans(element, rendered)
        if element.text and (not self._filtered or self._nodes.has_text(element, False)):
            self.out(escape_text(element.text))
        for child in element:
            if child in self._excluded:
                pass  # its tail text is the parent's: kept below
            elif isinstance(child.tag, str):
                self.element(child, rendered, parent_in_set=included)
            elif child.tag is etree.Comment or child.tag is etree.ProcessingInstruction:
                self._leaf(child)
            else:
                raise FormatError("The document holds an entity reference")
            if child.tail and (not self._filtered or self._nodes.has_text(child, True)):
                self.out(escape_text(child.tail))
        if included:
            self.out(f"</{qualified}>")

    def _start_tag(
        self, element: etree._Element, rendered: dict[str | None, str], parent_in_set: bool
    ) -> tuple[str, dict[str | None, str]]:
        """Render the start tag; (the qualified name, the namespaces in effect below it)."""
        uri, local = _split(element.tag)
        prefix = element.prefix
        qualified = local if prefix is None else f"{prefix}:{local}"
        attributes: list[tuple[str, str, str, str]] = []  # (uri, local, qualified, value)
        utilized: dict[str | None, str] = {prefix: uri}
        own_names = set()
        for name, value in element.items():
            own_names.add(name)
            if self._filtered and not self._nodes.has_attribute(element, name):
                continue
            attribute_uri, attribute_local = _split(name)
            if not attribute_uri:
                attributes.append(("", attribute_local, attribute_local, value))
                continue
            attribute_prefix = _attribute_prefix(element, attribute_uri, attribute_local)
            if attribute_prefix != "xml":
                utilized[attribute_prefix] = attribute_uri
            attributes.append(
                (attribute_uri, attribute_local, f"{attribute_prefix}:{attribute_local}", value)
            )
        if not self._mode.exclusive and not parent_in_set and element.getparent() is not None:
            inherited = self._inherited_xml_attributes(element, own_names)
            if any(name == "base" for uri, name, _, _ in inherited if uri == ns.XML):
                # The fixed-up xml:base replaces the element's own (C14N 1.1 §2.4).
                attributes = [a for a in attributes if (a[0], a[1]) != (ns.XML, "base")]
            attributes.extend(inherited)
        nsmap = {p: u for p, u in element.nsmap.items() if p != "xml"}
        if self._mode.exclusive:
            wanted = dict(utilized)
            for listed in self._mode.inclusive_prefixes:
                key = None if listed == "#default" else listed
                if key in nsmap:
                    wanted[key] = nsmap[key]
                elif key is None:
                    wanted[None] = ""
        else:
            wanted = dict(nsmap)
            wanted.setdefault(None, "")
        declarations = [(p, u) for p, u in wanted.items() if rendered.get(p, "") != u]
        tag, rendered = start_tag(qualified, declarations, attributes, rendered)
        self.out(tag)
        return qualified, rendered

    def _refuse_orphans(self, element: etree._Element, rendered: dict[str | None, str]) -> None:
        """C14N 1.0 §2.3 renders the attribute and namespace axes of an element left out of the
        node-set as bare text (`` Id="l1"``). libxml2 and Santuario render those orphans
        differently (measured: xmlsec1 and Santuario reject each other's), so a node-set that
        would need them is refused rather than verified against one peer's octets."""
        if any(self._nodes.has_attribute(element, name) for name in element.attrib):
            raise FormatError("A transform keeps attributes of an element it leaves out")
        if self._nodes.has_namespaces(element):
            in_scope = {p: u for p, u in element.nsmap.items() if p != "xml"}
            in_scope.setdefault(None, "")
            if any(rendered.get(p, "") != u for p, u in in_scope.items()) or any(
                p not in in_scope and u for p, u in rendered.items()
            ):
                raise FormatError("A transform keeps namespace nodes of an element it leaves out")

    def _inherited_xml_attributes(
        self, element: etree._Element, own_names: set[str]
    ) -> list[tuple[str, str, str, str]]:
        """C14N 1.0 §2.4 / C14N 1.1 §2.4: the nearest ``xml:*`` attributes of the ancestors of an
        element whose parent is not in the node-set. In C14N 1.1, ``xml:id`` is not inherited
        and ``xml:base`` is fixed up: the values on the omitted ancestors (up to the nearest one
        in the node-set), joined with the element's own (:func:`_join_bases`)."""
        found: dict[str, str] = {}
        omitted_bases: list[str] = []
        parent_chain_omitted = True
        for ancestor in element.iterancestors():
            if parent_chain_omitted and self._nodes.contains_element(ancestor):
                parent_chain_omitted = False
            for name, value in ancestor.items():
                if not name.startswith(_XML_PREFIX):
                    continue
                if self._mode.version_11 and name == _XML_BASE:
                    if parent_chain_omitted:
                        omitted_bases.append(value)
                    continue
                if name in own_names or name in found:
                    continue
                if self._mode.version_11 and name not in _INHERITED_11:
                    continue
                found[name] = value
        if omitted_bases:
            own = element.get(_XML_BASE)
            bases = [*reversed(omitted_bases), *([] if own is None else [own])]
            found[_XML_BASE] = _join_bases(bases)
        return [
            (ns.XML, name[len(_XML_PREFIX) :], f"xml:{name[len(_XML_PREFIX) :]}", value)
            for name, value in found.items()
        ]


_DOT_SEGMENT = re.compile(r"(^|/)\.\.?(/|$)")
_FIX_UP_SCHEMES = frozenset({"http", "https", "file", "ftp"})


def _join_bases(bases: list[str]) -> str:
    """C14N 1.1 §2.4 xml:base fix-up: ``bases`` outermost first, each resolved against the ones
    before it (RFC 3986 §5.2). C14N 1.1 modifies dot-segment removal for relative results and
    its peers differ on unusual schemes, so only the cases they agree on are computed: the
    result is absolute with a hierarchical scheme, or relative without ``.``/``..`` segments.
    Anything else is FormatError rather than a guess."""
    if any(not base for base in bases):
        raise FormatError("C14N 1.1 xml:base fix-up of an empty xml:base is not supported")
    if any(urlsplit(base).scheme.lower() not in ("", *_FIX_UP_SCHEMES) for base in bases):
        raise FormatError("C14N 1.1 xml:base fix-up of a non-hierarchical URI is not supported")
    result = bases[0]
    for base in bases[1:]:
        result = urljoin(result, base)
    scheme = urlsplit(result).scheme.lower()
    if scheme in _FIX_UP_SCHEMES:
        return result
    if not scheme and not any(_DOT_SEGMENT.search(urlsplit(base).path) for base in bases):
        return result
    raise FormatError("This C14N 1.1 xml:base fix-up is not supported")


def render(nodes: NodeSet, mode: Mode, sink: Callable[[bytes], object]) -> None:
    """Write the canonical form of ``nodes`` to ``sink`` in chunks (FormatError when the tree
    holds something this renderer refuses to guess: see the module docstring)."""
    renderer = _Renderer(nodes, mode, sink)
    if nodes.apex is None:
        renderer.document()
    elif nodes.apex not in renderer._excluded:
        # The apex has no output ancestor: it renders every namespace in scope it uses (or, in
        # inclusive mode, every one) and inherits the xml:* attributes around it.
        renderer.element(nodes.apex, {}, parent_in_set=False)
    renderer.flush()


def canonical_octets(nodes: NodeSet, mode: Mode) -> bytes:
    chunks: list[bytes] = []
    render(nodes, mode, chunks.append)
    return b"".join(chunks)
