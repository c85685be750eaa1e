"""Who receives a receipt (issue 20 acceptance): for random registries and random submissions
across recipients, every reader gets a receipt exactly when it may ``GetNotification`` every item
on it (or signed it), by registration number and by notification id; everyone else is answered
RECEIPT_NOT_FOUND, as for an unknown number.

The registries, items and principals are the authorisation property test's (mandates, grants,
access managers, RED histories, special-category items, overdue and decided ones). A submission
names 1..12 random stored items -- of several recipients, in any state -- and goes through the
real ``ReceiptService.submit`` on the real store: re-authorisation, the split into receipts,
numbering, storing. Only the signature check of the acknowledgement and the server's own
signature are left out (``Unsigned``): they are tested with real signatures elsewhere and cost
tens of milliseconds an example here. The oracle is the notification service itself
(``NotificationQueries.get``, what GetNotification answers), not ``decide``, so a receipt rule
that drifted from what a reader may see would fail. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_store_authorization_property import NOW, SECRET, World, empty, principals, seed, worlds

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import FixedClock
from gateway.domain.model import Category, Notification
from gateway.domain.principal import Principal
from gateway.domain.receipts import (
    AcknowledgedItem,
    Acknowledgement,
    Decision,
    IssuedReceipt,
    ItemOutcome,
    Outcome,
    RegistrationNumber,
    ServerReceipt,
    new_csv_code,
)
from gateway.errors import NotFound
from gateway.receipt_xml import build_server_receipt
from gateway.services.notifications import NotificationQueries
from gateway.services.receipts import ReceiptService, ReceiptView, Submission
from gateway.signatures import SignaturePolicy
from gateway.store.paging import AudienceMemo
from gateway.store.unit_of_work import SqlUnitOfWork


@dataclass(frozen=True)
class Unsigned(ReceiptService):
    """The real service with the acknowledgement's signature check and the server's signature
    left out (see the module docstring)."""

    prepared: Acknowledgement | None = None

    def _verified_acknowledgement(self, principal: Principal, signed: bytes,
                                  detached_content: bytes | None,
                                  now: datetime) -> Acknowledgement:
        assert self.prepared is not None
        return self.prepared

    def _sign(self, document: bytes, credentials: object = None) -> bytes:
        return document


@dataclass(frozen=True)
class Case:
    world: World
    signer: Principal
    readers: tuple[Principal, ...]
    picks: tuple[int, ...]  # indexes into the world's items
    decision: Decision


@st.composite
def cases(draw: st.DrawFn) -> Case:
    world = draw(worlds())
    signer = draw(st.one_of(st.just(world.principal), principals))
    readers = (world.principal, *draw(st.lists(principals, min_size=2, max_size=4)))
    picks = draw(st.lists(st.integers(0, len(world.items) - 1), min_size=1, max_size=12,
                          unique=True))
    return Case(world, signer, readers, tuple(picks), draw(st.sampled_from(Decision)))


def services(database, case: Case,
             ack: Acknowledgement | None = None) -> tuple[Unsigned, NotificationQueries]:
    memo = AudienceMemo()

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(database.session_factory, case.world.registry_start, memo)

    clock = FixedClock(NOW)
    receipts = Unsigned(uow, clock, WorkingCalendar(), SignaturePolicy(), None,  # type: ignore[arg-type]
                        None, None, prepared=ack)
    return receipts, NotificationQueries(uow, clock, WorkingCalendar(), SECRET)


def submit(database, case: Case, stored: list[Notification]) -> Submission:
    ack = Acknowledgement(
        receipt_id=secrets.token_hex(16), signer=case.signer.identifier, decision=case.decision,
        nonce=secrets.token_urlsafe(16), issued_at=NOW - timedelta(minutes=1),
        expires_at=NOW + timedelta(minutes=14),
        items=tuple(AcknowledgedItem(stored[i].id, ()) for i in case.picks))  # type: ignore[arg-type]
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.receipts.add_prepared(ack, case.signer.identifier)
        uow.commit()
    receipts, _ = services(database, case, ack)
    return receipts.submit(case.signer, secrets.token_bytes(32))


def store_mixed_receipt(database, case: Case, stored: list[Notification]) -> ReceiptView:
    """A receipt as issued before the split: every picked item on one receipt, whatever its
    recipient or category (stored as the migration left them: no recipient). Old receipts
    keep their numbers and are served by the same rule."""
    with SqlUnitOfWork(database.session_factory) as uow:
        number = uow.receipts.next_registration_number(NOW.year)
        content = ServerReceipt(
            number, new_csv_code(), NOW, secrets.token_hex(16), case.signer.identifier,
            case.decision, secrets.token_hex(32),
            tuple(ItemOutcome(stored[i].id, Outcome.ALREADY_FINAL)  # type: ignore[arg-type]
                  for i in case.picks))
        issued = IssuedReceipt(number, content.csv_code, content.signer, content.decision, NOW,
                               build_server_receipt(content), content.client_ack_digest)
        uow.receipts.add(issued, {})
        uow.commit()
    return ReceiptView(issued, content)


def may_see(queries: NotificationQueries, reader: Principal, notification_id: int) -> bool:
    try:
        queries.get(reader, notification_id)
    except NotFound:
        return False
    return True


def released(receipts: ReceiptService, reader: Principal, **key: object) -> bool:
    try:
        receipts.get(reader, **key)  # type: ignore[arg-type]
    except NotFound as refused:
        assert refused.code == "RECEIPT_NOT_FOUND" and str(refused) == "no such receipt"
        return False
    return True


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=cases())
def test_a_receipt_is_released_exactly_to_readers_who_may_see_every_item(database,
                                                                         case: Case) -> None:
    empty(database)
    stored = seed(database, case.world)
    by_id = {n.id: n for n in stored}
    submission = submit(database, case, stored)
    receipts, queries = services(database, case)

    # The split: every named item on exactly one receipt; one recipient per receipt, and
    # special-category items never beside ordinary ones; numbers consecutive.
    listed = [o.notification_id for view in submission.receipts for o in view.content.items]
    assert sorted(listed) == sorted(stored[i].id for i in case.picks)  # type: ignore[type-var]
    for view in submission.receipts:
        items = [by_id[o.notification_id] for o in view.content.items]
        assert {n.recipient for n in items} == {view.content.recipient}
        assert len({n.category is Category.SPECIAL for n in items}) == 1
    numbers = [view.content.registration_number for view in submission.receipts]
    assert numbers[0].sequence == 1
    assert numbers == [RegistrationNumber(numbers[0].year, numbers[0].sequence + k)
                       for k in range(len(numbers))]
    event(f"{len(numbers)} receipts")

    legacy = store_mixed_receipt(database, case, stored)
    for view in (*submission.receipts, legacy):
        ids = [o.notification_id for o in view.content.items]
        for reader in (*case.readers, case.signer):
            visible = all(may_see(queries, reader, i) for i in ids)
            expected = visible or reader.identifier == case.signer.identifier
            if not visible and any(may_see(queries, reader, i) for i in ids):
                event("reader sees some items of the receipt, not all")
            number = str(view.content.registration_number)
            assert released(receipts, reader, registration_number=number) == expected, (
                f"{reader} and receipt {number} of {view.content.recipient}")
            for item_id in view.issued.notification_ids:  # the items it made final
                by_item = released(receipts, reader, notification_id=item_id)
                assert by_item == (expected and may_see(queries, reader, item_id)), (
                    f"{reader} and notification {item_id}")
