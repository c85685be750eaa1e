"""Responses whose bulk is spliced in as octets instead of being serialised by Spyne.

Two hot responses bypass Spyne's element-by-element serialisation (issue 7):

- ``ListNotifications``: the page is written directly as octets (``listing_xml``);
- ``GetContent``: the document's base64 is streamed from the store in slices
  (``content_stream``), so a large document is never held in memory.

A service method registers a :class:`Splice` with :func:`splice_response`; Spyne (``GatedSoap11``)
then builds and signs an envelope in which a unique placeholder text stands where the octets go
(the Body's whole content, or the text of one element), serialises it, and writes the
serialisation with the placeholder replaced by the octets.

Why the signature stays right: the spliced octets are at once well-formed serialised XML and in
exclusive canonical form (W3C XML-C14N 1.0 §2.3 and Exc-C14N §3: start and end tags, never
empty-element tags; text escaping only ``&amp; &lt; &gt; &#xD;``; each namespace declared on the
first element that uses it; base64 text needs no escaping at all). So the exclusive canonical
form of the Body the client receives is the canonical form of the tree's Body with the placeholder
replaced by the same octets, and the response signer digests it piece by piece
(``wssec.response.BodyCanonicalForm``) -- for a streamed document, in a first pass over the store
before the first byte is sent, then the second pass writes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

ENVIRON_SPLICE = "notess.splice"
"""WSGI environ key: the :class:`Splice` a service method registered for its response."""

ENVIRON_RESPONSE_LENGTH = "notess.response_length"
"""WSGI environ key: the length of a streamed response, for the Content-Length header."""


@dataclass(frozen=True)
class Splice:
    """Octets that take the place of the text of one element of the response.

    ``path`` names the element from the SOAP Body down (Clark-notation tags); an empty path is
    the Body itself, whose whole content the octets then are and which Spyne need not build.
    Either ``octets`` holds them in memory, or ``pieces`` yields them each time it is called
    (once to digest, once to write) and ``length`` says how many there are in all.
    """

    path: tuple[str, ...]
    length: int
    octets: bytes | None = None
    pieces: Callable[[], Iterable[bytes]] | None = None

    @classmethod
    def in_memory(cls, path: tuple[str, ...], octets: bytes) -> Splice:
        return cls(path, len(octets), octets=octets)

    @classmethod
    def streamed(cls, path: tuple[str, ...], length: int,
                 pieces: Callable[[], Iterable[bytes]]) -> Splice:
        return cls(path, length, pieces=pieces)

    def iterate(self) -> Iterable[bytes]:
        if self.octets is not None:
            return (self.octets,)
        assert self.pieces is not None
        return self.pieces()


def splice_response(ctx: Any, splice: Splice) -> None:
    """Called by a service method: its response carries ``splice`` (see the module docstring)."""
    ctx.transport.req_env[ENVIRON_SPLICE] = splice


def registered_splice(ctx: Any) -> Splice | None:
    """The splice of a successful response, if its method registered one (a fault has none)."""
    if ctx.out_error is not None:
        return None
    splice: Splice | None = ctx.transport.req_env.get(ENVIRON_SPLICE)
    return splice


def new_placeholder() -> str:
    """A text no response contains by chance (and that needs no escaping anywhere)."""
    return f"notess-splice-{uuid.uuid4().hex}"


def splice_target(body: etree._Element, splice: Splice) -> etree._Element:
    target = body.find("/".join(splice.path)) if splice.path else body
    if target is None or len(target):
        raise RuntimeError(f"no leaf element {'/'.join(splice.path)} in the response to splice")
    return target


def split_at(octets: bytes, placeholder: bytes) -> tuple[bytes, bytes]:
    head, found, tail = octets.partition(placeholder)
    if not found or placeholder in tail:
        raise RuntimeError("the splice placeholder must occur exactly once")
    return head, tail


def canonical_expander(splice: Splice, placeholder: bytes) -> Callable[[bytes], Iterator[bytes]]:
    """``BodyCanonicalForm`` for the response signer: the tree's canonical Body with the
    placeholder replaced by the spliced octets."""

    def expand(canonical_body: bytes) -> Iterator[bytes]:
        head, tail = split_at(canonical_body, placeholder)
        yield head
        yield from splice.iterate()
        yield tail

    return expand


def spliced_output(serialised: bytes, splice: Splice,
                   placeholder: bytes) -> list[bytes] | Iterator[bytes]:
    """The response octets: a list when everything is in memory, else a generator that reads
    the spliced pieces as it is consumed (the WSGI server writes each one as it comes)."""
    head, tail = split_at(serialised, placeholder)
    if splice.octets is not None:
        return [head, splice.octets, tail]

    def stream() -> Iterator[bytes]:
        yield head
        written = 0
        for piece in splice.iterate():
            written += len(piece)
            yield piece
        if written != splice.length:  # never finish a response whose Content-Length lied
            raise RuntimeError(f"spliced {written} octets where {splice.length} were announced")
        yield tail

    return stream()
