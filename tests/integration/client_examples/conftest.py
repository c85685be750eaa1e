"""The session gateway of the client-example tests (its world is described in ``agent_world``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from agent_world import RED_CCCS, RED_COMPANIES, AgentWorld, expected_items, seed_requests, soap

from gateway.store.engine import session_factory
from gateway.store.unit_of_work import SqlUnitOfWork


@pytest.fixture(scope="session")
def agent_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentWorld]:
    with soap.running_gateway(tmp_path_factory.mktemp("agent-gateway"),
                              seed_requests) as gateway:
        with SqlUnitOfWork(session_factory(gateway.engine)) as uow:
            assigned_at = datetime.now(UTC) - timedelta(minutes=5)
            for company, ccc in zip(RED_COMPANIES, RED_CCCS, strict=True):
                uow.representation.assign(ccc, company, gateway.pki.red_agent_cif, assigned_at)
            uow.commit()
        by_reference = {item.reference: item for item in expected_items(gateway.pki)}
        yield AgentWorld(gateway, {seeded.id: by_reference[seeded.issuer_reference]
                                   for seeded in gateway.seed.items})
