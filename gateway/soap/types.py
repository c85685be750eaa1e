"""The SOAP types of the NotificationService contract (DESIGN.md §4).

Typed on the wire: dates are ``xs:dateTime`` with an offset, codes are enumerations, limits are
XSD facets with documentation, so the published WSDL states them. Names are the contract's
(lowerCamelCase elements, UpperCamelCase types) and must not drift: ``wsdl/`` holds the
committed WSDL and a test compares it with what Spyne serves.
"""

from __future__ import annotations

from typing import Any

from spyne import Boolean, ByteArray, ComplexModel, DateTime, Integer, Long, Unicode
from spyne import Enum as SpyneEnum

from gateway import namespaces
from gateway.domain.authorization import Action
from gateway.domain.listing import Role
from gateway.domain.model import Category, DocumentRole, Issuer, ItemKind, Status
from gateway.domain.postal import PostalMode
from gateway.domain.receipts import Decision, Outcome
from gateway.services.notifications import CONTENT_REFUSAL_CODES

NS = namespaces.NOTIFICATION_SERVICE
MAX_PAGE_SIZE = 1000


def _enum(enum: type, name: str, doc: str) -> type:
    return SpyneEnum(*[m.value for m in enum], type_name=name, doc=doc).customize(
        __namespace__=NS)


KindType = _enum(ItemKind, "ItemKind", "NOTIFICATION needs an accept/reject acknowledgement; "
                 "COMMUNICATION is informative.")
IssuerType = _enum(Issuer, "Issuer", "The administration that issued the act.")
StatusType = _enum(Status, "Status", "AVAILABLE until ACCEPTED, REJECTED or EXPIRED "
                   "(notifications) or READ (communications), or CANCELLED by the issuer "
                   "before anyone accessed it; final states never change.")
CategoryType = _enum(Category, "Category", "SPECIAL marks special-category personal data.")
RoleType = _enum(Role, "Role", "How the caller comes to see the item.")
DocumentRoleType = _enum(DocumentRole, "DocumentRole", "MAIN document or ANNEX.")
PostalModeType = _enum(PostalMode, "PostalMode",
                       "PAPER_COPY also posts a copy to the address; ELECTRONIC_ONLY opts out.")
ScopeType = _enum(Action, "Scope", "A right the caller holds for a principal.")
DecisionType = _enum(Decision, "Decision", "ACCEPT or REJECT every notification of the "
                     "acknowledgement.")
OutcomeType = _enum(Outcome, "Outcome", "What the receipt did to one notification.")
ReceiptFormatType = SpyneEnum("XML", "PDF", type_name="ReceiptFormat",
                              doc="XML (default): the server-signed receipt only; PDF: also the "
                                  "human-readable justificante, signed with PAdES.").customize(
    __namespace__=NS)

class ServiceEnforcedInteger(Integer):  # type: ignore[misc]  # Spyne is untyped
    """An integer whose facets are published in the WSDL but enforced by the service, so that
    a documented limit answers with its own fault code (e.g. PAGE_SIZE_EXCEEDED) rather than
    Spyne's generic schema violation."""

    @staticmethod
    def validate_native(model: Any, value: Any) -> bool:
        return True


Identifier = Unicode(max_len=32, doc="NIF, NIE or CIF; normalised by the server.")
Ccc = Unicode(max_len=20, doc="Contribution account code (11 digits; separators allowed).")
Timestamp = DateTime(timezone=True)


class DocumentInfo(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("position", Integer(nillable=False, min_occurs=1, doc="0 is the main document")),
        ("role", DocumentRoleType.customize(min_occurs=1, nillable=False)),
        ("name", Unicode(min_occurs=1, nillable=False)),
        ("contentType", Unicode(min_occurs=1, nillable=False)),
        ("sha256", Unicode(min_occurs=1, nillable=False, pattern="[0-9a-f]{64}")),
        ("size", Long(min_occurs=1, nillable=False)),
    ]


class NotificationInfo(ComplexModel):
    """Metadata only: content is fetched with GetContent after acceptance."""

    __namespace__ = NS
    _type_info = [
        ("id", Long(min_occurs=1, nillable=False)),
        ("kind", KindType.customize(min_occurs=1, nillable=False)),
        ("issuer", IssuerType.customize(min_occurs=1, nillable=False)),
        ("issuerReference", Unicode(min_occurs=1, nillable=False)),
        ("procedure", Unicode(min_occurs=1, nillable=False)),
        ("subject", Unicode(min_occurs=1, nillable=False)),
        ("recipient", Identifier.customize(min_occurs=1, nillable=False)),
        ("ccc", Ccc),
        ("role", RoleType.customize(min_occurs=1, nillable=False)),
        ("category", CategoryType.customize(min_occurs=1, nillable=False)),
        ("madeAvailableAt", Timestamp.customize(min_occurs=1, nillable=False)),
        ("deadlineAt", Timestamp.customize(
            doc="Deemed rejection instant, computed by the server (Europe/Madrid midnight); "
                "absent for communications.")),
        ("deadlineExtensionDays", Integer(min_occurs=1, nillable=False,
                                          doc="Days added for recorded service outages.")),
        ("status", StatusType.customize(min_occurs=1, nillable=False)),
        ("statusAt", Timestamp.customize(min_occurs=1, nillable=False)),
        ("document", DocumentInfo.customize(max_occurs="unbounded")),
    ]


class ListNotificationsResult(ComplexModel):
    __namespace__ = NS
    _type_info = [
        # Always present, so an empty page is an element with content: zeep (and other clients)
        # read an empty complex element as null rather than as a page without items.
        ("count", Integer(min_occurs=1, nillable=False, doc="Items in this page.")),
        ("item", NotificationInfo.customize(max_occurs="unbounded")),
        ("nextCursor", Unicode(doc="Opaque; absent on the last page.")),
    ]


class PrincipalInfo(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("identifier", Identifier.customize(min_occurs=1, nillable=False)),
        ("role", RoleType.customize(min_occurs=1, nillable=False)),
        ("scope", ScopeType.customize(max_occurs="unbounded")),
        ("ccc", Ccc.customize(max_occurs="unbounded")),
    ]


EventTypeName = Unicode(max_len=64, doc="notification.published, .accepted, .rejected, "
                        ".expired, .read, .cancelled, receipt.issued, representation.changed")


def subscription_info_type(namespace: str) -> type[ComplexModel]:
    """``SubscriptionInfo`` in a port's namespace (each port keeps one schema of its own)."""

    class SubscriptionInfo(ComplexModel):
        """An event subscription; ``secret`` (whsec_...) only in SubscribeEvents' answer."""

        __namespace__ = namespace
        _type_info = [
            ("id", Long(min_occurs=1, nillable=False)),
            ("url", Unicode(min_occurs=1, nillable=False)),
            ("eventType", Unicode(max_len=64, max_occurs="unbounded")),
            ("principal", Unicode(max_len=32, max_occurs="unbounded")),
            ("ccc", Unicode(max_len=20, max_occurs="unbounded")),
            ("createdAt", DateTime(timezone=True, min_occurs=1, nillable=False)),
            ("secret", Unicode),
        ]

    return SubscriptionInfo


SubscriptionInfo = subscription_info_type(NS)


class ContentResult(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("notificationId", Long(min_occurs=1, nillable=False)),
        ("document", DocumentInfo.customize(min_occurs=1, nillable=False)),
        ("status", StatusType.customize(min_occurs=1, nillable=False)),
        ("offset", Long(min_occurs=0, nillable=False,
                        doc="Where data starts in the document, when GetContent was asked to "
                            "resume (absent: 0).")),
        ("data", ByteArray(min_occurs=1, nillable=False, doc="The document bytes (base64).")),
    ]


ContentRefusalCodeType = SpyneEnum(
    *CONTENT_REFUSAL_CODES, type_name="ContentRefusalCode",
    doc="NOT_FOUND: no such notification or not one the caller may see; NOT_AUTHORISED: the "
        "caller may see it but its right does not include opening the content; NOT_ACCEPTED: content "
        "is released only after acceptance; TOO_LARGE: a document above 2 MiB, fetch it with "
        "GetContent (streamed); DEFERRED: the response is full, ask again; "
        "CONTENT_UNAVAILABLE: the stored bytes fail their SHA-256, nothing released.",
).customize(__namespace__=NS)


class ContentRefusalInfo(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("notificationId", Long(min_occurs=1, nillable=False)),
        ("code", ContentRefusalCodeType.customize(min_occurs=1, nillable=False)),
        ("message", Unicode(min_occurs=1, nillable=False)),
    ]


class ContentsResult(ComplexModel):
    """Every document of the notifications released, then those not served and why."""

    __namespace__ = NS
    _type_info = [
        ("count", Integer(min_occurs=1, nillable=False, doc="content elements in this answer")),
        ("content", ContentResult.customize(max_occurs="unbounded")),
        ("refused", ContentRefusalInfo.customize(max_occurs="unbounded")),
    ]


ServerCertificateRoleType = SpyneEnum(
    "CURRENT", "NEXT", type_name="ServerCertificateRole",
    doc="CURRENT signs responses now; NEXT takes over at its activeFrom.").customize(
    __namespace__=NS)


class ServerCertificateInfo(ComplexModel):
    """A response-signing certificate of the server. Accept a NEXT certificate only from a
    response you verified with the CURRENT one (or one accepted the same way), and from its
    activeFrom on: responses are signed with it from that instant."""

    __namespace__ = NS
    _type_info = [
        ("role", ServerCertificateRoleType.customize(min_occurs=1, nillable=False)),
        ("certificate", ByteArray(min_occurs=1, nillable=False, doc="DER, base64")),
        ("sha256", Unicode(min_occurs=1, nillable=False, pattern="[0-9a-f]{64}",
                           doc="SHA-256 of the DER")),
        ("subject", Unicode(min_occurs=1, nillable=False)),
        ("notAfter", Timestamp.customize(min_occurs=1, nillable=False)),
        ("activeFrom", Timestamp.customize(doc="When it starts (or started) signing; absent "
                                               "for the configured certificate")),
    ]


class OfficialTime(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("now", Timestamp.customize(min_occurs=1, nillable=False)),
        ("timeZone", Unicode(min_occurs=1, nillable=False)),
        ("localTime", Timestamp.customize(min_occurs=1, nillable=False,
                                          doc="The same instant in the official time zone.")),
    ]


class Address(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("addressLine", Unicode(max_len=300, min_occurs=1, nillable=False)),
        ("postalCode", Unicode(max_len=16, min_occurs=1, nillable=False)),
        ("municipality", Unicode(max_len=100, min_occurs=1, nillable=False)),
        ("province", Unicode(max_len=100)),
        ("country", Unicode(max_len=2, doc="ISO 3166-1 alpha-2; default ES")),
    ]


class PostalChannelInfo(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("recipient", Identifier.customize(min_occurs=1, nillable=False)),
        ("mode", PostalModeType.customize(min_occurs=1, nillable=False)),
        ("address", Address),
        ("updatedAt", Timestamp),
    ]


class ReceptionAssignment(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("ccc", Ccc.customize(min_occurs=1, nillable=False)),
        ("company", Identifier.customize(min_occurs=1, nillable=False)),
        ("agent", Identifier.customize(min_occurs=1, nillable=False)),
        ("assignedAt", Timestamp.customize(min_occurs=1, nillable=False)),
    ]


class MandateInfo(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("id", Long(min_occurs=1, nillable=False)),
        ("grantor", Identifier.customize(min_occurs=1, nillable=False)),
        ("grantee", Identifier.customize(min_occurs=1, nillable=False)),
        ("scope", ScopeType.customize(max_occurs="unbounded")),
        ("issuer", IssuerType.customize(max_occurs="unbounded")),
        ("ccc", Ccc.customize(max_occurs="unbounded")),
        ("specialCategory", Boolean(min_occurs=1, nillable=False)),
        ("validFrom", Timestamp.customize(min_occurs=1, nillable=False)),
        ("validTo", Timestamp),
        ("revokedAt", Timestamp),
    ]


class PreparedReceiptResult(ComplexModel):
    """An acknowledgement to sign (xsd/receipt.xsd Acknowledgement), valid until expiresAt."""

    __namespace__ = NS
    _type_info = [
        ("receiptId", Unicode(min_occurs=1, nillable=False)),
        ("nonce", Unicode(min_occurs=1, nillable=False)),
        ("issuedAt", Timestamp.customize(min_occurs=1, nillable=False)),
        ("expiresAt", Timestamp.customize(min_occurs=1, nillable=False)),
        ("receipt", ByteArray(min_occurs=1, nillable=False,
                              doc="The unsigned Acknowledgement XML; sign these exact bytes "
                                  "(CAdES) or the document (XAdES-BES enveloped).")),
    ]


class ReceiptItemOutcome(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("notificationId", Long(min_occurs=1, nillable=False)),
        ("outcome", OutcomeType.customize(min_occurs=1, nillable=False)),
    ]


def _receipt_fields() -> list[tuple[str, Any]]:
    return [
        ("registrationNumber", Unicode(min_occurs=1, nillable=False,
                                       pattern="[0-9]{4}/[0-9]{9}")),
        ("issuedAt", Timestamp.customize(min_occurs=1, nillable=False)),
        ("csvCode", Unicode(min_occurs=1, nillable=False)),
        ("decision", DecisionType.customize(min_occurs=1, nillable=False)),
        ("clientAckDigest", Unicode(doc="SHA-256 of the signed acknowledgement as submitted")),
        ("recipient", Unicode(doc="Whose notifications the receipt certifies (absent on "
                                  "receipts issued before one receipt per recipient).")),
        ("item", ReceiptItemOutcome.customize(max_occurs="unbounded")),
        ("signedReceipt", ByteArray(min_occurs=1, nillable=False,
                                    doc="The ServerReceipt XML, XAdES-BES enveloped.")),
    ]


class OtherReceipt(ComplexModel):
    """Another receipt issued for the same signed acknowledgement (another recipient, or the
    same recipient's special-category items)."""

    __namespace__ = NS
    _type_info = _receipt_fields()


class ReceiptResult(ComplexModel):
    """A server receipt: the registration number, the official time, the outcomes, the CSV
    code anyone can verify, and the server-signed XML (xsd/receipt.xsd ServerReceipt).

    SubmitReceipt issues one receipt per recipient of the acknowledged items (and per
    recipient, its special-category items on a receipt of their own): the first is this
    element's own fields, the others follow as ``otherReceipt``, in registration order."""

    __namespace__ = NS
    _type_info = [
        *_receipt_fields(),
        ("pdf", ByteArray(doc="GetReceipt with format=PDF only: the justificante as a PDF "
                              "signed with PAdES by the server (B-T with a time-stamp when the "
                              "server has a TSA, else B).")),
        ("otherReceipt", OtherReceipt.customize(
            max_occurs="unbounded", doc="SubmitReceipt only: the other receipts the same "
                                        "acknowledgement yielded.")),
    ]


GrantStateType = SpyneEnum(
    "ACTIVE", "INVITATION_PENDING", "INVITATION_EXPIRED", "GRANT_NOT_YET_VALID", "GRANT_EXPIRED",
    "GRANT_REVOKED", type_name="GrantState",
    doc="ACTIVE once the grantee's first authenticated call activated the invitation (within "
        "24 hours of it) and while in force; otherwise why it gives no right.",
).customize(__namespace__=NS)


class AccessManagerInfo(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("id", Long(min_occurs=1, nillable=False)),
        ("entity", Identifier.customize(min_occurs=1, nillable=False)),
        ("person", Identifier.customize(min_occurs=1, nillable=False)),
        ("namedBy", Identifier.customize(min_occurs=1, nillable=False)),
        ("validFrom", Timestamp.customize(min_occurs=1, nillable=False)),
        ("validTo", Timestamp),
        ("revokedAt", Timestamp),
    ]


class AccessGrantInfo(ComplexModel):
    __namespace__ = NS
    _type_info = [
        ("id", Long(min_occurs=1, nillable=False)),
        ("entity", Identifier.customize(min_occurs=1, nillable=False)),
        ("grantee", Identifier.customize(min_occurs=1, nillable=False)),
        ("scope", ScopeType.customize(max_occurs="unbounded")),
        ("ccc", Ccc.customize(max_occurs="unbounded")),
        ("specialCategory", Boolean(min_occurs=1, nillable=False)),
        ("grantedBy", Identifier.customize(min_occurs=1, nillable=False)),
        ("state", GrantStateType.customize(min_occurs=1, nillable=False)),
        ("invitedAt", Timestamp.customize(min_occurs=1, nillable=False)),
        ("invitationExpiresAt", Timestamp.customize(min_occurs=1, nillable=False)),
        ("activatedAt", Timestamp),
        ("validFrom", Timestamp.customize(min_occurs=1, nillable=False)),
        ("validTo", Timestamp),
        ("revokedAt", Timestamp),
    ]
