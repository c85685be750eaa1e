"""The batch agent rides out the server's rate limit (issue 14): against a gateway that allows
each certificate 3 requests a second (burst 3), the company's whole run -- listing, acknowledging
in batches of 5, downloading -- is refused RATE_LIMITED many times and still ends with every
notification accepted once, everything archived and no error: the agent asks again with back-off
(the server refuses before doing anything, so asking again is safe)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from agent_world import EXAMPLES, REPOSITORY, AgentWorld, expected_items, seed_requests, soap

pytestmark = pytest.mark.postgres


def test_a_run_under_a_tight_rate_limit_completes(tmp_path: Path) -> None:
    limits = {"GATEWAY_RATE_PER_SECOND": "3", "GATEWAY_RATE_BURST": "3"}
    with soap.running_gateway(tmp_path / "gateway", seed_requests,
                              settings_environment=limits) as gateway:
        by_reference = {item.reference: item for item in expected_items(gateway.pki)}
        world = AgentWorld(gateway, {seeded.id: by_reference[seeded.issuer_reference]
                                     for seeded in gateway.seed.items})
        visible = world.visible_to("company")
        notifications = {i for i, item in visible.items() if item.kind == "NOTIFICATION"}

        run = world.run_agent("company", tmp_path / "archive", "--batch-size", "5",
                              "--page-size", "7", "--workers", "4", timeout=600)

        assert run.returncode == 0, run.stderr[-3000:]
        assert "errors=0" in run.stdout
        assert re.search(rf"accepted={len(notifications)} ", run.stdout), run.stdout
        assert world.statuses(notifications) == dict.fromkeys(notifications, "ACCEPTED")
        items = world.receipt_items(notifications)
        assert all(len(found) == 1 for found in items.values())
        refused = gateway.audit_event_types().count("security.refused")
        assert refused > 0, "the limit never bit: the test proves nothing"
    assert EXAMPLES.is_dir() and REPOSITORY.is_dir()
