"""Port ``IssuerService`` (issue 17): an adapter over ``services.issuing`` -- decode, call,
encode, in the shape of ``NotificationService``.

Nothing here decides a rule: who is an issuer, validation, idempotency, deadlines and what an
issuer may see are ``IssuingService``'s (and, below it, ``PublishingService``'s, the same rules
``gateway import`` applies). What is the port's: lowerCamelCase names, 1-based positions, the
item without an ``issuer`` field, documents as inline base64. README.md, "The IssuerService
port", lists every decision.
"""

from __future__ import annotations

import mimetypes
from datetime import datetime
from typing import Any

from spyne import Array, Boolean, Long, ServiceBase, Unicode, rpc

from gateway.domain.issuers import PublicationEvidence
from gateway.errors import InvalidRequest
from gateway.services.events import EventsService, Owner
from gateway.services.issuing import MAX_BATCH, IssuingService
from gateway.services.publishing import DocumentInput, PublicationRequest, StagedContent

from . import issuer_types as t
from . import subscriptions
from .context import ENVIRON_ATTACHMENTS, principal_of
from .types import ServiceEnforcedInteger
from .xop import Attachment, attachments_by_position

_NS = f"{{{t.NS}}}"
DOCUMENT_CONTENT = f"{_NS}content"
"""The one element an MTOM ``xop:Include`` may stand in (``soap.xop``)."""


def issuer_service(issuing: IssuingService | None,
                   events: EventsService | None = None) -> type[ServiceBase]:
    def service() -> IssuingService:
        if issuing is None:  # only the contract renderer builds the port without services
            raise RuntimeError("issuing service not configured")
        return issuing

    class IssuerService(ServiceBase):
        """NOTESS issuer service: issuing bodies (TGSS, INSS, ISM) publish notifications and
        communications and follow what happened to them.

        The caller must sign with an entity seal whose organisation identifier is registered as
        an issuer (gateway issuers add); anything else is refused with NOT_AN_ISSUER. Same
        WS-Security header as every port (X.509v3 BinarySecurityToken, signature over Body and
        wsu:Timestamp). PublishNotifications: 1..1000 items, validated whole first (fault
        INVALID_BATCH lists every problem with its 1-based position and field; nothing is
        written), idempotent by issuerReference (same content: same id, created=false; other
        content: fault DUPLICATE_REFERENCE naming the references, nothing written); deadlines
        are computed by the server. GetPublicationStatus: 1..1000 issuerReference, or a cursor
        (empty: from the first item) paging through the caller's items; another issuer's
        reference is answered as unknown; pageSize 1..1000 (default 1000) in cursor mode.
        GetEvidence: the item's life (made available, first accessed, final state, each at its
        official time, and the receipt's SHA-256) as an XML document XAdES-signed by the server
        and as a PAdES-signed PDF; another issuer's reference is UNKNOWN_REFERENCE.
        CancelNotification: withdraws an item nobody has accessed yet (else ALREADY_ACCESSED;
        a final or overdue one NOT_PENDING); it leaves every listing and its recipient sees it
        CANCELLED; idempotent (alreadyCancelled=true); another issuer's is UNKNOWN_REFERENCE.
        Documents: inline base64 within the message limit (10 MiB by default), or MTOM/XOP
        attachments (multipart/related, type application/xop+xml) up to the document limit
        (256 MiB by default); the signature covers the Body with its xop:Include elements,
        and an optional sha256 per document binds the attachment's bytes. Faults carry
        urn:notess:gateway:fault:v1 error/code.
        """

        __service_name__ = "IssuerService"

        # Like PrepareReceipt's ids: the 1..1000 limit is documented and enforced by the
        # service, so a 1,001st item answers BATCH_TOO_LARGE rather than a schema violation.
        @rpc(t.PublicationItem.customize(
                 min_occurs=1, max_occurs="unbounded", nillable=False,
                 doc="1..1000 items (fault BATCH_TOO_LARGE)"),
             _in_variable_names={"items": "item"}, _returns=t.PublishResult)
        def PublishNotifications(ctx: Any, items: list[Any] | None) -> t.PublishResult:
            """Publish a batch of items as the caller's issuer."""
            attachments = ctx.transport.req_env.get(ENVIRON_ATTACHMENTS) or {}
            parts: list[list[Attachment | None]] = (
                attachments_by_position(ctx.in_body_doc, f"{_NS}item",
                                        (f"{_NS}mainDocument", f"{_NS}annex"),
                                        DOCUMENT_CONTENT, attachments)
                if attachments else [])
            batch = [_request(item, parts[i] if i < len(parts) else [])
                     for i, item in enumerate(items or [])]
            published = service().publish(principal_of(ctx), batch)
            return t.PublishResult(
                created=sum(1 for p in published if p.created),
                item=[t.PublishedItem(position=position,
                                      issuerReference=request.issuer_reference.strip(),
                                      id=p.notification_id, created=p.created,
                                      deadlineAt=p.deadline_at,
                                      documentSha256=list(p.document_sha256))
                      for position, (request, p) in enumerate(zip(batch, published,
                                                                   strict=True), start=1)])

        @rpc(Unicode(max_len=64, max_occurs="unbounded",
                     doc="1..1000 references (fault BATCH_TOO_LARGE)"), Unicode(max_len=200),
             ServiceEnforcedInteger(ge=1, le=MAX_BATCH,
                                    doc="Cursor mode: 1..1000 items a page; default 1000."),
             _in_variable_names={"references": "issuerReference", "page_size": "pageSize"},
             _returns=t.PublicationStatusResult)
        def GetPublicationStatus(ctx: Any, references: list[str] | None, cursor: str | None,
                                 page_size: int | None) -> t.PublicationStatusResult:
            """Each item's state, state changes and receipt: by reference, or paged."""
            if references and cursor is not None:
                raise InvalidRequest("send issuerReference elements or a cursor, not both",
                                     field="cursor")
            if references:
                found = service().status(principal_of(ctx), references)
                listed = [_status(r.strip(), e) for r, e in zip(references, found, strict=True)]
                return t.PublicationStatusResult(count=len(listed), item=listed)
            if cursor is None:
                raise InvalidRequest("send 1..1000 issuerReference elements or a cursor",
                                     code="EMPTY_BATCH", field="issuerReference")
            page = service().status_page(principal_of(ctx), cursor or None,
                                         MAX_BATCH if page_size is None else page_size)
            return t.PublicationStatusResult(
                count=len(page.items),
                item=[_status(e.issuer_reference, e) for e in page.items],
                nextCursor=page.next_cursor)

        @rpc(Unicode(max_len=64, min_occurs=1, nillable=False),
             _in_variable_names={"reference": "issuerReference"},
             _returns=t.EvidenceResult)
        def GetEvidence(ctx: Any, reference: str | None) -> t.EvidenceResult:
            """The server-signed evidence (XML and PDF) of one of the caller's items."""
            signed = service().evidence(principal_of(ctx), reference or "")
            status = signed.evidence.status
            return t.EvidenceResult(issuerReference=status.issuer_reference,
                                    id=status.notification_id, status=status.status.value,
                                    evidence=[signed.xml], evidencePdf=[signed.pdf])

        @rpc(Unicode(max_len=64, min_occurs=1, nillable=False),
             Unicode(min_occurs=1, nillable=False, doc="1..500 characters."),
             _in_variable_names={"reference": "issuerReference"},
             _returns=t.CancelResult)
        def CancelNotification(ctx: Any, reference: str | None,
                               reason: str | None) -> t.CancelResult:
            """Withdraw one of the caller's items while nobody has accessed it."""
            done = service().cancel(principal_of(ctx), reference or "", reason or "")
            return t.CancelResult(issuerReference=done.issuer_reference, id=done.notification_id,
                                  status="CANCELLED", cancelledAt=done.cancelled_at,
                                  reason=done.reason, alreadyCancelled=done.already_cancelled)

        # Event subscriptions (issue 17): an issuer hears of its own items only.
        @rpc(Unicode(min_occurs=1, nillable=False, max_len=2048,
                     doc="https callback allowed by the operator (CALLBACK_NOT_ALLOWED)"),
             Unicode(max_len=64, max_occurs="unbounded",
                     doc="notification.published, .accepted, .rejected, .expired, .read, "
                         ".cancelled, receipt.issued; none: every type"),
             _in_variable_names={"event_types": "eventType"},
             _returns=t.SubscriptionInfo)
        def SubscribeEvents(ctx: Any, url: str,
                            event_types: list[str] | None) -> t.SubscriptionInfo:
            """Be told of what happens to the caller's items (published, accepted, rejected,
            expired, read, cancelled, receipt issued): CloudEvents 1.0 JSON POSTed to ``url``,
            signed per Standard Webhooks with the returned secret (shown once)."""
            return subscriptions.subscribe(events, owner(ctx), url, event_types, None, None,
                                           t.SubscriptionInfo)

        @rpc(_returns=Array(t.SubscriptionInfo))
        def ListSubscriptions(ctx: Any) -> list[t.SubscriptionInfo]:
            """The issuer's event subscriptions (without their secrets)."""
            return subscriptions.listed(events, owner(ctx), t.SubscriptionInfo)

        @rpc(Long(min_occurs=1, nillable=False), _returns=Boolean)
        def Unsubscribe(ctx: Any, id: int) -> bool:
            """Remove one of the issuer's subscriptions."""
            return subscriptions.unsubscribe(events, owner(ctx), id)

    def owner(ctx: Any) -> Owner:
        principal = principal_of(ctx)
        return Owner(principal, service().issuer_of(principal))

    return IssuerService


def _request(item: Any, parts: list[Attachment | None]) -> PublicationRequest:
    documents = [item.mainDocument] if item.mainDocument is not None else []
    uploads = documents + list(item.annex or [])
    return PublicationRequest(
        issuer="", issuer_reference=item.issuerReference or "", kind=_text(item.kind),
        procedure=item.procedure or "", subject=item.subject or "",
        recipient=item.recipient or "", ccc=item.ccc or None,
        category=_text(item.category) or "NORMAL",
        documents=tuple(_document(d, parts[i] if i < len(parts) else None)
                        for i, d in enumerate(uploads)),
        made_available_at=_instant(item.madeAvailableAt),
    )


def _text(value: Any) -> str:
    """Spyne hands Enum inputs over as EnumValue objects (the first member falsy, none equal
    to its text): their text, or "" when absent."""
    return "" if value is None else str(value)


def _document(upload: Any, part: Attachment | None) -> DocumentInput:
    """Inline base64 (Spyne decoded it), or the MTOM part the content element named."""
    name = (upload.name or "").strip()
    content_type = (upload.contentType or "").strip() or (
        mimetypes.guess_type(name)[0] or "application/octet-stream")
    declared = (upload.sha256 or "").strip() or None
    if part is not None:
        return DocumentInput(name, content_type, b"",
                             StagedContent(part.size, part.sha256, part.chunks), declared)
    return DocumentInput(name, content_type, b"".join(upload.content or []),
                         declared_sha256=declared)


def _instant(value: datetime | None) -> datetime | None:
    return value  # naive values are refused by the publishing rules ("needs an offset")


def _status(reference: str, evidence: PublicationEvidence | None) -> t.PublicationStatus:
    if evidence is None:
        return t.PublicationStatus(issuerReference=reference, known=False)
    receipt = evidence.receipt
    return t.PublicationStatus(
        issuerReference=evidence.issuer_reference, known=True, id=evidence.notification_id,
        kind=evidence.kind.value, status=evidence.status.value,
        madeAvailableAt=evidence.made_available_at, deadlineAt=evidence.deadline_at,
        change=[t.StateChange(status=c.status.value, at=c.at, actedBy=c.acted_by)
                for c in evidence.changes],
        receipt=None if receipt is None else t.ReceiptEvidence(
            registrationNumber=receipt.registration_number, issuedAt=receipt.issued_at))
