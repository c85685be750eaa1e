"""What a principal may see, derived once and reused while nothing it depends on changes.

An agent holding thousands of mandates would otherwise pay, on every request, for loading them,
turning them into audience clauses and indexing those (bench/authz_listing.py). The derivation
is a pure function of the registry and the time, so it is reused while both hold:

- the registry's change counter (``representation_version``, bumped in the same transaction as
  every change to mandates, RED assignments, access managers and grants, on any host) has not
  moved: a revocation is seen by the very next request everywhere;
- ``now`` is before the first instant at which a source starts or stops by the passing of time
  (``RepresentationFacts.stable_until``): expiries take effect on time.

The cache is per process, bounded, and holds derived data only; the decision itself is always
``domain.authorization``'s.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.authorization import audiences
from gateway.domain.listing import Audience, AudienceIndex
from gateway.domain.principal import Principal
from gateway.domain.rights import RepresentationFacts

from .ports import UnitOfWork


@dataclass(frozen=True)
class Rights:
    """A principal's sources of right at some instant, with their listing clauses."""

    facts: RepresentationFacts
    clauses: tuple[Audience, ...]
    index: AudienceIndex
    version: int | None
    derived_at: datetime
    stable_until: datetime | None

    def holds_at(self, now: datetime, version: int | None) -> bool:
        return (version is not None and version == self.version and now >= self.derived_at
                and (self.stable_until is None or now < self.stable_until))


class RightsCache:
    """Per-process reuse of ``Rights`` (see the module docstring); thread-safe."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str, str | None], Rights] = OrderedDict()
        self._lock = threading.Lock()

    def rights(self, uow: UnitOfWork, principal: Principal, now: datetime) -> Rights:
        key = (principal.kind.value, principal.identifier, principal.person_identifier)
        version = uow.representation.version()
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and cached.holds_at(now, version):
                self._entries.move_to_end(key)
                return cached
        facts = uow.representation.facts_for(principal, now)
        clauses = audiences(principal, facts, now)
        rights = Rights(facts, clauses, AudienceIndex(clauses), version, now,
                        facts.stable_until(now))
        if version is not None:
            with self._lock:
                self._entries[key] = rights
                self._entries.move_to_end(key)
                while len(self._entries) > self._capacity:
                    self._entries.popitem(last=False)
        return rights
