"""The issuer side (issue 17): who is an issuer, publishing over the wire, and what it sees.

``IssuingService`` serves ``IssuerService`` (the SOAP port is a thin adapter over it):

1. **Who.** The caller is an issuer only as an entity seal (``PrincipalKind.ENTITY``) whose
   organisation identifier is in the issuer registry; anything else is refused with
   ``NOT_AN_ISSUER`` (``access.refused`` audited, committed). The issuer comes from the
   registry, never from the message: an item has no issuer field, so an issuer cannot publish
   for another.
2. **Publish.** ``PublishingService.publish_idempotently`` -- the very rules ``gateway import``
   applies (validation of the whole batch first, deadlines computed by the server), plus
   idempotency by ``(issuer, issuer_reference)``.
3. **Status.** ``PublicationEvidence`` of the caller's own items, by reference or paged by a
   cursor; another issuer's reference is answered exactly like one that does not exist.

Every accepted call is audited (``publication.*`` events); registry changes are audited as
``issuer.registered`` / ``issuer.unregistered``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from gateway.domain.audit import AuditEntry
from gateway.domain.clock import Clock
from gateway.domain.identifiers import normalise_entity_id
from gateway.domain.issuers import (
    Cancellation,
    DocumentEvidence,
    IssuerOrganisation,
    ItemEvidence,
    PublicationEvidence,
    StateChange,
)
from gateway.domain.model import Issuer, Status
from gateway.domain.principal import Principal, PrincipalKind
from gateway.errors import (
    AuthorizationError,
    Conflict,
    GatewayError,
    InvalidRequest,
    InvalidState,
    LimitExceeded,
    NotFound,
)

from .ports import UnitOfWork
from .publishing import PublicationRequest, Published, PublishingService

if TYPE_CHECKING:  # the signing stack loads only when evidence is asked for (issue 18)
    from cryptography import x509

    from gateway.signatures import TimeStampAuthority
    from gateway.signatures.cms_signing import PrivateKey

    ServerSeal = tuple[PrivateKey, x509.Certificate, TimeStampAuthority | None]

MAX_BATCH = 1000
"""Items per ``PublishNotifications`` and references per ``GetPublicationStatus``."""

REGISTRY_ACTOR = "REGISTRY"
MAX_REASON = 500
"""Characters of a cancellation's reason."""

_CURSOR_DOMAIN = b"notess/issuer-status-cursor/v1"
_OFFICIAL_ZONE = ZoneInfo("Europe/Madrid")


@dataclass(frozen=True, slots=True)
class StatusPage:
    items: tuple[PublicationEvidence, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class SignedEvidence:
    """``GetEvidence``'s answer: the XAdES-signed XML and the PAdES-signed PDF."""

    evidence: ItemEvidence
    xml: bytes
    pdf: bytes


@dataclass(frozen=True)
class IssuingService:
    uow_factory: Callable[[], UnitOfWork]
    clock: Clock
    publishing: PublishingService
    cursor_secret: bytes
    server_seal: Callable[[], ServerSeal | None] | None = None
    """The server's key, certificate and local TSA (evidence PDFs are then PAdES B-T), loaded
    on the first ``GetEvidence``: registry commands never load the signing stack. ``None``
    (or a callable answering ``None``): no signing key, evidence is ``NO_SERVER_KEY``."""
    zone: ZoneInfo = _OFFICIAL_ZONE
    """Official time zone, for the PDF's wording (the XML is in UTC)."""

    # -- who ----------------------------------------------------------------------------------

    def issuer_of(self, principal: Principal) -> Issuer:
        """The issuer ``principal`` publishes as, or ``AuthorizationError`` NOT_AN_ISSUER."""
        with self.uow_factory() as uow:
            issuer = (uow.issuers.issuer_of(principal.identifier)
                      if principal.kind is PrincipalKind.ENTITY else None)
            if issuer is None:
                uow.audit.append("access.refused", principal.acts_for, "IssuerService",
                                 {"action": "issuer.call", "reason": "NOT_AN_ISSUER",
                                  "kind": principal.kind.value}, self.clock.now())
                uow.commit()
        if issuer is None:
            raise AuthorizationError(
                "the certificate is not an issuer's entity seal registered on this gateway",
                code="NOT_AN_ISSUER")
        return issuer

    # -- publish ------------------------------------------------------------------------------

    def publish(self, principal: Principal,
                batch: Sequence[PublicationRequest]) -> list[Published]:
        """Publish ``batch`` as the caller's issuer (any ``issuer`` in the requests is
        overwritten); see ``PublishingService.publish_idempotently``."""
        issuer = self.issuer_of(principal)
        _check_count(len(batch), "item")
        owned = [replace(request, issuer=issuer.value) for request in batch]
        published = self.publishing.publish_idempotently(
            owned, {"via": "IssuerService", "organisation": principal.identifier})
        if not any(p.created for p in published):
            # An exact replay writes no item; the call is still on the record.
            self._audit(principal, issuer, "publication.replayed", {"items": len(published)})
        return published

    # -- status -------------------------------------------------------------------------------

    def status(self, principal: Principal,
               references: Sequence[str]) -> list[PublicationEvidence | None]:
        """The evidence of each reference, in order; ``None`` for a reference the caller's
        issuer never published (another issuer's reference included)."""
        issuer = self.issuer_of(principal)
        _check_count(len(references), "reference")
        wanted = [r.strip() for r in references]
        with self.uow_factory() as uow:
            found = uow.notifications.by_references(issuer, [r for r in wanted if r])
            receipts = uow.receipts.evidence_of(
                [n.id for n in found.values() if n.id is not None])
            self._append(uow, principal, issuer, "publication.status_read",
                         {"references": len(wanted), "known": len(found)})
            uow.commit()
        return [None if (n := found.get(r)) is None or n.id is None
                else PublicationEvidence.of(n, receipts.get(n.id)) for r in wanted]

    def status_page(self, principal: Principal, cursor: str | None,
                    limit: int = MAX_BATCH) -> StatusPage:
        """The caller's items in publication (id) order from ``cursor`` (``None``/empty: the
        first); the cursor is opaque, signed, and bound to the issuer."""
        issuer = self.issuer_of(principal)
        _check_count(limit, "item")
        after = self._decode(cursor, issuer) if cursor else None
        with self.uow_factory() as uow:
            page = uow.notifications.of_issuer_after(issuer, after, limit + 1)
            more, page = len(page) > limit, page[:limit]
            receipts = uow.receipts.evidence_of([n.id for n in page if n.id is not None])
            self._append(uow, principal, issuer, "publication.status_read",
                         {"page": len(page)})
            uow.commit()
        items = tuple(PublicationEvidence.of(n, receipts.get(n.id)) for n in page
                      if n.id is not None)
        return StatusPage(items, self._encode(items[-1].notification_id, issuer)
                          if more and items else None)

    # -- cancel -------------------------------------------------------------------------------

    def cancel(self, principal: Principal, reference: str, reason: str) -> Cancellation:
        """Withdraw one of the caller's items while nobody has accessed it (README,
        "CancelNotification"). Idempotent: cancelling a cancelled item answers the first
        cancellation and changes nothing. Another issuer's reference is UNKNOWN_REFERENCE."""
        issuer = self.issuer_of(principal)
        wanted, why = reference.strip(), " ".join(reason.split())
        if not why or len(why) > MAX_REASON:
            raise InvalidRequest(f"a reason of 1 to {MAX_REASON} characters is required",
                                 field="reason")
        now = self.clock.now()
        with self.uow_factory() as uow:
            found = uow.notifications.by_references(issuer, [wanted] if wanted else [])
            stored = found.get(wanted)
            # The row is locked: an acceptance or a first access racing this call either
            # commits first (and is seen below) or finds the item CANCELLED.
            locked = (uow.notifications.lock([stored.id]) if stored is not None
                      and stored.id is not None else {})
            notification = locked.get(stored.id) if stored is not None and stored.id else None
            if notification is None or notification.id is None:
                raise NotFound(f"this issuer published nothing under {wanted!r}",
                               code="UNKNOWN_REFERENCE", field="issuerReference")
            if notification.status is Status.CANCELLED:
                earlier = uow.notifications.cancellation_reason(notification.id) or ""
                self._append(uow, principal, issuer, "publication.cancel_replayed",
                             {"reference": wanted, "id": notification.id})
                uow.commit()
                return Cancellation(notification.id, wanted, notification.status_at, earlier,
                                    True)
            access = uow.notifications.first_access(notification.id)
            if access is not None or notification.acted_by is not None:
                raise Conflict(f"{wanted!r} was already accessed by its recipient side and can "
                               "no longer be cancelled", code="ALREADY_ACCESSED",
                               field="issuerReference")
            if notification.status_as_of(now) is not Status.AVAILABLE:
                raise InvalidState(f"{wanted!r} is {notification.status_as_of(now).value} and "
                                   "can no longer be cancelled", code="NOT_PENDING",
                                   field="issuerReference")
            cancelled = notification.transition(Status.CANCELLED, now, by=principal.identifier)
            uow.notifications.save_status(cancelled)
            uow.notifications.record_cancellation(notification.id, why)
            uow.audit.append("notification.cancelled", issuer.value, str(notification.id),
                             {"reference": wanted, "reason": why,
                              "organisation": principal.identifier,
                              "recipient": notification.recipient}, now)
            uow.commit()
        return Cancellation(notification.id, wanted, now, why, False)

    # -- evidence -----------------------------------------------------------------------------

    def evidence(self, principal: Principal, reference: str) -> SignedEvidence:
        """The signed evidence of one of the caller's items (README, "GetEvidence"); another
        issuer's reference is ``UNKNOWN_REFERENCE``, exactly like one nobody published."""
        issuer = self.issuer_of(principal)
        wanted = reference.strip()
        from gateway.evidence_pdf import render_evidence_pdf
        from gateway.evidence_xml import build_evidence
        from gateway.signatures import sign_pades, sign_xades_enveloped

        seal = self.server_seal() if self.server_seal is not None else None
        if seal is None:
            raise GatewayError("the server has no signing key for evidence",
                               code="NO_SERVER_KEY")
        key, cert, tsa = seal
        now = self.clock.now()
        with self.uow_factory() as uow:
            found = uow.notifications.by_references(issuer, [wanted] if wanted else [])
            notification = found.get(wanted)
            if notification is None or notification.id is None:
                raise NotFound(f"this issuer published nothing under {wanted!r}",
                               code="UNKNOWN_REFERENCE", field="issuerReference")
            issued = uow.receipts.by_notification(notification.id)
            receipts = uow.receipts.evidence_of([notification.id])
            access = uow.notifications.first_access(notification.id)
            reason = (uow.notifications.cancellation_reason(notification.id)
                      if notification.status is Status.CANCELLED else None)
            self._append(uow, principal, issuer, "publication.evidence_issued",
                         {"reference": wanted, "id": notification.id})
            uow.commit()
        status = PublicationEvidence.of(notification, receipts.get(notification.id))
        accessed = (StateChange(Status.AVAILABLE, access[0], access[1])
                    if access is not None else None)
        evidence = ItemEvidence(
            status=status, issuer=issuer.value, recipient=notification.recipient,
            documents=tuple(DocumentEvidence(d.position, d.role.value, d.name, d.sha256, d.size)
                            for d in sorted(notification.documents, key=lambda d: d.position)),
            accessed=accessed,
            receipt_sha256=(hashlib.sha256(issued.signed_xml).hexdigest()
                            if issued is not None else None),
            generated_at=now, cancel_reason=reason)
        xml = sign_xades_enveloped(build_evidence(evidence), key, cert, clock=self.clock)
        pdf = sign_pades(render_evidence_pdf(evidence, zone=self.zone), key, cert,
                         clock=self.clock, tsa=tsa)
        return SignedEvidence(evidence, xml, pdf)

    # -- the registry (operators) ---------------------------------------------------------

    def register(self, organisation: str, issuer: Issuer, actor: str = REGISTRY_ACTOR
                 ) -> IssuerOrganisation:
        """Let the entity seals of ``organisation`` (a CIF) publish as ``issuer``."""
        entry = IssuerOrganisation(normalise_entity_id(organisation, field="organisation"),
                                   issuer, self.clock.now())
        with self.uow_factory() as uow:
            uow.issuers.add(entry)
            uow.audit.append("issuer.registered", actor, entry.organisation_identifier,
                             {"issuer": issuer.value}, entry.added_at)
            uow.commit()
        return entry

    def unregister(self, organisation: str, actor: str = REGISTRY_ACTOR) -> None:
        identifier = normalise_entity_id(organisation, field="organisation")
        with self.uow_factory() as uow:
            issuer = uow.issuers.issuer_of(identifier)
            if issuer is None or not uow.issuers.remove(identifier):
                raise NotFound(f"organisation {identifier} is not a registered issuer",
                               code="NOT_AN_ISSUER")
            uow.audit.append("issuer.unregistered", actor, identifier,
                             {"issuer": issuer.value}, self.clock.now())
            uow.commit()

    def registered(self) -> list[IssuerOrganisation]:
        with self.uow_factory() as uow:
            return uow.issuers.all()

    # -- helpers ----------------------------------------------------------------------------

    def _audit(self, principal: Principal, issuer: Issuer, event: str,
               details: dict[str, object]) -> None:
        with self.uow_factory() as uow:
            self._append(uow, principal, issuer, event, details)
            uow.commit()

    def _append(self, uow: UnitOfWork, principal: Principal, issuer: Issuer, event: str,
                details: dict[str, object]) -> None:
        uow.audit.append(*AuditEntry(event, issuer.value, principal.identifier, details),
                         self.clock.now())

    def _tag(self, payload: bytes, issuer: Issuer) -> bytes:
        return hmac.new(self.cursor_secret, _CURSOR_DOMAIN + payload + issuer.value.encode(),
                        hashlib.sha256).digest()[:16]

    def _encode(self, last_id: int, issuer: Issuer) -> str:
        payload = struct.pack(">Q", last_id)
        return base64.urlsafe_b64encode(payload + self._tag(payload, issuer)).decode().rstrip("=")

    def _decode(self, token: str, issuer: Issuer) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise _bad_cursor() from exc
        if len(raw) != 24 or not hmac.compare_digest(raw[8:], self._tag(raw[:8], issuer)):
            raise _bad_cursor()
        last_id: int = struct.unpack(">Q", raw[:8])[0]
        return last_id


def _bad_cursor() -> InvalidRequest:
    return InvalidRequest("the cursor is not one this gateway handed to this issuer",
                          code="INVALID_CURSOR", field="cursor")


def _check_count(count: int, what: str) -> None:
    if count < 1:
        raise InvalidRequest(f"at least one {what} is required", code="EMPTY_BATCH")
    if count > MAX_BATCH:
        raise LimitExceeded(f"at most {MAX_BATCH} {what}s per call", code="BATCH_TOO_LARGE")
