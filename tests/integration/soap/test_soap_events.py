"""Event subscriptions over SOAP, and what reaches each subscriber (issue 17), against a real
``gateway serve`` on PostgreSQL and a real ``gateway events deliver``.

A company, a RED agent assigned one of its CCCs and the TGSS issuer subscribe with zeep; the
issuer publishes over ``IssuerService``; the company reads a communication; one delivery round
runs. Each receiver (signatures checked by ``standardwebhooks``, bodies parsed by the CloudEvents
SDK) gets exactly the events its subscriber may see: the agent nothing outside its CCC and no
special-category item, the issuer only TGSS items, nobody a subject. Hostile subscriptions are
refused with stable codes and write nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests
import zeep
from sqlalchemy import func, select
from webhook_receiver_harness import Receiver

from gateway import namespaces as ns
from gateway.client.transport import ServerVerifyingSignature
from gateway.store.models import EventSubscriptionRow

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

GW = f"{{{ns.FAULT_DETAIL}}}"
EVENTS_ENV = {"GATEWAY_EVENTS_ALLOWED_CALLBACKS": "127.0.0.1",
              "GATEWAY_EVENTS_ALLOW_HTTP": "true"}


def code(fault: zeep.exceptions.Fault) -> str | None:
    return None if fault.detail is None else fault.detail.findtext(f"{GW}error/{GW}code")


@pytest.fixture(scope="module")
def gw(launch_gateway: Any, default_seed: Any,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with launch_gateway(tmp_path_factory.mktemp("events-gateway"), default_seed,
                        settings_environment=EVENTS_ENV) as running:
        operator(running, "issuers", "add", "TGSS", running.pki.issuer_tgss_cif)
        yield running


def operator(gw: RunningGateway, *args: str) -> str:
    return gw.operator(*args, **EVENTS_ENV)


def issuer_client(gw: RunningGateway) -> zeep.Client:
    credential = gw.pki.client("issuer_tgss")
    return zeep.Client(gw.base_url + "/IssuerService?wsdl", wsse=ServerVerifyingSignature(
        credential.key_path, credential.cert_path, gw.pki.server.cert_path))


def subscriptions_stored(gw: RunningGateway) -> int:
    with gw.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(EventSubscriptionRow)).scalar_one()


def test_hostile_subscriptions_are_refused_and_write_nothing(gw: RunningGateway) -> None:
    company = gw.client("company")
    before = subscriptions_stored(gw)
    for url in ("http://10.1.2.3/hook", "https://169.254.169.254/latest/meta-data",
                "http://127.0.0.1@evil.example/hook", "gopher://127.0.0.1/",
                "http://localhost:8080/hook"):
        with pytest.raises(zeep.exceptions.Fault) as refused:
            company.service.SubscribeEvents(url=url)
        assert code(refused.value) == "CALLBACK_NOT_ALLOWED", url
    with pytest.raises(zeep.exceptions.Fault) as unknown:
        company.service.SubscribeEvents(url="http://127.0.0.1:9/h", eventType=["x.y"])
    assert code(unknown.value) == "UNKNOWN_EVENT_TYPE"
    person = gw.pki.client("person")
    as_issuer = zeep.Client(gw.base_url + "/IssuerService?wsdl", wsse=ServerVerifyingSignature(
        person.key_path, person.cert_path, gw.pki.server.cert_path))
    with pytest.raises(zeep.exceptions.Fault) as not_issuer:
        as_issuer.service.SubscribeEvents(url="http://127.0.0.1:9/h")
    assert code(not_issuer.value) == "NOT_AN_ISSUER"
    assert subscriptions_stored(gw) == before
    mine = company.service.SubscribeEvents(url="http://127.0.0.1:9/mine")
    with pytest.raises(zeep.exceptions.Fault) as foreign:
        gw.client("red_agent").service.Unsubscribe(id=mine.id)
    assert code(foreign.value) == "SUBSCRIPTION_NOT_FOUND"
    assert [s.id for s in company.service.ListSubscriptions()] == [mine.id]
    assert company.service.ListSubscriptions()[0].secret is None  # shown once only
    assert company.service.Unsubscribe(id=mine.id) is True
    assert not company.service.ListSubscriptions()  # zeep reads an empty array as None


def test_each_subscriber_hears_exactly_what_it_may_see(gw: RunningGateway) -> None:
    pki, seed = gw.pki, gw.seed
    company, agent, tgss = gw.client("company"), gw.client("red_agent"), issuer_client(gw)
    company.service.AssignReception(ccc=seed.ccc_red, agent=pki.red_agent_cif)
    receivers = {name: Receiver().start() for name in ("company", "agent", "issuer")}
    try:
        for name, client in (("company", company), ("agent", agent)):
            receivers[name].secret = client.service.SubscribeEvents(
                url=receivers[name].url).secret
        answer = tgss.service.SubscribeEvents(
            url=receivers["issuer"].url, eventType=["notification.published",
                                                    "notification.read"])
        receivers["issuer"].secret = answer.secret
        assert sorted(answer.eventType) == ["notification.published", "notification.read"]

        def doc(ref: str) -> dict[str, Any]:
            return {"name": f"{ref}.txt", "contentType": "text/plain",
                    "content": f"contenido {ref}".encode()}

        base = {"procedure": "Procedimiento", "recipient": pki.company_cif}
        batch = [
            {**base, "issuerReference": "EV-RED", "kind": "NOTIFICATION", "ccc": seed.ccc_red,
             "subject": "Secreto RED", "category": "NORMAL", "mainDocument": doc("EV-RED")},
            {**base, "issuerReference": "EV-SPECIAL", "kind": "NOTIFICATION",
             "ccc": seed.ccc_red, "subject": "Secreto especial", "category": "SPECIAL",
             "mainDocument": doc("EV-SPECIAL")},
            {**base, "issuerReference": "EV-OTHER", "kind": "COMMUNICATION",
             "ccc": seed.ccc_other, "subject": "Secreto otro", "category": "NORMAL",
             "mainDocument": doc("EV-OTHER")},
        ]
        published = tgss.service.PublishNotifications(item=batch)
        red_id, special_id, other_id = (i.id for i in published.item)
        company.service.GetContent(id=other_id)  # opening a communication reads it

        # an item's second event waits for its first to be delivered: rounds until idle
        sent = delivered = 0
        for _ in range(5):
            done = json.loads(operator(gw, "events", "deliver", "--once"))
            sent, delivered = sent + done["sent"], delivered + done["delivered"]
            if done["sent"] == 0:
                break

        def heard(name: str) -> set[tuple[str, object]]:
            return {(r.type.rsplit(".", 1)[-1], r.item) for r in receivers[name].received}

        assert heard("company") == {("published", red_id), ("published", special_id),
                                    ("published", other_id), ("read", other_id)}
        assert heard("agent") == {("published", red_id)}
        assert heard("issuer") == {("published", red_id), ("published", special_id),
                                   ("published", other_id), ("read", other_id)}
        assert delivered == sent == 4 + 1 + 4
        for receiver in receivers.values():
            assert receiver.refused == 0
            for received in receiver.received:
                assert b"Secreto" not in received.body
        status = json.loads(operator(gw, "events", "status"))
        assert status["DELIVERED"] == 9 and status["BACKLOG"] == 0
        # the same queue in /metrics, whichever worker answers the scrape
        for _ in range(3):
            scraped = requests.get(gw.base_url + "/metrics", timeout=30).text
            assert 'gateway_event_deliveries{state="DELIVERED"} 9.0' in scraped
            assert 'gateway_event_deliveries{state="DEAD"} 0.0' in scraped
            assert "gateway_event_backlog 0.0" in scraped
    finally:
        for receiver in receivers.values():
            receiver.stop()
