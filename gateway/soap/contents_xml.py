"""``GetContents`` answers written straight to octets (issue 7: bulk content at full speed).

A bulk download carries up to ``services.notifications.CONTENTS_BUDGET_BYTES`` of documents as
base64 in one response. Spyne would build a tree element by element and serialise the base64 text
again; this module writes the Body content -- ``tns:GetContentsResponse`` -- as a list of octet
pieces, the base64 of each document one piece, in exclusive canonical form (``soap.splice`` says
why that is also what goes on the wire and what the response signature digests), exactly as Spyne
writes ``types.ContentsResult``: same elements in the same order, ``count`` always present,
codes by their values, base64 without line breaks.

``WRITES_CONTRACT`` is false (and the service falls back to Spyne) if the contract's types gained
or reordered a field this module does not write; ``tests/unit/soap/test_soap_contents_xml.py``
compares this output with Spyne's.
"""

from __future__ import annotations

import base64

from gateway import namespaces
from gateway.services.notifications import Content, ContentBatch, ContentRefusal

from . import listing_xml
from . import types as t
from .splice import Splice

CONTENT_FIELDS = ("notificationId", "document", "status", "offset", "data")
"""``offset`` is optional and only GetContent (a resumed download) ever states it: never written."""
REFUSAL_FIELDS = ("notificationId", "code", "message")
RESULT_FIELDS = ("count", "content", "refused")


# Documents are written by listing_xml, so its contract check counts too.
WRITES_CONTRACT = listing_xml.WRITES_CONTRACT and listing_xml.fields_match({
    t.ContentResult: CONTENT_FIELDS,
    t.ContentRefusalInfo: REFUSAL_FIELDS,
    t.ContentsResult: RESULT_FIELDS,
}, "contents_xml", "GetContents")


def _content_pieces(content: Content) -> tuple[bytes, bytes, bytes]:
    head = (
        f"<tns:content><tns:notificationId>{content.notification.notification.id:d}"
        f"</tns:notificationId>{listing_xml.document_xml(content.document)}"
        f"<tns:status>{content.notification.notification.status.value}</tns:status><tns:data>"
    )
    return head.encode(), base64.b64encode(content.data), b"</tns:data></tns:content>"


def _refusal(refusal: ContentRefusal) -> str:
    return (
        f"<tns:refused><tns:notificationId>{refusal.notification_id:d}</tns:notificationId>"
        f"<tns:code>{refusal.code}</tns:code>"
        f"<tns:message>{listing_xml.escape_text(refusal.message)}</tns:message></tns:refused>"
    )


def response_pieces(batch: ContentBatch) -> list[bytes]:
    """``tns:GetContentsResponse`` as octet pieces that concatenate to its canonical form."""
    pieces = [(
        f'<tns:GetContentsResponse xmlns:tns="{namespaces.NOTIFICATION_SERVICE}">'
        f"<tns:GetContentsResult><tns:count>{len(batch.released):d}</tns:count>"
    ).encode()]
    for content in batch.released:
        pieces.extend(_content_pieces(content))
    pieces.append(("".join(_refusal(r) for r in batch.refused)
                   + "</tns:GetContentsResult></tns:GetContentsResponse>").encode())
    return pieces


def batch_splice(batch: ContentBatch) -> Splice:
    """The whole Body content of the response to ``GetContents``."""
    pieces = response_pieces(batch)
    return Splice.streamed((), sum(len(p) for p in pieces), lambda: pieces)
