"""Port ``NotificationService`` (DESIGN.md §4): thin decode -> service -> encode.

The service class is built by ``notification_service(deps)`` so that nothing is constructed at
import time and every dependency comes from the composition root. The caller is the principal
the WS-Security gate verified; it is read from the WSGI environ, never from the message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from spyne import Array, Boolean, ByteArray, Integer, Long, ServiceBase, Unicode, rpc

from gateway.domain.identifiers import normalise_ccc, normalise_tax_id
from gateway.domain.listing import ListingFilter, Role
from gateway.domain.model import Document, Issuer, ItemKind, Status
from gateway.domain.postal import PostalAddress, PostalChannel, PostalMode
from gateway.domain.receipts import Decision
from gateway.domain.rights import AccessGrant, AccessManager
from gateway.errors import GatewayError, InvalidRequest
from gateway.services.access import AccessService
from gateway.services.events import Owner
from gateway.services.notifications import VisibleNotification
from gateway.services.receipts import ReceiptService, ReceiptView
from gateway.wssec.signing_keys import SigningCredential

from . import content_stream, contents_xml, listing_xml, subscriptions
from . import types as t
from .context import SoapDependencies, principal_of
from .splice import splice_response


def notification_service(deps: SoapDependencies) -> type[ServiceBase]:
    queries = deps.queries
    representation = deps.representation

    class NotificationService(ServiceBase):
        """NOTESS notification service for recipients and their agents.

        Every request must carry a WS-Security header: an X.509v3 BinarySecurityToken from the
        trusted list and a signature (RSA-SHA256+ or ECDSA-SHA256+, SHA-256+ digests, exclusive
        c14n) covering the Body and a wsu:Timestamp. Limits: message 10 MiB (fault
        MESSAGE_TOO_LARGE), Timestamp age 300 s and lifetime 900 s, clock skew 60 s, pageSize
        1..1000 (PAGE_SIZE_EXCEEDED). Faults carry urn:notess:gateway:fault:v1 error/code.
        """

        __service_name__ = "NotificationService"

        @rpc(t.RoleType, t.Identifier, t.Ccc, t.IssuerType, t.KindType, t.StatusType,
             t.Timestamp, t.Timestamp, Unicode(max_len=200),
             t.ServiceEnforcedInteger(ge=1, le=t.MAX_PAGE_SIZE,
                                      doc="1..1000; default 100 (fault PAGE_SIZE_EXCEEDED)"),
             _in_variable_names={"principal_id": "principal", "made_from": "from",
                                 "made_to": "to", "page_size": "pageSize"},
             _returns=t.ListNotificationsResult)
        def ListNotifications(ctx: Any, role: str | None, principal_id: str | None,
                              ccc: str | None, issuer: str | None, kind: str | None,
                              status: str | None, made_from: datetime | None,
                              made_to: datetime | None, cursor: str | None,
                              page_size: int | None) -> t.ListNotificationsResult | None:
            """Metadata of the items the caller may see, oldest first, in keyset pages."""
            listing_filter = ListingFilter(
                role=_code(role, Role),
                principal=_tax_id(principal_id, "principal"),
                ccc=_ccc(ccc),
                issuer=_code(issuer, Issuer),
                kind=_code(kind, ItemKind),
                status=_code(status, Status),
                made_available_from=_aware(made_from, "from"),
                made_available_to=_aware(made_to, "to"),
            )
            page = queries.list(principal_of(ctx), listing_filter, cursor or None,
                                100 if page_size is None else page_size)
            if listing_xml.WRITES_CONTRACT:
                splice_response(ctx, listing_xml.page_splice(page))
                return None  # the Body is the page written by listing_xml (soap.splice)
            return t.ListNotificationsResult(
                count=len(page.items),
                item=[notification_info(item) for item in page.items],
                nextCursor=page.next_cursor,
            )

        @rpc(Unicode(min_occurs=1, nillable=False, max_len=2048,
                     doc="https callback allowed by the operator (CALLBACK_NOT_ALLOWED)"),
             t.EventTypeName.customize(max_occurs="unbounded", doc="none: every type"),
             t.Identifier.customize(max_occurs="unbounded",
                                    doc="only events about these recipients"),
             t.Ccc.customize(max_occurs="unbounded", doc="only events about these CCCs"),
             _in_variable_names={"event_types": "eventType", "principals": "principal"},
             _returns=t.SubscriptionInfo)
        def SubscribeEvents(ctx: Any, url: str, event_types: list[str] | None,
                            principals: list[str] | None,
                            cccs: list[str] | None) -> t.SubscriptionInfo:
            """Be told of changes to the items the caller may see: CloudEvents 1.0 JSON POSTed
            to ``url``, signed per Standard Webhooks with the returned secret (shown once)."""
            return subscriptions.subscribe(deps.events, Owner(principal_of(ctx)), url,
                                           event_types, principals, cccs)

        @rpc(_returns=Array(t.SubscriptionInfo))
        def ListSubscriptions(ctx: Any) -> list[t.SubscriptionInfo]:
            """The caller's event subscriptions (without their secrets)."""
            return subscriptions.listed(deps.events, Owner(principal_of(ctx)))

        @rpc(Long(min_occurs=1, nillable=False), _returns=Boolean)
        def Unsubscribe(ctx: Any, id: int) -> bool:
            """Remove one of the caller's subscriptions; what it was still owed is dropped."""
            return subscriptions.unsubscribe(deps.events, Owner(principal_of(ctx)), id)

        @rpc(_returns=Array(t.PrincipalInfo))
        def ListPrincipals(ctx: Any) -> list[t.PrincipalInfo]:
            """Everyone the caller may act for, with the role and the scopes."""
            return [
                t.PrincipalInfo(identifier=p.identifier, role=p.role.value,
                                scope=sorted(s.value for s in p.scopes),
                                ccc=sorted(p.cccs) if p.cccs else [])
                for p in representation.principals(principal_of(ctx))
            ]

        @rpc(Long(min_occurs=1, nillable=False), _returns=t.NotificationInfo)
        def GetNotification(ctx: Any, id: int) -> t.NotificationInfo:
            """Metadata of one item the caller may see."""
            return notification_info(queries.get(principal_of(ctx), _id(id)))

        @rpc(Long(min_occurs=1, nillable=False), Integer(ge=0, doc="0 (default) is the main document"),
             Long(ge=0, doc="resume a broken download: the document's bytes from this offset "
                            "on (default 0; beyond its size: fault INVALID_OFFSET); sha256 and "
                            "size still describe the whole document"),
             _returns=t.ContentResult)
        def GetContent(ctx: Any, id: int, document: int | None,
                       offset: int | None) -> t.ContentResult:
            """A document of an ACCEPTED notification, or of a communication (marks it READ)."""
            content = queries.open_content(principal_of(ctx), _id(id), document or 0, offset or 0)
            splice_response(ctx, content_stream.data_splice(content))  # streamed into data
            result = content_result(content.notification, content.document, b"")
            if content.offset:
                result.offset = content.offset
            return result

        @rpc(Long(max_occurs="unbounded", nillable=False,
                  doc="1..1000 notification ids (fault BATCH_TOO_LARGE), none twice "
                      "(DUPLICATE_ID)"),
             _in_variable_names={"ids": "id"}, _returns=t.ContentsResult)
        def GetContents(ctx: Any, ids: list[int] | None) -> t.ContentsResult | None:
            """Bulk download: every document of each named notification that is ACCEPTED (or a
            communication, which this marks READ), up to 4 MiB of documents per answer (whole
            notifications; the rest DEFERRED). Notifications not served are listed under
            refused with a code; documents above 2 MiB are fetched with GetContent."""
            batch = queries.contents(principal_of(ctx), list(ids or []))
            if contents_xml.WRITES_CONTRACT:
                splice_response(ctx, contents_xml.batch_splice(batch))
                return None  # the Body is written by contents_xml (soap.splice)
            return t.ContentsResult(
                count=len(batch.released),
                content=[content_result(c.notification, c.document, c.data)
                         for c in batch.released],
                refused=[t.ContentRefusalInfo(notificationId=r.notification_id, code=r.code,
                                              message=r.message) for r in batch.refused],
            )

        @rpc(_returns=t.OfficialTime)
        def GetOfficialTime(ctx: Any) -> t.OfficialTime:
            """The server's official time; it governs every deadline."""
            now = deps.clock.now()
            return t.OfficialTime(now=now, timeZone=deps.official_zone.key,
                                  localTime=now.astimezone(deps.official_zone))

        @rpc(_returns=Array(t.ServerCertificateInfo))
        def GetServerCertificates(ctx: Any) -> list[t.ServerCertificateInfo]:
            """The certificate that signs responses now and, when a rotation is scheduled, the
            next one with the instant it takes over (no rights needed beyond a valid
            signature). Clients learn the next certificate here, over a response signed by the
            current one, and accept it from its activeFrom."""
            if deps.server_certificates is None:
                raise GatewayError("responses are not signed", code="NOT_CONFIGURED")
            announcement = deps.server_certificates()
            return [server_certificate_info(role, credential)
                    for role, credential in (("CURRENT", announcement.current),
                                             ("NEXT", announcement.next))
                    if credential is not None]

        @rpc(t.Identifier, _returns=t.PostalChannelInfo)
        def GetPostalChannel(ctx: Any, recipient: str | None) -> t.PostalChannelInfo:
            """The caller's postal channel (paper copy address or electronic only)."""
            return postal_info(representation.postal_channel(principal_of(ctx), recipient))

        @rpc(t.Identifier, t.PostalModeType.customize(min_occurs=1, nillable=False), t.Address,
             _returns=t.PostalChannelInfo)
        def SetPostalChannel(ctx: Any, recipient: str | None, mode: str,
                             address: t.Address | None) -> t.PostalChannelInfo:
            """Change the caller's postal channel."""
            postal_address = None
            if address is not None:
                postal_address = PostalAddress(
                    address_line=address.addressLine or "", postal_code=address.postalCode or "",
                    municipality=address.municipality or "", province=address.province or "",
                    country=address.country or "ES",
                )
            channel = representation.set_postal_channel(
                principal_of(ctx), recipient, PostalMode(str(mode)), postal_address)
            return postal_info(channel)

        @rpc(t.Ccc.customize(min_occurs=1, nillable=False),
             t.Identifier.customize(min_occurs=1, nillable=False),
             t.Identifier(doc="The company holding the CCC when the caller acts for it by "
                              "mandate (reception.assign); default: the caller."),
             _returns=t.ReceptionAssignment)
        def AssignReception(ctx: Any, ccc: str, agent: str,
                            company: str | None) -> t.ReceptionAssignment:
            """Assign the reception of a CCC's notifications to a RED authorised agent."""
            assignment = representation.assign_reception(principal_of(ctx), ccc or "",
                                                         agent or "", company)
            return t.ReceptionAssignment(ccc=assignment.ccc, company=assignment.company,
                                         agent=assignment.agent, assignedAt=assignment.assigned_at)

        @rpc(t.Ccc.customize(min_occurs=1, nillable=False),
             t.Identifier(doc="The company holding the CCC (default: the caller)."),
             _returns=Integer)
        def UnassignReception(ctx: Any, ccc: str, company: str | None) -> int:
            """End the RED assignment of a CCC now; returns how many assignments ended. The
            agent immediately loses the notifications of that CCC it has not accepted."""
            return representation.unassign_reception(principal_of(ctx), ccc or "", company)

        @rpc(t.Identifier(doc="The entity (default: the caller's)."),
             t.Identifier.customize(min_occurs=1, nillable=False, doc="NIF/NIE of the person"),
             t.Timestamp, _in_variable_names={"valid_to": "validTo"},
             _returns=t.AccessManagerInfo)
        def NameAccessManager(ctx: Any, entity: str | None, person: str,
                              valid_to: datetime | None) -> t.AccessManagerInfo:
            """Main access manager (the entity's representative certificate) only: let a
            person grant rights on the entity's notifications."""
            return manager_info(_access(deps).name_manager(
                principal_of(ctx), entity, person or "", _aware(valid_to, "validTo")))

        @rpc(t.Identifier, t.Identifier.customize(min_occurs=1, nillable=False),
             _returns=Integer)
        def RemoveAccessManager(ctx: Any, entity: str | None, person: str) -> int:
            """Main access manager only: end a person's access-manager role now."""
            return _access(deps).remove_manager(principal_of(ctx), entity, person or "")

        @rpc(t.Identifier, _returns=Array(t.AccessManagerInfo))
        def ListAccessManagers(ctx: Any, entity: str | None) -> list[t.AccessManagerInfo]:
            """The entity's access managers, past and present (access managers only)."""
            return [manager_info(m)
                    for m in _access(deps).managers(principal_of(ctx), entity)]

        @rpc(t.Identifier, t.Identifier.customize(min_occurs=1, nillable=False),
             t.ScopeType.customize(max_occurs="unbounded", min_occurs=1, nillable=False,
                                   doc="notifications.read, .sign or .content"),
             t.Ccc.customize(max_occurs="unbounded", nillable=False),
             Boolean, t.Timestamp, t.Timestamp,
             _in_variable_names={"scopes": "scope", "cccs": "ccc",
                                 "special_category": "specialCategory",
                                 "valid_from": "validFrom", "valid_to": "validTo"},
             _returns=t.AccessGrantInfo)
        def GrantAccess(ctx: Any, entity: str | None, grantee: str, scopes: list[str] | None,
                        cccs: list[str] | None, special_category: bool | None,
                        valid_from: datetime | None,
                        valid_to: datetime | None) -> t.AccessGrantInfo:
            """Access managers: invite a person (by NIF) to rights on the entity's
            notifications; the invitation lapses unless the person makes an authenticated call
            within 24 hours."""
            grant = _access(deps).grant(
                principal_of(ctx), entity, grantee or "", [str(s) for s in scopes or []],
                cccs or None, bool(special_category), _aware(valid_from, "validFrom"),
                _aware(valid_to, "validTo"))
            return grant_info(grant, deps.clock.now())

        @rpc(Long(min_occurs=1, nillable=False), _in_variable_names={"grant_id": "grantId"},
             _returns=t.AccessGrantInfo)
        def RevokeAccess(ctx: Any, grant_id: int) -> t.AccessGrantInfo:
            """Access managers: end a grant now."""
            grant = _access(deps).revoke_grant(principal_of(ctx), _id(grant_id))
            return grant_info(grant, deps.clock.now())

        @rpc(t.Identifier, _returns=Array(t.AccessGrantInfo))
        def ListAccessGrants(ctx: Any, entity: str | None) -> list[t.AccessGrantInfo]:
            """Access managers: every grant of the entity with its state now."""
            now = deps.clock.now()
            return [grant_info(g, now)
                    for g in _access(deps).grants(principal_of(ctx), entity)]

        @rpc(_returns=Array(t.MandateInfo))
        def ListMandates(ctx: Any) -> list[t.MandateInfo]:
            """Mandates the caller gave (as grantor) or holds (as grantee)."""
            return [
                t.MandateInfo(
                    id=m.id, grantor=m.grantor, grantee=m.grantee,
                    scope=sorted(s.value for s in m.scopes),
                    issuer=sorted(m.issuers) if m.issuers else [],
                    ccc=sorted(m.cccs) if m.cccs else [],
                    specialCategory=m.special_category, validFrom=m.valid_from,
                    validTo=m.valid_to, revokedAt=m.revoked_at,
                )
                for m in representation.mandates(principal_of(ctx))
            ]

        @rpc(Long(max_occurs="unbounded", nillable=False, doc="1..1000 notification ids "
                  "(fault BATCH_TOO_LARGE)"),
             t.DecisionType.customize(min_occurs=1, nillable=False),
             _in_variable_names={"ids": "id"}, _returns=t.PreparedReceiptResult)
        def PrepareReceipt(ctx: Any, ids: list[int] | None,
                           decision: str) -> t.PreparedReceiptResult:
            """An unsigned acknowledgement (xsd/receipt.xsd) of notifications the caller may
            sign, valid for 15 minutes; sign it and send it with SubmitReceipt."""
            prepared = _receipts(deps).prepare(principal_of(ctx), list(ids or []),
                                               Decision(str(decision)))
            ack = prepared.acknowledgement
            return t.PreparedReceiptResult(receiptId=ack.receipt_id, nonce=ack.nonce,
                                           issuedAt=ack.issued_at, expiresAt=ack.expires_at,
                                           receipt=[prepared.document])

        @rpc(ByteArray(min_occurs=1, nillable=False), ByteArray,
             _in_variable_names={"signed_receipt": "signedReceipt",
                                 "detached_content": "detachedContent"},
             _returns=t.ReceiptResult)
        def SubmitReceipt(ctx: Any, signed_receipt: list[bytes] | None,
                          detached_content: list[bytes] | None) -> t.ReceiptResult:
            """The signed acknowledgement (XAdES-BES enveloped, or CAdES-BES attached or
            detached with detachedContent); returns the server-signed receipts: one per
            recipient (special-category items apart), the first in the result's own fields, the
            others in otherReceipt. Submitting the same signed bytes again returns the same
            receipts."""
            submission = _receipts(deps).submit(
                principal_of(ctx), b"".join(signed_receipt or []),
                b"".join(detached_content) if detached_content else None)
            result = receipt_result(submission.first)
            result.otherReceipt = [
                t.OtherReceipt(**_receipt_fields(view)) for view in submission.receipts[1:]]
            return result

        @rpc(Unicode(max_len=20), Long, t.ReceiptFormatType, _in_variable_names={
                 "registration_number": "registrationNumber",
                 "notification_id": "notificationId", "receipt_format": "format"},
             _returns=t.ReceiptResult)
        def GetReceipt(ctx: Any, registration_number: str | None, notification_id: int | None,
                       receipt_format: Any) -> t.ReceiptResult:
            """The server-signed receipt by registration number, or the one that made a
            notification final; for its signer and whoever may see every notification on it
            (anyone else: RECEIPT_NOT_FOUND, as for an unknown one). With format=PDF, also the
            justificante as a PAdES-signed PDF."""
            service = _receipts(deps)
            view = service.get(principal_of(ctx), registration_number or None, notification_id)
            result = receipt_result(view)
            if receipt_format is not None and str(receipt_format) == "PDF":
                result.pdf = [service.signed_pdf(view)]
            return result

    return NotificationService


def _receipts(deps: SoapDependencies) -> ReceiptService:
    if deps.receipts is None:  # only the contract renderer builds the port without services
        raise RuntimeError("receipt service not configured")
    return deps.receipts


def _access(deps: SoapDependencies) -> AccessService:
    if deps.access is None:
        raise GatewayError("access management is not configured", code="NOT_CONFIGURED")
    return deps.access


def manager_info(m: AccessManager) -> t.AccessManagerInfo:
    return t.AccessManagerInfo(id=m.id, entity=m.entity, person=m.person, namedBy=m.named_by,
                               validFrom=m.valid_from, validTo=m.valid_to, revokedAt=m.revoked_at)


def grant_info(g: AccessGrant, now: datetime) -> t.AccessGrantInfo:
    return t.AccessGrantInfo(
        id=g.id, entity=g.entity, grantee=g.grantee, scope=sorted(g.scopes_codes()),
        ccc=sorted(g.cccs) if g.cccs else [], specialCategory=g.special_category,
        grantedBy=g.granted_by, state=g.state_at(now), invitedAt=g.invited_at,
        invitationExpiresAt=g.invitation_expires_at(), activatedAt=g.activated_at,
        validFrom=g.valid_from, validTo=g.valid_to, revokedAt=g.revoked_at)


def receipt_result(view: ReceiptView) -> t.ReceiptResult:
    return t.ReceiptResult(**_receipt_fields(view))


def _receipt_fields(view: ReceiptView) -> dict[str, Any]:
    content = view.content
    return {
        "registrationNumber": str(content.registration_number), "issuedAt": content.issued_at,
        "csvCode": content.csv_code, "decision": content.decision.value,
        "clientAckDigest": content.client_ack_digest, "recipient": content.recipient,
        "item": [t.ReceiptItemOutcome(notificationId=i.notification_id,
                                      outcome=i.outcome.value) for i in content.items],
        "signedReceipt": [view.issued.signed_xml],
    }


def notification_info(item: VisibleNotification) -> t.NotificationInfo:
    n = item.notification
    return t.NotificationInfo(
        id=n.id, kind=n.kind.value, issuer=n.issuer.value, issuerReference=n.issuer_reference,
        procedure=n.procedure, subject=n.subject, recipient=n.recipient, ccc=n.ccc,
        role=item.role.value, category=n.category.value, madeAvailableAt=n.made_available_at,
        deadlineAt=n.deadline_at, deadlineExtensionDays=n.deadline_extension_days,
        status=n.status.value, statusAt=n.status_at,
        document=[document_info(d) for d in n.documents],
    )


def content_result(item: VisibleNotification, document: Document,
                   data: bytes) -> t.ContentResult:
    """One released document as ``ContentResult`` (GetContent, and each of GetContents)."""
    return t.ContentResult(notificationId=item.notification.id,
                           document=document_info(document),
                           status=item.notification.status.value, data=[data])


def document_info(d: Document) -> t.DocumentInfo:
    return t.DocumentInfo(position=d.position, role=d.role.value, name=d.name,
                          contentType=d.content_type, sha256=d.sha256, size=d.size)


def server_certificate_info(role: str,
                            credential: SigningCredential) -> t.ServerCertificateInfo:
    certificate = credential.certificate
    return t.ServerCertificateInfo(
        role=role, certificate=[credential.der], sha256=credential.fingerprint,
        subject=certificate.subject.rfc4514_string(), notAfter=certificate.not_valid_after_utc,
        activeFrom=credential.active_from)


def postal_info(channel: PostalChannel) -> t.PostalChannelInfo:
    address = None
    if channel.address is not None:
        a = channel.address
        address = t.Address(addressLine=a.address_line, postalCode=a.postal_code,
                            municipality=a.municipality, province=a.province or None,
                            country=a.country)
    return t.PostalChannelInfo(recipient=channel.recipient, mode=channel.mode.value,
                               address=address, updatedAt=channel.updated_at)


def _code(value: Any, enum: Any) -> Any:
    """Spyne hands Enum inputs over as its own EnumValue objects, not strings: the first member
    is falsy and none equals its text. Convert by name at the seam."""
    return None if value is None else enum(str(value))


def _id(value: int | None) -> int:
    if value is None or value < 1:
        raise InvalidRequest("id must be a positive number", code="INVALID_ID", field="id")
    return value


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidRequest(f"{field} needs a UTC offset", code="INVALID_DATE", field=field)
    return value


def _tax_id(value: str | None, field: str) -> str | None:
    return normalise_tax_id(value, field=field) if value else None


def _ccc(value: str | None) -> str | None:
    return normalise_ccc(value, field="ccc") if value else None
