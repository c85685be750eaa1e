"""ReceiptRepository on SQLite and PostgreSQL: the gap-free registration counter, one final
receipt item per notification, prepared acknowledgements and their nonce."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from gateway.domain.receipts import (
    AcknowledgedItem,
    Acknowledgement,
    Decision,
    DocumentDigest,
    IssuedReceipt,
    Outcome,
    RegistrationNumber,
    new_csv_code,
)
from gateway.errors import Conflict
from gateway.store.unit_of_work import SqlUnitOfWork

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def add_notifications(database, make_notification, contents_of, count):
    with SqlUnitOfWork(database.session_factory) as uow:
        stored = []
        for _ in range(count):
            n = make_notification()
            stored.append(uow.notifications.add(n, contents_of(n)))
        uow.commit()
    return [n.id for n in stored]


def receipt(number: RegistrationNumber, digest: str) -> IssuedReceipt:
    return IssuedReceipt(number, new_csv_code(), "B12345674", Decision.ACCEPT, T0,
                         b"<ServerReceipt/>", digest)


def issue(database, year: int, digest: str, outcomes: dict[int, Outcome], *, commit: bool = True):
    with SqlUnitOfWork(database.session_factory) as uow:
        number = uow.receipts.next_registration_number(year)
        uow.receipts.add(receipt(number, digest), outcomes)
        if commit:
            uow.commit()
    return number


def test_numbers_are_gap_free_per_year_and_a_rollback_gives_its_number_back(database):
    assert issue(database, 2026, "a" * 64, {}) == RegistrationNumber(2026, 1)
    assert issue(database, 2026, "b" * 64, {}, commit=False) == RegistrationNumber(2026, 2)
    assert issue(database, 2026, "c" * 64, {}) == RegistrationNumber(2026, 2)  # no gap
    assert issue(database, 2027, "d" * 64, {}) == RegistrationNumber(2027, 1)
    assert issue(database, 2026, "e" * 64, {}) == RegistrationNumber(2026, 3)


def test_concurrent_receipts_get_distinct_consecutive_numbers(database):
    numbers: list[RegistrationNumber] = []
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            numbers.append(issue(database, 2026, f"{index:064x}", {}))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(n.sequence for n in numbers) == list(range(1, 9))


def test_a_notification_gets_one_final_receipt_item_only(database, make_notification, contents_of):
    first, second = add_notifications(database, make_notification, contents_of, 2)
    issue(database, 2026, "a" * 64, {first: Outcome.ACCEPTED})
    with pytest.raises(Conflict) as caught:
        issue(database, 2026, "b" * 64, {second: Outcome.ACCEPTED, first: Outcome.REJECTED})
    assert caught.value.code == "ALREADY_FINAL"
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.receipts.by_notification(first).client_ack_digest == "a" * 64
        assert uow.receipts.by_notification(second) is None
        assert uow.receipts.next_registration_number(2026) == RegistrationNumber(2026, 2)


def test_the_receipts_of_one_acknowledgement_are_found_by_its_digest_in_order(database):
    # One signed acknowledgement yields one receipt per recipient, all with its digest; the
    # prepared acknowledgement's nonce (consumed with them) keeps it to one submission.
    first = issue(database, 2026, "a" * 64, {})
    issue(database, 2026, "b" * 64, {})
    third = issue(database, 2026, "a" * 64, {})
    with SqlUnitOfWork(database.session_factory) as uow:
        found = uow.receipts.by_digest("a" * 64)
        assert [r.registration_number for r in found] == [first, third]
        assert uow.receipts.by_digest("c" * 64) == []


def test_receipts_are_found_by_number_csv_digest_and_notification(
    database, make_notification, contents_of
):
    (item,) = add_notifications(database, make_notification, contents_of, 1)
    number = issue(database, 2026, "a" * 64, {item: Outcome.ACCEPTED})
    with SqlUnitOfWork(database.session_factory) as uow:
        stored = uow.receipts.by_registration_number(number)
        assert stored is not None and stored.notification_ids == (item,)
        assert uow.receipts.by_csv(stored.csv_code) == stored
        assert uow.receipts.by_digest("a" * 64) == [stored]
        assert uow.receipts.by_notification(item) == stored
        assert uow.receipts.by_registration_number(RegistrationNumber(2026, 99)) is None


def test_prepared_acknowledgements_round_trip_and_are_consumed_once(database):
    ack = Acknowledgement("r" * 32, "B12345674", Decision.REJECT, "nonce-1", T0,
                          T0 + timedelta(minutes=15),
                          (AcknowledgedItem(5, (DocumentDigest(0, "MAIN", "a" * 64),)),))
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.receipts.add_prepared(ack, "B12345674")
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        state = uow.receipts.lock_prepared("nonce-1")
        assert state is not None and state.acknowledgement == ack and state.consumed_at is None
        uow.receipts.consume_prepared(ack.receipt_id, T0)
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.receipts.lock_prepared("nonce-1").consumed_at == T0
        assert uow.receipts.lock_prepared("other") is None
        # Asked with the digest of the signed bytes, the same read says whether they were
        # receipted (SubmitReceipt's replay check, one statement).
        assert uow.receipts.lock_prepared("nonce-1", "a" * 64).receipt_issued is False
    issue(database, 2026, "a" * 64, {})
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.receipts.lock_prepared("nonce-1", "a" * 64).receipt_issued is True
        assert uow.receipts.lock_prepared("nonce-1", "b" * 64).receipt_issued is False
        assert uow.receipts.lock_prepared("nonce-1").receipt_issued is False
    with pytest.raises(Conflict), SqlUnitOfWork(database.session_factory) as uow:
        uow.receipts.add_prepared(ack, "B12345674")
        uow.commit()


@pytest.mark.parametrize("recipients", [1, 2])
def test_storing_the_receipts_consumes_their_acknowledgement_with_them(
    database, make_notification, contents_of, recipients
):
    """``add_many(..., consumed=...)``: the acknowledgement is used exactly when its receipts
    are stored (one statement for a single receipt on PostgreSQL, separate ones otherwise), and
    a receipt refused as ALREADY_FINAL leaves it unused."""
    items = add_notifications(database, make_notification, contents_of, 2)
    ack = Acknowledgement("c" * 32, "B12345674", Decision.ACCEPT, "nonce-c", T0,
                          T0 + timedelta(minutes=15), ())
    other = Acknowledgement("d" * 32, "B12345674", Decision.ACCEPT, "nonce-d", T0,
                            T0 + timedelta(minutes=15), ())
    with SqlUnitOfWork(database.session_factory) as uow:
        uow.receipts.add_prepared(ack, "B12345674")
        uow.receipts.add_prepared(other, "B12345674")
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        numbers = uow.receipts.next_registration_numbers(2026, recipients)
        parts = [{items[0]: Outcome.ACCEPTED}, {items[1]: Outcome.ACCEPTED}][:recipients]
        uow.receipts.add_many([(receipt(n, "e" * 64), p) for n, p in zip(numbers, parts)],
                              consumed=(ack.receipt_id, T0 + timedelta(minutes=1)))
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.receipts.lock_prepared("nonce-c").consumed_at == T0 + timedelta(minutes=1)
        assert [r.notification_ids for r in uow.receipts.by_digest("e" * 64)] == [
            tuple(p) for p in parts]
        assert uow.receipts.lock_prepared("nonce-d").consumed_at is None
    with pytest.raises(Conflict), SqlUnitOfWork(database.session_factory) as uow:
        (number,) = uow.receipts.next_registration_numbers(2026, 1)
        uow.receipts.add_many([(receipt(number, "f" * 64), {items[0]: Outcome.REJECTED})],
                              consumed=(other.receipt_id, T0))
        uow.commit()
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.receipts.lock_prepared("nonce-d").consumed_at is None
