"""``client_examples/webhook_receiver.py`` and the Standard Webhooks reference receiver for
Node.js (npm ``standardwebhooks``, tests/peers/webhooks) receive what the gateway's real sender
(``gateway.events.sender``) delivers.

Both verify every signature; a tampered body, a wrong secret, a missing header are refused
(401) by both. The example de-duplicates a redelivered event by its id and runs its agent
command once per recipient the events name, after a quiet period.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from gateway.domain.callbacks import CallbackPolicy
from gateway.domain.clock import SystemClock
from gateway.domain.model import Category, Issuer, ItemKind, Notification, Status
from gateway.domain.principal import Principal, PrincipalKind
from gateway.events.sender import WebhookSender, signed_headers
from gateway.services.events import EventsService, Owner
from gateway.store.unit_of_work import SqlUnitOfWork

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "client_examples" / "webhook_receiver.py"
NODE_PEER = ROOT / "tests" / "peers" / "webhooks" / "receiver.js"
COMPANIES = ("B12345674", "A23456783")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def listening(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "the receiver did not start"


def test_example_and_node_peer_verify_deduplicate_and_trigger(database, tmp_path: Path,
                                                              started) -> None:
    service = EventsService(lambda: SqlUnitOfWork(database.session_factory), SystemClock(),
                            CallbackPolicy.parse("127.0.0.1", allow_http=True), source="urn:t")
    agent = Principal(PrincipalKind.ENTITY, "B76543214", "AGENTE", "")
    example_port, node_port = free_port(), free_port()
    example_sub = service.subscribe(Owner(agent), f"http://127.0.0.1:{example_port}/hook")
    node_sub = service.subscribe(Owner(agent), f"http://127.0.0.1:{node_port}/hook")

    runs, node_log = tmp_path / "agent-runs.txt", tmp_path / "node.jsonl"
    fake_agent = [sys.executable, "-c",
                  f"import sys; open({str(runs)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')"]
    example = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--host", "127.0.0.1", "--port", str(example_port),
         "--secret", example_sub.secret, "--seen", str(tmp_path / "seen.db"), "--quiet", "0.5",
         "--", *fake_agent], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    started.append(example)
    node = subprocess.Popen(["node", str(NODE_PEER), str(node_port), node_sub.secret,
                             str(node_log)], stdout=subprocess.PIPE, text=True)
    started.append(node)
    listening(example)
    listening(node)

    with SqlUnitOfWork(database.session_factory) as uow:
        now = datetime.now(UTC)
        ids = uow.notifications.add_many([(Notification(
            id=None, kind=ItemKind.COMMUNICATION, issuer=Issuer.TGSS,
            issuer_reference=f"WH-{n}", procedure="P", subject="S", recipient=company,
            ccc=None, category=Category.NORMAL, made_available_at=now, deadline_at=None,
            status=Status.AVAILABLE, status_at=now), []) for n, company in enumerate(
                COMPANIES * 2)])
        # the agent may see them through a mandate of each company
        from gateway.domain.rights import Action, Mandate
        uow.representation.add_mandates([
            Mandate(id=None, grantor=c, grantee=agent.identifier,
                    scopes=frozenset({Action.READ}), valid_from=datetime(2026, 1, 1, tzinfo=UTC))
            for c in COMPANIES])
        for item_id in ids:
            uow.audit.append("notification.published", "TGSS", str(item_id), {}, now)
        uow.commit()
    while service.fan_out():
        pass
    sender = WebhookSender(CallbackPolicy.parse("127.0.0.1", allow_http=True))
    deliveries = service.claim(100)
    assert len(deliveries) == 8
    outcomes = [(d, sender.send(d)) for d in deliveries]
    assert all(outcome.ok for _, outcome in outcomes), [o.error for _, o in outcomes]
    service.record(outcomes)

    # hostile copies: a body changed in transit, another secret, no signature at all
    one = next(d for d in deliveries if d.subscription_id == node_sub.id)
    for sub in (example_sub, node_sub):
        genuine = replace(one, url=sub.url, secret=sub.secret)
        headers = signed_headers(genuine, datetime.now(UTC))
        altered = one.body.replace(b'"AVAILABLE"', b'"ACCEPTED"')
        assert altered != one.body
        changed = requests.post(sub.url, data=altered, headers=headers, timeout=10)
        assert changed.status_code == 401
        forged = sender.send(replace(genuine, secret="whsec_" + "A" * 43))
        assert not forged.ok and forged.error == "HTTP 401", forged
        unsigned = requests.post(sub.url, data=one.body, timeout=10,
                                 headers={"content-type": "application/cloudevents+json"})
        assert unsigned.status_code == 401

    # a redelivery (same id, same bytes) is accepted and handled once
    again = next(d for d in deliveries if d.subscription_id == example_sub.id)
    assert sender.send(again).ok

    wait_for(lambda: runs.exists() and len(runs.read_text().splitlines()) == 2)
    assert sorted(runs.read_text().splitlines()) == [f"--principal {c}" for c in
                                                     sorted(COMPANIES)]
    node_lines = [json.loads(line) for line in node_log.read_text().splitlines()]
    verified = [line for line in node_lines if line["ok"]]
    assert sorted(line["id"] for line in verified) == sorted(
        d.event_id for d in deliveries if d.subscription_id == node_sub.id)
    assert all(line["webhookId"] == line["id"] and line["specversion"] == "1.0"
               for line in verified)
    assert len(node_lines) - len(verified) == 3  # tampered, forged, unsigned
    example.terminate()
    printed = [json.loads(line) for line in example.communicate(timeout=10)[0].splitlines()]
    events = [p for p in printed if "id" in p]
    assert sorted(e["id"] for e in events) == sorted(
        d.event_id for d in deliveries if d.subscription_id == example_sub.id)
    assert {e["data"]["recipient"] for e in events} == set(COMPANIES)



