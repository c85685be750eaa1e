"""The one way services ask the authorisation decision and record a refusal.

Issue 6: every refusal is written to the audit log with the decision's reason, committed even
though the request then fails. Services choose what the caller is told (not found, or not
authorised); this module only decides and records.
"""

from __future__ import annotations

from datetime import datetime

from gateway.domain.audit import AuditEntry
from gateway.domain.authorization import Decision, Resource, decide
from gateway.domain.principal import Principal
from gateway.domain.rights import Action, RepresentationFacts

from .ports import UnitOfWork


def audited_decision(uow: UnitOfWork, principal: Principal, action: Action, resource: Resource,
                     facts: RepresentationFacts, now: datetime, audit_subject: str,
                     **details: object) -> Decision:
    """``decide``; a refusal is appended to the audit log as ``access.refused`` (action,
    reason and ``details``) about ``audit_subject`` and committed before returning."""
    decision = decide(principal, action, resource, facts, now)
    if not decision.allowed:
        entry = refusal_entry(principal, action, decision, audit_subject, **details)
        uow.audit.append(*entry, now)
        uow.commit()
    return decision


def refusal_entry(principal: Principal, action: Action, decision: Decision,
                  audit_subject: str, **details: object) -> AuditEntry:
    """The ``access.refused`` audit entry of a refused ``decision`` (for callers that append
    it with others, in their own transaction)."""
    return AuditEntry("access.refused", principal.acts_for, audit_subject,
                      {"action": action.value, "reason": decision.reason.value, **details})
