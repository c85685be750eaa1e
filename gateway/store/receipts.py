"""Receipts, their items, prepared acknowledgements and the registration counter (DESIGN.md §3).

Everything here runs inside the receipt's own unit of work: the registration number is taken with
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on ``registration_counter``, which holds that
year's row lock until the transaction ends, so numbers are gap-free (a rolled-back receipt gives
its number back) and unique across hosts. ``receipt_item.notification_id`` is unique: a second
final receipt item for one notification fails as ``Conflict``. One signed acknowledgement may
yield several receipts (one per recipient), all with its digest.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, false, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gateway.domain.issuers import ReceiptEvidence
from gateway.domain.receipts import (
    AcknowledgedItem,
    Acknowledgement,
    Decision,
    DocumentDigest,
    IssuedReceipt,
    Outcome,
    PreparedState,
    ReceiptLocation,
    RegistrationNumber,
)

from . import driver
from .membership import Membership
from .models import (
    PreparedReceiptRow,
    ReceiptItemRow,
    ReceiptPdfRow,
    ReceiptRow,
    RegistrationCounterRow,
)
from .repositories import integrity_errors_as_conflict
from .types import UTCDateTime

_P = cast(Table, PreparedReceiptRow.__table__)
_R = cast(Table, ReceiptRow.__table__)
_I = cast(Table, ReceiptItemRow.__table__)
_K = cast(Table, RegistrationCounterRow.__table__)
_D = cast(Table, ReceiptPdfRow.__table__)


def _items_json(ack: Acknowledgement) -> str:
    return json.dumps([[item.notification_id,
                        [[d.position, d.role, d.sha256] for d in item.documents]]
                       for item in ack.items], separators=(",", ":"))


def _items(raw: str) -> tuple[AcknowledgedItem, ...]:
    return tuple(AcknowledgedItem(int(nid), tuple(DocumentDigest(int(p), r, s) for p, r, s in docs))
                 for nid, docs in json.loads(raw))


_RECEIPT_COLUMNS = ("registration_number", "year", "sequence", "csv_code", "signer", "decision",
                    "issued_at", "signed_xml", "client_ack_digest", "recipient", "signer_name",
                    "signer_role")
_INSERT_RECEIPT_WITH_ITEMS = text(
    f"WITH r AS (INSERT INTO {_R.name} ({', '.join(_RECEIPT_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _RECEIPT_COLUMNS)}) RETURNING id) "
    f"INSERT INTO {_I.name} (receipt_id, notification_id, outcome) "
    "SELECT r.id, i.notification_id, i.outcome FROM r, "
    "unnest(CAST(:item_ids AS bigint[]), CAST(:item_outcomes AS varchar[])) "
    "AS i(notification_id, outcome)")
"""PostgreSQL: one receipt and its items in one statement (``ReceiptRepository.add_many``)."""
_INSERT_RECEIPT_WITH_ITEMS_CONSUMING = text(
    f"WITH consumed AS (UPDATE {_P.name} SET consumed_at = :consumed_at "
    "WHERE id = :prepared_id AND consumed_at IS NULL), "
    + _INSERT_RECEIPT_WITH_ITEMS.text.removeprefix("WITH "))
"""The same, also marking the prepared acknowledgement used (``consume_prepared``): a data-
modifying ``WITH`` runs whether or not the rest reads it, in the same statement."""


# Built once, executed with parameters (see ``store.repositories``, "statements built once"):
# every acknowledgement runs them.
_INSERT_PREPARED = insert(_P)
_CONSUME_PREPARED = (update(_P)
                     .where(_P.c.id == bindparam("receipt_key"), _P.c.consumed_at.is_(None))
                     .values(consumed_at=bindparam("consumed", type_=_P.c.consumed_at.type)))


@functools.cache
def _lock_prepared_statement(*, with_digest: bool, lock: bool) -> Any:
    issued = (select(_R.c.id).where(_R.c.client_ack_digest == bindparam("digest")).exists()
              if with_digest else false())
    stmt = select(_P, issued.label("receipt_issued")).where(_P.c.nonce == bindparam("nonce"))
    return stmt.with_for_update(of=_P) if lock else stmt


@functools.cache
def _next_numbers_statement(dialect: str) -> Any:
    insert_for = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}.get(dialect)
    if insert_for is None:  # pragma: no cover - only the two supported backends
        raise ValueError(f"unsupported database dialect {dialect!r}")
    count = bindparam("counter_count", type_=_K.c.last_value.type)
    return (insert_for(_K)
            .values(year=bindparam("counter_year", type_=_K.c.year.type), last_value=count)
            .on_conflict_do_update(index_elements=[_K.c.year],
                                   set_={"last_value": _K.c.last_value + count})
            .returning(_K.c.last_value))


def _receipt_values(r: IssuedReceipt) -> dict[str, object]:
    return {"registration_number": str(r.registration_number),
            "year": r.registration_number.year,
            "sequence": r.registration_number.sequence, "csv_code": r.csv_code,
            "signer": r.signer, "decision": r.decision.value, "issued_at": r.issued_at,
            "signed_xml": r.signed_xml, "client_ack_digest": r.client_ack_digest,
            "recipient": r.recipient, "signer_name": r.signer_name,
            "signer_role": r.signer_role}


class ReceiptRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._postgresql = self._dialect() == "postgresql"
        """The statements every acknowledgement runs go to the driver (``store.driver``)."""

    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name

    # -- prepared acknowledgements -------------------------------------------------------------

    def add_prepared(self, ack: Acknowledgement, principal: str) -> None:
        values = {"id": ack.receipt_id, "principal": principal, "decision": ack.decision.value,
                  "nonce": ack.nonce, "issued_at": ack.issued_at, "expires_at": ack.expires_at,
                  "items": _items_json(ack), "consumed_at": None}
        with integrity_errors_as_conflict("this acknowledgement was already prepared"):
            if self._postgresql:
                driver.rows(self._session, _INSERT_PREPARED, {
                    **values, "issued_at": driver.instant(ack.issued_at),
                    "expires_at": driver.instant(ack.expires_at)})
            else:
                self._session.execute(_INSERT_PREPARED, values)

    def lock_prepared(self, nonce: str, digest: str | None = None) -> PreparedState | None:
        """The prepared acknowledgement with ``nonce``, its row held until the transaction ends;
        with ``digest``, the same statement also says whether receipts were issued for the
        signed acknowledgement with that SHA-256 (``receipt_issued``; then ``by_digest``)."""
        stmt = _lock_prepared_statement(with_digest=digest is not None,
                                        lock=self._dialect() == "postgresql")
        parameters = {"nonce": nonce} if digest is None else {"nonce": nonce, "digest": digest}
        if self._postgresql:
            found = driver.rows(self._session, stmt, parameters)[0]
            row = found[0] if found else None
        else:
            row = self._session.execute(stmt, parameters).first()
        if row is None:
            return None
        # _P's columns in table order, then whether a receipt was issued (the statement's).
        (id_, principal, decision, nonce_, issued_at, expires_at, items, consumed_at,
         receipt_issued) = row
        ack = Acknowledgement(id_, principal, Decision(decision), nonce_, driver.utc(issued_at),
                              driver.utc(expires_at), _items(items))
        return PreparedState(ack, principal, driver.utc(consumed_at), bool(receipt_issued))

    def consume_prepared(self, receipt_id: str, at: datetime) -> None:
        self._session.execute(_CONSUME_PREPARED, {"receipt_key": receipt_id, "consumed": at})

    # -- registration numbers ------------------------------------------------------------------

    def next_registration_number(self, year: int) -> RegistrationNumber:
        """The next number of ``year``; the counter row stays locked until commit/rollback."""
        return self.next_registration_numbers(year, 1)[0]

    def next_registration_numbers(self, year: int, count: int) -> list[RegistrationNumber]:
        """The next ``count`` consecutive numbers of ``year`` in one statement (the receipts of
        one submission); the counter row stays locked until commit/rollback."""
        if count < 1:
            raise ValueError("count must be at least 1")
        statement = _next_numbers_statement(self._dialect())
        parameters = {"counter_year": year, "counter_count": count}
        if self._postgresql:
            last = int(driver.rows(self._session, statement, parameters)[0][0][0])
        else:
            last = int(self._session.execute(statement, parameters).scalar_one())
        return [RegistrationNumber(year, sequence) for sequence in range(last - count + 1,
                                                                         last + 1)]

    # -- receipts -------------------------------------------------------------------------------

    def add(self, receipt: IssuedReceipt, outcomes: dict[int, Outcome]) -> None:
        """Store ``receipt`` and one item per notification it changed (``outcomes``)."""
        self.add_many([(receipt, outcomes)])

    def add_many(self, receipts: Sequence[tuple[IssuedReceipt, dict[int, Outcome]]], *,
                 consumed: tuple[str, datetime] | None = None) -> None:
        """Store several receipts (one submission's) and their items: two statements however
        many there are. ``consumed`` (the prepared acknowledgement's id, and when): also
        ``consume_prepared`` it -- in the same one statement for the usual single receipt on
        PostgreSQL (every acknowledgement runs this: bench/wscn.py)."""
        if not receipts:
            if consumed is not None:
                self.consume_prepared(*consumed)
            return
        with integrity_errors_as_conflict("a notification already has a final receipt",
                                          code="ALREADY_FINAL"):
            if len(receipts) == 1 and self._dialect() == "postgresql":
                # The usual case (one recipient): the receipt and its items in ONE statement.
                receipt, outcomes = receipts[0]
                dialect = self._session.get_bind().dialect
                values = {
                    **_receipt_values(receipt),
                    "issued_at": UTCDateTime().process_bind_param(  # its checks, as typed
                        receipt.issued_at, dialect),
                    "item_ids": sorted(outcomes),
                    "item_outcomes": [outcomes[n].value for n in sorted(outcomes)]}
                if consumed is None:
                    driver.rows(self._session, _INSERT_RECEIPT_WITH_ITEMS, values)
                    return
                driver.rows(self._session, _INSERT_RECEIPT_WITH_ITEMS_CONSUMING, {
                    **values, "prepared_id": consumed[0],
                    "consumed_at": UTCDateTime().process_bind_param(consumed[1], dialect)})
                return
            keys = self._session.execute(
                insert(_R).returning(_R.c.id, sort_by_parameter_order=True),
                [_receipt_values(r) for r, _ in receipts]).scalars().all()
            items = [{"receipt_id": key, "notification_id": nid, "outcome": outcome.value}
                     for key, (_, outcomes) in zip(keys, receipts, strict=True)
                     for nid, outcome in sorted(outcomes.items())]
            if items:
                self._session.execute(insert(_I), items)
        if consumed is not None:
            self.consume_prepared(*consumed)

    def by_digest(self, digest: str) -> list[IssuedReceipt]:
        """Every receipt issued for the signed acknowledgement with this SHA-256, in
        registration order (one per recipient; empty when none was)."""
        rows = self._session.execute(select(_R).where(_R.c.client_ack_digest == digest)
                                     .order_by(_R.c.year, _R.c.sequence)).all()
        return [self._issued(row) for row in rows]

    def by_registration_number(self, number: RegistrationNumber) -> IssuedReceipt | None:
        return self._one(_R.c.registration_number == str(number))

    def by_csv(self, csv_code: str) -> IssuedReceipt | None:
        return self._one(_R.c.csv_code == csv_code)

    def decoy(self) -> IssuedReceipt | None:
        """Some stored receipt (the latest; ``None`` when there is none), read exactly as a found
        one is, for look-ups that must cost the same whether or not they find anything."""
        latest = select(func.max(_R.c.id)).scalar_subquery()
        return self._one(_R.c.id == latest)

    def by_notification(self, notification_id: int) -> IssuedReceipt | None:
        owner = select(_I.c.receipt_id).where(_I.c.notification_id == notification_id)
        return self._one(_R.c.id.in_(owner))

    def evidence_of(self, notification_ids: Sequence[int]) -> dict[int, ReceiptEvidence]:
        """The registration number and time of the receipt that made each item final (one
        indexed read per call, never the signed XML); items without one are absent."""
        wanted = sorted(set(notification_ids))
        if not wanted:
            return {}
        rows = self._session.execute(
            select(_I.c.notification_id, _R.c.registration_number, _R.c.issued_at)
            .join(_R, _R.c.id == _I.c.receipt_id)
            .where(Membership(_I.c.notification_id, wanted))).all()
        return {row[0]: ReceiptEvidence(row[1], row[2]) for row in rows}

    def locate(self, number: RegistrationNumber) -> ReceiptLocation | None:
        """One indexed read, whatever the receipt's size: its row, signer and lowest item."""
        sample = (select(func.min(_I.c.notification_id)).where(_I.c.receipt_id == _R.c.id)
                  .scalar_subquery())
        row = self._session.execute(
            select(_R.c.id, _R.c.signer, sample)
            .where(_R.c.registration_number == str(number))).first()
        return None if row is None else ReceiptLocation(row[0], row[1], row[2])

    def load(self, location: ReceiptLocation) -> IssuedReceipt:
        found = self._one(_R.c.id == location.key)
        assert found is not None  # located in this same transaction: receipts are never deleted
        return found

    def _one(self, condition: Any) -> IssuedReceipt | None:
        row = self._session.execute(select(_R).where(condition)).first()
        return None if row is None else self._issued(row)

    def _issued(self, row: Any) -> IssuedReceipt:
        ids = self._session.execute(select(_I.c.notification_id).where(_I.c.receipt_id == row.id)
                                    .order_by(_I.c.notification_id)).scalars().all()
        return IssuedReceipt(
            registration_number=RegistrationNumber(row.year, row.sequence),
            csv_code=row.csv_code, signer=row.signer, decision=Decision(row.decision),
            issued_at=row.issued_at, signed_xml=bytes(row.signed_xml),
            client_ack_digest=row.client_ack_digest, notification_ids=tuple(ids),
            recipient=row.recipient, signer_name=row.signer_name,
            signer_role=row.signer_role)

    # -- the one PDF of a receipt ---------------------------------------------------------------

    def stored_pdf(self, number: RegistrationNumber) -> tuple[bytes, str] | None:
        """The signed PDF of the receipt with ``number`` and its SHA-256, once stored."""
        row = self._session.execute(
            select(_D.c.pdf, _D.c.sha256).join(_R, _R.c.id == _D.c.receipt_id)
            .where(_R.c.registration_number == str(number))).first()
        return None if row is None else (bytes(row[0]), str(row[1]))

    def pdf_sha256(self, number: RegistrationNumber) -> str | None:
        """The SHA-256 of the stored PDF of the receipt with ``number``, without its bytes."""
        return cast("str | None", self._session.execute(
            select(_D.c.sha256).join(_R, _R.c.id == _D.c.receipt_id)
            .where(_R.c.registration_number == str(number))).scalar())

    def store_pdf(self, number: RegistrationNumber, pdf: bytes, sha256: str) -> None:
        """Keep ``pdf`` as the receipt's one PDF unless another request stored one first (the
        caller reads back ``stored_pdf``: whoever wins, everyone serves the same bytes)."""
        key = select(_R.c.id).where(_R.c.registration_number == str(number)).scalar_subquery()
        values = {"receipt_id": key, "sha256": sha256, "pdf": pdf}
        dialect = self._dialect()
        if dialect == "postgresql":
            stmt: Any = postgresql_insert(_D).values(**values)
        elif dialect == "sqlite":
            stmt = sqlite_insert(_D).values(**values)
        else:  # pragma: no cover - only the two supported backends
            raise ValueError(f"unsupported database dialect {dialect!r}")
        self._session.execute(stmt.on_conflict_do_nothing(index_elements=[_D.c.receipt_id]))
