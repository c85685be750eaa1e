"""The enveloped-signature transform for libxml2 (XMLDSig 1.1 §6.6.4): the document without its
``ds:Signature``, canonicalised by a libxml2 that cannot be told to skip a node.

The signature is detached from the tree (its tail text stays: it is not part of the element)
and put back afterwards -- no copy of a document that may be megabytes long. Putting it back is
not always faithful: on insertion lxml drops a namespace declaration inside the subtree whose
URI is already declared above it and points its users at that declaration, whatever its prefix.
With ``xmlns:dsig`` on the root and ``xmlns:ds`` (same URI) on the Signature, the Signature would
come back as ``dsig:Signature``, and every later digest over it (SignedProperties, the signature
time-stamp) would be computed over the wrong octets: a false HASH_FAILURE. So
:func:`reattaches_faithfully` is asked first, and in the rare tree where it says no the work is
done on a copy (:func:`copy_of`).

The text-node walk of ``gateway.signatures.c14n`` needs none of this: it skips the signature.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

from lxml import etree


@contextmanager
def detached(signature: etree._Element) -> Iterator[None]:
    """Detach ``signature`` (its tail text left in place) for the duration; put it back."""
    parent = signature.getparent()
    if parent is None:
        yield
        return
    position = parent.index(signature)
    tail = signature.tail or ""
    previous = signature.getprevious()
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    signature.tail = None
    parent.remove(signature)
    try:
        yield
    finally:
        if tail:
            if previous is not None:
                previous.tail = (previous.tail or "")[: -len(tail)] or None
            else:
                parent.text = (parent.text or "")[: -len(tail)] or None
        parent.insert(position, signature)
        signature.tail = tail or None


def reattaches_faithfully(signature: etree._Element) -> bool:
    """Whether :func:`detached` gives ``signature`` back with every prefix as it was.

    It does when each prefix in scope around and inside the signature has one URI and each URI
    one prefix: the declaration lxml re-links to then has the very prefix it replaces.
    """
    parent = signature.getparent()
    bindings: list[tuple[str | None, str]] = [] if parent is None else list(parent.nsmap.items())
    # The declarations inside the subtree (iterwalk reports them from C; "" is the default).
    inside: set[tuple[str | None, str]] = set()
    for _, (prefix, uri) in etree.iterwalk(signature, events=("start-ns",)):
        binding = (prefix or None, uri)
        # A declaration repeated inside the subtree (or a default namespace declared again
        # below the same default) is also dropped on insertion, and lxml then leaves an element
        # under it in no namespace at all (found by the hypothesis test of c14n): work on a copy.
        if binding in inside or (binding[0] is None and binding in bindings):
            return False
        inside.add(binding)
        bindings.append(binding)
    uri_of: dict[str | None, str] = {}
    prefix_of: dict[str, str | None] = {}
    for prefix, uri in bindings:
        if uri_of.setdefault(prefix, uri) != uri or prefix_of.setdefault(uri, prefix) != prefix:
            return False
    return True


def copy_of(
    node: etree._Element | etree._ElementTree, signature: etree._Element
) -> tuple[etree._Element | etree._ElementTree, etree._Element]:
    """A copy of the whole document, and in it the counterparts of ``node`` (the document or
    one of its elements) and ``signature``."""
    root = signature.getroottree().getroot()
    copied = copy.deepcopy(root)
    # The comments and PIs around the root element, in order (copy.deepcopy of an ElementTree
    # puts those after the root in reverse order, lxml 6.1).
    for sibling in reversed(list(root.itersiblings(preceding=True))):
        copied.addprevious(copy.copy(sibling))
    for sibling in reversed(list(root.itersiblings())):
        copied.addnext(copy.copy(sibling))
    copied_node: etree._Element | etree._ElementTree = (
        copied.getroottree()
        if isinstance(node, etree._ElementTree)
        else _follow(copied, _index_path(root, node))
    )
    return copied_node, _follow(copied, _index_path(root, signature))


def _index_path(ancestor: etree._Element, element: etree._Element) -> list[int]:
    path: list[int] = []
    while element is not ancestor:
        parent = element.getparent()
        if parent is None:
            raise ValueError("the element is not inside the document")
        path.append(parent.index(element))
        element = parent
    path.reverse()
    return path


def _follow(element: etree._Element, path: list[int]) -> etree._Element:
    for position in path:
        element = element[position]
    return element
