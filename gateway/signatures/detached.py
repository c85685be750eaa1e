"""Detached documents supplied next to a signature, and which reference each one answers.

A detached XML signature names what it signs by ``ds:Reference/@URI`` (XMLDSig 1.1 §4.4.3.1): a
URI reference (RFC 3986), usually a relative file name (``contract.pdf``, ``annex%201.xml``,
``docs/a.xml``), or nothing at all (no ``URI`` attribute: "the application supplies the
content"). The caller gives the documents with the names it knows them by. Pairing, per external
reference:

1. exactly one document and exactly one external reference: they are paired whatever the names
   (the caller said which content this signature signs: ``--detached`` with any name);
2. a reference without ``URI``: the only document, or the only unnamed one;
3. otherwise by name: the URI's path, percent-decoded (a ``file:`` or ``http(s):`` URI counts by
   its path), equal to a document's name (``./`` and ``\\`` normalised), else its last segment
   equal to the last segment of exactly one document's name.

A reference left without a document is SIGNED_DATA_NOT_FOUND (the caller's xml_references).
The same document may answer several references (two references with different transforms).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class DetachedDocument:
    """Content a detached signature may sign, with the caller's name for it."""

    content: bytes
    name: str | None = None
    """A file name or relative path (``docs/annex 1.xml``); None for anonymous content."""


def _normalised(name: str) -> str:
    path = posixpath.normpath(name.replace("\\", "/"))
    return "" if path == "." else path


def _uri_path(uri: str) -> str:
    parts = urlsplit(uri)
    return _normalised(unquote(parts.path))


def document_for(
    uri: str | None, documents: Sequence[DetachedDocument], external_references: int
) -> DetachedDocument | None:
    """The document answering a reference to ``uri`` (None: no ``URI`` attribute), if any."""
    if not documents:
        return None
    if len(documents) == 1 and external_references == 1:
        return documents[0]
    if uri is None:
        unnamed = [document for document in documents if not document.name]
        if len(documents) == 1:
            return documents[0]
        return unnamed[0] if len(unnamed) == 1 else None
    wanted = _uri_path(uri)
    if not wanted:
        return None
    named = [document for document in documents if document.name]
    for document in named:
        if _normalised(document.name or "") == wanted:
            return document
    leaf = posixpath.basename(wanted)
    same_leaf = [
        document
        for document in named
        if posixpath.basename(_normalised(document.name or "")) == leaf
    ]
    return same_leaf[0] if len(same_leaf) == 1 else None
