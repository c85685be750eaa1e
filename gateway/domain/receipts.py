"""Acknowledgements and receipts: pure rules (DESIGN.md §1 "each completed act yields a receipt",
§4 PrepareReceipt / SubmitReceipt).

- A *prepared acknowledgement* is what the server hands a caller to sign: who signs, the
  decision, a server nonce, its validity window and, per notification, the SHA-256 of every
  document. The signed copy must state exactly the same thing (``compare_acknowledgements``).
- A *registration number* is ``YYYY/NNNNNNNNN``: the official year and a gap-free sequence
  within it (the store takes it under a row lock, in the receipt's own transaction).
- A *CSV code* (código seguro de verificación) lets anyone look a receipt up without a
  certificate. It is unguessable (95 random bits from ``secrets``) and carries a check character
  (ISO 7064 hybrid system, MOD 33,32 over an alphabet without look-alikes: no 0/O, 1/I), so a
  mistyped code is told apart from an unknown one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from gateway.errors import InvalidRequest

from .authorization import Action, decide
from .clock import require_aware
from .model import Category, Notification, Status
from .principal import Principal
from .rights import RepresentationFacts


class Decision(str, Enum):
    """What the signer states about every notification of one acknowledgement."""

    ACCEPT = "ACCEPT"
    REJECT = "REJECT"

    @property
    def target(self) -> Status:
        return Status.ACCEPTED if self is Decision.ACCEPT else Status.REJECTED


class Outcome(str, Enum):
    """What a submitted acknowledgement did to one notification (wire codes)."""

    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    ALREADY_FINAL = "ALREADY_FINAL"
    EXPIRED = "EXPIRED"
    NOT_AUTHORISED = "NOT_AUTHORISED"
    NOT_FOUND = "NOT_FOUND"

    @property
    def changed_state(self) -> bool:
        """True when the notification moved to a final state because of this receipt."""
        return self in (Outcome.ACCEPTED, Outcome.REJECTED)


MAX_RECEIPT_ITEMS = 1000
"""Notifications per acknowledgement (DESIGN.md §4 ``ids[<=1000]``)."""


# -- registration numbers ---------------------------------------------------------------------

_REGISTRATION = re.compile(r"^(\d{4})/(\d{9})$")


@dataclass(frozen=True, slots=True, order=True)
class RegistrationNumber:
    year: int
    sequence: int

    def __post_init__(self) -> None:
        if not 1000 <= self.year <= 9999 or not 1 <= self.sequence <= 999_999_999:
            raise ValueError("registration number out of range")

    def __str__(self) -> str:
        return f"{self.year:04d}/{self.sequence:09d}"

    @classmethod
    def parse(cls, text: str) -> RegistrationNumber:
        match = _REGISTRATION.match(text.strip())
        if match is None:
            raise InvalidRequest("a registration number looks like 2026/000000123",
                                 code="MALFORMED_REGISTRATION_NUMBER",
                                 field="registrationNumber")
        try:
            return cls(int(match.group(1)), int(match.group(2)))
        except ValueError as exc:
            raise InvalidRequest("registration number out of range",
                                 code="MALFORMED_REGISTRATION_NUMBER",
                                 field="registrationNumber") from exc


# -- CSV codes --------------------------------------------------------------------------------

CSV_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
"""32 symbols: digits and capitals without 0, 1, I and O (read aloud and typed by people)."""

CSV_DATA_LENGTH = 19
"""19 random symbols of 5 bits: 95 bits, far beyond guessing (>= 80 required)."""

CSV_GROUP = 4
_VALUES = {symbol: index for index, symbol in enumerate(CSV_ALPHABET)}
_M = len(CSV_ALPHABET)
_SYMBOL_BITS = 5
assert _M == 1 << _SYMBOL_BITS


def csv_check_character(data: str) -> str:
    """ISO 7064 hybrid system MOD (M+1, M) with M = 32: detects every single substitution."""
    product = _M
    for symbol in data:
        total = (product + _VALUES[symbol]) % _M or _M
        product = (2 * total) % (_M + 1)
    return CSV_ALPHABET[(_M + 1 - product) % _M]


def _format_csv(symbols: str) -> str:
    return "-".join(symbols[i : i + CSV_GROUP] for i in range(0, len(symbols), CSV_GROUP))


def new_csv_code() -> str:
    """A fresh code, printed in five groups of four (``AAAA-BBBB-CCCC-DDDD-EEEC``, C the check
    character)."""
    # One draw of 95 random bits, cut into 19 symbols of 5 (the alphabet has exactly 32: each
    # symbol uniform): ``secrets.choice`` per symbol read the system's random source 19 times,
    # and every acknowledgement issues a code (bench/wscn.py).
    bits = secrets.randbits(_SYMBOL_BITS * CSV_DATA_LENGTH)
    data = "".join(CSV_ALPHABET[(bits >> (_SYMBOL_BITS * i)) & (_M - 1)]
                   for i in range(CSV_DATA_LENGTH))
    return _format_csv(data + csv_check_character(data))


def parse_csv(code: str) -> str:
    """The canonical form of a well-formed code; ``InvalidRequest`` MALFORMED_CSV otherwise.

    Case, spaces and hyphens are forgiven (people type codes); a wrong symbol, a wrong length or
    a check character that does not match is malformed. Well-formed says nothing about whether
    such a receipt exists.
    """
    symbols = re.sub(r"[\s-]", "", code or "").upper()
    if (len(symbols) != CSV_DATA_LENGTH + 1 or any(s not in _VALUES for s in symbols)
            or csv_check_character(symbols[:-1]) != symbols[-1]):
        raise InvalidRequest("not a valid verification code (CSV)", code="MALFORMED_CSV",
                             field="code")
    return _format_csv(symbols)


# -- acknowledgements -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentDigest:
    position: int
    role: str
    sha256: str


@dataclass(frozen=True, slots=True)
class AcknowledgedItem:
    """One notification of an acknowledgement: its id and every document's SHA-256."""

    notification_id: int
    documents: tuple[DocumentDigest, ...]

    @property
    def main_sha256(self) -> str | None:
        return next((d.sha256 for d in self.documents if d.position == 0), None)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """The document a caller signs (prepared by the server, or parsed from the signed copy)."""

    receipt_id: str
    signer: str
    decision: Decision
    nonce: str
    issued_at: datetime
    expires_at: datetime
    items: tuple[AcknowledgedItem, ...]

    def __post_init__(self) -> None:
        require_aware(self.issued_at, "issued_at")
        require_aware(self.expires_at, "expires_at")

    def is_expired(self, now: datetime) -> bool:
        return require_aware(now, "now") >= self.expires_at


def compare_acknowledgements(prepared: Acknowledgement, signed: Acknowledgement) -> None:
    """Raise ``InvalidRequest`` unless ``signed`` states exactly what was ``prepared``.

    Items added, removed, reordered or with other document lists: ITEMS_MISMATCH; a document
    hash that differs: HASH_MISMATCH; any other field: ACK_MISMATCH.
    """
    header = ("receipt_id", "signer", "decision", "nonce", "issued_at", "expires_at")
    for name in header:
        if getattr(prepared, name) != getattr(signed, name):
            raise InvalidRequest(f"the signed acknowledgement's {name} differs from the prepared "
                                 "one", code="ACK_MISMATCH")
    if [i.notification_id for i in prepared.items] != [i.notification_id for i in signed.items]:
        raise InvalidRequest("the signed acknowledgement lists other notifications than the "
                             "prepared one", code="ITEMS_MISMATCH")
    for mine, theirs in zip(prepared.items, signed.items, strict=True):
        if [(d.position, d.role) for d in mine.documents] != \
                [(d.position, d.role) for d in theirs.documents]:
            raise InvalidRequest(f"notification {mine.notification_id} lists other documents",
                                 code="ITEMS_MISMATCH")
        if [d.sha256 for d in mine.documents] != [d.sha256 for d in theirs.documents]:
            raise InvalidRequest(f"a document hash of notification {mine.notification_id} "
                                 "differs from the prepared one", code="HASH_MISMATCH")


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    notification_id: int
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class ServerReceipt:
    """What the server certifies: signed with its key, stored, and served by GetReceipt."""

    registration_number: RegistrationNumber
    csv_code: str
    issued_at: datetime
    receipt_id: str
    signer: str
    decision: Decision
    client_ack_digest: str
    items: tuple[ItemOutcome, ...]
    recipient: str | None = None
    """Whose notifications it certifies; ``None`` on receipts issued before receipts were
    split by recipient (they may list several) and on a part listing only unknown ids."""

    def __post_init__(self) -> None:
        require_aware(self.issued_at, "issued_at")


@dataclass(frozen=True, slots=True)
class IssuedReceipt:
    """A stored receipt: the server-signed XML and what the store indexes it by.

    ``notification_ids`` are the items whose state this receipt changed (one final receipt item
    per notification); every item's outcome is in ``signed_xml``.
    """

    registration_number: RegistrationNumber
    csv_code: str
    signer: str
    decision: Decision
    issued_at: datetime
    signed_xml: bytes
    client_ack_digest: str | None
    notification_ids: tuple[int, ...] = ()
    recipient: str | None = None
    signer_name: str | None = None
    """The signer's name from its certificate at submission (``None`` on older receipts)."""
    signer_role: str | None = None
    """By which right it signed the items this receipt changed (``Role`` wire codes, comma
    separated: OWN, MANDATE, GRANT, RED); ``None`` on older receipts or when nothing changed."""


@dataclass(frozen=True, slots=True)
class ReceiptLocation:
    """Where a stored receipt is, who signed it, and one notification it made final (the first
    visibility check: a reader who may not see it may not receive the receipt)."""

    key: int
    signer: str
    sample_item: int | None


@dataclass(frozen=True, slots=True)
class PreparedState:
    """A prepared acknowledgement as the store holds it: for whom, and whether it was used."""

    acknowledgement: Acknowledgement
    principal: str
    consumed_at: datetime | None
    receipt_issued: bool = False
    """Whether receipts were issued for the signed bytes ``lock_prepared`` was asked about."""


# -- who receives a receipt -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptPart:
    """The items of one acknowledgement that one receipt certifies: one recipient's, its
    special-category items apart (``recipient`` is ``None`` for ids no longer known)."""

    recipient: str | None
    special_category: bool
    items: tuple[ItemOutcome, ...]


def split_by_reader(outcomes: Sequence[ItemOutcome],
                    notifications: Mapping[int, Notification]) -> tuple[ReceiptPart, ...]:
    """One part per recipient, and per recipient its special-category items on a part of their
    own, in the order the acknowledgement first names each (DESIGN.md "Who receives a receipt").

    A receipt is released only to readers who may see every item on it
    (``released_to``), so a receipt mixing recipients, or ordinary and special-category items,
    would be proof for nobody but its signer: the company would not get the receipt of its own
    items because the RED agent's batch named another company's too, and the agent would not
    get the ordinary part because a special-category item sat beside it.
    """
    groups: dict[tuple[str | None, bool], list[ItemOutcome]] = {}
    for outcome in outcomes:
        notification = notifications.get(outcome.notification_id)
        key = ((notification.recipient, notification.category is Category.SPECIAL)
               if notification is not None else (None, False))
        groups.setdefault(key, []).append(outcome)
    return tuple(ReceiptPart(recipient, special, tuple(items))
                 for (recipient, special), items in groups.items())


def released_to(principal: Principal, signer: str, item_ids: Sequence[int],
                notifications: Mapping[int, Notification], facts: RepresentationFacts,
                now: datetime) -> bool:
    """THE rule for a receipt, an acknowledgement or anything derived from them (the PDF
    justificante): its signer receives it, and so does a reader who may see (``decide`` READ,
    now) every item listed in it -- anyone else is answered as for an unknown number or id.

    The signer already knows every item it signed, so nothing is revealed to it; "may see one
    of the items" is not enough, or a RED agent would learn of a special-category item signed
    beside an ordinary one, and each company of an agent's batch of the others' items.
    ``notifications`` holds the items that still exist (a missing one is seen by nobody).
    """
    if signer == principal.identifier:
        return True
    if not item_ids:
        return False
    for item_id in item_ids:
        notification = notifications.get(item_id)
        if notification is None or not decide(principal, Action.READ, notification, facts, now):
            return False
    return True
