"""``IssuingService`` over the real store, on SQLite and PostgreSQL (issue 17): the registry
decides who is an issuer, publishing is idempotent by (issuer, reference), and an issuer's
status and pages hold its own items only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.bootstrap import Container, build
from gateway.config import Settings
from gateway.domain.identifiers import make_cif, make_dni
from gateway.domain.model import Issuer, Status
from gateway.domain.principal import Principal, PrincipalKind
from gateway.errors import AuthorizationError, Conflict
from gateway.services.publishing import BatchRejected, DocumentInput, PublicationRequest
from gateway.store.unit_of_work import SqlUnitOfWork

TGSS_CIF = make_cif("Q", 2_827_004)
INSS_CIF = make_cif("Q", 2_827_005)
RECIPIENT = make_cif("B", 1_234_567)


def seal(cif: str, kind: PrincipalKind = PrincipalKind.ENTITY) -> Principal:
    person = make_dni(12_345_678) if kind is PrincipalKind.REPRESENTATIVE else None
    return Principal(kind, cif, "seal", "f" * 64, person)


def request(reference: str, subject: str = "Asunto") -> PublicationRequest:
    return PublicationRequest(
        issuer="ISM",  # ignored: the issuer is the caller's
        issuer_reference=reference, kind="NOTIFICATION", procedure="Procedimiento",
        subject=subject, recipient=RECIPIENT, ccc=None, category="NORMAL",
        documents=(DocumentInput("acto.pdf", "application/pdf", b"%PDF " + reference.encode()),))


@pytest.fixture
def container(database: Any, tmp_path: Path) -> Any:
    built = build(Settings(data_dir=tmp_path, database_url=database.url,
                           cursor_secret=b"s" * 32))
    built.issuing().register(TGSS_CIF, Issuer.TGSS)
    built.issuing().register(INSS_CIF, Issuer.INSS)
    yield built
    built.dispose()


def notification_count(container: Container) -> int:
    with container.unit_of_work() as uow:
        return int(uow.notifications.summary()["total"])  # type: ignore[call-overload]


def test_publish_replay_conflict_and_status(container: Container, database: Any) -> None:
    issuing = container.issuing()
    first = issuing.publish(seal(TGSS_CIF), [request("R-1"), request("R-2")])
    assert [p.created for p in first] == [True, True]
    again = issuing.publish(seal(TGSS_CIF), [request("R-2"), request("R-1"), request("R-3")])
    assert [(p.notification_id, p.created) for p in again[:2]] == [
        (first[1].notification_id, False), (first[0].notification_id, False)]
    assert again[2].created

    with pytest.raises(Conflict) as conflict:
        issuing.publish(seal(TGSS_CIF), [request("R-4"), request("R-1", subject="Otro")])
    assert conflict.value.code == "DUPLICATE_REFERENCE" and "'R-1'" in conflict.value.message
    assert [(p.position, p.field) for p in conflict.value.problems] == [(1, "issuer_reference")]
    with pytest.raises(BatchRejected):
        issuing.publish(seal(TGSS_CIF), [request("R-5"), request("R-5")])

    # INSS may use the same reference: it is another item, and TGSS's stay invisible to it.
    inss = issuing.publish(seal(INSS_CIF), [request("R-1")])
    assert inss[0].created and inss[0].notification_id != first[0].notification_id
    status = issuing.status(seal(TGSS_CIF), ["R-1", "R-4", "nope"])
    assert status[0] is not None and status[0].notification_id == first[0].notification_id
    assert status[0].status is Status.AVAILABLE and status[1] is None and status[2] is None

    with SqlUnitOfWork(database.session_factory) as uow:
        stored = uow.notifications.by_references(Issuer.TGSS, ["R-1", "R-2", "R-3", "R-4"])
        assert sorted(stored) == ["R-1", "R-2", "R-3"]
        assert all(n.issuer is Issuer.TGSS for n in stored.values())
        assert uow.receipts.evidence_of([n.id for n in stored.values()  # type: ignore[misc]
                                         ]) == {}


def test_pages_hold_the_callers_items_only(container: Container) -> None:
    issuing = container.issuing()
    issuing.publish(seal(INSS_CIF), [request(f"I-{i}") for i in range(3)])
    tgss = issuing.publish(seal(TGSS_CIF), [request(f"T-{i}") for i in range(5)])
    seen, cursor = [], None
    while True:
        page = issuing.status_page(seal(TGSS_CIF), cursor, limit=2)
        seen += [e.notification_id for e in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [p.notification_id for p in tgss]


@pytest.mark.parametrize("principal", [
    seal(make_cif("B", 7_654_321)),  # an entity seal nobody registered
    seal(TGSS_CIF, PrincipalKind.REPRESENTATIVE),  # a person representing TGSS is no seal
    Principal(PrincipalKind.PERSON, make_dni(12_345_678), "p", "f" * 64, make_dni(12_345_678)),
])
def test_no_issuer_no_publication(container: Container, principal: Principal) -> None:
    with pytest.raises(AuthorizationError) as refused:
        container.issuing().publish(principal, [request("X-1")])
    assert refused.value.code == "NOT_AN_ISSUER"
    assert notification_count(container) == 0


def test_staged_documents_are_stored_whole_eagerly_or_streamed(
        container: Container, database: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """MTOM documents (``StagedContent``): the small ones go in with the batch's insert, the
    rest are streamed one by one (PostgreSQL: COPY, hex slices) -- the bytes stored are the
    bytes sent, with the size and SHA-256 computed when they were received."""
    import hashlib

    from gateway.services import publishing
    from gateway.services.publishing import StagedContent

    monkeypatch.setattr(publishing, "EAGER_STAGED_BYTES", 300_000)
    sent = {f"S-{i}": bytes(range(256)) * (1000 * (i + 1)) + bytes([i]) for i in range(3)}

    def staged(data: bytes) -> StagedContent:
        return StagedContent(len(data), hashlib.sha256(data).hexdigest(),
                             lambda: (data[i:i + 65_536] for i in range(0, len(data), 65_536)))

    batch = [PublicationRequest(
        issuer="", issuer_reference=reference, kind="COMMUNICATION", procedure="P",
        subject="S", recipient=RECIPIENT, ccc=None, category="NORMAL",
        documents=(DocumentInput("a.pdf", "application/pdf", b"", staged(data)),
                   DocumentInput("b.txt", "text/plain", b"inline " + data[:10])))
        for reference, data in sent.items()]
    published = container.issuing().publish(seal(TGSS_CIF), batch)
    with SqlUnitOfWork(database.session_factory) as uow:
        for (reference, data), item in zip(sent.items(), published, strict=True):
            assert uow.notifications.content(item.notification_id, 0) == data, reference
            assert uow.notifications.content(item.notification_id, 1) == b"inline " + data[:10]
            assert item.document_sha256[0] == hashlib.sha256(data).hexdigest()


def test_cancel_only_before_any_access_and_idempotently(container: Container) -> None:
    from datetime import UTC, datetime

    from gateway.errors import InvalidRequest, NotFound

    issuing = container.issuing()
    _, second = issuing.publish(seal(TGSS_CIF), [request("C-1"), request("C-2")])
    with container.unit_of_work() as uow:
        uow.notifications.mark_accessed([second.notification_id], RECIPIENT,
                                        datetime.now(UTC))
        uow.notifications.mark_accessed([second.notification_id], "X", datetime.now(UTC))
        uow.commit()
        access = uow.notifications.first_access(second.notification_id)
        assert access is not None and access[1] == RECIPIENT  # the first access is kept
    done = issuing.cancel(seal(TGSS_CIF), "C-1", "  Error   de emisión ")
    assert (done.reason, done.already_cancelled) == ("Error de emisión", False)
    again = issuing.cancel(seal(TGSS_CIF), "C-1", "otro")
    assert (again.cancelled_at, again.reason, again.already_cancelled) == (
        done.cancelled_at, "Error de emisión", True)
    with pytest.raises(Conflict) as refused:
        issuing.cancel(seal(TGSS_CIF), "C-2", "tarde")
    assert refused.value.code == "ALREADY_ACCESSED"
    with pytest.raises(NotFound) as unknown:
        issuing.cancel(seal(INSS_CIF), "C-1", "ajena")
    assert unknown.value.code == "UNKNOWN_REFERENCE"
    with pytest.raises(InvalidRequest):
        issuing.cancel(seal(TGSS_CIF), "C-2", "   ")
    status = issuing.status(seal(TGSS_CIF), ["C-1", "C-2"])
    assert [s.status if s else None for s in status] == [Status.CANCELLED, Status.AVAILABLE]
