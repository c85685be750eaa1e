"""The one hardened XML parser of the gateway (DESIGN.md §5 step 1).

Every byte string that arrives from outside is turned into a tree here and nowhere else: soap/,
wssec/ and signatures/ call :func:`parse_xml`. The rules:

* **Size first.** Input longer than ``max_bytes`` is refused before libxml2 sees a byte
  (``LimitExceeded``, code ``MESSAGE_TOO_LARGE``).
* **No DTD at all.** A document type declaration -- internal subset or external reference -- is
  refused (``InvalidRequest``, code ``DTD_FORBIDDEN``). The parser is also configured never to
  load a DTD, never to substitute entities and never to touch the network, so an XXE or
  billion-laughs document is refused without being expanded. When libxml2 itself gives up on such
  a document (its entity-amplification guard), the error path re-reads only the prolog with a SAX
  target that stops at the ``<!DOCTYPE`` event, so the client still gets ``DTD_FORBIDDEN``.
* **Bounded depth.** libxml2 refuses more than 256 levels without ``huge_tree``; we refuse more than
  ``max_depth`` (``LimitExceeded``, code ``XML_TOO_DEEP``), checked after parsing by one compiled
  XPath (``/*/*/…``) that runs in C.
* **Comments are kept.** Canonicalisation decides whether they are signed; stripping them here
  would make ``#WithComments`` signatures unverifiable (wssec refuses comments inside signed
  parts for another reason, see ``gateway.wssec.signature``).
* Every lxml error is translated at this seam with ``raise ... from exc``: malformed input is
  ``InvalidRequest`` (code ``MALFORMED_XML``); nothing from libxml2's message reaches the client.

lxml parsers are not safe to share between threads while parsing, so each thread gets its own.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from lxml import etree

from gateway.errors import InvalidRequest, LimitExceeded

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""10 MiB: the message-size limit documented in the WSDL annotations and README."""

DEFAULT_MAX_DEPTH = 64
"""SOAP envelopes of our contract nest about a dozen levels; 64 leaves room for XAdES inside."""

LIBXML_MAX_DEPTH = 256
"""libxml2's own nesting limit when ``huge_tree`` is off; ``max_depth`` above it is pointless."""

_local = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=False,
            remove_pis=False,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


@lru_cache(maxsize=16)
def _too_deep(max_depth: int) -> etree.XPath:
    """True when any element sits deeper than ``max_depth`` (the root is at depth 1)."""
    return etree.XPath("boolean(/" + "/".join(["*"] * (max_depth + 1)) + ")")


_ASCII_COMPATIBLE = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_COUNT_TAGS_UP_TO = 8 * 1024
"""Larger messages rarely pass the count, so they go straight to the XPath (no wasted scan)."""


def _too_few_tags(raw: bytes, encoding: str | None, max_depth: int) -> bool:
    """Whether ``raw`` holds at most ``max_depth`` "<" bytes, so it cannot nest deeper.

    Every element has a start tag, which holds a "<"; no DTD means no entity can add elements.
    Sound only where "<" is always the byte 0x3C, hence the encoding check (EBCDIC is not). A
    byte count in C is far cheaper than the XPath walk on small messages (the common case).
    """
    return (
        len(raw) <= _COUNT_TAGS_UP_TO
        and (encoding or "").lower() in _ASCII_COMPATIBLE
        and raw.count(b"<") <= max_depth
    )


class _DoctypeSeen(Exception):
    """Raised by the SAX target on the DOCTYPE event to stop parsing at once."""


class _PrologEnded(Exception):
    """Raised by the SAX target at the root element: no DOCTYPE can come after it."""


class _DoctypeDetector:
    """A SAX target that only notices a document type declaration."""

    def doctype(self, *args: Any) -> None:
        raise _DoctypeSeen

    def start(self, *args: Any) -> None:
        raise _PrologEnded

    def end(self, *args: Any) -> None:
        return None

    def data(self, *args: Any) -> None:
        return None

    def comment(self, *args: Any) -> None:
        return None

    def pi(self, *args: Any) -> None:
        return None

    def close(self) -> None:
        return None


def _declares_doctype(data: bytes) -> bool:
    """Whether the prolog of ``data`` holds a ``<!DOCTYPE``; stops before any entity is read."""
    detector = etree.XMLParser(
        target=_DoctypeDetector(),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    try:
        etree.fromstring(data, detector)
    except _DoctypeSeen:
        return True
    except Exception:  # noqa: BLE001 - _PrologEnded or a syntax error: no DOCTYPE came first
        return False
    return False


def _dtd_forbidden() -> InvalidRequest:
    return InvalidRequest("Document type declarations are not allowed", code="DTD_FORBIDDEN")


def parse_xml(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> etree._Element:
    """Parse untrusted ``data`` into an element tree, or raise a ``GatewayError``.

    Raises ``LimitExceeded`` (``MESSAGE_TOO_LARGE``, ``XML_TOO_DEEP``) or ``InvalidRequest``
    (``MALFORMED_XML``, ``DTD_FORBIDDEN``); never an lxml exception.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_xml takes bytes; decoding is the parser's job")
    if max_depth < 1 or max_bytes < 1:
        raise ValueError("max_bytes and max_depth must be positive")
    if len(data) > max_bytes:
        raise LimitExceeded(
            f"The message is larger than {max_bytes} bytes", code="MESSAGE_TOO_LARGE"
        )
    raw = data if isinstance(data, bytes) else bytes(data)
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        if _declares_doctype(raw):
            raise _dtd_forbidden() from exc
        if "depth" in str(exc).lower():
            raise LimitExceeded(
                f"The document nests deeper than {max_depth} elements", code="XML_TOO_DEEP"
            ) from exc
        raise InvalidRequest("The message is not well-formed XML", code="MALFORMED_XML") from exc
    except (etree.LxmlError, ValueError, LookupError) as exc:
        # Unsupported encodings and similar refusals surface as other lxml/Python errors.
        raise InvalidRequest("The message is not well-formed XML", code="MALFORMED_XML") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _dtd_forbidden()
    if (
        max_depth < LIBXML_MAX_DEPTH
        and not _too_few_tags(raw, docinfo.encoding, max_depth)
        and _too_deep(max_depth)(root)
    ):
        raise LimitExceeded(
            f"The document nests deeper than {max_depth} elements", code="XML_TOO_DEEP"
        )
    return root
