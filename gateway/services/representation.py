"""Who the caller acts for, and the management acts recipients do themselves.

- ``principals``: everyone the caller may act for, with the role and the scopes.
- postal channel: consult and change the paper-copy address / opt-out (own recipient only).
- RED reception: a company (or its representative) assigns the reception of a contribution
  account (CCC) to an authorised agent, or ends it; effective at the official time and audited.
- mandates: listed for the grantor and the grantee.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.domain.authorization import ALL_ACTIONS, RED_ACTIONS, Action, Mandate, RedAssignment
from gateway.domain.clock import Clock
from gateway.domain.identifiers import normalise_ccc, normalise_tax_id
from gateway.domain.listing import Role
from gateway.domain.postal import PostalAddress, PostalChannel, PostalMode
from gateway.domain.principal import Principal
from gateway.errors import AuthorizationError, Conflict, InvalidRequest

from .ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class ActingFor:
    identifier: str
    role: Role
    scopes: frozenset[Action]
    cccs: frozenset[str] | None = None


@dataclass(frozen=True)
class RepresentationService:
    uow_factory: Callable[[], UnitOfWork]
    clock: Clock

    def principals(self, principal: Principal) -> list[ActingFor]:
        now = self.clock.now()
        with self.uow_factory() as uow:
            facts = uow.representation.facts_for(principal, now)
        acting = [ActingFor(principal.acts_for, Role.OWN, ALL_ACTIONS)]
        by_company: dict[str, set[str]] = {}
        for assignment in facts.red_assignments:
            if assignment.company != principal.acts_for:
                by_company.setdefault(assignment.company, set()).add(assignment.ccc)
        acting += [ActingFor(company, Role.RED, RED_ACTIONS, frozenset(cccs))
                   for company, cccs in sorted(by_company.items())]
        return acting

    def postal_channel(self, principal: Principal, recipient: str | None) -> PostalChannel:
        target = self._own(principal, recipient)
        with self.uow_factory() as uow:
            return uow.postal.get(target)

    def set_postal_channel(self, principal: Principal, recipient: str | None, mode: PostalMode,
                           address: PostalAddress | None) -> PostalChannel:
        target = self._own(principal, recipient)
        now = self.clock.now()
        if mode is PostalMode.ELECTRONIC_ONLY:
            address = None  # opting out of paper keeps no address on file
        channel = PostalChannel(target, mode, address, now)
        with self.uow_factory() as uow:
            uow.postal.put(channel)
            uow.audit.append("postal_channel.changed", principal.acts_for, target,
                             {"mode": mode.value, "has_address": address is not None}, now)
            uow.commit()
        return channel

    def assign_reception(self, principal: Principal, ccc: str, agent: str) -> RedAssignment:
        ccc = normalise_ccc(ccc, field="ccc")
        agent = normalise_tax_id(agent, field="agent")
        company = principal.acts_for
        if agent == company:
            raise InvalidRequest("a company cannot assign its own reception to itself",
                                 code="INVALID_AGENT", field="agent")
        now = self.clock.now()
        with self.uow_factory() as uow:
            self._check_holder(uow, ccc, company)
            current = uow.representation.current_assignment(ccc, now, lock=True)
            if current is not None and current.agent == agent:
                return current  # already so: assigning twice is not an error
            uow.representation.unassign(ccc, now)
            assignment = uow.representation.assign(ccc, company, agent, now)
            uow.audit.append("reception.assigned", principal.acts_for, ccc,
                             {"company": company, "agent": agent,
                              "previous_agent": current.agent if current else None}, now)
            uow.commit()
        return assignment

    def unassign_reception(self, principal: Principal, ccc: str) -> int:
        ccc = normalise_ccc(ccc, field="ccc")
        now = self.clock.now()
        with self.uow_factory() as uow:
            self._check_holder(uow, ccc, principal.acts_for)
            ended = uow.representation.unassign(ccc, now)
            if ended:
                uow.audit.append("reception.unassigned", principal.acts_for, ccc,
                                 {"company": principal.acts_for}, now)
            uow.commit()
        return ended

    def mandates(self, principal: Principal) -> list[Mandate]:
        with self.uow_factory() as uow:
            return uow.representation.mandates_of(principal.acts_for)

    @staticmethod
    def _own(principal: Principal, recipient: str | None) -> str:
        """Postal channels are managed by the recipient itself (mandates arrive later)."""
        if recipient:
            recipient = normalise_tax_id(recipient, field="recipient")
            if recipient != principal.acts_for:
                raise AuthorizationError("only the recipient may manage its postal channel",
                                         field="recipient")
        return principal.acts_for

    @staticmethod
    def _check_holder(uow: UnitOfWork, ccc: str, company: str) -> None:
        """A CCC once assigned by one company cannot be reassigned by another."""
        holders = {a.company for a in uow.representation.assignments_of_ccc(ccc)}
        if holders - {company}:
            raise Conflict("this contribution account belongs to another company",
                           code="CCC_NOT_OWNED", field="ccc")
