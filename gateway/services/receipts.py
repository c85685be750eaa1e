"""Accepting and rejecting notifications with signed acknowledgements (DESIGN.md §1, §3, §4).

1. ``prepare``: the caller names up to 1000 notifications it may sign and a decision; the server
   stores an ``Acknowledgement`` (nonce, 15-minute window, every document's SHA-256) and returns
   it unsigned. Ids the caller may not sign, or that are no longer pending, are refused by name.
2. ``submit``: the caller returns it signed (XAdES-BES enveloped, enveloping -- the
   acknowledgement inside ``ds:Object``, as XML or Base64 -- or detached over it, or CAdES-BES
   attached or detached over the exact bytes). The signature must reach TOTAL_PASSED, cover the whole
   document, and be the WS-Security caller's (or the person behind a representative caller);
   the signed acknowledgement must match the prepared one exactly. Then, in ONE transaction:
   lock the notifications, re-authorise, move the eligible ones, split the items into one
   part per recipient (its special-category items apart: ``split_by_reader``), and per part
   take the next registration number and store a server-signed receipt and its items; consume
   the nonce, audit, commit. The same signed bytes submitted again return the original receipts.
3. ``get`` and ``verify_code``: a stored receipt for whoever may receive it (its signer, or a
   reader who may see every item on it: ``domain.receipts.released_to``, the one place this is
   decided), anyone else is told RECEIPT_NOT_FOUND as for an unknown one; a CSV lookup for
   anyone, revealing only what the printed receipt shows.
   ``signed_pdf``: the human-readable justificante of a receipt ``get`` returned
   (``gateway.receipt_pdf``: the certified content, plus each item's issuer, procedure, subject
   -- withheld for special-category items -- recipient and CCC, and the signer's name kept at
   submission), signed with PAdES by the server key with a visible stamp, B-T with the local
   TSA when one is configured, else B. Rendered and signed ONCE, on first request, then stored
   and served byte-identical ever after (``receipt_pdf`` table): a person holding the PDF can
   show it is the one issued by its SHA-256, which the verification answers carry.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from gateway.domain.audit import AuditEntry
from gateway.domain.authorization import Action, decide
from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import Clock
from gateway.domain.model import Category, ItemKind, Notification, Status
from gateway.domain.principal import Principal
from gateway.domain.receipts import (
    MAX_RECEIPT_ITEMS,
    AcknowledgedItem,
    Acknowledgement,
    Decision,
    DocumentDigest,
    IssuedReceipt,
    ItemOutcome,
    Outcome,
    RegistrationNumber,
    ServerReceipt,
    compare_acknowledgements,
    new_csv_code,
    parse_csv,
    released_to,
    split_by_reader,
)
from gateway.domain.rights import RepresentationFacts
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    InvalidSignature,
    InvalidState,
    NotFound,
)
from gateway.receipt_pdf import (
    DEFAULT_VERIFICATION_URL,
    STAMP_BOX,
    ItemLine,
    Justificante,
    issuers_of,
    render_receipt_pdf,
)
from gateway.receipt_xml import (
    build_acknowledgement,
    build_server_receipt,
    cms_encapsulated_content,
    enveloped_object_content,
    is_signature_document,
    parse_acknowledgement,
    parse_server_receipt,
)
from gateway.signatures import (
    Indication,
    SignatureFormat,
    SignaturePolicy,
    SignatureReport,
    SignedObjectKind,
    TimeStampAuthority,
    VisibleStamp,
    sign_pades,
    sign_xades_enveloped,
    validate,
)
from gateway.signatures.cms_signing import PrivateKey
from gateway.trust.certificates import TrustStore

from .batches import check_id_batch
from .ports import UnitOfWork
from .refusals import NOT_FOUND_REASON
from .rights import RightsCache

DEFAULT_ACK_TTL = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class PreparedAcknowledgement:
    acknowledgement: Acknowledgement
    document: bytes


@dataclass(frozen=True, slots=True)
class ReceiptView:
    """A stored receipt with its certified content (parsed back from the signed XML)."""

    issued: IssuedReceipt
    content: ServerReceipt
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Submission:
    """What one signed acknowledgement produced: one receipt per recipient (and per
    recipient, its special-category items apart), in registration order, all for the signer."""

    receipts: tuple[ReceiptView, ...]

    @property
    def first(self) -> ReceiptView:
        return self.receipts[0]

    @property
    def outcomes(self) -> tuple[ItemOutcome, ...]:
        """Every item's outcome, across the receipts."""
        return tuple(item for view in self.receipts for item in view.content.items)


@dataclass(frozen=True, slots=True)
class CodeVerification:
    """What a CSV code reveals: no more than the printed justificante shows (no subjects)."""

    code: str
    found: bool
    registration_number: RegistrationNumber | None = None
    issued_at: datetime | None = None
    sha256: str | None = None
    """SHA-256 of the server-signed receipt XML."""
    pdf_sha256: str | None = None
    """SHA-256 of the one signed PDF justificante (rendered on the first look-up if need be)."""
    decision: Decision | None = None
    items: int = 0
    issuers: tuple[str, ...] = ()
    signer: str | None = None
    signer_name: str | None = None


@dataclass(frozen=True)
class ReceiptService:
    uow_factory: Callable[[], UnitOfWork]
    clock: Clock
    calendar: WorkingCalendar
    policy: SignaturePolicy
    trust: TrustStore
    server_key: PrivateKey | None
    server_cert: x509.Certificate | None
    ack_ttl: timedelta = DEFAULT_ACK_TTL
    max_items: int = MAX_RECEIPT_ITEMS
    tsa: TimeStampAuthority | None = None
    """Time-stamps the PAdES signature of PDF receipts (level B-T); without it, level B."""
    verification_url: str = DEFAULT_VERIFICATION_URL
    """The public verification page printed (and QR-coded) on every justificante."""
    rights: RightsCache | None = None
    """The caller's sources of right, reused while the registry's change counter holds (the
    same cache as ``NotificationQueries``; read in each transaction, so a revocation is seen by
    the next request); without it they are read in full every time."""

    def _facts(self, uow: UnitOfWork, principal: Principal, now: datetime
               ) -> RepresentationFacts:
        if self.rights is None:
            return uow.representation.facts_for(principal, now)
        return self.rights.rights(uow, principal, now).facts
    credentials_at: Callable[[datetime], tuple[PrivateKey, x509.Certificate]] | None = None
    """The server key and certificate that sign at an instant (a scheduled rotation,
    ``wssec.signing_keys``); without it, ``server_key``/``server_cert`` always."""

    # -- 1. prepare ------------------------------------------------------------------------------

    def prepare(self, principal: Principal, ids: Sequence[int],
                decision: Decision) -> PreparedAcknowledgement:
        check_id_batch(ids, self.max_items, what="acknowledgement")
        now = self.clock.now()
        with self.uow_factory() as uow:
            found = uow.notifications.get_many(ids)
            facts = self._facts(uow, principal, now)
            unknown: list[int] = []
            not_pending: list[int] = []
            refused: list[dict[str, object]] = []
            for notification_id in ids:
                notification = found.get(notification_id)
                verdict = (decide(principal, Action.SIGN, notification, facts, now)
                           if notification is not None else None)
                # Not signable and not existing look the same: no probing for others' items.
                if verdict is None or not verdict.allowed:
                    unknown.append(notification_id)
                    # A missing id is recorded as a refusal too: the same audit write, so the
                    # two cannot be told apart by timing either.
                    refused.append({"id": notification_id, "reason": NOT_FOUND_REASON
                                    if verdict is None else verdict.reason.value})
                elif (notification is not None and (notification.kind is not ItemKind.NOTIFICATION
                      or notification.status_as_of(now) is not Status.AVAILABLE)):
                    not_pending.append(notification_id)
            if refused:
                uow.audit.append("access.refused", principal.acts_for, "receipt.prepare",
                                 {"action": Action.SIGN.value, "items": refused}, now)
                uow.commit()
            if unknown:
                raise NotFound(f"notifications not found: {_listed(unknown)}", field="id")
            if not_pending:
                raise InvalidState(f"notifications not pending acknowledgement: "
                                   f"{_listed(not_pending)}", code="NOT_PENDING", field="id")
            issued_at = now.replace(microsecond=0)
            ack = Acknowledgement(
                receipt_id=uuid.uuid4().hex, signer=principal.identifier, decision=decision,
                nonce=secrets.token_urlsafe(32), issued_at=issued_at,
                expires_at=issued_at + self.ack_ttl,
                items=tuple(
                    AcknowledgedItem(i, tuple(DocumentDigest(d.position, d.role.value, d.sha256)
                                              for d in found[i].documents))
                    for i in ids),
            )
            uow.receipts.add_prepared(ack, principal.identifier)
            uow.notifications.mark_accessed(ids, principal.acts_for, now)
            uow.audit.append("receipt.prepared", principal.acts_for, ack.receipt_id,
                             {"decision": decision.value, "items": len(ids)}, now)
            uow.commit()
        return PreparedAcknowledgement(ack, build_acknowledgement(ack))

    # -- 2. submit -------------------------------------------------------------------------------

    def submit(self, principal: Principal, signed: bytes,
               detached_content: bytes | None = None) -> Submission:
        """``_submit``; a refused acknowledgement (bad signature, unknown or used nonce,
        expired, not what was prepared) is audited as ``receipt.refused`` with its code and the
        digest of the bytes, in a transaction of its own (the refused one changed nothing)."""
        try:
            return self._submit(principal, signed, detached_content)
        except (InvalidSignature, InvalidRequest) as error:
            now = self.clock.now()
            with self.uow_factory() as uow:
                uow.audit.append("receipt.refused", principal.acts_for,
                                 hashlib.sha256(signed).hexdigest(),
                                 {"code": error.code}, now)
                uow.commit()
            raise

    def _submit(self, principal: Principal, signed: bytes,
                detached_content: bytes | None) -> Submission:
        if not signed:
            raise InvalidRequest("signedReceipt is empty", code="EMPTY_DOCUMENT",
                                 field="signedReceipt")
        now = self.clock.now()
        submitted = self._verified_acknowledgement(principal, signed, detached_content, now)
        digest = hashlib.sha256(signed).hexdigest()
        # Before the transaction: choosing the key may read the rotation schedule.
        signing = self._signing_credentials(now)
        with self.uow_factory() as uow:
            # One statement: the prepared row, locked, and whether these bytes were receipted.
            state = uow.receipts.lock_prepared(submitted.nonce, digest)
            if state is None or state.principal != principal.identifier:
                raise InvalidRequest("no acknowledgement was prepared with this nonce for the "
                                     "caller", code="UNKNOWN_NONCE")
            existing = uow.receipts.by_digest(digest) if state.receipt_issued else []
            if existing:  # the same signed bytes again: the original receipts
                return Submission(tuple(ReceiptView(r, parse_server_receipt(r.signed_xml), True)
                                        for r in existing))
            if state.consumed_at is not None:
                raise InvalidRequest("this acknowledgement was already used", code="NONCE_REUSED")
            prepared = state.acknowledgement
            if prepared.is_expired(now):
                raise InvalidRequest("the acknowledgement expired; prepare a new one",
                                     code="ACK_EXPIRED")
            compare_acknowledgements(prepared, submitted)
            outcomes, changed, locked, roles = self._apply(uow, principal, prepared, now)
            parts = split_by_reader(outcomes, locked)
            # Numbers taken at once, in part order, under the counter's row lock: gap-free
            # across the receipts of one submission, as for one receipt.
            numbers = uow.receipts.next_registration_numbers(
                now.astimezone(self.calendar.timezone).year, len(parts))
            views: list[ReceiptView] = []
            stored: list[tuple[IssuedReceipt, dict[int, Outcome]]] = []
            for part, number in zip(parts, numbers, strict=True):
                content = ServerReceipt(
                    registration_number=number,
                    csv_code=new_csv_code(), issued_at=now, receipt_id=prepared.receipt_id,
                    signer=principal.identifier, decision=prepared.decision,
                    client_ack_digest=digest, items=part.items, recipient=part.recipient)
                part_changed = {o.notification_id: changed[o.notification_id]
                                for o in part.items if o.notification_id in changed}
                issued = IssuedReceipt(
                    registration_number=content.registration_number,
                    csv_code=content.csv_code, signer=principal.identifier,
                    decision=prepared.decision, issued_at=now,
                    signed_xml=self._sign(build_server_receipt(content), signing),
                    client_ack_digest=digest, notification_ids=tuple(sorted(part_changed)),
                    recipient=part.recipient, signer_name=principal.name or None,
                    signer_role=",".join(sorted({roles[n] for n in part_changed
                                                 if n in roles})) or None)
                stored.append((issued, part_changed))
                views.append(ReceiptView(issued, content))
            uow.receipts.add_many(stored, consumed=(prepared.receipt_id, now))
            uow.audit.append_many([AuditEntry(
                "receipt.issued", principal.acts_for, str(view.content.registration_number), {
                    "receipt_id": prepared.receipt_id, "decision": prepared.decision.value,
                    "client_ack_digest": digest, "csv_sha256": _sha(view.content.csv_code),
                    "recipient": view.content.recipient, "part": index, "parts": len(views),
                    "changed": {str(k): changed[k].value
                                for k in sorted(view.issued.notification_ids)},
                    "unchanged": {str(o.notification_id): o.outcome.value
                                  for o in view.content.items
                                  if o.notification_id not in changed},
                }) for index, view in enumerate(views, 1)], now)
            uow.commit()
        return Submission(tuple(views))

    def _verified_acknowledgement(self, principal: Principal, signed: bytes,
                                  detached_content: bytes | None,
                                  now: datetime) -> Acknowledgement:
        report = validate(signed, detached_content=detached_content, policy=self.policy,
                          trust=self.trust, now=now)
        if report.indication is not Indication.TOTAL_PASSED:
            code = report.sub_indication.value if report.sub_indication else \
                report.indication.value
            raise InvalidSignature(f"the acknowledgement's signature is {report.indication.value}"
                                   f" ({code})", code=code)
        # Counter-signatures (a witness, an approver) sign the signature, not the document: the
        # report has already judged them (TOTAL_PASSED covers every signature); the caller's
        # must be the one signature over the acknowledgement.
        primary = [s for s in report.signatures if s.counter_signature_of is None]
        if len(primary) != 1:
            raise InvalidSignature("the acknowledgement must carry exactly one signature",
                                   code="ONE_SIGNATURE_REQUIRED")
        signature = primary[0]
        if not signature.covers_whole_document:
            raise InvalidSignature("the signature must cover the whole acknowledgement",
                                   code="PARTIAL_COVERAGE")
        signer = signature.signer.principal if signature.signer else None
        if signer is None or not _same_party(signer, principal):
            raise InvalidSignature("the acknowledgement must be signed by the caller",
                                   code="SIGNER_NOT_CALLER")
        if report.format is SignatureFormat.XADES:
            if not is_signature_document(signed):  # enveloped: the acknowledgement is the root
                return parse_acknowledgement(signed, allow_signature=True)
            return parse_acknowledgement(
                _signed_xades_content(signed, signature, detached_content),
                allow_signature=False)
        if report.format is SignatureFormat.CADES:
            content = cms_encapsulated_content(signed)
            content = content if content is not None else detached_content
            if content is None:
                raise InvalidRequest("a detached CAdES signature needs detachedContent",
                                     code="MALFORMED_RECEIPT", field="detachedContent")
            return parse_acknowledgement(content, allow_signature=False)
        raise InvalidRequest("sign the acknowledgement with XAdES (enveloped) or CAdES",
                             code="UNSUPPORTED_FORMAT", field="signedReceipt")

    def _apply(self, uow: UnitOfWork, principal: Principal, prepared: Acknowledgement,
               now: datetime) -> tuple[list[ItemOutcome], dict[int, Outcome],
                                       dict[int, Notification], dict[int, str]]:
        ids = [item.notification_id for item in prepared.items]
        locked = uow.notifications.lock(ids)
        facts = self._facts(uow, principal, now)
        effective_at = self.calendar.effective_at(now)
        target = prepared.decision.target
        outcome_of_target = Outcome.ACCEPTED if target is Status.ACCEPTED else Outcome.REJECTED
        outcomes: list[ItemOutcome] = []
        changed: dict[int, Outcome] = {}
        roles: dict[int, str] = {}  # by which right each changed item was signed
        moved: list[Notification] = []
        refused: list[dict[str, object]] = []
        for notification_id in ids:
            notification = locked.get(notification_id)
            verdict = (decide(principal, Action.SIGN, notification, facts, now)
                       if notification is not None else None)
            if notification is None or verdict is None:
                outcome = Outcome.NOT_FOUND
                refused.append({"id": notification_id, "reason": NOT_FOUND_REASON})
            elif not verdict.allowed:
                outcome = Outcome.NOT_AUTHORISED
                refused.append({"id": notification_id, "reason": verdict.reason.value})
            elif notification.is_overdue(now):
                outcome = Outcome.EXPIRED
            elif notification.status.is_final or notification.kind is not ItemKind.NOTIFICATION:
                outcome = Outcome.ALREADY_FINAL
            else:
                moved.append(notification.transition(target, now, effective_at=effective_at,
                                                     by=principal.acts_for))
                outcome = outcome_of_target
                changed[notification_id] = outcome
                if verdict.role is not None:
                    roles[notification_id] = verdict.role.value
            outcomes.append(ItemOutcome(notification_id, outcome))
        # One UPDATE for the batch (rows are locked above), not one statement per item.
        uow.notifications.save_statuses(moved)
        if refused:  # committed with the receipt: the refusal is part of the same act
            uow.audit.append("access.refused", principal.acts_for, "receipt.submit",
                             {"action": Action.SIGN.value, "items": refused}, now)
        return outcomes, changed, locked, roles

    def _sign(self, document: bytes,
              credentials: tuple[PrivateKey, x509.Certificate] | None) -> bytes:
        if credentials is None:
            raise GatewayError("the server has no signing key for receipts", code="NO_SERVER_KEY")
        key, cert = credentials
        return sign_xades_enveloped(document, key, cert, clock=self.clock)

    def _signing_credentials(self, now: datetime) -> tuple[PrivateKey, x509.Certificate] | None:
        if self.credentials_at is not None:  # receipts follow the response-signing rotation
            return self.credentials_at(now)
        if self.server_key is None or self.server_cert is None:
            return None
        return self.server_key, self.server_cert

    def _server_credentials(self) -> tuple[PrivateKey, x509.Certificate]:
        credentials = self._signing_credentials(self.clock.now())
        if credentials is None:
            raise GatewayError("the server has no signing key for receipts", code="NO_SERVER_KEY")
        return credentials

    # -- 3. read ---------------------------------------------------------------------------------

    def get(self, principal: Principal, registration_number: str | None = None,
            notification_id: int | None = None) -> ReceiptView:
        """The receipt with this number, or the one that made this notification final, if the
        caller may receive it (``domain.receipts.released_to``: its signer, or a reader who may
        see every item on it); otherwise RECEIPT_NOT_FOUND, exactly as for an unknown one."""
        if (registration_number is None) == (notification_id is None):
            raise InvalidRequest("give either registrationNumber or notificationId",
                                 code="ONE_KEY_REQUIRED")
        number = (RegistrationNumber.parse(registration_number)
                  if registration_number is not None else None)
        now = self.clock.now()
        view: ReceiptView | None = None
        with self.uow_factory() as uow:
            facts = self._facts(uow, principal, now)
            # First an O(1) check on every path, found or not: the receipt's location and ONE
            # notification the caller must be able to see (the id asked for, or one the
            # receipt made final). A refusal then costs what an unknown number or id costs --
            # one read of a receipt row and one of a notification -- however large the
            # receipt, so timing tells nothing (bench/receipt_release.py measures it).
            location = (uow.receipts.locate(number) if number is not None else None)
            probe = notification_id if number is None else (
                location.sample_item if location is not None else None)
            sample = uow.notifications.get_many(
                [probe if probe is not None else 0], documents=False).get(probe or 0)
            if location is not None and (location.signer == principal.identifier
                                         or location.sample_item is None):
                passed = True  # its signer; or a receipt that changed nothing: checked below
            else:
                passed = sample is not None and bool(
                    decide(principal, Action.READ, sample, facts, now))
            receipt: IssuedReceipt | None = None
            if passed:
                if location is not None:
                    receipt = uow.receipts.load(location)
                elif notification_id is not None:
                    receipt = uow.receipts.by_notification(notification_id)
            if receipt is not None:
                content = parse_server_receipt(receipt.signed_xml)
                ids = [item.notification_id for item in content.items]
                seen = ({} if receipt.signer == principal.identifier
                        else uow.notifications.get_many(ids, documents=False))
                if released_to(principal, receipt.signer, ids, seen, facts, now):
                    view = ReceiptView(receipt, content)
        if view is None:
            raise NotFound("no such receipt", code="RECEIPT_NOT_FOUND")
        return view

    def signed_pdf(self, view: ReceiptView) -> bytes:
        """The PDF justificante of ``view`` (a receipt ``get`` found for the caller): the stored
        one, or rendered, signed and stored now -- the same bytes on every later request."""
        return self._pdf_of(view.issued)[0]

    def render_signed_pdf(self, document: Justificante) -> bytes:
        """Render ``document`` and sign it with PAdES by the server key at the current time
        (ETSI EN 319 142-1 B-T with the TSA, B without), the signature visible as a stamp."""
        key, cert = self._server_credentials()
        pdf = render_receipt_pdf(document, zone=self.calendar.timezone)
        stamp = VisibleStamp(0, STAMP_BOX, "Sello electronico de la Administracion\n"
                                            "%(signer)s\nFirmado: %(ts)s")
        return sign_pades(pdf, key, cert, clock=self.clock, tsa=self.tsa, stamp=stamp)

    def _pdf_of(self, issued: IssuedReceipt) -> tuple[bytes, str]:
        number = issued.registration_number
        with self.uow_factory() as uow:
            stored = uow.receipts.stored_pdf(number)
            if stored is not None:
                return stored
            document = self._justificante(uow, issued)
        pdf = self.render_signed_pdf(document)  # outside the transaction: signing takes a while
        with self.uow_factory() as uow:
            # Two first requests at once: both render, the first stored wins, both serve it.
            uow.receipts.store_pdf(number, pdf, hashlib.sha256(pdf).hexdigest())
            uow.commit()
        with self.uow_factory() as uow:
            stored = uow.receipts.stored_pdf(number)
        assert stored is not None  # just stored (or stored by a concurrent request)
        return stored

    def _justificante(self, uow: UnitOfWork, issued: IssuedReceipt) -> Justificante:
        content = parse_server_receipt(issued.signed_xml)
        found = uow.notifications.get_many([o.notification_id for o in content.items],
                                           documents=False)
        lines = {nid: ItemLine(n.issuer.value, n.procedure,
                               None if n.category is Category.SPECIAL else n.subject,
                               n.recipient, n.ccc) for nid, n in found.items()}
        return Justificante(content, lines, issued.signer_name, self.verification_url,
                            issued.signer_role)

    def verify_code(self, code: str) -> CodeVerification:
        """A CSV look-up for anyone: MALFORMED_CSV for a malformed code, found=false for an
        unknown one, else the summary the printed justificante shows (never a subject)."""
        canonical = parse_csv(code)
        with self.uow_factory() as uow:
            receipt = uow.receipts.by_csv(canonical)
            # An unknown code does the work of a found one on some stored receipt and throws it
            # away: found and not found cost the same, so timing tells nothing (issue 15).
            subject = receipt if receipt is not None else uow.receipts.decoy()
            if subject is not None:
                content = parse_server_receipt(subject.signed_xml)
                document = self._justificante(uow, subject)
                # The stored PDF's digest without its bytes; rendered and stored on the first
                # look-up of a real code.
                pdf_sha256 = uow.receipts.pdf_sha256(subject.registration_number)
            if receipt is None:
                return CodeVerification(canonical, False)
        if pdf_sha256 is None:
            pdf_sha256 = self._pdf_of(receipt)[1]
        return CodeVerification(
            canonical, True, receipt.registration_number, receipt.issued_at,
            hashlib.sha256(receipt.signed_xml).hexdigest(), pdf_sha256, receipt.decision,
            len(content.items), issuers_of(document.items, content.items), receipt.signer,
            receipt.signer_name)

    def pdf_by_code(self, code: str) -> bytes | None:
        """The signed PDF of the receipt with this CSV code (``None`` when there is none): the
        code is the credential, as printed on the justificante."""
        canonical = parse_csv(code)
        with self.uow_factory() as uow:
            receipt = uow.receipts.by_csv(canonical)
        return None if receipt is None else self._pdf_of(receipt)[0]


def _signed_xades_content(signed: bytes, signature: SignatureReport,
                          detached_content: bytes | None) -> bytes:
    """The acknowledgement an enveloping or detached XAdES signs (its root is ``ds:Signature``).

    The signature must sign one data object besides its SignedProperties, and it must be the
    whole acknowledgement: a ``ds:Object`` of the signature (XML or Base64:
    ``receipt_xml.enveloped_object_content``) or the detached content, as sent, with no
    transform but a canonicalisation. Anything else is refused before any state changes."""
    data = [item for item in signature.signed_data_objects
            if item.manifest is None and item.kind is not SignedObjectKind.SIGNED_PROPERTIES]
    if len(data) != 1 or not data[0].covers_whole_document:
        raise InvalidSignature("the signature must sign the acknowledgement alone, whole",
                               code="PARTIAL_COVERAGE")
    item = data[0]
    if item.kind is SignedObjectKind.DETACHED_CONTENT:
        if detached_content is None or any(t not in ("c14n", "c14n11", "exc-c14n")
                                           for t in item.transforms):
            raise InvalidRequest("a detached XAdES signs the acknowledgement sent as "
                                 "detachedContent, with no transform but canonicalisation",
                                 code="MALFORMED_RECEIPT", field="detachedContent")
        return detached_content
    if item.kind is not SignedObjectKind.XML_ELEMENT:
        raise InvalidSignature("the signature must sign the acknowledgement alone, whole",
                               code="PARTIAL_COVERAGE")
    return enveloped_object_content(signed, item.identifier, item.transforms)


def _same_party(signer: Principal, caller: Principal) -> bool:
    """The signer is the caller, or the natural person behind a representative caller."""
    if signer.identifier == caller.identifier:
        return True
    person = caller.person_identifier
    return person is not None and person in (signer.identifier, signer.person_identifier)


def _listed(ids: Sequence[int], limit: int = 20) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
