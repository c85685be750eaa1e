"""Issue 6 acceptance, zeep end to end: a RED agent acting for 50 companies.

A gateway of its own (PostgreSQL, two gunicorn workers). Fifty companies (the demo company
B12345674, whose certificates can act for it, and 49 others) each have one contribution account
(CCC) whose reception is assigned to the RED agent, and six notifications: four NORMAL on that
CCC, one SPECIAL-category on it (never for a RED agent) and one on an account of theirs that is
not assigned. The agent:

1. pages through everything it may see, with a small page size (several pages, one cursor);
2. accepts a batch spanning a dozen companies with ONE XAdES-signed acknowledgement (one
   registration number) and downloads the content of some of them;
3. after the demo company unassigns its CCC, is refused that company's still-pending
   notifications at once (not listed, GetNotification NOT_FOUND, PrepareReceipt NOT_FOUND, an
   acknowledgement prepared before the unassignment gets NOT_AUTHORISED), while the ones it
   accepted keep their receipts, stay listed with role RED and keep their content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from receipt_answers import outcomes_of, receipts_of
from sqlalchemy import select

from gateway.domain.clock import SystemClock
from gateway.domain.identifiers import make_ccc, make_cif
from gateway.pki import DemoPki
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.signatures import sign_xades_enveloped
from gateway.store.engine import session_factory
from gateway.store.models import AuditEventRow
from gateway.store.unit_of_work import SqlUnitOfWork

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

COMPANIES = 50
ASSIGNED_NORMAL = 4  # per company, on the assigned CCC
PAGE_SIZE = 37  # 200 RED + 2 OWN items: six pages, the last one short
BATCH_COMPANIES = 12


def companies(pki: DemoPki) -> list[str]:
    """The demo company first, then 49 other valid CIFs."""
    others = [make_cif("ABH"[index % 3], 3_000_000 + index * 7919) for index in range(1, COMPANIES)]
    found = [pki.company_cif, *others]
    assert len(set(found)) == COMPANIES
    return found


def assigned_ccc(index: int) -> str:
    return make_ccc(1 + index % 52, 4_000_000 + index)


def unassigned_ccc(index: int) -> str:
    return make_ccc(1 + index % 52, 5_000_000 + index)


def seed_requests(pki: DemoPki, now: datetime) -> list[PublicationRequest]:
    requests: list[PublicationRequest] = []

    def add(recipient: str, ccc: str | None, *, special: bool = False, minute: int) -> None:
        reference = f"RED50-{len(requests):04d}"
        requests.append(PublicationRequest(
            issuer=("TGSS", "ISM")[len(requests) % 2] if not special else "INSS",
            issuer_reference=reference, kind="NOTIFICATION",
            procedure="Liquidación de cuotas", subject=f"Asunto {reference}",
            recipient=recipient, ccc=ccc, category="SPECIAL" if special else "NORMAL",
            documents=(DocumentInput(f"{reference}.pdf", "application/pdf",
                                     f"%PDF-1.7 {reference} para {recipient}\n".encode() * 3),),
            # Every third pair of items shares an instant: the keyset order falls back to ids.
            made_available_at=now - timedelta(hours=5) + timedelta(minutes=minute // 2)))

    minute = 0
    for index, company in enumerate(companies(pki)):
        for _ in range(ASSIGNED_NORMAL):
            add(company, assigned_ccc(index), minute=minute)
            minute += 1
        add(company, assigned_ccc(index), special=True, minute=minute)
        add(company, unassigned_ccc(index), minute=minute + 1)
        minute += 2
    add(pki.red_agent_cif, None, minute=0)  # the agent's own
    add(pki.red_agent_cif, None, minute=minute)
    return requests


@pytest.fixture(scope="module")
def red(start_gateway: Callable[[Any], AbstractContextManager[RunningGateway]]
        ) -> Iterator[RunningGateway]:
    with start_gateway(seed_requests) as running:
        yield running


def all_pages(client: zeep.Client) -> tuple[list[Any], int]:
    items: list[Any] = []
    pages = 0
    cursor = None
    while True:
        page = client.service.ListNotifications(pageSize=PAGE_SIZE, cursor=cursor)
        pages += 1
        assert page.count == len(page.item) <= PAGE_SIZE
        items += page.item
        cursor = page.nextCursor
        if not cursor:
            return items, pages
        assert pages < 100


def sign(gateway: RunningGateway, document: bytes) -> bytes:
    credential = gateway.pki.client("red_agent")
    return sign_xades_enveloped(document, credential.private_key(), credential.certificate(),
                                clock=SystemClock())


def audit_since(gateway: RunningGateway, seq: int) -> list[tuple[str, str, dict[str, Any]]]:
    with gateway.engine.connect() as connection:
        rows = connection.execute(
            select(AuditEventRow.event_type, AuditEventRow.subject, AuditEventRow.details)
            .where(AuditEventRow.seq > seq).order_by(AuditEventRow.seq)).all()
    return [(row[0], row[1], json.loads(row[2])) for row in rows]


def last_seq(gateway: RunningGateway) -> int:
    with gateway.engine.connect() as connection:
        return int(connection.execute(
            select(AuditEventRow.seq).order_by(AuditEventRow.seq.desc()).limit(1)).scalar() or 0)


def test_a_red_agent_for_fifty_companies_pages_accepts_and_loses_an_unassigned_company(
    red: RunningGateway, gw_code: Any
) -> None:
    pki, seed = red.pki, red.seed
    names = companies(pki)
    demo_company = names[0]
    assert demo_company == "B12345674"
    agent, company = red.client("red_agent"), red.client("company")

    # The demo company assigns its account over SOAP; the RED system's assignments of the 49
    # others are recorded in the store directly (those companies have no certificate here).
    assignment = company.service.AssignReception(ccc=assigned_ccc(0), agent=pki.red_agent_cif)
    assert (assignment.company, assignment.agent) == (demo_company, pki.red_agent_cif)
    with SqlUnitOfWork(session_factory(red.engine)) as uow:
        for index, name in enumerate(names[1:], start=1):
            uow.representation.assign(assigned_ccc(index), name, pki.red_agent_cif,
                                      datetime.now(UTC) - timedelta(seconds=1))
        uow.commit()

    principals = {p.identifier: (p.role, list(p.ccc or [])) for p in agent.service.ListPrincipals()}
    assert principals == {pki.red_agent_cif: ("OWN", []),
                          **{name: ("RED", [assigned_ccc(index)])
                             for index, name in enumerate(names)}}

    # 1. Every page, in (madeAvailableAt, id) order, exactly the normal items of the assigned
    # accounts plus the agent's own; never a special-category or an unassigned account's item.
    visible = {item.id: item for item in seed.items
               if item.recipient == pki.red_agent_cif
               or (item.ccc == assigned_ccc(names.index(item.recipient))
                   and item.category == "NORMAL")}
    assert len(visible) == COMPANIES * ASSIGNED_NORMAL + 2
    listed, pages = all_pages(agent)
    assert pages == 6
    assert [item.id for item in listed] == sorted(
        visible, key=lambda i: (visible[i].made_available_at, i))
    assert {(item.role, item.category) for item in listed} == {("RED", "NORMAL"),
                                                               ("OWN", "NORMAL")}
    assert {item.id for item in listed if item.role == "OWN"} == {
        item.id for item in seed.of(pki.red_agent_cif)}
    assert {item.recipient for item in listed if item.role == "RED"} == set(names)
    special = [item for item in seed.items if item.category == "SPECIAL"]
    assert len(special) == COMPANIES
    for item in (special[0], special[-1]):
        with pytest.raises(zeep.exceptions.Fault) as refused:
            agent.service.GetNotification(id=item.id)
        assert gw_code(refused.value) == "NOT_FOUND"

    # 2. One acknowledgement for items of twelve companies, the demo company's among them.
    by_company = {name: sorted(i for i in visible if visible[i].recipient == name)
                  for name in names}
    batch = [i for name in names[:BATCH_COMPANIES] for i in by_company[name][:2]]
    assert len({visible[i].recipient for i in batch}) == BATCH_COMPANIES >= 10
    prepared = agent.service.PrepareReceipt(id=batch, decision="ACCEPT")
    receipt = agent.service.SubmitReceipt(signedReceipt=sign(red, prepared.receipt))
    assert outcomes_of(receipt) == dict.fromkeys(batch, "ACCEPTED")
    assert receipt.decision == "ACCEPT" and receipt.registrationNumber
    # One receipt per company, each listing only that company's items, numbered in a row.
    receipt_of = {r.recipient: r for r in receipts_of(receipt)}
    assert len(receipt_of) == len(receipts_of(receipt)) == BATCH_COMPANIES
    for name, part in receipt_of.items():
        assert sorted(o.notificationId for o in part.item) == by_company[name][:2]
    sequences = [int(r.registrationNumber[5:]) for r in receipts_of(receipt)]
    assert sequences == list(range(sequences[0], sequences[0] + BATCH_COMPANIES))
    receipt = receipt_of[demo_company]
    for item_id in batch[::5]:
        content = agent.service.GetContent(id=item_id)
        assert content.data == seed.by_id(item_id).content
        assert content.document.sha256 == hashlib.sha256(content.data).hexdigest()
        assert content.status == "ACCEPTED"

    # The demo company's accepted and still-pending items; an acknowledgement for two pending
    # ones (and one of another company) prepared before the unassignment.
    kept = by_company[demo_company][:2]
    pending = by_company[demo_company][2:]
    other_pending = by_company[names[20]][0]
    assert len(pending) == 2
    stale = agent.service.PrepareReceipt(id=[*pending, other_pending], decision="ACCEPT")

    # 3. The company ends the assignment: effective at once.
    seq = last_seq(red)
    assert company.service.UnassignReception(ccc=assigned_ccc(0)) == 1

    for item_id in pending:
        with pytest.raises(zeep.exceptions.Fault) as refused:
            agent.service.GetNotification(id=item_id)
        assert gw_code(refused.value) == "NOT_FOUND"
        with pytest.raises(zeep.exceptions.Fault) as refused:
            agent.service.GetContent(id=item_id)
        assert gw_code(refused.value) == "NOT_FOUND"
    with pytest.raises(zeep.exceptions.Fault) as refused:
        agent.service.PrepareReceipt(id=pending, decision="REJECT")
    assert gw_code(refused.value) == "NOT_FOUND"
    late = agent.service.SubmitReceipt(signedReceipt=sign(red, stale.receipt))
    assert outcomes_of(late) == {
        pending[0]: "NOT_AUTHORISED", pending[1]: "NOT_AUTHORISED", other_pending: "ACCEPTED"}
    assert late.registrationNumber != receipt.registrationNumber
    # The company still has them pending, and handles them itself.
    assert {company.service.GetNotification(id=i).status for i in pending} == {"AVAILABLE"}

    events = audit_since(red, seq)
    assert events[0][0] == "reception.unassigned"
    assert events[0][1] == assigned_ccc(0)
    assert events[0][2]["company"] == demo_company
    assert events[0][2]["agent"] == pki.red_agent_cif
    # Every refusal is audited with the decision's reason: per item for reads, per batch
    # (listing each item) for acknowledgements.
    refusals = set()
    for event, subject, details in events:
        if event == "access.refused":
            for refused_item in details.get("items") or [details]:
                refusals.add((subject, details["action"],
                              int(refused_item.get("id", subject)), refused_item["reason"]))
    assert refusals == {
        *((str(i), action, i, "RED_UNASSIGNED") for i in pending
          for action in ("notifications.read", "notifications.content")),
        *(("receipt.prepare", "notifications.sign", i, "RED_UNASSIGNED") for i in pending),
        *(("receipt.submit", "notifications.sign", i, "RED_UNASSIGNED") for i in pending),
    }

    # What it accepted stays its own: receipt, metadata, content, listing with role RED.
    for item_id in kept:
        shown = agent.service.GetNotification(id=item_id)
        assert (shown.status, shown.role) == ("ACCEPTED", "RED")
        by_item = agent.service.GetReceipt(notificationId=item_id)
        assert by_item.registrationNumber == receipt.registrationNumber
        assert agent.service.GetContent(id=item_id).data == seed.by_id(item_id).content
    by_number = agent.service.GetReceipt(registrationNumber=receipt.registrationNumber)
    assert by_number.csvCode == receipt.csvCode
    assert sorted(o.notificationId for o in by_number.item) == kept
    assert company.service.GetReceipt(notificationId=kept[0]).registrationNumber == \
        receipt.registrationNumber
    # The company reads its own receipt of the agent's batch, never another company's.
    for name, part in receipt_of.items():
        if name == demo_company:
            continue
        with pytest.raises(zeep.exceptions.Fault) as refused:
            company.service.GetReceipt(registrationNumber=part.registrationNumber)
        assert gw_code(refused.value) == "RECEIPT_NOT_FOUND"

    after, _ = all_pages(agent)
    expected_after = set(visible) - set(pending)
    assert {item.id for item in after} == expected_after
    assert {item.id: item.role for item in after if item.recipient == demo_company} == \
        dict.fromkeys(kept, "RED")
    principals = {p.identifier for p in agent.service.ListPrincipals()}
    assert demo_company not in principals and len(principals) == COMPANIES  # 49 RED + OWN

    # The company sees all of its items itself, with the agent's acts on them.
    own = {item.id: item.status
           for item in company.service.ListNotifications(pageSize=1000).item}
    assert {own[i] for i in kept} == {"ACCEPTED"}
    assert {own[i] for i in pending} == {"AVAILABLE"}
    assert len(own) == 6
