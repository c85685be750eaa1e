"""Table definitions (SQLAlchemy 2.x typed declarative). ORM classes never leave ``store/``.

Enums are stored as their wire values in plain ``String`` columns (no native database enums), so
both backends and every migration see the same thing. Constraint and index names come from the
naming convention below, so alembic migrations name them deterministically.

Documents' metadata (``notification_document``) is kept apart from their bytes
(``notification_content``): listing pages join the former and never touch blobs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY (its rowid).
BigId = BigInteger().with_variant(Integer(), "sqlite")

IDENTIFIER = 32  # NIF/NIE/CIF and CCC, with room for a country prefix
CODE = 16  # enum wire values


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class NotificationRow(Base):
    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(CODE))
    issuer: Mapped[str] = mapped_column(String(CODE))
    issuer_reference: Mapped[str] = mapped_column(String(128))
    procedure: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(1000))
    recipient: Mapped[str] = mapped_column(String(IDENTIFIER))
    ccc: Mapped[str | None] = mapped_column(String(IDENTIFIER))
    category: Mapped[str] = mapped_column(String(CODE))
    made_available_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    base_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline_extension_days: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(String(CODE))
    status_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acted_by: Mapped[str | None] = mapped_column(String(IDENTIFIER))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.current_timestamp()
    )

    __table_args__ = (
        UniqueConstraint("issuer", "issuer_reference"),
        # Keyset listing (DESIGN.md §3): unrestricted, per recipient, per CCC.
        Index(None, "made_available_at", "id"),
        Index(None, "recipient", "made_available_at", "id"),
        Index(None, "ccc", "made_available_at", "id"),
        # The sweep: AVAILABLE items by deadline (communications have none).
        Index(None, "status", "deadline_at"),
    )


class NotificationDocumentRow(Base):
    __tablename__ = "notification_document"

    notification_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("notification.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(CODE))
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)


class NotificationAccessRow(Base):
    """The first access to an item (migration 0010): written once, never changed."""

    __tablename__ = "notification_access"

    notification_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("notification.id", ondelete="CASCADE",
                          name="fk_notification_access_notification"), primary_key=True
    )
    accessed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accessed_by: Mapped[str] = mapped_column(String(IDENTIFIER))


class NotificationCancellationRow(Base):
    """Why the issuer cancelled an item (migration 0010); the item's status says when."""

    __tablename__ = "notification_cancellation"

    notification_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("notification.id", ondelete="CASCADE",
                          name="fk_notification_cancellation_notification"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(String(500))


class NotificationContentRow(Base):
    __tablename__ = "notification_content"

    notification_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        ForeignKeyConstraint(
            ["notification_id", "position"],
            ["notification_document.notification_id", "notification_document.position"],
            ondelete="CASCADE",
        ),
    )


class OutageRow(Base):
    __tablename__ = "outage"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(1000))
    recorded_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.current_timestamp()
    )


class MandateRow(Base):
    """An "apoderamiento": ``grantor`` authorises ``grantee`` for ``scopes``."""

    __tablename__ = "mandate"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    grantor: Mapped[str] = mapped_column(String(IDENTIFIER), index=True)
    grantee: Mapped[str] = mapped_column(String(IDENTIFIER), index=True)
    scopes: Mapped[str] = mapped_column(Text)
    issuers: Mapped[str | None] = mapped_column(Text)
    cccs: Mapped[str | None] = mapped_column(Text)
    special_category: Mapped[bool] = mapped_column(Boolean, server_default=false())
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.current_timestamp()
    )


class AccessManagerRow(Base):
    """A person an entity's main access manager named to grant rights on its notifications."""

    __tablename__ = "access_manager"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(IDENTIFIER), index=True)
    person: Mapped[str] = mapped_column(String(IDENTIFIER), index=True)
    named_by: Mapped[str] = mapped_column(String(IDENTIFIER))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AccessGrantRow(Base):
    """A right on an entity's notifications given to a person; an invitation until activated."""

    __tablename__ = "access_grant"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(IDENTIFIER), index=True)
    grantee: Mapped[str] = mapped_column(String(IDENTIFIER), index=True)
    scopes: Mapped[str] = mapped_column(Text)
    cccs: Mapped[str | None] = mapped_column(Text)
    special_category: Mapped[bool] = mapped_column(Boolean, server_default=false())
    granted_by: Mapped[str] = mapped_column(String(IDENTIFIER))
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RepresentationVersionRow(Base):
    """One row counting changes to mandates, RED assignments, access managers and grants.

    Every change bumps it in the same transaction, so a process may reuse what it derived from
    a principal's sources of right while the counter has not moved (``services.rights``)."""

    __tablename__ = "representation_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")


class RedAssignmentRow(Base):
    """The RED system's assignment of a contribution account (CCC) to an authorised agent."""

    __tablename__ = "red_assignment"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ccc: Mapped[str] = mapped_column(String(IDENTIFIER), index=True)
    company: Mapped[str] = mapped_column(String(IDENTIFIER))
    agent: Mapped[str] = mapped_column(String(IDENTIFIER), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    unassigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PostalChannelRow(Base):
    __tablename__ = "postal_channel"

    recipient: Mapped[str] = mapped_column(String(IDENTIFIER), primary_key=True)
    mode: Mapped[str] = mapped_column(String(CODE))
    address_line: Mapped[str | None] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    municipality: Mapped[str | None] = mapped_column(String(100))
    province: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReceiptRow(Base):
    __tablename__ = "receipt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    registration_number: Mapped[str] = mapped_column(String(64), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(BigInteger)
    csv_code: Mapped[str] = mapped_column(String(64), unique=True)
    signer: Mapped[str] = mapped_column(String(IDENTIFIER))
    decision: Mapped[str] = mapped_column(String(CODE))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signed_xml: Mapped[bytes] = mapped_column(LargeBinary)
    client_ack_digest: Mapped[str | None] = mapped_column(String(128), index=True)
    """One signed acknowledgement yields one receipt per recipient: shared, not unique."""
    recipient: Mapped[str | None] = mapped_column(String(IDENTIFIER))
    """Whose items it certifies; NULL on receipts from before the split (possibly mixed)."""
    signer_name: Mapped[str | None] = mapped_column(String(256))
    """The signer's name from its certificate at submission; NULL on receipts from before."""
    signer_role: Mapped[str | None] = mapped_column(String(64))
    """By which right the signer acted (role wire codes, comma separated); NULL before."""

    __table_args__ = (UniqueConstraint("year", "sequence"),)


class ReceiptPdfRow(Base):
    """The one signed PDF of a receipt, stored when first rendered and served ever after."""

    __tablename__ = "receipt_pdf"

    receipt_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("receipt.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)


class ReceiptItemRow(Base):
    """One final outcome per notification: the unique constraint makes a second one fail."""

    __tablename__ = "receipt_item"

    receipt_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("receipt.id", ondelete="CASCADE"), primary_key=True
    )
    notification_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("notification.id"), primary_key=True, unique=True
    )
    outcome: Mapped[str] = mapped_column(String(CODE))


class RegistrationCounterRow(Base):
    __tablename__ = "registration_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(BigInteger)


class UsedNonceRow(Base):
    """WS-Security replay cache, shared by every host (DESIGN.md §5 step 6)."""

    __tablename__ = "used_nonce"

    digest: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RateLimitOverrideRow(Base):
    """A principal's own request rate, replacing its kind's (``gateway limits set``; issue 14)."""

    __tablename__ = "rate_limit_override"

    principal: Mapped[str] = mapped_column(String(64), primary_key=True)
    per_second: Mapped[float] = mapped_column(Float)
    burst: Mapped[int] = mapped_column(Integer)


class ByteRateOverrideRow(Base):
    """A principal's own document bytes per hour, replacing its kind's (``gateway limits set
    --bytes-per-hour``; issue 14)."""

    __tablename__ = "byte_rate_override"

    principal: Mapped[str] = mapped_column(String(64), primary_key=True)
    bytes_per_hour: Mapped[int] = mapped_column(BigInteger)


class ServerCertificateRow(Base):
    """A response-signing certificate scheduled by ``gateway pki rotate`` (migration 0009): it
    signs from ``active_from`` with the key at ``key_path`` (the same path on every host)."""

    __tablename__ = "server_certificate"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    key_path: Mapped[str] = mapped_column(Text)
    active_from: Mapped[datetime] = mapped_column(UTCDateTime())
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEventRow(Base):
    """The hash-chained audit log; ``seq`` is assigned by the appender under a lock, gap-free."""

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_type: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class PreparedReceiptRow(Base):
    """An acknowledgement handed out by PrepareReceipt, waiting for its signed copy.

    ``nonce`` is unique and ``consumed_at`` is set in the transaction that issues the receipt,
    so one prepared acknowledgement yields at most one receipt. ``items`` is the canonical JSON
    of the notifications and their document hashes, in the order they were prepared.
    """

    __tablename__ = "prepared_receipt"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal: Mapped[str] = mapped_column(String(IDENTIFIER))
    decision: Mapped[str] = mapped_column(String(CODE))
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    items: Mapped[str] = mapped_column(Text)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IssuerOrganisationRow(Base):
    """An organisation (the CIF of its entity seal) allowed to publish as an issuer."""

    __tablename__ = "issuer_organisation"

    organisation_identifier: Mapped[str] = mapped_column(String(IDENTIFIER), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(CODE))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EnrolledCertificateRow(Base):
    """A certificate enrolled for a principal: key references by IssuerSerial, SKI, thumbprint or
    X509v3 KeyIdentifier may name it (migration 0008; ``gateway certs``)."""

    __tablename__ = "enrolled_certificate"
    __table_args__ = (
        Index("ix_enrolled_certificate_thumbprint", "thumbprint_sha1"),
        Index("ix_enrolled_certificate_ski", "subject_key_identifier"),
        Index("ix_enrolled_certificate_serial", "serial_number"),
        Index("ix_enrolled_certificate_principal", "principal_identifier"),
    )

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    thumbprint_sha1: Mapped[str] = mapped_column(String(40))
    subject_key_identifier: Mapped[str] = mapped_column(String(128))
    serial_number: Mapped[str] = mapped_column(String(64))
    issuer_name: Mapped[str] = mapped_column(Text)
    principal_identifier: Mapped[str] = mapped_column(String(IDENTIFIER))
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EventSubscriptionRow(Base):
    """A subscriber's callback for events (issue 17; ``SubscribeEvents``, migration 0011).

    ``event_types``, ``principals`` and ``cccs`` are space-separated lists (empty: no filter for
    the last two). The secret signs every delivery (Standard Webhooks, HMAC-SHA256).
    """

    __tablename__ = "event_subscription"
    __table_args__ = (Index("ix_event_subscription_owner", "owner_identifier"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    owner_kind: Mapped[str] = mapped_column(String(CODE))
    owner_identifier: Mapped[str] = mapped_column(String(IDENTIFIER))
    owner_person: Mapped[str | None] = mapped_column(String(IDENTIFIER), nullable=True)
    issuer: Mapped[str | None] = mapped_column(String(CODE), nullable=True)
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[str] = mapped_column(Text)
    principals: Mapped[str] = mapped_column(Text, default="")
    cccs: Mapped[str] = mapped_column(Text, default="")
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    after_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class EventDeliveryRow(Base):
    """One event owed to one subscription: pending (with its next attempt), delivered or dead.

    The body is rendered once, when the event is fanned out, so every attempt sends the same
    bytes under the same id. ``item_key`` keeps deliveries to a subscription in order per item.
    """

    __tablename__ = "event_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_event_delivery_due", "state", "next_attempt_at"),
        Index("ix_event_delivery_order", "subscription_id", "item_key", "seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("event_subscription.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    item_key: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(CODE))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EventCursorRow(Base):
    """How far the fan-out has read the audit chain (one row, locked while it advances)."""

    __tablename__ = "event_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
