"""Exclusive XML canonicalisation of an element in its document context (Exclusive XML
Canonicalization 1.0, W3C 2002), with ``InclusiveNamespaces/@PrefixList`` honoured.

lxml passes ``inclusive_ns_prefixes`` to libxml2 only when the prefix string is interned in the
document's dictionary, which ``#default`` never is, so it would silently drop it (libxml2, xmlsec
and Santuario honour it). libxml2 dictionaries are shared by all documents parsed in one thread,
so :func:`canonicalise` interns ``#default`` once per thread by parsing a one-element document
that uses it as a namespace name. Trees must therefore be verified in the thread that parsed
them (the WSGI request thread does both); a check on the apex element fails loudly otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from lxml import etree

DEFAULT_PREFIX = "#default"
"""The PrefixList token for the default namespace (Exclusive C14N §3)."""


_primed = threading.local()


def _prime_default_prefix() -> None:
    """Intern ``#default`` in this thread's libxml2 dictionary (see the module docstring)."""
    if not getattr(_primed, "done", False):
        etree.fromstring(b'<p xmlns:p="#default"/>')
        _primed.done = True


def canonicalise(
    element: etree._Element, *, with_comments: bool, inclusive_prefixes: Sequence[str] = ()
) -> bytes:
    """Exclusive XML canonicalisation of ``element`` in its document context."""
    if not inclusive_prefixes:  # the common case: nothing to prime or to check afterwards
        plain: bytes = etree.tostring(
            element, method="c14n", exclusive=True, with_comments=with_comments
        )
        return plain
    if DEFAULT_PREFIX in inclusive_prefixes:
        _prime_default_prefix()
    octets: bytes = etree.tostring(
        element,
        method="c14n",
        exclusive=True,
        with_comments=with_comments,
        inclusive_ns_prefixes=list(inclusive_prefixes) or None,
    )
    if DEFAULT_PREFIX in inclusive_prefixes and element.prefix and element.nsmap.get(None):
        # The in-scope default namespace must be rendered on a prefixed apex. If it is not, the
        # tree was parsed in another thread whose dictionary lacks "#default": fail loudly
        # rather than verify against the wrong octets.
        start = f"<{element.prefix}:{etree.QName(element).localname} xmlns=".encode()
        if not octets.startswith(start):
            raise RuntimeError("canonicalise #default: verify in the thread that parsed the tree")
    return octets
