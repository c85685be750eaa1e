"""The hash-chained audit log: pure rules (DESIGN.md §6, "every state change goes to the chain").

Each event's ``hash`` is SHA-256 over the previous event's hash and the canonical JSON of the
event's own fields (``seq``, ``at`` in UTC, ``event_type``, ``actor``, ``subject``, ``details``).
Changing, deleting or reordering any stored event therefore breaks the chain at that point, which
``verify_chain`` reports. (Removing events from the *end* leaves a valid shorter chain; anchoring
the latest hash elsewhere is what detects that.) Storage and locking live in ``gateway.store``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import NamedTuple

from .clock import require_aware

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event."""


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"audit details must be JSON values, not {type(value).__name__}")


def canonical_json(value: object) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 text kept as is."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def _frozen(details: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(json.loads(canonical_json(dict(details))))


class AuditEntry(NamedTuple):
    """What a caller asks to append; the chain adds ``seq``, ``at`` and the hashes."""

    event_type: str
    actor: str
    subject: str
    details: Mapping[str, object]


@dataclass(frozen=True)
class AuditEvent:
    """One link of the chain. ``details`` is normalised to its JSON form (read-only)."""

    seq: int
    at: datetime
    event_type: str
    actor: str
    subject: str
    details: Mapping[str, object] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def __post_init__(self) -> None:
        require_aware(self.at, "at")
        object.__setattr__(self, "at", self.at.astimezone(UTC))
        object.__setattr__(self, "details", _frozen(self.details))

    def payload(self) -> dict[str, object]:
        """The fields the hash covers (everything but the two hashes)."""
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "event_type": self.event_type,
            "actor": self.actor,
            "subject": self.subject,
            "details": dict(self.details),
        }


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    """SHA-256 (hex) of ``prev_hash`` followed by the event's canonical JSON."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(canonical_json(event.payload()).encode("utf-8"))
    return digest.hexdigest()


def link(entries: Iterable[AuditEntry], at: datetime, seq: int,
         prev_hash: str) -> list[AuditEvent]:
    """``entries`` as consecutive links after the event ``seq - 1`` whose hash is ``prev_hash``
    (each normalised once, hashed once: bulk downloads append hundreds at a time)."""
    events = []
    for entry in entries:
        event = AuditEvent(seq=seq, at=at, event_type=entry.event_type, actor=entry.actor,
                           subject=entry.subject, details=entry.details, prev_hash=prev_hash)
        prev_hash = event_hash(prev_hash, event)
        object.__setattr__(event, "hash", prev_hash)  # frozen: set before anyone sees it
        events.append(event)
        seq += 1
    return events


def verify_chain(events: Iterable[AuditEvent], start_hash: str = GENESIS_HASH) -> int | None:
    """Index of the first event that breaks the chain, or ``None`` when all of it holds.

    An event breaks the chain if it does not point at its predecessor's hash (a deletion or
    reordering before it) or if its own hash does not match its content (a modification).
    ``start_hash`` lets a verifier start from a trusted checkpoint instead of the genesis.
    """
    expected_prev = start_hash
    for index, event in enumerate(events):
        if event.prev_hash != expected_prev or event.hash != event_hash(event.prev_hash, event):
            return index
        expected_prev = event.hash
    return None
