"""Canonical XML of large text-heavy trees, streamed into a hash (C14N 1.0 §2; Exclusive XML
Canonicalization 1.0 §3).

libxml2 escapes text one character at a time while it canonicalises (about 2.5 ns a byte): on a
5 MB document made of large Base64 text nodes -- a receipt or an envelope carrying content --
that costs three times the SHA-256 of the same bytes. This module renders the same octets by
walking the lxml tree: markup is built per node in Python, and each text node is escaped with
``bytes.replace`` behind a ``in`` test (both run at memory speed and copy nothing when there is
nothing to escape), then fed to the hash without ever materialising the document.

It handles a deliberately small subset and answers ``None`` -- the caller then uses libxml2 --
for anything else, so that the octets are always libxml2's (a unit test compares the two byte
for byte on generated documents):

* a whole document, or an element in exclusive mode (inclusive canonicalisation of a subset
  inherits namespaces and ``xml:*`` attributes from outside it: left to libxml2);
* no ``InclusiveNamespaces`` prefix list;
* elements, text, comments and processing instructions only (an entity reference node, which
  our parser never produces, falls back);
* namespace URIs that are plainly absolute (libxml2 refuses relative ones), no element in the
  ``xml`` namespace, no ``xmlns:xml`` declaration, every namespaced attribute's prefix
  unambiguous (lxml reports an attribute's namespace, not its prefix);
* no carriage return inside a comment or processing instruction;
* text-heavy trees only, because per node Python is slower than libxml2: callers ask
  :func:`worth_walking` once per document (at most one node per :data:`MIN_BYTES_PER_NODE`
  bytes of source: a 1,000-item receipt or a 10 KB document never meets the walk), and the walk
  still gives up when the nodes it has rendered average fewer bytes than that (a reference to
  a node-heavy part of a text-heavy document).

The walk never changes the tree: the enveloped signature is skipped as it goes (its tail text
kept), not detached.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from lxml import etree

from gateway import namespaces as ns

MIN_BYTES_PER_NODE = 4096
"""Below about 2 KiB of text a node the walk costs more than libxml2 (measured: ~4 us a node
here against ~0.3 us there, ~2.3 ns a byte of text there against ~0.5 ns here); twice that
keeps the walk to trees where it clearly wins."""

NODE_CHECK_EVERY = 16
"""How many nodes are rendered between two checks of the average: a node-heavy tree (a
1,000-item receipt) is handed to libxml2 after at most this many."""

_DIRECT_WRITE = 16 * 1024
"""Text at least this long goes to the sink on its own, not joined with the markup around it."""

_FLUSH_AT = 64 * 1024

# A namespace URI libxml2 certainly parses and finds absolute: a scheme, then only characters
# that need no escaping anywhere. Anything else goes to libxml2, which decides (and may refuse).
_PLAIN_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9\-._~/?#:@!$()*+,;=]*")


@lru_cache(maxsize=16)
def _more_nodes_than(count: int) -> etree.XPath:
    # A literal position lets libxml2 stop at that node: O(count), not O(document).
    return etree.XPath(f"boolean(/descendant::node()[{count + 1}])")


def worth_walking(root: etree._Element, source_bytes: int) -> bool:
    """Whether the document ``source_bytes`` long parsed into ``root`` is text-heavy: at most
    one node per :data:`MIN_BYTES_PER_NODE` bytes (rounded to a power of two). Costs a few
    microseconds; small and node-heavy documents (receipts of many items) answer False and
    never meet the walk."""
    budget = source_bytes // MIN_BYTES_PER_NODE
    if budget < 1:
        return False
    limit = 1 << (budget.bit_length() - 1)
    return not _more_nodes_than(limit)(root)


class _Fallback(Exception):
    """The tree is outside the subset (or not text-heavy): use libxml2."""


@lru_cache(maxsize=256)
def _plain_uri(uri: str) -> bool:
    return _PLAIN_ABSOLUTE_URI.fullmatch(uri) is not None and uri.count("#") <= 1


def _text(octets: bytes) -> bytes:
    # C14N 1.0 §2.3 text nodes: & < > and #xD; nothing else.
    if b"&" in octets:
        octets = octets.replace(b"&", b"&amp;")
    if b"<" in octets:
        octets = octets.replace(b"<", b"&lt;")
    if b">" in octets:
        octets = octets.replace(b">", b"&gt;")
    if b"\r" in octets:
        octets = octets.replace(b"\r", b"&#xD;")
    return octets


def escape_text(value: str) -> str:
    """C14N 1.0 §2.3 text nodes: & < > and #xD (for short texts, as ``str``)."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#xD;")
    return value


def _attribute(value: str) -> str:
    # C14N 1.0 §2.3 attribute values: & < " #x9 #xA #xD.
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if '"' in value:
        value = value.replace('"', "&quot;")
    if "\t" in value:
        value = value.replace("\t", "&#x9;")
    if "\n" in value:
        value = value.replace("\n", "&#xA;")
    if "\r" in value:
        value = value.replace("\r", "&#xD;")
    return value


def start_tag(
    qualified: str,
    declarations: list[tuple[str | None, str]],
    attributes: list[tuple[str, str, str, str]],
    rendered: dict[str | None, str],
) -> tuple[str, dict[str | None, str]]:
    """A canonical start tag (C14N 1.0 §2.3, shared with ``nodeset``): the namespace
    declarations sorted by prefix (default first), then ``attributes`` -- (namespace URI, local
    name, written name, value) tuples -- in their sort order, values escaped; and the
    namespaces rendered in scope after it (a new dict only when it declares any)."""
    parts = [f"<{qualified}"]
    if declarations:
        rendered = dict(rendered)
        declarations.sort(key=lambda item: item[0] or "")
        for declared_prefix, declared_uri in declarations:
            rendered[declared_prefix] = declared_uri
            if declared_prefix is None:
                parts.append(f' xmlns="{_attribute(declared_uri)}"')
            else:
                parts.append(f' xmlns:{declared_prefix}="{_attribute(declared_uri)}"')
    attributes.sort()
    for _, _, attribute_name, value in attributes:
        parts.append(f' {attribute_name}="{_attribute(value)}"')
    parts.append(">")
    return "".join(parts), rendered


def _split(name: str) -> tuple[str, str]:
    """(namespace URI or "", local name) of a Clark-notation name."""
    if name[0] == "{":
        uri, _, local = name[1:].partition("}")
        return uri, local
    return "", name


class _Walk:
    """One rendering: the sink, the mode and the text-heaviness bookkeeping."""

    __slots__ = (
        "_excluding",
        "_exclusive",
        "_min_bytes_per_node",
        "_nodes",
        "_pending",
        "_pending_size",
        "_sink",
        "_with_comments",
        "_written",
    )

    def __init__(
        self,
        sink: Callable[[bytes], object],
        *,
        exclusive: bool,
        with_comments: bool,
        excluding: etree._Element | None,
        min_bytes_per_node: int,
    ) -> None:
        self._sink = sink
        self._excluding = excluding
        self._exclusive = exclusive
        self._with_comments = with_comments
        self._min_bytes_per_node = min_bytes_per_node
        self._pending: list[str] = []
        self._pending_size = 0
        self._nodes = 0
        self._written = 0

    # -- output ---------------------------------------------------------------------------

    def markup(self, piece: str) -> None:
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            octets = "".join(self._pending).encode("utf-8")
            self._pending.clear()
            self._pending_size = 0
            self._written += len(octets)
            self._sink(octets)

    def text(self, value: str) -> None:
        if len(value) < _DIRECT_WRITE:
            # Short text joins the markup; str.replace copies, but only a few bytes.
            self.markup(escape_text(value))
            return
        self.flush()
        octets = _text(value.encode("utf-8"))
        self._written += len(octets)
        self._sink(octets)

    def _count(self) -> None:
        self._nodes += 1
        if self._nodes % NODE_CHECK_EVERY == 0:
            written = self._written + self._pending_size
            if written < self._nodes * self._min_bytes_per_node:
                raise _Fallback

    # -- nodes ----------------------------------------------------------------------------

    def leaf(self, node: etree._Element) -> bool:
        """Render a comment or processing instruction; False when it is neither."""
        self._count()
        if node.tag is etree.Comment:
            if self._with_comments:
                content = node.text or ""
                if "\r" in content:
                    raise _Fallback
                self.markup(f"<!--{content}-->")
            return True
        if node.tag is etree.ProcessingInstruction:
            assert isinstance(node, etree._ProcessingInstruction)
            content = node.text or ""
            if "\r" in content:
                raise _Fallback
            target = node.target
            self.markup(f"<?{target} {content}?>" if content else f"<?{target}?>")
            return True
        return False

    def element(self, element: etree._Element, rendered: dict[str | None, str]) -> None:
        self._count()
        uri, local = _split(element.tag)
        prefix = element.prefix
        if uri == ns.XML or prefix == "xml":
            raise _Fallback
        nsmap = element.nsmap
        if "xml" in nsmap:
            raise _Fallback
        for bound_prefix, value in nsmap.items():
            if (value or bound_prefix is not None) and not _plain_uri(value):
                raise _Fallback  # a relative or unusual URI, or a prefix bound to ""
        attributes: list[tuple[str, str, str, str]] = []  # (uri, local, qualified name, value)
        utilized: dict[str | None, str] = {}
        for name, value in element.items():
            attribute_uri, attribute_local = _split(name)
            if not attribute_uri:
                attributes.append(("", attribute_local, attribute_local, value))
                continue
            if attribute_uri == ns.XML:
                attribute_prefix = "xml"
            else:
                prefixes = [p for p, u in nsmap.items() if u == attribute_uri and p is not None]
                if len(prefixes) != 1:
                    raise _Fallback
                attribute_prefix = prefixes[0]
                utilized[attribute_prefix] = attribute_uri
            attributes.append(
                (attribute_uri, attribute_local, f"{attribute_prefix}:{attribute_local}", value)
            )
        if self._exclusive:
            # Exclusive C14N §3: the namespaces the element visibly utilises (its own prefix or
            # the default namespace, its attributes' prefixes) not already rendered with that
            # value by an output ancestor; xmlns="" only to undo a rendered default.
            utilized[prefix] = uri
        else:
            # C14N 1.0 §2.3 (whole document): every in-scope namespace not in effect on the
            # parent; xmlns="" only when the parent has a non-empty default.
            utilized = {p: u for p, u in nsmap.items()}
            utilized.setdefault(None, "")
        declarations = [(p, u) for p, u in utilized.items() if rendered.get(p, "") != u]
        qualified = local if prefix is None else f"{prefix}:{local}"
        if declarations or attributes:
            tag, rendered = start_tag(qualified, declarations, attributes, rendered)
            self.markup(tag)
        else:
            self.markup(f"<{qualified}>")
        text = element.text  # each read of .text decodes the node again: read it once
        if text:
            self.text(text)
        for child in element:
            if child is self._excluding:
                pass  # the enveloped signature: left out, its tail text kept (XMLDSig §6.6.4)
            elif isinstance(child.tag, str):
                self.element(child, rendered)
            elif not self.leaf(child):
                raise _Fallback  # an entity reference
            tail = child.tail
            if tail:
                self.text(tail)
        self.markup(f"</{qualified}>")


def render(
    node: etree._Element | etree._ElementTree,
    sink: Callable[[bytes], object],
    *,
    exclusive: bool,
    with_comments: bool,
    inclusive_prefixes: tuple[str, ...] = (),
    excluding: etree._Element | None = None,
    min_bytes_per_node: int = MIN_BYTES_PER_NODE,
) -> bool:
    """Write the canonical form of ``node`` to ``sink`` in chunks; False (and possibly some
    chunks already written: discard them) when the node is outside the subset.

    ``node`` is a whole document (an ``ElementTree``) or, in exclusive mode, one element with
    its descendants (never the document-level comments and PIs around it). ``excluding`` is a
    descendant left out with its own descendants -- the enveloped-signature transform -- without
    touching the tree.
    """
    if inclusive_prefixes:
        return False
    walk = _Walk(
        sink,
        exclusive=exclusive,
        with_comments=with_comments,
        excluding=excluding,
        min_bytes_per_node=min_bytes_per_node,
    )
    try:
        if isinstance(node, etree._ElementTree):
            root = node.getroot()
            if root is None:
                return False
            # Document-level comments and PIs (C14N 1.0 §2.2): a line feed after each one before
            # the document element, before each one after it.
            before = list(root.itersiblings(preceding=True))
            before.reverse()
            for sibling in before:
                if walk.leaf(sibling) is False:
                    return False
                if sibling.tag is etree.ProcessingInstruction or with_comments:
                    walk.markup("\n")
            walk.element(root, {})
            for sibling in root.itersiblings():
                if sibling.tag is etree.ProcessingInstruction or with_comments:
                    walk.markup("\n")
                if walk.leaf(sibling) is False:
                    return False
        elif exclusive:
            walk.element(node, {})
        else:
            return False
        walk.flush()
    except _Fallback:
        return False
    return True


def canonical_octets(
    node: etree._Element | etree._ElementTree,
    *,
    exclusive: bool,
    with_comments: bool,
    inclusive_prefixes: tuple[str, ...] = (),
    excluding: etree._Element | None = None,
    min_bytes_per_node: int = MIN_BYTES_PER_NODE,
) -> bytes | None:
    """The canonical octets of ``node``, or None when it is outside the subset (tests)."""
    chunks: list[bytes] = []
    done = render(
        node,
        chunks.append,
        exclusive=exclusive,
        with_comments=with_comments,
        inclusive_prefixes=inclusive_prefixes,
        excluding=excluding,
        min_bytes_per_node=min_bytes_per_node,
    )
    return b"".join(chunks) if done else None
