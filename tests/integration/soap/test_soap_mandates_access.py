"""Mandates and entity access management on the real server (issue 6, scopes 1, 3, 4 and 5).

A gateway of its own (PostgreSQL, two gunicorn workers): the tests record and revoke mandates
in its database through the registry, exactly as ``gateway mandates …`` does, and drive
everything else over SOAP with zeep. Each test works on recipients of its own, so the order the
tests run in does not matter.

- A mandate lets the grantee (the ``person`` certificate) see the grantor's notifications with
  role MANDATE, within its issuers and CCCs, special-category items only with the flag (the
  others do not exist for it: NOT_FOUND); sign them only with ``notifications.sign`` and read
  their content only with ``notifications.content``; once revoked, nothing, at once.
- ``postal.manage`` lets the grantee consult and change the grantor's postal channel.
- ``ListMandates`` shows the grantor the mandates it gave and the grantee those it holds.
- Access management: the company's representative certificate (main access manager) names the
  person an access manager; the person grants rights on the company's notifications (to
  itself: the demo PKI has one usable person certificate); the grantee's first authenticated
  call activates the invitation; revoked, it is gone. Refusals are audited with the reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from receipt_answers import outcomes_of
from sqlalchemy import select

from gateway.config import Settings
from gateway.domain.clock import OFFICIAL_TIMEZONE, SystemClock
from gateway.domain.identifiers import make_ccc, make_cif
from gateway.domain.rights import Mandate
from gateway.pki import DemoPki
from gateway.services.mandates import MandateRegistry, new_mandate
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.signatures import sign_xades_enveloped
from gateway.store.engine import session_factory
from gateway.store.models import AuditEventRow
from gateway.store.unit_of_work import SqlUnitOfWork

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

# Recipients without certificates: they only give mandates. One per test.
SCOPED_GRANTOR = make_cif("B", 7_100_001)  # issuer/CCC/special restrictions
SIGNING_GRANTOR = make_cif("B", 7_100_002)  # sign and content scopes
POSTAL_GRANTOR = make_cif("B", 7_100_003)  # postal.manage
LISTED_GRANTOR = make_cif("B", 7_100_004)  # ListMandates
CCC_1 = make_ccc(28, 7_100_001)
CCC_2 = make_ccc(8, 7_100_002)
CCC_COMPANY_1 = make_ccc(28, 7_200_001)  # the demo company's accounts (access grants)
CCC_COMPANY_2 = make_ccc(41, 7_200_002)
ISSUERS = ("TGSS", "INSS", "ISM")
ADDRESS = {"addressLine": "Calle de Alcalá 50", "postalCode": "28014",
           "municipality": "Madrid", "province": "Madrid", "country": "ES"}


def seed_requests(pki: DemoPki, now: datetime) -> list[PublicationRequest]:
    requests: list[PublicationRequest] = []

    def add(recipient: str, *, issuer: str = "TGSS", ccc: str | None = None,
            special: bool = False, minutes: int) -> None:
        reference = f"MA-{len(requests):04d}"
        requests.append(PublicationRequest(
            issuer=issuer, issuer_reference=reference, kind="NOTIFICATION",
            procedure="Procedimiento de prueba", subject=f"Asunto {reference}",
            recipient=recipient, ccc=ccc, category="SPECIAL" if special else "NORMAL",
            documents=(DocumentInput(f"{reference}.txt", "text/plain",
                                     f"Documento {reference} para {recipient}\n".encode()),),
            made_available_at=now - timedelta(hours=3) + timedelta(minutes=minutes)))

    minute = 0
    for issuer in ISSUERS:  # every issuer x (CCC_1, CCC_2, none), and a special item on CCC_1
        for ccc in (CCC_1, CCC_2, None):
            add(SCOPED_GRANTOR, issuer=issuer, ccc=ccc, minutes=minute)
            minute += 1
        add(SCOPED_GRANTOR, issuer=issuer, ccc=CCC_1, special=True, minutes=minute)
        minute += 1
    for index in range(6):
        add(SIGNING_GRANTOR, minutes=index)
    add(POSTAL_GRANTOR, minutes=0)
    add(LISTED_GRANTOR, minutes=0)
    for ccc in (CCC_COMPANY_1, CCC_COMPANY_1, CCC_COMPANY_2, None):
        add(pki.company_cif, ccc=ccc, minutes=minute)
        minute += 1
    add(pki.company_cif, ccc=CCC_COMPANY_1, special=True, minutes=minute)
    add(pki.person_nif, minutes=0)  # the grantee's own
    return requests


@pytest.fixture(scope="module")
def served(start_gateway: Callable[[Any], AbstractContextManager[RunningGateway]]
           ) -> Iterator[RunningGateway]:
    with start_gateway(seed_requests) as running:
        yield running


# --- helpers ------------------------------------------------------------------------------------


def registry(gateway: RunningGateway) -> MandateRegistry:
    """The registry the ``gateway mandates`` commands use, on the server's own database."""
    start = Settings().mandate_registry_start
    assert start is not None
    registry_start = datetime.combine(start, time(0), tzinfo=OFFICIAL_TIMEZONE)
    sessions = session_factory(gateway.engine)
    return MandateRegistry(lambda: SqlUnitOfWork(sessions, registry_start), SystemClock(),
                           registry_start)


def give(gateway: RunningGateway, grantor: str, grantee: str, *scopes: str, **options: Any
         ) -> Mandate:
    return registry(gateway).add(new_mandate(
        grantor, grantee, scopes, datetime.now(UTC) - timedelta(minutes=1), **options))


def revoke(gateway: RunningGateway, mandate: Mandate) -> None:
    assert mandate.id is not None
    registry(gateway).revoke(mandate.id)


def listed(client: zeep.Client, page_size: int = 7, **filters: Any) -> list[Any]:
    """Every item, page by page (a small page size: the cursor is exercised too)."""
    items: list[Any] = []
    cursor = None
    while True:
        page = client.service.ListNotifications(pageSize=page_size, cursor=cursor, **filters)
        assert page.count == len(page.item)
        items += page.item
        cursor = page.nextCursor
        if not cursor:
            return items


def of(items: list[Any], recipient: str) -> dict[int, str]:
    return {item.id: item.role for item in items if item.recipient == recipient}


def seeded(gateway: RunningGateway, recipient: str, **match: Any) -> list[int]:
    return sorted(item.id for item in gateway.seed.of(recipient)
                  if all(getattr(item, key) == value for key, value in match.items()))


def acting_for(client: zeep.Client) -> dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    return {p.identifier: (p.role, tuple(p.scope or ()), tuple(p.ccc or ()))
            for p in client.service.ListPrincipals() or []}


def not_found(client: zeep.Client, gw_code: Any, item_id: int) -> None:
    with pytest.raises(zeep.exceptions.Fault) as refused:
        client.service.GetNotification(id=item_id)
    assert gw_code(refused.value) == "NOT_FOUND"


def not_authorised(gw_code: Any, call: Callable[[], Any]) -> None:
    with pytest.raises(zeep.exceptions.Fault) as refused:
        call()
    assert refused.value.code.endswith("Client.Authorization")
    assert gw_code(refused.value) == "NOT_AUTHORISED"


def sign(gateway: RunningGateway, name: str, document: bytes) -> bytes:
    credential = gateway.pki.client(name)
    return sign_xades_enveloped(document, credential.private_key(), credential.certificate(),
                                clock=SystemClock())


def last_audit_seq(gateway: RunningGateway) -> int:
    with gateway.engine.connect() as connection:
        return int(connection.execute(
            select(AuditEventRow.seq).order_by(AuditEventRow.seq.desc()).limit(1)).scalar() or 0)


def refusals_since(gateway: RunningGateway, seq: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(actor, subject, details) of the ``access.refused`` events after ``seq``."""
    with gateway.engine.connect() as connection:
        rows = connection.execute(
            select(AuditEventRow.actor, AuditEventRow.subject, AuditEventRow.details)
            .where(AuditEventRow.seq > seq, AuditEventRow.event_type == "access.refused")
            .order_by(AuditEventRow.seq)).all()
    return [(row[0], row[1], json.loads(row[2])) for row in rows]


# --- mandates -----------------------------------------------------------------------------------


def test_a_mandate_shows_exactly_its_scope_and_revocation_ends_it_at_once(
    served: RunningGateway, gw_code: Any
) -> None:
    person = served.client("person")
    items = {item.id: item for item in served.seed.of(SCOPED_GRANTOR)}
    assert of(listed(person), SCOPED_GRANTOR) == {}
    assert SCOPED_GRANTOR not in acting_for(person)

    restricted = give(served, SCOPED_GRANTOR, served.pki.person_nif, "notifications.read",
                      "notifications.sign", issuers=["TGSS", "ISM"], cccs=[CCC_1])
    in_scope = sorted(i for i, item in items.items() if item.issuer in ("TGSS", "ISM")
                      and item.ccc == CCC_1 and item.category == "NORMAL")
    assert len(in_scope) == 2
    seen = listed(person)
    assert of(seen, SCOPED_GRANTOR) == dict.fromkeys(in_scope, "MANDATE")
    assert of(seen, served.pki.person_nif) == dict.fromkeys(
        seeded(served, served.pki.person_nif), "OWN")
    assert acting_for(person)[SCOPED_GRANTOR] == (
        "MANDATE", ("notifications.read", "notifications.sign"), (CCC_1,))
    assert person.service.GetNotification(id=in_scope[0]).role == "MANDATE"
    # The role filter and the principal filter select the mandate's items.
    assert sorted(i.id for i in listed(person, role="MANDATE")) == in_scope
    assert sorted(i.id for i in listed(person, principal=SCOPED_GRANTOR)) == in_scope

    # Everything else of the grantor does not exist for the grantee, special items included;
    # each refusal is audited with the decision's reason.
    seq = last_audit_seq(served)
    hidden = sorted(set(items) - set(in_scope))
    for item_id in hidden:
        not_found(person, gw_code, item_id)
    reasons = {int(subject): details["reason"]
               for _, subject, details in refusals_since(served, seq)}
    assert reasons == {
        i: "ISSUER_NOT_COVERED" if items[i].issuer == "INSS"
        else "CCC_NOT_COVERED" if items[i].ccc != CCC_1 else "SPECIAL_CATEGORY"
        for i in hidden}

    # Signing reaches as far as reading: in scope ACCEPTED; out of scope not even nameable.
    for outside in (next(i for i in hidden if items[i].issuer == "INSS"),
                    next(i for i in hidden if items[i].category == "SPECIAL"
                         and items[i].issuer == "TGSS")):
        with pytest.raises(zeep.exceptions.Fault) as refused:
            person.service.PrepareReceipt(id=[in_scope[1], outside], decision="ACCEPT")
        assert gw_code(refused.value) == "NOT_FOUND"
    prepared = person.service.PrepareReceipt(id=[in_scope[0]], decision="ACCEPT")
    receipt = person.service.SubmitReceipt(signedReceipt=sign(served, "person", prepared.receipt))
    assert outcomes_of(receipt) == {in_scope[0]: "ACCEPTED"}
    assert person.service.GetNotification(id=in_scope[0]).status == "ACCEPTED"

    # A second, unrestricted mandate with the special-category flag shows everything.
    special = give(served, SCOPED_GRANTOR, served.pki.person_nif, "notifications.read",
                   special_category=True)
    assert of(listed(person), SCOPED_GRANTOR) == dict.fromkeys(items, "MANDATE")
    special_ids = [i for i, item in items.items() if item.category == "SPECIAL"]
    assert len(special_ids) == 3
    for item_id in special_ids:
        shown = person.service.GetNotification(id=item_id)
        assert (shown.category, shown.role) == ("SPECIAL", "MANDATE")

    revoke(served, special)
    assert of(listed(person), SCOPED_GRANTOR) == dict.fromkeys(in_scope, "MANDATE")
    not_found(person, gw_code, special_ids[0])
    revoke(served, restricted)
    assert of(listed(person), SCOPED_GRANTOR) == {}
    assert listed(person, principal=SCOPED_GRANTOR) == []
    not_found(person, gw_code, in_scope[0])
    assert SCOPED_GRANTOR not in acting_for(person)
    with pytest.raises(zeep.exceptions.Fault) as refused:
        person.service.PrepareReceipt(id=[in_scope[1]], decision="ACCEPT")
    assert gw_code(refused.value) == "NOT_FOUND"


def test_signing_and_content_need_their_own_scopes(served: RunningGateway, gw_code: Any
                                                   ) -> None:
    person = served.client("person")
    ids = seeded(served, SIGNING_GRANTOR)
    contents = {item.id: item.content for item in served.seed.of(SIGNING_GRANTOR)}
    reader = give(served, SIGNING_GRANTOR, served.pki.person_nif, "notifications.read")
    assert sorted(of(listed(person), SIGNING_GRANTOR)) == ids

    # Read only: the items cannot be named in an acknowledgement (as if they did not exist).
    with pytest.raises(zeep.exceptions.Fault) as refused:
        person.service.PrepareReceipt(id=ids[:2], decision="ACCEPT")
    assert gw_code(refused.value) == "NOT_FOUND"

    signer = give(served, SIGNING_GRANTOR, served.pki.person_nif, "notifications.sign")
    prepared = person.service.PrepareReceipt(id=ids[:2], decision="ACCEPT")
    receipt = person.service.SubmitReceipt(
        signedReceipt=sign(served, "person", prepared.receipt))
    assert set(outcomes_of(receipt).items()) == {
        (ids[0], "ACCEPTED"), (ids[1], "ACCEPTED")}
    accepted = person.service.GetNotification(id=ids[0])
    assert (accepted.status, accepted.role) == ("ACCEPTED", "MANDATE")
    assert person.service.GetReceipt(notificationId=ids[0]).registrationNumber == \
        receipt.registrationNumber

    # Accepted, but the content needs notifications.content: it may see the item, so it is told
    # what its right lacks (NOT_AUTHORISED with the reason), not that the item does not exist.
    seq = last_audit_seq(served)
    with pytest.raises(zeep.exceptions.Fault) as refused:
        person.service.GetContent(id=ids[0])
    assert gw_code(refused.value) == "NOT_AUTHORISED"
    assert "SCOPE_MISSING" in refused.value.message
    assert [details for _, _, details in refusals_since(served, seq)] == [
        {"action": "notifications.content", "reason": "SCOPE_MISSING"}]
    batch = person.service.GetContents(id=[ids[0]])
    assert [(r.notificationId, r.code) for r in batch.refused] == [(ids[0], "NOT_AUTHORISED")]
    content = give(served, SIGNING_GRANTOR, served.pki.person_nif, "notifications.content")
    released = person.service.GetContent(id=ids[0])
    assert released.data == contents[ids[0]]
    assert released.document.sha256 == hashlib.sha256(contents[ids[0]]).hexdigest()
    with pytest.raises(zeep.exceptions.Fault) as refused:
        person.service.GetContent(id=ids[2])  # still pending: no content before acceptance
    assert gw_code(refused.value) == "NOT_ACCEPTED"

    # Prepared while allowed, submitted after the signing mandate was revoked: NOT_AUTHORISED.
    prepared = person.service.PrepareReceipt(id=ids[2:4], decision="REJECT")
    revoke(served, signer)
    late = person.service.SubmitReceipt(signedReceipt=sign(served, "person", prepared.receipt))
    assert set(outcomes_of(late).items()) == {
        (ids[2], "NOT_AUTHORISED"), (ids[3], "NOT_AUTHORISED")}
    assert {person.service.GetNotification(id=i).status for i in ids[2:4]} == {"AVAILABLE"}
    with pytest.raises(zeep.exceptions.Fault) as refused:
        person.service.PrepareReceipt(id=ids[2:4], decision="ACCEPT")
    assert gw_code(refused.value) == "NOT_FOUND"

    for mandate in (reader, content):
        revoke(served, mandate)
    assert of(listed(person), SIGNING_GRANTOR) == {}
    for item_id in (ids[0], ids[2]):
        not_found(person, gw_code, item_id)


def test_postal_manage_lets_the_grantee_manage_the_grantors_postal_channel(
    served: RunningGateway, gw_code: Any
) -> None:
    pki = served.pki
    person, agent = served.client("person"), served.client("red_agent")
    seq = last_audit_seq(served)
    not_authorised(gw_code, lambda: person.service.GetPostalChannel(recipient=POSTAL_GRANTOR))
    # A CCC-restricted mandate does not cover acts on the whole recipient.
    restricted = give(served, POSTAL_GRANTOR, pki.person_nif, "postal.manage", cccs=[CCC_1])
    not_authorised(gw_code, lambda: person.service.SetPostalChannel(
        recipient=POSTAL_GRANTOR, mode="PAPER_COPY", address=ADDRESS))
    # A mandate without the scope does not either.
    reader = give(served, POSTAL_GRANTOR, pki.red_agent_cif, "notifications.read")
    not_authorised(gw_code, lambda: agent.service.GetPostalChannel(recipient=POSTAL_GRANTOR))
    assert [(actor, subject, details["action"], details["reason"])
            for actor, subject, details in refusals_since(served, seq)] == [
        (pki.person_nif, POSTAL_GRANTOR, "postal.manage", "NO_RELATION"),
        (pki.person_nif, POSTAL_GRANTOR, "postal.manage", "CCC_NOT_COVERED"),
        (pki.red_agent_cif, POSTAL_GRANTOR, "postal.manage", "SCOPE_MISSING"),
    ]

    postal = give(served, POSTAL_GRANTOR, pki.person_nif, "postal.manage")
    before = person.service.GetPostalChannel(recipient=POSTAL_GRANTOR)
    assert (before.recipient, before.mode, before.address) == (
        POSTAL_GRANTOR, "ELECTRONIC_ONLY", None)
    changed = person.service.SetPostalChannel(recipient=POSTAL_GRANTOR, mode="PAPER_COPY",
                                              address=ADDRESS)
    assert (changed.recipient, changed.mode) == (POSTAL_GRANTOR, "PAPER_COPY")
    shown = person.service.GetPostalChannel(recipient=POSTAL_GRANTOR)
    assert shown.mode == "PAPER_COPY"
    assert {key: getattr(shown.address, key) for key in ADDRESS} == ADDRESS
    own = person.service.GetPostalChannel()  # the grantee's own channel is untouched
    assert (own.recipient, own.mode, own.address) == (pki.person_nif, "ELECTRONIC_ONLY", None)

    revoke(served, postal)
    seq = last_audit_seq(served)
    not_authorised(gw_code, lambda: person.service.GetPostalChannel(recipient=POSTAL_GRANTOR))
    revoke(served, restricted)
    not_authorised(gw_code, lambda: person.service.SetPostalChannel(
        recipient=POSTAL_GRANTOR, mode="ELECTRONIC_ONLY"))
    # The first specific reason met, in the order the mandates were given.
    assert [details["reason"] for _, _, details in refusals_since(served, seq)] == [
        "CCC_NOT_COVERED", "MANDATE_REVOKED"]
    revoke(served, reader)
    assert served.client("person").service.GetPostalChannel().recipient == pki.person_nif


def test_list_mandates_shows_the_grantor_what_it_gave_and_the_grantee_what_it_holds(
    served: RunningGateway
) -> None:
    pki = served.pki
    from_company = give(served, pki.company_cif, pki.red_agent_cif, "postal.manage")
    from_person = give(served, pki.person_nif, pki.red_agent_cif, "notifications.read",
                       "notifications.content", issuers=["INSS"], special_category=True,
                       valid_to=datetime.now(UTC) + timedelta(days=30))
    to_person = give(served, LISTED_GRANTOR, pki.person_nif, "notifications.read",
                     cccs=[CCC_2])
    revoke(served, to_person)

    def mandates(name: str) -> dict[int, Any]:
        return {m.id: m for m in served.client(name).service.ListMandates() or []}

    company, representative = mandates("company"), mandates("representative")
    assert set(company) == set(representative) == {from_company.id}
    agent = mandates("red_agent")
    assert {from_company.id, from_person.id} <= set(agent)
    assert all(m.grantee == pki.red_agent_cif for m in agent.values())
    person = mandates("person")
    assert {from_person.id, to_person.id} <= set(person)
    assert all(pki.person_nif in (m.grantor, m.grantee) for m in person.values())
    assert from_company.id not in person

    shown = agent[from_person.id]
    assert (shown.grantor, shown.grantee) == (pki.person_nif, pki.red_agent_cif)
    assert list(shown.scope) == ["notifications.content", "notifications.read"]
    assert list(shown.issuer) == ["INSS"] and list(shown.ccc or []) == []
    assert shown.specialCategory is True and shown.revokedAt is None
    assert shown.validTo is not None
    revoked = person[to_person.id]
    assert (revoked.grantor, revoked.grantee) == (LISTED_GRANTOR, pki.person_nif)
    assert list(revoked.ccc) == [CCC_2] and revoked.revokedAt is not None
    assert agent[from_company.id].validFrom == from_company.valid_from.replace(microsecond=0) \
        or agent[from_company.id].validFrom == from_company.valid_from

    # What the mandates do: the agent sees the person's items (read), not the company's.
    agent_items = listed(served.client("red_agent"))
    assert of(agent_items, pki.person_nif) == {}  # issuer-restricted to INSS: none seeded
    assert of(agent_items, pki.company_cif) == {}  # postal.manage only
    for mandate in (from_company, from_person):
        revoke(served, mandate)


# --- entity access management -------------------------------------------------------------------


def test_access_managers_grant_and_revoke_rights_on_the_entitys_notifications(
    served: RunningGateway, gw_code: Any
) -> None:
    pki = served.pki
    representative, person = served.client("representative"), served.client("person")
    company_items = {item.id: item for item in served.seed.of(pki.company_cif)}
    granted = sorted(i for i, item in company_items.items()
                     if item.ccc == CCC_COMPANY_1 and item.category == "NORMAL")
    special = next(i for i, item in company_items.items() if item.category == "SPECIAL")
    assert len(granted) == 2

    # Not (yet) an access manager: refused, and audited with the reason.
    seq = last_audit_seq(served)
    not_authorised(gw_code, lambda: person.service.GrantAccess(
        entity=pki.company_cif, grantee=pki.person_nif, scope=["notifications.read"]))
    not_authorised(gw_code, lambda: person.service.ListAccessGrants(entity=pki.company_cif))
    # Only the representative certificate is the main access manager, not the entity's seal.
    not_authorised(gw_code, lambda: served.client("company").service.NameAccessManager(
        person=pki.person_nif))
    assert refusals_since(served, seq) == [
        (pki.person_nif, pki.company_cif, {"action": "access.grant", "reason": "NOT_ACCESS_MANAGER"}),
        (pki.person_nif, pki.company_cif, {"action": "access.grant", "reason": "NOT_ACCESS_MANAGER"}),
        (pki.company_cif, pki.company_cif,
         {"action": "access.managers", "reason": "NOT_MAIN_ACCESS_MANAGER"}),
    ]
    assert not representative.service.ListAccessGrants()

    manager = representative.service.NameAccessManager(person=pki.person_nif)
    assert (manager.entity, manager.person, manager.namedBy) == (
        pki.company_cif, pki.person_nif, pki.representative_nif)
    assert manager.revokedAt is None
    assert [m.person for m in representative.service.ListAccessManagers()] == [pki.person_nif]
    assert [m.id for m in person.service.ListAccessManagers(entity=pki.company_cif)] == [
        manager.id]
    # A manager grants; it does not name other managers.
    not_authorised(gw_code, lambda: person.service.NameAccessManager(
        entity=pki.company_cif, person=pki.representative_nif))

    grant = person.service.GrantAccess(
        entity=pki.company_cif, grantee=pki.person_nif,
        scope=["notifications.read", "notifications.sign"], ccc=[CCC_COMPANY_1])
    assert (grant.entity, grant.grantee, grant.grantedBy, grant.state) == (
        pki.company_cif, pki.person_nif, pki.person_nif, "INVITATION_PENDING")
    assert list(grant.ccc) == [CCC_COMPANY_1] and grant.activatedAt is None
    assert grant.invitationExpiresAt - grant.invitedAt == timedelta(hours=24)
    # The representative's calls do not activate the person's invitation.
    (pending,) = representative.service.ListAccessGrants()
    assert (pending.id, pending.state) == (grant.id, "INVITATION_PENDING")

    # The grantee's next authenticated call (whatever it is) activates it.
    assert acting_for(person)[pki.company_cif] == (
        "GRANT", ("notifications.read", "notifications.sign"), (CCC_COMPANY_1,))
    (active,) = representative.service.ListAccessGrants()
    assert active.state == "ACTIVE" and active.activatedAt is not None
    assert of(listed(person), pki.company_cif) == dict.fromkeys(granted, "GRANT")
    assert person.service.GetNotification(id=granted[0]).role == "GRANT"
    for hidden in set(company_items) - set(granted):
        not_found(person, gw_code, hidden)
    not_found(person, gw_code, special)

    # The grant's scopes: sign, but no content.
    prepared = person.service.PrepareReceipt(id=[granted[0]], decision="ACCEPT")
    receipt = person.service.SubmitReceipt(signedReceipt=sign(served, "person", prepared.receipt))
    assert outcomes_of(receipt) == {granted[0]: "ACCEPTED"}
    with pytest.raises(zeep.exceptions.Fault) as refused:
        person.service.GetContent(id=granted[0])
    assert gw_code(refused.value) == "NOT_AUTHORISED"
    assert representative.service.GetNotification(id=granted[0]).status == "ACCEPTED"

    revoked = person.service.RevokeAccess(grantId=grant.id)
    assert revoked.state == "GRANT_REVOKED" and revoked.revokedAt is not None
    assert of(listed(person), pki.company_cif) == {}
    not_found(person, gw_code, granted[1])
    assert pki.company_cif not in acting_for(person)
    assert [(g.id, g.state) for g in representative.service.ListAccessGrants()] == [
        (grant.id, "GRANT_REVOKED")]

    # Removed, the person is no longer a manager.
    assert representative.service.RemoveAccessManager(person=pki.person_nif) == 1
    seq = last_audit_seq(served)
    not_authorised(gw_code, lambda: person.service.GrantAccess(
        entity=pki.company_cif, grantee=pki.person_nif, scope=["notifications.read"]))
    assert refusals_since(served, seq) == [
        (pki.person_nif, pki.company_cif,
         {"action": "access.grant", "reason": "NOT_ACCESS_MANAGER"})]
    (removed,) = representative.service.ListAccessManagers()
    assert removed.revokedAt is not None
