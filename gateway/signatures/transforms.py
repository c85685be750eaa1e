"""Reference transforms (XMLDSig 1.1 §6.6) as signing tools write them, within safe limits.

Supported, in any order and number (at most :data:`MAX_TRANSFORMS`):

* canonicalisation: C14N 1.0, C14N 1.1, exclusive C14N 1.0 (with an InclusiveNamespaces
  PrefixList), each with or without comments (§6.5);
* enveloped-signature (§6.6.4);
* Base64 (§6.6.2): the text nodes of a node-set, or octets, decoded -- DSS packages enveloping
  signatures this way;
* XPath (§6.6.3): a boolean expression evaluated per node of the input node-set (``here()``
  supported); XPath Filter 2.0 (``intersect``/``subtract``/``union``, evaluated once each).

XPath is evaluated by libxml2 through lxml with no extension function but ``here()``, no EXSLT,
no variables, and a restricted grammar (:func:`lint_xpath`) that keeps the work polynomial in the
document's depth: no XPath may call ``id()``, ``document()``, EXSLT or any function outside
XPath 1.0's core library (and ``here()``); a per-node XPath cannot use ``//``, the descendant,
following or preceding axes, ``position()`` or ``last()``; a Filter 2.0 expression may use
``//`` and those axes only outside predicates; predicates nest at most three deep. Expressions
are at most :data:`MAX_XPATH_CHARS` long and the document at most :data:`MAX_XPATH_NODES` nodes
(elements, text, comments, PIs, attributes). There is no wall-clock limit: libxml2 cannot be
interrupted, so these static bounds are what keeps the work bounded. XSLT, XPointer transforms and anything else are refused with a
FormatError naming the algorithm -- "what was signed" must stay a node you can point at.

Namespace nodes are not separate citizens here: an XPath expression that keeps an element but
drops some of its namespace nodes is refused (FormatError) rather than rendered approximately
(see ``gateway.signatures.nodeset``); namespace nodes kept on a dropped element are never
rendered anyway.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from lxml import etree

from gateway import namespaces as ns
from gateway.signatures.findings import FormatError
from gateway.signatures.nodeset import NodeSet
from gateway.xmlsig.values import element_children

C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N10_COMMENTS = C14N10 + "#WithComments"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
C14N11_COMMENTS = C14N11 + "#WithComments"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = EXC_C14N + "WithComments"
ENVELOPED_SIGNATURE = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
BASE64 = "http://www.w3.org/2000/09/xmldsig#base64"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XPATH_FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"

MAX_TRANSFORMS = 8
MAX_XPATH_CHARS = 1024
MAX_XPATH_NODES = 200_000
MAX_FILTERS = 8

_TRANSFORM = f"{{{ns.DS}}}Transform"
_XPATH = f"{{{ns.DS}}}XPath"
_FILTER2_XPATH = f"{{{XPATH_FILTER2}}}XPath"
_INCLUSIVE_NAMESPACES = f"{{{EXC_C14N}}}InclusiveNamespaces"

# (exclusive, with comments, C14N 1.1)
_C14N: dict[str, tuple[bool, bool, bool]] = {
    C14N10: (False, False, False),
    C14N10_COMMENTS: (False, True, False),
    C14N11: (False, False, True),
    C14N11_COMMENTS: (False, True, True),
    EXC_C14N: (True, False, False),
    EXC_C14N_COMMENTS: (True, True, False),
}
_NAMES = {
    ENVELOPED_SIGNATURE: "enveloped-signature",
    BASE64: "base64",
    XPATH: "xpath",
    XPATH_FILTER2: "xpath-filter2",
    C14N10: "c14n",
    C14N10_COMMENTS: "c14n-with-comments",
    C14N11: "c14n11",
    C14N11_COMMENTS: "c14n11-with-comments",
    EXC_C14N: "exc-c14n",
    EXC_C14N_COMMENTS: "exc-c14n-with-comments",
}


@dataclass(frozen=True, slots=True)
class C14nMethod:
    uri: str
    exclusive: bool
    with_comments: bool
    prefixes: tuple[str, ...] = ()
    version_11: bool = False


DEFAULT_C14N = C14nMethod(C14N10, exclusive=False, with_comments=False)


def c14n_method(element: etree._Element) -> C14nMethod:
    """A supported canonicalisation (method element or Transform) with its PrefixList."""
    uri = element.get("Algorithm") or ""
    known = _C14N.get(uri)
    if known is None:
        raise FormatError(f"Unsupported canonicalisation method {uri[:100]!r}")
    exclusive, with_comments, version_11 = known
    prefixes: tuple[str, ...] = ()
    children = element_children(element)
    if children:
        if not exclusive or len(children) != 1 or children[0].tag != _INCLUSIVE_NAMESPACES:
            raise FormatError("Unexpected content in a canonicalisation method")
        prefixes = tuple((children[0].get("PrefixList") or "").split())
    return C14nMethod(uri, exclusive, with_comments, prefixes, version_11)


@dataclass(frozen=True, slots=True)
class Transform:
    """One ``ds:Transform`` as written, checked."""

    algorithm: str
    element: etree._Element
    c14n: C14nMethod | None = None
    xpath: str | None = None
    """The XPath transform's expression."""
    filters: tuple[tuple[str, str, etree._Element], ...] = ()
    """XPath Filter 2.0: (intersect|subtract|union, expression, its XPath element)."""

    @property
    def name(self) -> str:
        """A short name for the report (``xpath: not(ancestor-or-self::ds:Signature)``)."""
        base = _NAMES.get(self.algorithm, self.algorithm)
        if self.xpath is not None:
            return f"{base}: {self.xpath[:200]}"
        if self.filters:
            return f"{base}: " + "; ".join(f"{op} {expr[:200]}" for op, expr, _ in self.filters)
        return base


def parse_transforms(transforms: etree._Element | None) -> tuple[Transform, ...]:
    """The checked ``ds:Transform`` list of a Reference (FormatError naming what is refused)."""
    if transforms is None:
        return ()
    children = element_children(transforms)
    if len(children) > MAX_TRANSFORMS:
        raise FormatError("A reference has too many transforms")
    parsed = []
    for child in children:
        if child.tag != _TRANSFORM:
            raise FormatError("Transforms may only hold Transform elements")
        parsed.append(_transform(child))
    return tuple(parsed)


def _transform(element: etree._Element) -> Transform:
    algorithm = element.get("Algorithm") or ""
    if algorithm in _C14N:
        return Transform(algorithm, element, c14n=c14n_method(element))
    content = element_children(element)
    if algorithm in (ENVELOPED_SIGNATURE, BASE64):
        if content:
            raise FormatError(f"The {_NAMES[algorithm]} transform takes no parameters")
        return Transform(algorithm, element)
    if algorithm == XPATH:
        if len(content) != 1 or content[0].tag != _XPATH:
            raise FormatError("The XPath transform holds one XPath element")
        expression = _expression(content[0])
        lint_xpath(expression, per_node=True)
        return Transform(algorithm, element, xpath=expression)
    if algorithm == XPATH_FILTER2:
        if (
            not content
            or len(content) > MAX_FILTERS
            or any(c.tag != _FILTER2_XPATH for c in content)
        ):
            raise FormatError("The XPath Filter 2.0 transform holds XPath elements only")
        filters = []
        for child in content:
            operation = child.get("Filter")
            if operation not in ("intersect", "subtract", "union"):
                raise FormatError("An XPath Filter 2.0 Filter is intersect, subtract or union")
            expression = _expression(child)
            lint_xpath(expression, per_node=False)
            filters.append((operation, expression, child))
        return Transform(algorithm, element, filters=tuple(filters))
    raise FormatError(f"Unsupported reference transform {algorithm[:100]!r}")


def _expression(element: etree._Element) -> str:
    if element_children(element):
        raise FormatError("An XPath element holds only the expression")
    expression = (element.text or "").strip()
    if not expression or len(expression) > MAX_XPATH_CHARS:
        raise FormatError("An XPath expression is empty or too long")
    return expression


# -- XPath safety ---------------------------------------------------------------------------------

_LITERAL = re.compile(r"\"[^\"]*\"|'[^']*'")
_FUNCTION = re.compile(r"([A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)\s*\(")
_AXIS = re.compile(r"([A-Za-z][\w\-]*)\s*::")
_CORE_FUNCTIONS = frozenset(
    {
        # XPath 1.0 §4 (id(), position() and last() are handled below), node type tests, here()
        "count", "local-name", "namespace-uri", "name", "string", "concat", "starts-with",
        "contains", "substring-before", "substring-after", "substring", "string-length",
        "normalize-space", "translate", "boolean", "not", "true", "false", "lang", "number",
        "sum", "floor", "ceiling", "round", "node", "text", "comment", "processing-instruction",
        "here", "position", "last",
    }
)  # fmt: skip
_NEAR_AXES = frozenset(
    {"self", "parent", "ancestor", "ancestor-or-self", "attribute", "namespace", "child"}
)
_FAR_AXES = frozenset(
    {"descendant", "descendant-or-self", "following", "following-sibling", "preceding",
     "preceding-sibling"}
)  # fmt: skip


def lint_xpath(expression: str, *, per_node: bool) -> None:
    """Refuse (FormatError) an expression outside the safe subset (module docstring)."""
    bare = _LITERAL.sub('""', expression)
    if '"' in bare.replace('""', "") or "'" in bare:
        raise FormatError("An XPath expression has an unterminated literal")
    if "$" in bare:
        raise FormatError("XPath variables are not supported in transforms")
    for name in _FUNCTION.findall(bare):
        if name not in _CORE_FUNCTIONS or (per_node and name in ("position", "last")):
            raise FormatError(f"The XPath function {name[:50]!r} is not supported in transforms")
    for axis in _AXIS.findall(bare):
        if axis not in _NEAR_AXES and (per_node or axis not in _FAR_AXES):
            raise FormatError(f"The XPath axis {axis[:50]!r} is not supported in transforms")
    depth = 0
    for position, character in enumerate(bare):
        if character == "[":
            depth += 1
            if depth > 3:
                raise FormatError("XPath predicates are nested too deeply")
        elif character == "]":
            depth -= 1
        elif depth > 0 or per_node:
            axis_match = _AXIS.match(bare, position)
            if bare.startswith("//", position) or (
                axis_match is not None and axis_match.group(1) in _FAR_AXES
            ):
                raise FormatError("XPath '//' and far axes are not supported in this position")


def _compile(
    expression: str, context: etree._Element, here: etree._Element | None, *, shown: str
) -> etree.XPath:
    namespaces = {p: u for p, u in context.nsmap.items() if p is not None}

    def here_function(_: object) -> list[etree._Element]:
        if here is None:
            raise FormatError("here() refers to another document")
        return [here]

    try:
        return etree.XPath(
            expression,
            namespaces=namespaces,
            extensions={(None, "here"): here_function},
            regexp=False,
            smart_strings=True,
        )
    except etree.XPathSyntaxError as exc:
        raise FormatError(f"The XPath expression {shown[:100]!r} is not valid") from exc


def _evaluate(xpath: etree.XPath, root: etree._Element) -> object:
    try:
        return xpath(root)
    except FormatError:
        raise
    except (etree.XPathError, TypeError, ValueError) as exc:
        raise FormatError("An XPath transform expression cannot be evaluated") from exc


def _node_budget(root: etree._Element) -> None:
    limit = etree.XPath(f"boolean((//node() | //@*)[{MAX_XPATH_NODES + 1}])")
    if limit(root):
        raise FormatError("The document is too large for an XPath transform")


class _Picked:
    """Nodes an XPath picked: elements/comments/PIs, text nodes and attributes."""

    def __init__(self, found: object) -> None:
        if not isinstance(found, list):
            raise FormatError("An XPath transform expression does not select nodes")
        self.nodes: set[etree._Element] = set()
        self.texts: set[tuple[etree._Element, bool]] = set()
        self.attributes: set[tuple[etree._Element, str]] = set()
        self.namespaces = False
        for item in found:
            if isinstance(item, etree._Element):
                self.nodes.add(item)
            elif isinstance(item, tuple):
                self.namespaces = True
            elif getattr(item, "is_attribute", False):
                parent = item.getparent()
                if parent is not None:
                    self.attributes.add((parent, str(item.attrname)))
            elif getattr(item, "is_text", False) or getattr(item, "is_tail", False):
                parent = item.getparent()
                if parent is not None:
                    self.texts.add((parent, bool(item.is_tail)))
            else:
                raise FormatError("An XPath transform expression does not select nodes")


@dataclass(frozen=True, eq=False)
class XPathSelection:
    """The nodes for which an XPath transform's expression is true (XMLDSig §6.6.3)."""

    picked: _Picked
    keeps_namespaces_of: frozenset[etree._Element]
    """Elements the expression leaves out while keeping some of their namespace nodes."""

    def has_node(self, node: etree._Element) -> bool:
        return node in self.picked.nodes

    def has_namespaces(self, element: etree._Element) -> bool:
        return element in self.picked.nodes or element in self.keeps_namespaces_of

    def has_text(self, node: etree._Element, is_tail: bool) -> bool:
        return (node, is_tail) in self.picked.texts

    def has_attribute(self, element: etree._Element, name: str) -> bool:
        return (element, name) in self.picked.attributes


def xpath_selection(transform: Transform, root: etree._Element) -> XPathSelection:
    """Evaluate an XPath transform over the document of ``root``."""
    assert transform.xpath is not None
    _node_budget(root)
    bearer = transform.element.find(_XPATH)
    context = bearer if bearer is not None else transform.element
    # here() is the element bearing the expression (XMLDSig §6.6.3), in the same document only.
    here = context if context.getroottree().getroot() is root else None
    condition = f"boolean({transform.xpath})"
    # One pass per node type: lxml hands back elements, text and attributes distinctly.
    found: list[object] = []
    for pattern in (
        "(//* | //comment() | //processing-instruction())[{c}]",
        "//text()[{c}]",
        "//@*[{c}]",
    ):
        xpath = _compile(pattern.format(c=condition), context, here, shown=transform.xpath)
        result = _evaluate(xpath, root)
        assert isinstance(result, list)
        found.extend(result)
    # Namespace nodes are rendered only on elements in the set (C14N 1.0 §2.3), so only a kept
    # element losing one of its namespace nodes (the xml one is never rendered) changes octets.
    split = _compile(
        f"boolean(//*[{condition}]/namespace::*[name() != 'xml'][not({condition})])",
        context,
        here,
        shown=transform.xpath,
    )
    if _evaluate(split, root) is True:
        raise FormatError("An XPath transform drops namespace nodes of an element it keeps")
    orphans = _compile(
        f"//*[not({condition})][namespace::*[name() != 'xml'][{condition}]]",
        context,
        here,
        shown=transform.xpath,
    )
    kept = _evaluate(orphans, root)
    assert isinstance(kept, list)
    return XPathSelection(_Picked(found), frozenset(kept))


class Filter2Selection:
    """An XPath Filter 2.0 transform's filter node-set (XMLDSig-Filter2 §3.4): each expression
    selects subtrees, combined in order starting from the whole document."""

    def __init__(self, steps: list[tuple[str, bool, _Picked]]) -> None:
        self._steps = steps  # (operation, whole document selected, picked)
        self._cache: dict[etree._Element, tuple[bool, ...]] = {}

    def _subtree_memberships(self, element: etree._Element) -> tuple[bool, ...]:
        known = self._cache.get(element)
        if known is not None:
            return known
        parent = element.getparent()
        above = (
            tuple(whole for _, whole, _ in self._steps)
            if parent is None
            else self._subtree_memberships(parent)
        )
        result = tuple(
            inside or element in picked.nodes
            for inside, (_, _, picked) in zip(above, self._steps, strict=True)
        )
        self._cache[element] = result
        return result

    def _combine(self, memberships: tuple[bool, ...]) -> bool:
        included = True
        for inside, (operation, _, _) in zip(memberships, self._steps, strict=True):
            if operation == "intersect":
                included = included and inside
            elif operation == "subtract":
                included = included and not inside
            else:
                included = included or inside
        return included

    def has_node(self, node: etree._Element) -> bool:
        return self._combine(self._subtree_memberships(node))

    def has_namespaces(self, element: etree._Element) -> bool:
        return self.has_node(element)  # a subtree's namespace nodes go with its elements

    def has_text(self, node: etree._Element, is_tail: bool) -> bool:
        parent = node.getparent() if is_tail else node
        base = (
            tuple(whole for _, whole, _ in self._steps)
            if parent is None
            else self._subtree_memberships(parent)
        )
        return self._combine(
            tuple(
                inside or (node, is_tail) in picked.texts
                for inside, (_, _, picked) in zip(base, self._steps, strict=True)
            )
        )

    def has_attribute(self, element: etree._Element, name: str) -> bool:
        base = self._subtree_memberships(element)
        return self._combine(
            tuple(
                inside or (element, name) in picked.attributes
                for inside, (_, _, picked) in zip(base, self._steps, strict=True)
            )
        )


def filter2_selection(transform: Transform, root: etree._Element) -> Filter2Selection:
    steps = []
    for operation, expression, element in transform.filters:
        here = element if element.getroottree().getroot() is root else None
        xpath = _compile(f"({expression})", element, here, shown=expression)
        whole = _compile(
            f"boolean(({expression})[count(. | /) = 1])", element, here, shown=expression
        )
        picked = _Picked(_evaluate(xpath, root))
        if picked.namespaces:
            raise FormatError("An XPath Filter 2.0 expression selects namespace nodes")
        steps.append((operation, _evaluate(whole, root) is True, picked))
    return Filter2Selection(steps)


def select(nodes: NodeSet, transform: Transform) -> NodeSet:
    """Apply an XPath or XPath Filter 2.0 transform to a node-set."""
    if transform.algorithm == XPATH:
        return nodes.selecting(xpath_selection(transform, nodes.root))
    return nodes.selecting(filter2_selection(transform, nodes.root))


def base64_decode(data: NodeSet | bytes) -> bytes:
    """The Base64 transform (XMLDSig §6.6.2): the text of a node-set, or octets, decoded."""
    if isinstance(data, NodeSet):
        text = "".join(data.text_nodes()).encode("utf-8")
    else:
        text = data
    compact = re.sub(rb"\s+", b"", text)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError("The input of a Base64 transform is not Base64") from exc
