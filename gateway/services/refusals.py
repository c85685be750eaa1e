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


def audited_absence(uow: UnitOfWork, principal: Principal, action: Action, now: datetime,
                    audit_subject: str) -> None:
    """Record a request for an id that names no item, exactly as a refusal is recorded."""
    uow.audit.append(*absence_entry(principal, action, audit_subject), now)
    uow.commit()


def absence_entry(principal: Principal, action: Action, audit_subject: str) -> AuditEntry:
    """The ``access.refused`` entry (reason ``NOT_FOUND``) of an id that names no item.

    Written like any refusal so that asking for a missing item costs what asking for one the
    caller may not see costs -- the same audit write and commit -- and the two cannot be told
    apart by their timing any more than by their answer (issue 20); the log says which it was.
    """
    return AuditEntry("access.refused", principal.acts_for, audit_subject,
                      {"action": action.value, "reason": NOT_FOUND_REASON})


NOT_FOUND_REASON = "NOT_FOUND"
"""The audited reason for an id that names no item (beside ``domain.rights.Reason``)."""


def refusal_entry(principal: Principal, action: Action, decision: Decision,
                  audit_subject: str, **details: object) -> AuditEntry:
    """The ``access.refused`` audit entry of a refused ``decision`` (for callers that append
    it with others, in their own transaction)."""
    return AuditEntry("access.refused", principal.acts_for, audit_subject,
                      {"action": action.value, "reason": decision.reason.value, **details})
