"""``list_and_fetch.sh``: a signed WS-Security request made by xmlsec1 and POSTed by curl, the
server's signed response verified by xmlsec1 (no Python on the client side)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from agent_world import EXAMPLES, REPOSITORY, AgentWorld, sha256

pytestmark = pytest.mark.postgres


def run_script(world: AgentWorld, *arguments: str, name: str = "person",
               server_cert: Path | None = None,
               environment: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    credential = world.gateway.pki.client(name)
    return subprocess.run(
        ["bash", str(EXAMPLES / "list_and_fetch.sh"), world.gateway.service_url,
         str(credential.cert_path), str(credential.key_path),
         str(server_cert or world.gateway.pki.server.cert_path), *arguments],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **(environment or {})})


def test_lists_every_item_over_several_pages(agent_world: AgentWorld) -> None:
    visible = agent_world.visible_to("person")

    run = run_script(agent_world, environment={"PAGE_SIZE": "4"})

    assert run.returncode == 0, run.stderr
    rows = [line.split("\t") for line in run.stdout.splitlines()]
    assert [int(row[0]) for row in rows] == sorted(visible)
    assert {row[1] for row in rows} == {"NOTIFICATION", "COMMUNICATION"}
    assert all(row[4] == f"Asunto {visible[int(row[0])].reference}" for row in rows)
    assert f"{len(visible)} item(s) in {-(-len(visible) // 4)} page(s)" in run.stderr


def test_fetches_a_communication_checks_its_sha256_and_it_becomes_read(
    agent_world: AgentWorld, tmp_path: Path
) -> None:
    communication = next(i for i, item in agent_world.visible_to("person").items()
                         if item.kind == "COMMUNICATION")
    name, content = agent_world.items[communication].documents[0]
    out = tmp_path / "communication.pdf"

    run = run_script(agent_world, str(communication), "0", str(out))

    assert run.returncode == 0, run.stderr
    assert out.read_bytes() == content
    assert f"{name}  sha256 {sha256(content)}  status READ" in run.stdout
    assert agent_world.statuses({communication}) == {communication: "READ"}


def test_refusals_and_foreign_signatures_are_reported(
    agent_world: AgentWorld, tmp_path: Path
) -> None:
    pending = next(i for i, item in agent_world.visible_to("person").items()
                   if item.reference == "AGENT-P-02")  # a notification nobody accepts

    refused = run_script(agent_world, str(pending), "0", str(tmp_path / "x"))
    # A response that is not signed with the given certificate is not believed at all.
    impostor = run_script(agent_world, server_cert=agent_world.gateway.pki.client("person")
                          .cert_path)

    assert refused.returncode == 1 and "[NOT_ACCEPTED]" in refused.stderr
    assert not (tmp_path / "x").exists()
    assert impostor.returncode == 1 and "is not signed by" in impostor.stderr
    assert impostor.stdout == ""
