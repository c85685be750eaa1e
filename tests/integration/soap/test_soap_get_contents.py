"""GetContents (bulk download) over the real server: zeep, PostgreSQL, two gunicorn workers.

A gateway of its own (``start_gateway``), seeded with the company's notifications this module
accepts once through PrepareReceipt/SubmitReceipt (XAdES) -- some with annexes, four of about
1.5 MiB, one of exactly 2 MiB, one just above it -- and others it leaves pending, two
communications, and items of other people. Every test takes its own items (by issuer reference),
so their order does not matter. What a client sees: the documents of each released notification
in request order with their bytes and sha256, the ones not served listed under ``refused`` with a
code, communications marked READ, faults for a malformed id list that change nothing, responses
signed by the server, and one ``content.released`` audit event per document released.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from lxml import etree
from receipt_answers import outcomes_of
from sqlalchemy import func, select, update
from zeep.exceptions import SignatureVerificationFailed

from gateway.domain.clock import SystemClock
from gateway.domain.identifiers import make_dni
from gateway.pki import DemoPki
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.signatures import sign_xades_enveloped
from gateway.store.models import AuditEventRow, NotificationContentRow, NotificationRow

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

MIB = 1024 * 1024
INLINE = 2 * MIB  # services.notifications.CONTENT_INLINE_BYTES
BIG = 3 * MIB // 2  # two fit in the 4 MiB budget, a third does not
OTHER_PERSON_NIF = make_dni(45_678_901)  # nobody here may see their notifications


def _bytes(reference: str, position: int, size: int) -> bytes:
    """Deterministic, binary (every byte value) content of one document."""
    return random.Random(f"{reference}/{position}").randbytes(size)


# reference -> (kind, recipient key, sizes of its documents (main first), accepted by the fixture)
ITEMS: dict[str, tuple[str, str, tuple[int, ...], bool]] = {
    "GC-MULTI-1": ("NOTIFICATION", "company", (1200, 35, 4000), True),
    "GC-MULTI-2": ("NOTIFICATION", "company", (777,), True),
    "GC-MULTI-3": ("NOTIFICATION", "company", (64, 65_536), True),
    "GC-PENDING-1": ("NOTIFICATION", "company", (300,), False),
    "GC-COMM-READ": ("COMMUNICATION", "company", (512, 100), False),
    "GC-COMM-CORRUPT": ("COMMUNICATION", "company", (900,), False),
    "GC-COMM-ORDER": ("COMMUNICATION", "company", (901,), False),
    "GC-BIG-1": ("NOTIFICATION", "company", (BIG,), True),
    "GC-BIG-2": ("NOTIFICATION", "company", (BIG,), True),
    "GC-BIG-3": ("NOTIFICATION", "company", (BIG,), True),
    "GC-BIG-4": ("NOTIFICATION", "company", (BIG,), True),
    "GC-BIG-CORRUPT": ("NOTIFICATION", "company", (BIG,), True),
    "GC-EXACT-2MIB": ("NOTIFICATION", "company", (INLINE,), True),
    "GC-HUGE": ("NOTIFICATION", "company", (1000, INLINE + 1), True),
    "GC-PERSON-1": ("NOTIFICATION", "person", (100,), False),
    "GC-OTHER-1": ("NOTIFICATION", "other", (100,), False),
}
RACE_ROUNDS, RACE_ITEMS = 6, 5
ITEMS.update({f"GC-RACE-{r}-{k}": ("COMMUNICATION", "company", (400_000,), False)
              for r in range(RACE_ROUNDS) for k in range(RACE_ITEMS)})
ITEMS.update({f"GC-RACE1-{r}": ("COMMUNICATION", "company", (400_000,), False)
              for r in range(RACE_ROUNDS)})


def seed_requests(pki: DemoPki, now: datetime) -> list[PublicationRequest]:
    recipients = {"company": pki.company_cif, "person": pki.person_nif,
                  "other": OTHER_PERSON_NIF}
    return [
        PublicationRequest(
            issuer="TGSS", issuer_reference=reference, kind=kind,
            procedure="Procedimiento de prueba", subject=f"Asunto {reference}",
            recipient=recipients[recipient], ccc=None, category="NORMAL",
            documents=tuple(
                DocumentInput(f"{reference}-{p}.bin" if p else f"{reference} «principal» & ñ.pdf",
                              "application/pdf" if p == 0 else "application/octet-stream",
                              _bytes(reference, p, size))
                for p, size in enumerate(sizes)),
            made_available_at=now - timedelta(hours=1) + timedelta(seconds=index))
        for index, (reference, (kind, recipient, sizes, _)) in enumerate(ITEMS.items())
    ]


@pytest.fixture(scope="module")
def contents_gateway(
    start_gateway: Callable[[Any], AbstractContextManager[RunningGateway]],
) -> Iterator[RunningGateway]:
    with start_gateway(seed_requests) as running:
        accept = [item_id(running, reference)
                  for reference, (*_, accepted) in ITEMS.items() if accepted]
        client = running.client("company")
        prepared = client.service.PrepareReceipt(id=accept, decision="ACCEPT")
        credential = running.pki.client("company")
        signed = sign_xades_enveloped(prepared.receipt, credential.private_key(),
                                      credential.certificate(), clock=SystemClock())
        receipt = client.service.SubmitReceipt(signedReceipt=signed)
        assert outcomes_of(receipt) == dict.fromkeys(
            accept, "ACCEPTED")
        yield running


# --- helpers ------------------------------------------------------------------------------------


def item_id(gateway: RunningGateway, reference: str) -> int:
    return next(item.id for item in gateway.seed.items if item.issuer_reference == reference)


def documents_of(reference: str) -> list[bytes]:
    return [_bytes(reference, p, size) for p, size in enumerate(ITEMS[reference][2])]


def unknown_id(gateway: RunningGateway) -> int:
    return max(item.id for item in gateway.seed.items) + 1000


def last_seq(gateway: RunningGateway) -> int:
    with gateway.engine.connect() as connection:
        return int(connection.execute(select(func.max(AuditEventRow.seq))).scalar() or 0)


def audit_since(gateway: RunningGateway, seq: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(event_type, subject, details) of the audit events appended after ``seq``."""
    with gateway.engine.connect() as connection:
        rows = connection.execute(
            select(AuditEventRow.event_type, AuditEventRow.subject, AuditEventRow.details)
            .where(AuditEventRow.seq > seq).order_by(AuditEventRow.seq)).all()
    return [(row[0], row[1], json.loads(row[2])) for row in rows]


def released_events(events: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[int, int, str]]:
    """(notification id, document position, sha256) of each ``content.released`` event."""
    return [(int(subject), details["document"], details["sha256"])
            for event, subject, details in events if event == "content.released"]


def served(result: Any) -> list[tuple[int, int, bytes]]:
    return [(c.notificationId, c.document.position, c.data) for c in result.content or []]


def refusals(result: Any) -> list[tuple[int, str]]:
    return [(r.notificationId, r.code) for r in result.refused or []]


def expected_documents(gateway: RunningGateway, *references: str) -> list[tuple[int, int, bytes]]:
    return [(item_id(gateway, reference), position, data)
            for reference in references
            for position, data in enumerate(documents_of(reference))]


def stored_status(gateway: RunningGateway, notification_id: int) -> str:
    with gateway.engine.connect() as connection:
        return str(connection.execute(select(NotificationRow.status)
                                      .where(NotificationRow.id == notification_id)).scalar())


def changed_tables(gateway: RunningGateway, before: Any) -> set[str]:
    after = gateway.snapshot()
    return {name for name, digest in after.digests.items() if before.digests.get(name) != digest}


# --- released documents ---------------------------------------------------------------------


def test_accepted_documents_are_served_in_request_order_with_their_annexes(
    contents_gateway: RunningGateway,
) -> None:
    gw = contents_gateway
    references = ("GC-MULTI-3", "GC-MULTI-1", "GC-MULTI-2")
    seq = last_seq(gw)

    result = gw.client("company").service.GetContents(id=[item_id(gw, r) for r in references])

    assert result.count == len(result.content) == 6
    assert not result.refused
    assert served(result) == expected_documents(gw, *references)
    for content in result.content:
        reference = next(r for r in references if item_id(gw, r) == content.notificationId)
        document = content.document
        assert content.status == "ACCEPTED"
        assert document.sha256 == hashlib.sha256(content.data).hexdigest()
        assert document.size == len(content.data) == ITEMS[reference][2][document.position]
        if document.position == 0:
            assert (document.role, document.contentType) == ("MAIN", "application/pdf")
            assert document.name == f"{reference} «principal» & ñ.pdf"
        else:
            assert (document.role, document.contentType) == ("ANNEX",
                                                             "application/octet-stream")
            assert document.name == f"{reference}-{document.position}.bin"

    # one content.released per document released, in the same order, and nothing else
    events = audit_since(gw, seq)
    assert [e[0] for e in events] == ["content.released"] * 6
    assert released_events(events) == [
        (c.notificationId, c.document.position, c.document.sha256) for c in result.content]
    assert {e[2]["role"] for e in events} == {"OWN"}
    # the same bytes as GetContent gives for each document
    single = gw.client("company").service.GetContent(id=item_id(gw, "GC-MULTI-1"), document=2)
    assert single.data == documents_of("GC-MULTI-1")[2]


def test_a_mixed_request_serves_what_it_may_and_refuses_the_rest(
    contents_gateway: RunningGateway,
) -> None:
    gw = contents_gateway
    missing = unknown_id(gw)
    other, person = item_id(gw, "GC-OTHER-1"), item_id(gw, "GC-PERSON-1")
    pending = item_id(gw, "GC-PENDING-1")
    ids = [item_id(gw, "GC-MULTI-2"), missing, other, pending, person,
           item_id(gw, "GC-MULTI-1")]
    before = gw.snapshot()

    result = gw.client("company").service.GetContents(id=ids)

    assert served(result) == expected_documents(gw, "GC-MULTI-2", "GC-MULTI-1")
    assert result.count == 4
    assert refusals(result) == [(missing, "NOT_FOUND"), (other, "NOT_FOUND"),
                                (pending, "NOT_ACCEPTED"), (person, "NOT_FOUND")]
    messages = {r.notificationId: r.message for r in result.refused}
    # someone else's notification is refused exactly as one that does not exist
    assert {messages[i].replace(str(i), "#") for i in (missing, other, person)} == {
        messages[missing].replace(str(missing), "#")}
    assert "AVAILABLE" in messages[pending]

    # nothing changed but the audit trail (and the request's nonce)
    assert changed_tables(gw, before) <= {"used_nonce"}
    assert gw.client("company").service.GetNotification(id=pending).status == "AVAILABLE"
    assert gw.client("person").service.GetNotification(id=person).status == "AVAILABLE"
    events = audit_since(gw, before.last_audit_seq)
    refused = [(subject, details) for event, subject, details in events
               if event == "access.refused"]
    # A missing id is audited like a refusal (reason NOT_FOUND): the same write, so the two
    # cannot be told apart by timing either.
    assert refused == [
        (str(missing), {"action": "notifications.content", "reason": "NOT_FOUND"}),
        (str(other), {"action": "notifications.content", "reason": "NO_RELATION"}),
        (str(person), {"action": "notifications.content", "reason": "NO_RELATION"}),
    ]
    assert released_events(events) == [
        (i, p, hashlib.sha256(data).hexdigest())
        for i, p, data in expected_documents(gw, "GC-MULTI-2", "GC-MULTI-1")]
    assert {e[0] for e in events} == {"access.refused", "content.released"}


def test_only_refusals_is_an_answer_with_count_zero(contents_gateway: RunningGateway) -> None:
    gw = contents_gateway
    pending, missing = item_id(gw, "GC-PENDING-1"), unknown_id(gw) + 1
    seq = last_seq(gw)
    result = gw.client("company").service.GetContents(id=[pending, missing])
    assert result.count == 0 and not result.content
    assert refusals(result) == [(pending, "NOT_ACCEPTED"), (missing, "NOT_FOUND")]
    assert audit_since(gw, seq) == [
        ("access.refused", str(missing), {"action": "notifications.content",
                                          "reason": "NOT_FOUND"})]


def test_a_communication_is_marked_read_and_served_again(contents_gateway: RunningGateway) -> None:
    gw = contents_gateway
    client = gw.client("company")
    communication = item_id(gw, "GC-COMM-READ")
    assert client.service.GetNotification(id=communication).status == "AVAILABLE"
    seq = last_seq(gw)

    first = client.service.GetContents(id=[communication])

    assert served(first) == expected_documents(gw, "GC-COMM-READ")
    assert {c.status for c in first.content} == {"READ"}
    shown = client.service.GetNotification(id=communication)
    assert shown.status == "READ" and shown.statusAt is not None
    events = audit_since(gw, seq)
    assert [(e[0], e[1]) for e in events] == [
        ("communication.read", str(communication)),
        ("content.released", str(communication)), ("content.released", str(communication))]
    assert events[0][2] == {"role": "OWN"}

    seq = last_seq(gw)
    again = client.service.GetContents(id=[communication])

    assert served(again) == served(first)
    assert {c.status for c in again.content} == {"READ"}
    assert client.service.GetNotification(id=communication).statusAt == shown.statusAt
    assert [e[0] for e in audit_since(gw, seq)] == ["content.released"] * 2


# --- the size rules ---------------------------------------------------------------------------


def test_a_full_answer_defers_the_rest_which_is_served_when_asked_again(
    contents_gateway: RunningGateway,
) -> None:
    gw = contents_gateway
    client = gw.client("company")
    big = [item_id(gw, f"GC-BIG-{n}") for n in range(1, 5)]
    seq = last_seq(gw)

    first = client.service.GetContents(id=big)

    assert served(first) == expected_documents(gw, "GC-BIG-1", "GC-BIG-2")
    assert refusals(first) == [(big[2], "DEFERRED"), (big[3], "DEFERRED")]
    assert first.count == 2
    assert released_events(audit_since(gw, seq)) == [
        (i, 0, hashlib.sha256(data).hexdigest())
        for i, _, data in expected_documents(gw, "GC-BIG-1", "GC-BIG-2")]

    seq = last_seq(gw)
    deferred = [r.notificationId for r in first.refused if r.code == "DEFERRED"]
    second = client.service.GetContents(id=deferred)

    assert served(second) == expected_documents(gw, "GC-BIG-3", "GC-BIG-4")
    assert not second.refused
    assert [e[0] for e in audit_since(gw, seq)] == ["content.released"] * 2


def test_the_first_notification_always_goes_in_and_small_ones_fill_the_rest(
    contents_gateway: RunningGateway,
) -> None:
    gw = contents_gateway
    ids = [item_id(gw, r) for r in ("GC-BIG-1", "GC-BIG-2", "GC-BIG-3", "GC-MULTI-2")]
    result = gw.client("company").service.GetContents(id=ids)
    # 1.5 + 1.5 MiB leave 1 MiB: the third big one waits, the small one after it still fits
    assert served(result) == expected_documents(gw, "GC-BIG-1", "GC-BIG-2", "GC-MULTI-2")
    assert refusals(result) == [(ids[2], "DEFERRED")]


def test_a_document_above_two_mib_is_too_large_and_one_of_exactly_two_mib_is_served(
    contents_gateway: RunningGateway,
) -> None:
    gw = contents_gateway
    client = gw.client("company")
    huge, exact = item_id(gw, "GC-HUGE"), item_id(gw, "GC-EXACT-2MIB")
    seq = last_seq(gw)

    result = client.service.GetContents(id=[huge, item_id(gw, "GC-MULTI-2")])

    assert refusals(result) == [(huge, "TOO_LARGE")]
    assert "GetContent" in result.refused[0].message
    assert served(result) == expected_documents(gw, "GC-MULTI-2")
    assert released_events(audit_since(gw, seq)) == [
        (item_id(gw, "GC-MULTI-2"), 0, hashlib.sha256(documents_of("GC-MULTI-2")[0]).hexdigest())]
    # it is fetched with GetContent (streamed) instead
    assert client.service.GetContent(id=huge, document=1).data == documents_of("GC-HUGE")[1]

    boundary = client.service.GetContents(id=[exact])
    assert served(boundary) == expected_documents(gw, "GC-EXACT-2MIB")
    assert not boundary.refused


def test_stored_bytes_that_fail_their_sha256_are_not_released(
    contents_gateway: RunningGateway,
) -> None:
    gw = contents_gateway
    client = gw.client("company")
    corrupt = item_id(gw, "GC-COMM-CORRUPT")
    data = documents_of("GC-COMM-CORRUPT")[0]
    with gw.engine.begin() as connection:
        connection.execute(update(NotificationContentRow)
                           .where(NotificationContentRow.notification_id == corrupt)
                           .values(content=bytes([data[0] ^ 1]) + data[1:]))
    seq = last_seq(gw)

    result = client.service.GetContents(id=[corrupt, item_id(gw, "GC-MULTI-2")])

    assert refusals(result) == [(corrupt, "CONTENT_UNAVAILABLE")]
    assert served(result) == expected_documents(gw, "GC-MULTI-2")
    assert result.count == 1
    assert client.service.GetNotification(id=corrupt).status == "AVAILABLE"
    assert stored_status(gw, corrupt) == "AVAILABLE"
    events = audit_since(gw, seq)
    assert [(e[0], int(e[1])) for e in events] == [
        ("content.released", item_id(gw, "GC-MULTI-2"))]


def test_refusals_are_listed_in_request_order_whatever_their_code(
    contents_gateway: RunningGateway,
) -> None:
    """The refusals come in the order the ids were asked for, a corrupt item's included."""
    gw = contents_gateway
    corrupt = item_id(gw, "GC-COMM-ORDER")
    data = documents_of("GC-COMM-ORDER")[0]
    with gw.engine.begin() as connection:
        connection.execute(update(NotificationContentRow)
                           .where(NotificationContentRow.notification_id == corrupt)
                           .values(content=data[:-1] + bytes([data[-1] ^ 1])))
    missing, pending = unknown_id(gw) + 2, item_id(gw, "GC-PENDING-1")

    result = gw.client("company").service.GetContents(id=[corrupt, missing, pending])

    assert refusals(result) == [(corrupt, "CONTENT_UNAVAILABLE"), (missing, "NOT_FOUND"),
                                (pending, "NOT_ACCEPTED")]


def test_a_corrupt_notification_does_not_use_up_the_budget(
    contents_gateway: RunningGateway,
) -> None:
    """Nothing is released for a corrupt notification, so the remaining budget is still the
    whole of it: the next two big ones fit and only the third is DEFERRED."""
    gw = contents_gateway
    corrupt = item_id(gw, "GC-BIG-CORRUPT")
    data = documents_of("GC-BIG-CORRUPT")[0]
    with gw.engine.begin() as connection:
        connection.execute(update(NotificationContentRow)
                           .where(NotificationContentRow.notification_id == corrupt)
                           .values(content=bytes([data[0] ^ 1]) + data[1:]))
    ids = [corrupt, *(item_id(gw, f"GC-BIG-{n}") for n in (1, 2, 3))]

    result = gw.client("company").service.GetContents(id=ids)

    assert served(result) == expected_documents(gw, "GC-BIG-1", "GC-BIG-2")
    assert sorted(refusals(result)) == sorted([(corrupt, "CONTENT_UNAVAILABLE"),
                                               (ids[3], "DEFERRED")])


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` at the same moment (threads behind a barrier); each one's result, or the
    fault it raised, in order."""
    barrier = threading.Barrier(len(calls))
    results: dict[int, Any] = {}

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except zeep.exceptions.Fault as fault:
            results[index] = fault

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == len(calls)
    return [results[i] for i in range(len(calls))]


def racing_clients(gw: RunningGateway) -> list[Any]:
    """The company and its representative, WSDLs loaded before any race."""
    clients = [gw.client("company"), gw.client("representative")]
    for client in clients:
        client.service.GetOfficialTime()
    return clients


def test_two_callers_opening_the_same_communications_at_once_are_both_served(
    contents_gateway: RunningGateway, gw_code: Any,
) -> None:
    """The company and its representative download the same unread communications at the same
    moment: each gets every document, and each communication ends READ (once)."""
    gw = contents_gateway
    clients = racing_clients(gw)
    failures: list[tuple[Any, ...]] = []
    for round_ in range(RACE_ROUNDS):
        references = [f"GC-RACE-{round_}-{k}" for k in range(RACE_ITEMS)]
        ids = [item_id(gw, r) for r in references]
        results = race([lambda c=c, ids=ids: c.service.GetContents(id=ids) for c in clients])
        for index, result in enumerate(results):
            if isinstance(result, zeep.exceptions.Fault):
                failures.append((round_, index, result.code, gw_code(result), result.message))
            else:
                assert served(result) == expected_documents(gw, *references)
        assert {stored_status(gw, i) for i in ids} == {"READ"}
        with gw.engine.connect() as connection:
            reads = connection.execute(
                select(AuditEventRow.subject).where(
                    AuditEventRow.event_type == "communication.read",
                    AuditEventRow.subject.in_([str(i) for i in ids]))).scalars().all()
        assert sorted(reads) == sorted(str(i) for i in ids)
    assert failures == []


def test_two_callers_opening_one_communication_with_get_content_are_both_served(
    contents_gateway: RunningGateway, gw_code: Any,
) -> None:
    """GetContent shares the locked READ marking: the second caller no longer gets
    ALREADY_FINAL for a communication the first one opened a moment before, nor its stale
    status."""
    gw = contents_gateway
    clients = racing_clients(gw)
    outcomes: list[Any] = []
    for round_ in range(RACE_ROUNDS):
        reference = f"GC-RACE1-{round_}"
        target = item_id(gw, reference)
        expected = documents_of(reference)[0]
        for result in race([lambda c=c, t=target: c.service.GetContent(id=t) for c in clients]):
            outcomes.append(gw_code(result) if isinstance(result, zeep.exceptions.Fault)
                            else (result.data == expected, result.status))
        assert stored_status(gw, target) == "READ"
    assert outcomes == [(True, "READ")] * (2 * RACE_ROUNDS)


# --- malformed id lists -----------------------------------------------------------------------


@pytest.mark.parametrize(("ids", "faultcode", "code"), [
    ("none", "Client.InvalidRequest", "NO_ITEMS"),
    ("1001", "Client.LimitExceeded", "BATCH_TOO_LARGE"),
    ("duplicate", "Client.InvalidRequest", "DUPLICATE_ID"),
])
def test_a_malformed_id_list_is_a_fault_that_writes_nothing(
    contents_gateway: RunningGateway, gw_code: Any, ids: str, faultcode: str, code: str,
) -> None:
    gw = contents_gateway
    communication = item_id(gw, "GC-COMM-CORRUPT")  # never opened successfully
    other, accepted = item_id(gw, "GC-OTHER-1"), item_id(gw, "GC-MULTI-2")
    asked = {
        "none": [],
        # every seeded id (someone else's and a communication among them) plus unknown ones
        "1001": sorted({item.id for item in gw.seed.items}
                       | set(range(unknown_id(gw) + 10, unknown_id(gw) + 10 + 1001)))[:1001],
        "duplicate": [accepted, other, item_id(gw, "GC-COMM-READ"), other],
    }[ids]
    assert len(asked) == {"none": 0, "1001": 1001, "duplicate": 4}[ids]
    before = gw.snapshot()

    with pytest.raises(zeep.exceptions.Fault) as fault:
        gw.client("company").service.GetContents(id=asked)

    assert fault.value.code.endswith(faultcode)
    assert gw_code(fault.value) == code
    # no access.refused, no content.released, no status change: only the request's nonce
    gw.assert_only_refusals_audited(before, refusals=0, tolerate=frozenset({"used_nonce"}))
    assert stored_status(gw, communication) == "AVAILABLE"


def test_a_thousand_ids_are_accepted(contents_gateway: RunningGateway) -> None:
    gw = contents_gateway
    accepted = item_id(gw, "GC-MULTI-2")
    start = unknown_id(gw) + 5000
    ids = [accepted, *range(start, start + 999)]
    result = gw.client("company").service.GetContents(id=ids)
    assert served(result) == expected_documents(gw, "GC-MULTI-2")
    assert refusals(result) == [(i, "NOT_FOUND") for i in ids[1:]]


# --- the response signature -------------------------------------------------------------------


def test_a_tampered_document_in_the_response_fails_verification(
    contents_gateway: RunningGateway,
) -> None:
    gw = contents_gateway
    ids = [item_id(gw, "GC-MULTI-1"), item_id(gw, "GC-PENDING-1")]
    marker = b"<tns:code>NOT_ACCEPTED"

    def identity(content: bytes) -> bytes:
        return content

    untouched = gw.tampered_client(identity).service.GetContents(id=ids)
    assert served(untouched) == expected_documents(gw, "GC-MULTI-1")

    def flip_data(content: bytes) -> bytes:
        start = content.index(b"<tns:data>") + len(b"<tns:data>") + 10
        swapped = b"B" if content[start:start + 1] != b"B" else b"C"
        return content[:start] + swapped + content[start + 1:]

    def forge_code(content: bytes) -> bytes:
        assert content.count(marker) == 1
        return content.replace(marker, b"<tns:code>NOT_FOUND")

    for tamper in (flip_data, forge_code):
        with pytest.raises(SignatureVerificationFailed):
            gw.tampered_client(tamper).service.GetContents(id=ids)


def test_raw_response_is_signed_and_carries_its_length(contents_gateway: RunningGateway) -> None:
    gw = contents_gateway
    ids = [item_id(gw, "GC-BIG-1"), item_id(gw, "GC-MULTI-3")]
    data = etree.tostring(gw.signed("GetContents", id=ids))

    response = gw.post(data, soap_action="GetContents")

    assert response.status_code == 200, response.text[:2000]
    assert int(response.headers["Content-Length"]) == len(response.content)
    gw.verify_response_signature(response.content)
    assert response.content.count(b"<tns:content>") == 3
