"""Who is calling: the principal a verified certificate maps to (DESIGN.md §5 step 5).

A *person* is identified by NIF/NIE, an *entity* by its CIF, and a *representative* is a person
acting for an entity through a representative certificate (both identifiers are known). The
mapping from certificate subjects lives in ``trust``; this module only holds the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class PrincipalKind(str, Enum):
    PERSON = "PERSON"
    ENTITY = "ENTITY"
    REPRESENTATIVE = "REPRESENTATIVE"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``identifier`` is the canonical NIF/NIE/CIF of whoever the certificate speaks for: the person,
    or the entity for entity and representative certificates. ``person_identifier`` is the
    natural person behind a person or representative certificate.
    """

    kind: PrincipalKind
    identifier: str
    name: str
    certificate_fingerprint: str
    person_identifier: str | None = None

    @property
    def acts_for(self) -> str:
        """The identifier whose own notifications this principal sees with role OWN."""
        return self.identifier
