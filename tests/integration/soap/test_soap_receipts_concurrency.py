"""Eight clients race to acknowledge the same 200 notifications (DESIGN.md §3: row locks, one
receipt batch commits or nothing does; issue 5, acceptance point 1).

A gateway of its own (fresh schema, so the registration counter starts at 1) with two gunicorn
workers on PostgreSQL. Every client prepares an acknowledgement over an overlapping window of
the 200 ids (each id is in two or three windows, listed in a shuffled order so that only the
server's lock order by id prevents deadlocks), signs it with XAdES as the company or as its
representative, and all eight submit at the same moment. Afterwards every notification is
ACCEPTED once, by exactly one receipt, every other receipt says ALREADY_FINAL for it, and the
registration numbers are 1..8 without gaps or duplicates.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from sqlalchemy import text

from gateway.domain.clock import SystemClock
from gateway.pki import DemoPki
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.signatures import sign_xades_enveloped

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

ITEMS = 200
CLIENTS = 8
WINDOW = 60
STRIDE = ITEMS // CLIENTS  # windows start every 25 ids and wrap: each id is in 2 or 3 of them
SIGNERS = ("company", "representative")
SUBMIT_TIMEOUT_S = 120.0


def two_hundred_for_the_company(pki: DemoPki, now: datetime) -> list[PublicationRequest]:
    return [PublicationRequest(
        issuer="TGSS", issuer_reference=f"RACE-{index:04d}", kind="NOTIFICATION",
        procedure="Procedimiento de prueba", subject=f"Carrera {index}",
        recipient=pki.company_cif, ccc=None, category="NORMAL",
        documents=(DocumentInput(f"race-{index}.txt", "text/plain",
                                 f"Documento {index}\n".encode()),),
        made_available_at=now - timedelta(hours=1),
    ) for index in range(ITEMS)]


@pytest.fixture(scope="module")
def contended(
    start_gateway: Callable[[Any], AbstractContextManager[RunningGateway]],
) -> Iterator[RunningGateway]:
    with start_gateway(two_hundred_for_the_company) as running:
        yield running


def windows(ids: list[int]) -> list[list[int]]:
    shuffler = random.Random(5)
    batches = []
    for client in range(CLIENTS):
        batch = [ids[(client * STRIDE + offset) % ITEMS] for offset in range(WINDOW)]
        shuffler.shuffle(batch)
        batches.append(batch)
    return batches


def test_overlapping_submissions_accept_each_notification_exactly_once(
    contended: RunningGateway,
) -> None:
    gateway = contended
    ids = sorted(item.id for item in gateway.seed.items)
    assert len(ids) == ITEMS
    batches = windows(ids)
    assert set().union(*map(set, batches)) == set(ids)
    # zeep clients are not shared between threads: one per client, each with its certificate.
    names = [SIGNERS[client % 2] for client in range(CLIENTS)]
    clients = [zeep.Client(gateway.wsdl_url, wsse=gateway.signer(name)) for name in names]
    signed: list[bytes] = []
    for client, name, batch in zip(clients, names, batches, strict=True):
        prepared = client.service.PrepareReceipt(id=batch, decision="ACCEPT")
        credential = gateway.pki.client(name)
        signed.append(sign_xades_enveloped(prepared.receipt, credential.private_key(),
                                           credential.certificate(), clock=SystemClock()))

    start = threading.Barrier(CLIENTS)

    def submit(index: int) -> Any:
        start.wait()
        return clients[index].service.SubmitReceipt(signedReceipt=signed[index])

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(submit, index) for index in range(CLIENTS)]
        receipts = [future.result(timeout=SUBMIT_TIMEOUT_S) for future in futures]

    # Every submission got a receipt listing each of its items once, in the order it was asked.
    for batch, receipt in zip(batches, receipts, strict=True):
        assert [o.notificationId for o in receipt.item] == batch
        assert {o.outcome for o in receipt.item} <= {"ACCEPTED", "ALREADY_FINAL"}
    accepted_by: dict[int, list[str]] = {}
    for receipt in receipts:
        for outcome in receipt.item:
            if outcome.outcome == "ACCEPTED":
                accepted_by.setdefault(outcome.notificationId, []).append(
                    receipt.registrationNumber)
    assert sorted(accepted_by) == ids
    assert all(len(numbers) == 1 for numbers in accepted_by.values()), accepted_by
    already_final = sum(o.outcome == "ALREADY_FINAL" for r in receipts for o in r.item)
    assert already_final == CLIENTS * WINDOW - ITEMS
    numbers = [receipt.registrationNumber for receipt in receipts]
    assert len(set(numbers)) == CLIENTS

    with gateway.engine.connect() as connection:
        statuses = Counter(connection.execute(text(
            "SELECT status FROM notification")).scalars())
        items = connection.execute(text(
            "SELECT i.notification_id, r.registration_number, i.outcome FROM receipt_item i "
            "JOIN receipt r ON r.id = i.receipt_id")).all()
        sequences = connection.execute(text(
            "SELECT year, sequence FROM receipt ORDER BY year, sequence")).all()
        counters = dict(connection.execute(text(
            "SELECT year, last_value FROM registration_counter")).all())
        prepared_left = connection.execute(text(
            "SELECT count(*) FROM prepared_receipt WHERE consumed_at IS NULL")).scalar_one()
    assert statuses == Counter({"ACCEPTED": ITEMS})
    assert sorted(row[0] for row in items) == ids  # one receipt_item per notification
    assert {row[0]: [row[1]] for row in items} == accepted_by
    assert {row[2] for row in items} == {"ACCEPTED"}
    years = {year for year, _ in sequences}
    assert len(years) == 1
    assert [sequence for _, sequence in sequences] == list(range(1, CLIENTS + 1))
    assert counters == {years.pop(): CLIENTS}
    assert prepared_left == 0
