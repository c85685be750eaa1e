"""Issue 3 acceptance: RED reception assignment of a CCC to an authorised agent, end to end.

The company assigns one contribution account (CCC) to the RED agent; the agent then sees that
account's non-special notifications with role RED and nothing else of the company's; after the
assignment ends it sees none of them. ListPrincipals follows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import zeep

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres



def _everything(client: zeep.Client, **filters: Any) -> list[Any]:
    result = client.service.ListNotifications(pageSize=1000, **filters)
    assert result.nextCursor is None
    return list(result.item or [])


def _principals(client: zeep.Client) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(p.identifier, p.role, tuple(p.ccc or ())) for p in client.service.ListPrincipals()]


def test_red_assignment_shows_the_cccs_normal_items_to_the_agent_until_unassigned(
    gateway: RunningGateway, gw_code: Any
) -> None:
    company, agent = gateway.client("company"), gateway.client("red_agent")
    pki, seed = gateway.pki, gateway.seed
    own_ids = sorted(item.id for item in seed.of(pki.red_agent_cif))
    red_ids = sorted(item.id for item in seed.of(pki.company_cif)
                     if item.ccc == seed.ccc_red and item.category == "NORMAL")
    special_on_ccc = next(item for item in seed.of(pki.company_cif)
                          if item.ccc == seed.ccc_red and item.category == "SPECIAL")
    other_ccc = next(item for item in seed.of(pki.company_cif) if item.ccc == seed.ccc_other)
    assert len(red_ids) == 40 and own_ids

    # Before: the agent sees only its own items and acts only for itself.
    assert sorted(item.id for item in _everything(agent)) == own_ids
    assert _principals(agent) == [(pki.red_agent_cif, "OWN", ())]

    assignment = company.service.AssignReception(ccc=seed.ccc_red, agent=pki.red_agent_cif)
    assert (assignment.ccc, assignment.company, assignment.agent) == (
        seed.ccc_red, pki.company_cif, pki.red_agent_cif)
    try:
        listed = _everything(agent)
        red = [item for item in listed if item.role == "RED"]
        assert sorted(item.id for item in red) == red_ids
        assert {(item.recipient, item.ccc, item.category) for item in red} == {
            (pki.company_cif, seed.ccc_red, "NORMAL")}
        # Nothing else: its own items (OWN) plus exactly those.
        assert sorted(item.id for item in listed if item.role != "RED") == own_ids
        assert {item.role for item in listed if item.id in own_ids} == {"OWN"}
        assert agent.service.GetNotification(id=red_ids[0]).role == "RED"
        for hidden in (special_on_ccc, other_ccc):
            with pytest.raises(zeep.exceptions.Fault) as refused:
                agent.service.GetNotification(id=hidden.id)
            assert gw_code(refused.value) == "NOT_FOUND"
        assert _principals(agent) == [(pki.red_agent_cif, "OWN", ()),
                                      (pki.company_cif, "RED", (seed.ccc_red,))]
        # The company itself still sees everything as OWN.
        assert {item.role for item in _everything(company)} == {"OWN"}
    finally:
        ended = company.service.UnassignReception(ccc=seed.ccc_red)
    assert ended == 1

    assert sorted(item.id for item in _everything(agent)) == own_ids
    with pytest.raises(zeep.exceptions.Fault) as refused:
        agent.service.GetNotification(id=red_ids[0])
    assert gw_code(refused.value) == "NOT_FOUND"
    assert _principals(agent) == [(pki.red_agent_cif, "OWN", ())]


def test_agent_cannot_assign_a_ccc_held_by_another_company(
    gateway: RunningGateway, gw_code: Any
) -> None:
    company, agent = gateway.client("company"), gateway.client("red_agent")
    seed = gateway.seed
    company.service.AssignReception(ccc=seed.ccc_other, agent=gateway.pki.red_agent_cif)
    try:
        with pytest.raises(zeep.exceptions.Fault) as refused:
            agent.service.AssignReception(ccc=seed.ccc_other, agent=gateway.pki.person_nif)
        assert refused.value.code.endswith("Client.Conflict")
        assert gw_code(refused.value) == "CCC_NOT_OWNED"
    finally:
        assert company.service.UnassignReception(ccc=seed.ccc_other) == 1


def test_role_filter_selects_red_or_own_items(gateway: RunningGateway) -> None:
    company, agent = gateway.client("company"), gateway.client("red_agent")
    pki, seed = gateway.pki, gateway.seed
    red_ids = sorted(item.id for item in seed.of(pki.company_cif)
                     if item.ccc == seed.ccc_red and item.category == "NORMAL")
    company.service.AssignReception(ccc=seed.ccc_red, agent=pki.red_agent_cif)
    try:
        own = _everything(agent, role="OWN")
        assert sorted(item.id for item in own) == sorted(
            item.id for item in seed.of(pki.red_agent_cif))
        red = _everything(agent, role="RED")
        assert sorted(item.id for item in red) == red_ids
    finally:
        company.service.UnassignReception(ccc=seed.ccc_red)
