"""``ListNotifications`` pages written straight to octets (issue 7: listing speed).

Spyne serialises a 1,000-item page element by element through its generic machinery, about ten
times slower than building the same XML with lxml. This module writes the Body content of the
response -- ``tns:ListNotificationsResponse`` -- as octets in one pass over the page, in exclusive
canonical form (``soap.splice`` says why that is also what goes on the wire), with exactly what
Spyne would write for ``types.ListNotificationsResult``:

- the same elements in the same order (``NotificationInfo._type_info``), in the port's namespace
  with Spyne's ``tns`` prefix;
- optional fields (``ccc``, ``deadlineAt``, ``nextCursor``) left out when absent, as Spyne leaves
  out ``None`` for ``min_occurs=0``; ``count`` always present;
- ``xs:dateTime`` as Spyne writes it (``datetime.isoformat()``: the stored offset, microseconds
  only when not zero), integers as ``str()``, codes by their enumeration value;
- text escaped as canonical XML escapes it (``&amp; &lt; &gt; &#xD;``); a character XML cannot
  carry is refused with ``ValueError``, as lxml refuses it when Spyne sets it.

``WRITES_CONTRACT`` is false (and the service falls back to Spyne) if the contract's types gained
or reordered a field this module does not write; ``tests/unit/soap/test_soap_listing_xml.py``
compares this output with Spyne's for pages with every optional field present and absent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from gateway import namespaces
from gateway.domain.model import Document
from gateway.services.notifications import Page, VisibleNotification

from . import types as t
from .splice import Splice

log = logging.getLogger("gateway.soap")

NOTIFICATION_FIELDS = (
    "id", "kind", "issuer", "issuerReference", "procedure", "subject", "recipient", "ccc",
    "role", "category", "madeAvailableAt", "deadlineAt", "deadlineExtensionDays", "status",
    "statusAt", "document",
)
DOCUMENT_FIELDS = ("position", "role", "name", "contentType", "sha256", "size")
RESULT_FIELDS = ("count", "item", "nextCursor")


def fields_match(written: Mapping[Any, tuple[str, ...]], writer: str, operation: str) -> bool:
    """Whether the contract's types still have exactly the fields a writer writes, in order and
    in the port's namespace; if not, the writer is not used (logged once, at import)."""
    stale = [cls.get_type_name() for cls, fields in written.items()
             if tuple(cls._type_info.keys()) != fields
             or cls.get_namespace() != namespaces.NOTIFICATION_SERVICE]
    if stale:
        log.warning("%s does not write the current %s; %s falls back to Spyne's serialisation",
                    writer, ", ".join(stale), operation)
    return not stale


WRITES_CONTRACT = fields_match({
    t.NotificationInfo: NOTIFICATION_FIELDS,
    t.DocumentInfo: DOCUMENT_FIELDS,
    t.ListNotificationsResult: RESULT_FIELDS,
}, "listing_xml", "ListNotifications")

# Anything but characters that need no escaping in canonical text.
_NOT_PLAIN = re.compile("[^\t\n\x20-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CANONICAL_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;"})


def escape_text(value: str) -> str:
    """``value`` as canonical XML text (ValueError for characters XML cannot carry)."""
    if _NOT_PLAIN.search(value) is None:
        return value
    if _NOT_XML.search(value) is not None:
        raise ValueError("All strings must be XML compatible: Unicode or ASCII, no NULL bytes "
                         "or control characters")
    return value.translate(_CANONICAL_ESCAPES)


def _datetime(value: datetime) -> str:
    return value.isoformat()


def document_xml(d: Document) -> str:
    """A ``tns:document`` element (``types.DocumentInfo``) in canonical form."""
    return (
        f"<tns:document><tns:position>{d.position:d}</tns:position>"
        f"<tns:role>{d.role.value}</tns:role><tns:name>{escape_text(d.name)}</tns:name>"
        f"<tns:contentType>{escape_text(d.content_type)}</tns:contentType>"
        f"<tns:sha256>{escape_text(d.sha256)}</tns:sha256><tns:size>{d.size:d}</tns:size>"
        "</tns:document>"
    )


def _item(item: VisibleNotification) -> str:
    n = item.notification
    ccc = "" if n.ccc is None else f"<tns:ccc>{escape_text(n.ccc)}</tns:ccc>"
    deadline = ("" if n.deadline_at is None
                else f"<tns:deadlineAt>{_datetime(n.deadline_at)}</tns:deadlineAt>")
    return (
        f"<tns:item><tns:id>{n.id:d}</tns:id><tns:kind>{n.kind.value}</tns:kind>"
        f"<tns:issuer>{n.issuer.value}</tns:issuer>"
        f"<tns:issuerReference>{escape_text(n.issuer_reference)}</tns:issuerReference>"
        f"<tns:procedure>{escape_text(n.procedure)}</tns:procedure>"
        f"<tns:subject>{escape_text(n.subject)}</tns:subject>"
        f"<tns:recipient>{escape_text(n.recipient)}</tns:recipient>{ccc}"
        f"<tns:role>{item.role.value}</tns:role><tns:category>{n.category.value}</tns:category>"
        f"<tns:madeAvailableAt>{_datetime(n.made_available_at)}</tns:madeAvailableAt>{deadline}"
        f"<tns:deadlineExtensionDays>{n.deadline_extension_days:d}</tns:deadlineExtensionDays>"
        f"<tns:status>{n.status.value}</tns:status>"
        f"<tns:statusAt>{_datetime(n.status_at)}</tns:statusAt>"
        f"{''.join(document_xml(d) for d in n.documents)}</tns:item>"
    )


def response_octets(items: Sequence[VisibleNotification], next_cursor: str | None) -> bytes:
    """``tns:ListNotificationsResponse`` for one page, in exclusive canonical form (UTF-8)."""
    cursor = ("" if next_cursor is None
              else f"<tns:nextCursor>{escape_text(next_cursor)}</tns:nextCursor>")
    start = (f'<tns:ListNotificationsResponse xmlns:tns="{namespaces.NOTIFICATION_SERVICE}">'
             f"<tns:ListNotificationsResult><tns:count>{len(items):d}</tns:count>")
    return "".join((
        start,
        *(_item(item) for item in items),
        f"{cursor}</tns:ListNotificationsResult></tns:ListNotificationsResponse>",
    )).encode("utf-8")


def page_splice(page: Page) -> Splice:
    """The whole Body content of the response to ``ListNotifications`` for ``page``."""
    return Splice.in_memory((), response_octets(page.items, page.next_cursor))
