"""Response-signing certificates scheduled in advance (issue 14: rotation announced before use).

The gateway signs every response with one certificate at a time. ``gateway pki rotate`` schedules
the next one with the instant it takes over; until then ``GetServerCertificates`` (and ``GET
/server-certificates``) announce it, so clients can learn it over a response signed by the
current one and accept it when it starts signing. Which certificate signs is a function of the
clock alone (``signing_at``), so every worker of every host switches at the same instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ScheduledCertificate:
    """A certificate ``gateway pki rotate`` scheduled (DER; the key stays in a file)."""

    fingerprint: str
    """SHA-256 of the DER, lower-case hex."""
    certificate: bytes
    key_path: str
    """Where every host finds the private key (PEM, unencrypted, readable by the service)."""
    active_from: datetime
    scheduled_at: datetime


def signing_at(configured: T, scheduled: Sequence[tuple[datetime, T]],
                  now: datetime) -> tuple[T, datetime | None, T | None, datetime | None]:
    """(current, its activation or None for the configured one, next, its activation) at
    ``now``: the latest scheduled entry whose activation has come signs, else ``configured``;
    the next is the earliest still to come."""
    current, since = configured, None
    upcoming: tuple[datetime, T] | None = None
    for active_from, entry in sorted(scheduled, key=lambda pair: pair[0]):
        if active_from <= now:
            current, since = entry, active_from
        elif upcoming is None:
            upcoming = (active_from, entry)
    if upcoming is None:
        return current, since, None, None
    return current, since, upcoming[1], upcoming[0]
