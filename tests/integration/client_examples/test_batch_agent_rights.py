"""The batch agent never signs an acceptance it cannot follow through (issue 15).

An acceptance is legally binding and content is released only after it: a certificate whose
right covers reading and signing but not the content (a mandate without
``notifications.content``) used to accept every item and then fail every download. The agent
now reads its rights from ``ListPrincipals`` and leaves such items pending, saying so; with
``--accept-without-content`` it accepts them and archives their metadata only. The server
answers such a download NOT_AUTHORISED (it may see the item), not NOT_FOUND.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from agent_world import MANDATE_GRANTOR, AgentWorld, archive_files

from gateway.config import Settings
from gateway.domain.clock import OFFICIAL_TIMEZONE, SystemClock
from gateway.services.mandates import MandateRegistry, new_mandate
from gateway.store.engine import session_factory
from gateway.store.unit_of_work import SqlUnitOfWork

pytestmark = pytest.mark.postgres


def registry(world: AgentWorld) -> MandateRegistry:
    start = Settings().mandate_registry_start
    assert start is not None
    registry_start = datetime.combine(start, time(0), tzinfo=OFFICIAL_TIMEZONE)
    sessions = session_factory(world.gateway.engine)
    return MandateRegistry(lambda: SqlUnitOfWork(sessions, registry_start), SystemClock(),
                           registry_start)


def test_a_mandate_without_content_is_not_accepted_unless_asked(agent_world: AgentWorld,
                                                                tmp_path: Path) -> None:
    granted = {i for i, e in agent_world.items.items() if e.recipient == MANDATE_GRANTOR}
    assert len(granted) == 3
    mandates = registry(agent_world)
    mandate = mandates.add(new_mandate(
        MANDATE_GRANTOR, agent_world.gateway.pki.person_nif,
        ("notifications.read", "notifications.sign"), datetime.now(UTC) - timedelta(minutes=1)))
    try:
        archive = tmp_path / "archive"
        run = agent_world.run_agent("person", archive, "--role", "MANDATE")
        assert run.returncode == 0, run.stderr
        assert "errors=0" in run.stdout and "accepted=0 " in run.stdout
        assert run.stderr.count("does not include its content") == 3
        assert agent_world.statuses(granted) == dict.fromkeys(granted, "AVAILABLE")
        assert all(not found for found in agent_world.receipt_items(granted).values())

        run = agent_world.run_agent("person", archive, "--role", "MANDATE",
                                    "--accept-without-content")
        assert run.returncode == 0, run.stderr
        assert "errors=0" in run.stdout and "accepted=3 " in run.stdout, run.stdout
        assert agent_world.statuses(granted) == dict.fromkeys(granted, "ACCEPTED")
        files = archive_files(archive)
        entries = [json.loads(files[f"{MANDATE_GRANTOR}/{i}/notification.json"])
                   for i in sorted(granted)]
        assert {e["status"] for e in entries} == {"ACCEPTED"}
        assert all(e["registrationNumber"] and e["receipt"] for e in entries)
        assert [d["file"] for e in entries for d in e["documents"]] == [None] * 4
        assert not [p for p in files if p.startswith(f"{MANDATE_GRANTOR}/")
                    and not p.endswith("notification.json") and "/receipts/" not in p]
    finally:
        assert mandate.id is not None
        mandates.revoke(mandate.id)
