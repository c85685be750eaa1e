"""Who receives a receipt, on the real server (issue 20 acceptance).

A gateway of its own (PostgreSQL, gunicorn), the registry changed as ``gateway mandates`` does,
everything else over SOAP with zeep. The rule: a reader receives a receipt (by number, by one
of its notifications, as XML or as the PDF justificante) only if it signed it or may see every
item listed on it; anyone else is told RECEIPT_NOT_FOUND with the same text as for a number that
does not exist. SubmitReceipt issues one receipt per recipient, special-category items apart, so
every party still gets its proof.

Each test works on items of its own (by reference), so their order does not matter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from lxml import etree
from receipt_answers import outcomes_of, receipts_of

from gateway.config import Settings
from gateway.domain.clock import OFFICIAL_TIMEZONE, SystemClock
from gateway.domain.identifiers import make_ccc
from gateway.domain.rights import Mandate
from gateway.pki import DemoPki
from gateway.services.mandates import MandateRegistry, new_mandate
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.signatures import sign_xades_enveloped
from gateway.store.engine import session_factory
from gateway.store.unit_of_work import SqlUnitOfWork

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

CCC_A = make_ccc(28, 7_300_001)  # the company's account a RED agent is assigned
CCC_B = make_ccc(8, 7_300_002)
UNKNOWN_NUMBER = "2026/999999999"


def seed_requests(pki: DemoPki, now: datetime) -> list[PublicationRequest]:
    requests: list[PublicationRequest] = []

    def add(reference: str, *, ccc: str | None, issuer: str = "TGSS",
            special: bool = False, recipient: str | None = None) -> None:
        requests.append(PublicationRequest(
            issuer=issuer, issuer_reference=reference, kind="NOTIFICATION",
            procedure="Reclamación de deuda", subject=f"Asunto {reference}",
            recipient=recipient or pki.company_cif, ccc=ccc,
            category="SPECIAL" if special else "NORMAL",
            documents=(DocumentInput(f"{reference}.txt", "text/plain",
                                     f"Documento {reference}\n".encode()),),
            made_available_at=now - timedelta(hours=2, minutes=len(requests))))

    add("RED-ORDINARY", ccc=CCC_A)
    add("RED-SPECIAL", ccc=CCC_A, issuer="INSS", special=True)
    add("RED-OWN-ACT", ccc=CCC_A)
    add("RED-LATER", ccc=CCC_A)
    add("MANDATE-A-1", ccc=CCC_A)
    add("MANDATE-A-2", ccc=CCC_A, issuer="ISM")
    add("MANDATE-B-1", ccc=CCC_B)
    add("OTHER-COMPANY", ccc=CCC_B, recipient=pki.red_agent_cif)
    return requests


@pytest.fixture(scope="module")
def served(start_gateway: Callable[[Any], AbstractContextManager[RunningGateway]]
           ) -> Iterator[RunningGateway]:
    with start_gateway(seed_requests) as running:
        yield running


# --- helpers ------------------------------------------------------------------------------------


def item(gateway: RunningGateway, reference: str) -> int:
    return next(i.id for i in gateway.seed.items if i.issuer_reference == reference)


def sign(gateway: RunningGateway, name: str, document: bytes) -> bytes:
    credential = gateway.pki.client(name)
    return sign_xades_enveloped(document, credential.private_key(), credential.certificate(),
                                clock=SystemClock())


def acknowledge(gateway: RunningGateway, name: str, ids: list[int]) -> Any:
    client = gateway.client(name)
    prepared = client.service.PrepareReceipt(id=ids, decision="ACCEPT")
    answer = client.service.SubmitReceipt(signedReceipt=sign(gateway, name, prepared.receipt))
    assert outcomes_of(answer) == dict.fromkeys(ids, "ACCEPTED")
    return answer


def registry(gateway: RunningGateway) -> MandateRegistry:
    start = Settings().mandate_registry_start
    assert start is not None
    registry_start = datetime.combine(start, time(0), tzinfo=OFFICIAL_TIMEZONE)
    sessions = session_factory(gateway.engine)
    return MandateRegistry(lambda: SqlUnitOfWork(sessions, registry_start), SystemClock(),
                           registry_start)


def give(gateway: RunningGateway, grantor: str, grantee: str, *scopes: str,
         **options: Any) -> Mandate:
    return registry(gateway).add(new_mandate(
        grantor, grantee, scopes, datetime.now(UTC) - timedelta(minutes=1), **options))


def refusal_of(call: Callable[[], Any]) -> tuple[str | None, str]:
    with pytest.raises(zeep.exceptions.Fault) as refused:
        call()
    detail = refused.value.detail
    code = None if detail is None else detail.findtext(".//{*}code")
    return code, refused.value.message


def answered_as_unknown(client: zeep.Client, **key: Any) -> None:
    """Refused exactly as a registration number that was never issued."""
    unknown = refusal_of(lambda: client.service.GetReceipt(registrationNumber=UNKNOWN_NUMBER))
    assert unknown[0] == "RECEIPT_NOT_FOUND"
    assert refusal_of(lambda: client.service.GetReceipt(**key)) == unknown


def receives(client: zeep.Client, receipt: Any) -> None:
    by_number = client.service.GetReceipt(registrationNumber=receipt.registrationNumber)
    assert by_number.signedReceipt == receipt.signedReceipt
    for outcome in receipt.item:
        by_item = client.service.GetReceipt(notificationId=outcome.notificationId)
        assert by_item.registrationNumber == receipt.registrationNumber


# --- scenarios ----------------------------------------------------------------------------------


def test_company_and_red_agent_with_a_mixed_ordinary_and_special_acknowledgement(
    served: RunningGateway,
) -> None:
    gateway = served
    company, agent = gateway.client("company"), gateway.client("red_agent")
    company.service.AssignReception(ccc=CCC_A, agent=gateway.pki.red_agent_cif)
    ordinary, special = item(gateway, "RED-ORDINARY"), item(gateway, "RED-SPECIAL")

    answer = acknowledge(gateway, "company", [ordinary, special])

    # Two receipts of the company, consecutive numbers, the special item on its own.
    first, second = receipts_of(answer)
    assert [o.notificationId for o in first.item] == [ordinary]
    assert [o.notificationId for o in second.item] == [special]
    assert first.recipient == second.recipient == gateway.pki.company_cif
    assert first.clientAckDigest == second.clientAckDigest
    assert int(second.registrationNumber[5:]) == int(first.registrationNumber[5:]) + 1
    signed_items = etree.fromstring(first.signedReceipt).iterfind(
        "{urn:notess:gateway:receipt:v1}Item")
    assert [int(e.get("notificationId")) for e in signed_items] == [ordinary]

    # The company (recipient and signer) receives both; the agent the ordinary one only, as
    # XML and as the PDF justificante.
    receives(company, first)
    receives(company, second)
    receives(agent, first)
    pdf = agent.service.GetReceipt(registrationNumber=first.registrationNumber, format="PDF").pdf
    assert pdf.startswith(b"%PDF-")
    answered_as_unknown(agent, registrationNumber=second.registrationNumber)
    answered_as_unknown(agent, notificationId=special)
    answered_as_unknown(agent, registrationNumber=second.registrationNumber, format="PDF")


def test_a_mandate_restricted_to_one_ccc_or_issuer_and_then_revoked(
    served: RunningGateway,
) -> None:
    gateway = served
    person = gateway.client("person")
    a1, a2, b1 = (item(gateway, r) for r in ("MANDATE-A-1", "MANDATE-A-2", "MANDATE-B-1"))
    # One receipt over both accounts (one recipient, no special item), one over CCC_A only.
    (both,) = receipts_of(acknowledge(gateway, "company", [a1, b1]))
    (only_a,) = receipts_of(acknowledge(gateway, "company", [a2]))

    by_ccc = give(gateway, gateway.pki.company_cif, gateway.pki.person_nif,
                  "notifications.read", cccs=frozenset({CCC_A}))
    # It may see a1 (GetNotification) but not b1: the receipt listing both is not for it.
    assert person.service.GetNotification(id=a1).id == a1
    answered_as_unknown(person, registrationNumber=both.registrationNumber)
    answered_as_unknown(person, notificationId=a1)
    receives(person, only_a)

    registry(gateway).revoke(by_ccc.id)  # type: ignore[arg-type]
    answered_as_unknown(person, registrationNumber=only_a.registrationNumber)
    answered_as_unknown(person, notificationId=a2)

    # Restricted to an issuer: a2 is ISM's, a1 and b1 TGSS's.
    by_issuer = give(gateway, gateway.pki.company_cif, gateway.pki.person_nif,
                     "notifications.read", issuers=frozenset({"TGSS"}))
    receives(person, both)
    answered_as_unknown(person, registrationNumber=only_a.registrationNumber)
    registry(gateway).revoke(by_issuer.id)  # type: ignore[arg-type]
    answered_as_unknown(person, registrationNumber=both.registrationNumber)


def test_an_unassigned_red_agent_keeps_only_the_receipts_it_signed(
    served: RunningGateway,
) -> None:
    gateway = served
    company, agent = gateway.client("company"), gateway.client("red_agent")
    company.service.AssignReception(ccc=CCC_A, agent=gateway.pki.red_agent_cif)
    own_act, later = item(gateway, "RED-OWN-ACT"), item(gateway, "RED-LATER")
    (signed_by_agent,) = receipts_of(acknowledge(gateway, "red_agent", [own_act]))
    (signed_by_company,) = receipts_of(acknowledge(gateway, "company", [later]))
    receives(agent, signed_by_agent)
    receives(agent, signed_by_company)

    company.service.UnassignReception(ccc=CCC_A)
    receives(agent, signed_by_agent)  # its own act: it keeps the item and the proof
    answered_as_unknown(agent, registrationNumber=signed_by_company.registrationNumber)
    answered_as_unknown(agent, notificationId=later)
    receives(company, signed_by_agent)  # the company sees all its items


def test_an_unrelated_company_gets_nothing_and_learns_nothing(served: RunningGateway) -> None:
    gateway = served
    other = item(gateway, "OTHER-COMPANY")  # the RED agent's own item (it is a company too)
    (receipt,) = receipts_of(acknowledge(gateway, "red_agent", [other]))
    company = gateway.client("company")
    answered_as_unknown(company, registrationNumber=receipt.registrationNumber)
    answered_as_unknown(company, notificationId=other)
    answered_as_unknown(company, notificationId=10**9)
