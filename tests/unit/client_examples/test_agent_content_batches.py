"""batch_agent.py's handling of GetContents answers, with a scripted server.

The real-server tests never make the gateway defer or refuse part of a batch (their documents are
small and accepted); here the answers are scripted so that every refusal code the contract names
is met: the agent must re-ask what was DEFERRED, fetch alone what is TOO_LARGE, report the rest as
errors, and give every document exactly one outcome.
"""

from __future__ import annotations

import base64
import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "client_examples"))
import batch_agent

from gateway.client.state import PendingDocument

TNS = "urn:notess:gateway:notification:v1"
DATA = {n: f"document of notification {n}".encode() * n for n in range(1, 6)}


def doc(notification_id: int) -> PendingDocument:
    return PendingDocument(notification_id, 0, hashlib.sha256(DATA[notification_id]).hexdigest(),
                           len(DATA[notification_id]), "B12345674", f"acto-{notification_id}.pdf")


def content(notification_id: int, data: bytes | None = None) -> str:
    body = DATA[notification_id] if data is None else data
    return (f"<t:content><t:notificationId>{notification_id}</t:notificationId><t:document>"
            f"<t:position>0</t:position><t:sha256>{doc(notification_id).sha256}</t:sha256>"
            f"</t:document><t:status>ACCEPTED</t:status>"
            f"<t:data>{base64.b64encode(body).decode()}</t:data></t:content>")


def refused(notification_id: int, code: str) -> str:
    return (f"<t:refused><t:notificationId>{notification_id}</t:notificationId>"
            f"<t:code>{code}</t:code><t:message>scripted {code}</t:message></t:refused>")


class ScriptedService:
    """Answers GetContents from ``answers`` (keyed by the ids asked) and GetContent directly."""

    def __init__(self, answers: dict[tuple[int, ...], str]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, tuple[int, ...]]] = []

    def call_xml(self, operation: str, *, id: list[int]) -> etree._Element:
        self.asked.append((operation, tuple(id)))
        return etree.fromstring(f'<t:GetContentsResult xmlns:t="{TNS}"><t:count>0</t:count>'
                                f"{self.answers[tuple(id)]}</t:GetContentsResult>")

    def call(self, operation: str, *, id: int, document: int) -> Any:
        self.asked.append((operation, (id,)))
        return SimpleNamespace(data=DATA[id], document=SimpleNamespace(sha256=doc(id).sha256))


def agent(service: ScriptedService, archive: Path) -> batch_agent.Agent:
    return batch_agent.Agent(
        service=service, state=None, archive=batch_agent.Archive(archive, fsync=False),  # type: ignore[arg-type]
        rules=None, signer=None, server_cert=None,  # type: ignore[arg-type]
        bars=batch_agent.Bars.open(True), batch_size=1000, page_size=1000, workers=2,
        role=None, principal=None, resync=False, stream_above=2 * 2**20,
        server_cert_path=archive / "server.pem", pool=ThreadPoolExecutor(2))


def outcomes(run: batch_agent.Agent, documents: int) -> dict[int, Any]:
    """Each document's outcome, waiting for them as the agent's main thread does (what was
    asked again runs in the pool meanwhile); then no other outcome may follow."""
    found: dict[int, Any] = {}
    while len(found) < documents:
        document, outcome = run.finished.get(timeout=10)
        assert document.notification_id not in found, "one outcome per document"
        found[document.notification_id] = outcome
    assert run.pool is not None
    run.pool.shutdown(wait=True)
    assert run.finished.empty()
    return found


def test_deferred_notifications_are_asked_again_and_too_large_ones_fetched_alone(
    tmp_path: Path,
) -> None:
    service = ScriptedService({
        (1, 2, 3, 4, 5): content(1) + refused(2, "DEFERRED") + refused(3, "TOO_LARGE")
        + refused(4, "DEFERRED") + refused(5, "NOT_ACCEPTED"),
        (2, 4): content(2) + refused(4, "DEFERRED"),
        (4,): content(4),
    })
    run = agent(service, tmp_path)

    run.download_batch([doc(n) for n in range(1, 6)])
    found = outcomes(run, 5)

    assert sorted(service.asked) == sorted([
        ("GetContents", (1, 2, 3, 4, 5)), ("GetContents", (2, 4)), ("GetContents", (4,)),
        ("GetContent", (3,))])
    for n in (1, 2, 3, 4):
        assert isinstance(found[n], str), found[n]
        assert (tmp_path / found[n]).read_bytes() == DATA[n]
    assert isinstance(found[5], batch_agent.AgentError) and "NOT_ACCEPTED" in str(found[5])


def test_a_document_that_does_not_match_its_listed_sha256_is_not_archived(
    tmp_path: Path,
) -> None:
    service = ScriptedService({(1, 2): content(1, b"not what was signed") + content(2)})
    run = agent(service, tmp_path)

    run.download_batch([doc(1), doc(2)])
    found = outcomes(run, 2)

    assert isinstance(found[1], batch_agent.AgentError)
    assert not (tmp_path / "B12345674" / "1").exists()
    assert (tmp_path / found[2]).read_bytes() == DATA[2]


@pytest.mark.parametrize("answer", ["", ("<t:content><t:notificationId>9</t:notificationId>"
                                         "<t:document><t:position>0</t:position></t:document>"
                                         "</t:content>")])
def test_documents_the_answer_leaves_out_are_reported_not_waited_for(
    tmp_path: Path, answer: str,
) -> None:
    service = ScriptedService({(1, 2): content(1) + answer})
    run = agent(service, tmp_path)

    run.download_batch([doc(1), doc(2)])
    found = outcomes(run, 2)

    assert isinstance(found[1], str)
    assert isinstance(found[2], batch_agent.AgentError)
    assert "without this document" in str(found[2])


def test_a_failed_call_gives_every_document_of_the_batch_its_error(tmp_path: Path) -> None:
    service = ScriptedService({})  # KeyError: as if the call itself had failed
    run = agent(service, tmp_path)

    run.download_batch([doc(1), doc(2)])  # the error goes to the main thread, not up
    found = outcomes(run, 2)

    assert set(found) == {1, 2} and all(isinstance(o, KeyError) for o in found.values())
