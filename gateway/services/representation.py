"""Who the caller acts for, and the management acts recipients do themselves.

- ``principals``: everyone the caller may act for, with the role and the scopes.
- postal channel: consult and change the paper-copy address / opt-out (the recipient, or a
  grantee of its mandate with ``postal.manage``).
- RED reception: a company (its representative, or a grantee with ``reception.assign``) assigns
  the reception of a contribution account (CCC) to an authorised agent, or ends it; effective
  at the official time and audited.
- mandates: listed for the grantor and the grantee.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.authorization import Subject
from gateway.domain.clock import Clock
from gateway.domain.identifiers import normalise_ccc, normalise_tax_id
from gateway.domain.listing import Role
from gateway.domain.postal import PostalAddress, PostalChannel, PostalMode
from gateway.domain.principal import Principal, PrincipalKind
from gateway.domain.rights import RECIPIENT_ACTIONS, RED_ACTIONS, Action, Mandate, RedAssignment
from gateway.errors import AuthorizationError, Conflict, InvalidRequest

from .ports import UnitOfWork
from .refusals import audited_decision


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
        """Everyone the caller may act for now, with the role and the scopes of each right."""
        now = self.clock.now()
        with self.uow_factory() as uow:
            facts = uow.representation.facts_for(principal, now)
        me = principal.acts_for
        acting = [ActingFor(me, Role.OWN, RECIPIENT_ACTIONS)]
        for mandate in facts.mandates:
            if mandate.grantor != me and mandate.active_at(now, facts.registry_start):
                acting.append(ActingFor(mandate.grantor, Role.MANDATE, mandate.scopes,
                                        mandate.cccs))
        if principal.kind is PrincipalKind.PERSON:
            for grant in facts.grants:
                if grant.entity != me and grant.refusal_at(now) is None:
                    acting.append(ActingFor(grant.entity, Role.GRANT, grant.scopes, grant.cccs))
        by_company: dict[str, set[str]] = {}
        for assignment in facts.red_assignments:
            if assignment.company != me and assignment.active_at(now):
                by_company.setdefault(assignment.company, set()).add(assignment.ccc)
        acting += [ActingFor(company, Role.RED, RED_ACTIONS, frozenset(cccs))
                   for company, cccs in sorted(by_company.items())]
        return acting

    def acting_for(self, principal: Principal, identifier: str) -> ActingFor:
        """The caller's right to act for ``identifier`` (``principals``), else refused with
        NOT_AUTHORISED and an ``access.refused`` audit event: a caller naming someone it does
        not represent (the WSCN port's ``identificadorPoderdante``) learns nothing more."""
        target = normalise_tax_id(identifier, field="principal")
        for acting in self.principals(principal):
            if acting.identifier == target:
                return acting
        now = self.clock.now()
        with self.uow_factory() as uow:
            uow.audit.append("access.refused", principal.acts_for, target,
                             {"action": "act_for", "reason": "NO_RELATION"}, now)
            uow.commit()
        raise AuthorizationError(f"not allowed to act for {target}", field="principal")

    def postal_channel(self, principal: Principal, recipient: str | None) -> PostalChannel:
        target = _recipient(principal, recipient)
        now = self.clock.now()
        with self.uow_factory() as uow:
            _require(uow, principal, Action.POSTAL, Subject(target), now)
            return uow.postal.get(target)

    def set_postal_channel(self, principal: Principal, recipient: str | None, mode: PostalMode,
                           address: PostalAddress | None) -> PostalChannel:
        target = _recipient(principal, recipient)
        now = self.clock.now()
        if mode is PostalMode.ELECTRONIC_ONLY:
            address = None  # opting out of paper keeps no address on file
        channel = PostalChannel(target, mode, address, now)
        with self.uow_factory() as uow:
            _require(uow, principal, Action.POSTAL, Subject(target), now)
            uow.postal.put(channel)
            uow.audit.append("postal_channel.changed", principal.acts_for, target,
                             {"mode": mode.value, "has_address": address is not None}, now)
            uow.commit()
        return channel

    def assign_reception(self, principal: Principal, ccc: str, agent: str,
                         company: str | None = None) -> RedAssignment:
        """Assign ``ccc``'s reception to ``agent``, effective now (the official time). The
        company is the caller, or one it acts for by mandate (``reception.assign``)."""
        ccc = normalise_ccc(ccc, field="ccc")
        agent = normalise_tax_id(agent, field="agent")
        company = _recipient(principal, company, field="company")
        if agent == company:
            raise InvalidRequest("a company cannot assign its own reception to itself",
                                 code="INVALID_AGENT", field="agent")
        now = self.clock.now()
        with self.uow_factory() as uow:
            _require(uow, principal, Action.ASSIGN_RECEPTION, Subject(company, ccc), now)
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

    def unassign_reception(self, principal: Principal, ccc: str,
                           company: str | None = None) -> int:
        """End ``ccc``'s RED assignment now: the agent immediately loses the notifications of
        that CCC it has not accepted."""
        ccc = normalise_ccc(ccc, field="ccc")
        company = _recipient(principal, company, field="company")
        now = self.clock.now()
        with self.uow_factory() as uow:
            _require(uow, principal, Action.ASSIGN_RECEPTION, Subject(company, ccc), now)
            self._check_holder(uow, ccc, company)
            current = uow.representation.current_assignment(ccc, now, lock=True)
            ended = uow.representation.unassign(ccc, now)
            if ended:
                uow.audit.append("reception.unassigned", principal.acts_for, ccc,
                                 {"company": company,
                                  "agent": current.agent if current else None}, now)
            uow.commit()
        return ended

    def reception_history(self, ccc: str) -> list[RedAssignment]:
        """Every RED assignment of ``ccc``, oldest first (for operators)."""
        ccc = normalise_ccc(ccc, field="ccc")
        with self.uow_factory() as uow:
            return uow.representation.assignments_of_ccc(ccc)

    def mandates(self, principal: Principal) -> list[Mandate]:
        """The mandates the caller gave (as grantor) or holds (as grantee)."""
        with self.uow_factory() as uow:
            return uow.representation.mandates_of(principal.acts_for)

    @staticmethod
    def _check_holder(uow: UnitOfWork, ccc: str, company: str) -> None:
        """A CCC once assigned by one company cannot be reassigned by another."""
        holders = {a.company for a in uow.representation.assignments_of_ccc(ccc)}
        if holders - {company}:
            raise Conflict("this contribution account belongs to another company",
                           code="CCC_NOT_OWNED", field="ccc")


def _recipient(principal: Principal, recipient: str | None, field: str = "recipient") -> str:
    if recipient:
        return normalise_tax_id(recipient, field=field)
    return principal.acts_for


def _require(uow: UnitOfWork, principal: Principal, action: Action, subject: Subject,
             now: datetime) -> None:
    """Refuse (audited with the decision's reason) unless the decision allows ``action``."""
    decision = audited_decision(uow, principal, action, subject,
                                uow.representation.facts_for(principal, now), now,
                                subject.recipient, ccc=subject.ccc)
    if decision.allowed:
        return
    raise AuthorizationError(f"not allowed to {action.value} for {subject.recipient} "
                             f"(reason {decision.reason.value})", field="recipient")
