"""Whether a trusted-list anchor's service was granted at a given time (ETSI TS 119 612 §5.5.9
and §5.6, the service's status and its history; EN 319 102-1 §5.6.2.1 past validation).

``gateway trust import-tl`` writes, next to each anchor taken from a trusted list, its service's
status history (``<trust dir>/tl/<sha256>.json``, ``history``: status, starting time, and whether
that period counts as ``trusted`` for the imported service types). A service granted, then
withdrawn, stays an anchor: a signature proven (by a time-stamp) to exist while it was granted
is still anchored; one whose best proven time is after the withdrawal is not. Anchors without a
history (the trust directory's own CA files, anchors imported before histories were recorded)
are trusted at any time, as before.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Period = tuple[datetime | None, bool, str]
"""(starting time or None for "since ever", trusted, status URI), oldest first."""


@dataclass(frozen=True, slots=True)
class ServiceVerdict:
    """The status of an anchor's service at one time."""

    trusted: bool
    status: str
    since: datetime | None
    until: datetime | None
    """When the next known status starts (None: still in force)."""


@dataclass(frozen=True)
class ServiceStatusHistory:
    """Status histories of trusted-list anchors, by the SHA-256 of the anchor's DER."""

    periods: Mapping[str, tuple[Period, ...]] = field(default_factory=dict)

    @classmethod
    def from_directory(cls, directory: Path) -> ServiceStatusHistory:
        """Read the ``*.json`` records ``import-tl`` wrote in ``directory`` (``<trust dir>/tl``);
        a record that cannot be read is refused (a ValueError), as an unreadable anchor is."""
        periods: dict[str, tuple[Period, ...]] = {}
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else ():
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                history = record.get("history")
                if not history:
                    continue
                parsed = tuple(
                    (
                        None if item["since"] is None else datetime.fromisoformat(item["since"]),
                        bool(item["trusted"]),
                        str(item["status"]),
                    )
                    for item in history
                )
                fingerprint = str(record["sha256"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"the trusted-list record {path.name} cannot be read") from exc
            if any(since is not None and since.tzinfo is None for since, _, _ in parsed):
                raise ValueError(f"the trusted-list record {path.name} has a naive time")
            # oldest first (a record edited by hand may be out of order); None: since ever
            periods[fingerprint] = tuple(
                sorted(parsed, key=lambda period: (period[0] is not None, period[0] or _EPOCH))
            )
        return cls(periods)

    def __bool__(self) -> bool:
        return bool(self.periods)

    def next_change_after(self, at: datetime) -> datetime | None:
        """The first status change of any anchor after ``at`` (bounds how long a refusal that may
        rest on a status can be remembered)."""
        index = bisect.bisect_right(self._changes, at)
        return self._changes[index] if index < len(self._changes) else None

    @cached_property
    def _changes(self) -> list[datetime]:
        return sorted(
            {since for history in self.periods.values() for since, _, _ in history if since}
        )

    def status_at(self, anchor: x509.Certificate, at: datetime) -> ServiceVerdict | None:
        """The anchor's service status at ``at``; None when the anchor has no recorded history
        (not from a trusted list). Before the first known status: not trusted."""
        if not self.periods:
            return None
        history = self.periods.get(anchor.fingerprint(hashes.SHA256()).hex())
        if history is None:
            return None
        current: Period | None = None
        following: datetime | None = None
        for period in history:
            since = period[0]
            if since is None or since <= at:
                current, following = period, None
            elif following is None:
                following = since
        if current is None:
            return ServiceVerdict(False, "", None, history[0][0])
        return ServiceVerdict(current[1], current[2], current[0], following)


NO_SERVICE_HISTORY = ServiceStatusHistory()
