"""Replay protection (DESIGN.md §5 step 6; OASIS WSS 1.1 §10 "Security Timestamps" rationale).

The gate remembers ``sha256(SignatureValue || Created)`` until the message could no longer be
accepted anyway (``min(Expires, Created + timestamp_ttl)``): a request seen before inside that
window is a replay; after it the Timestamp check refuses the message, so nothing needs remembering
longer. Only verified requests are remembered: a forged one never causes a write. (When a policy
lets a request come without Timestamp, the nonce is the SignatureValue alone, kept for the TTL:
such a policy cannot stop a replay after that.)

Production uses a repository over the shared ``used_nonce`` table (unique key, expiry), so every
gunicorn host sees every nonce; :class:`InMemoryNonceStore` is for tests and benchmarks only.
"""

from __future__ import annotations

import hashlib
import heapq
import threading
from datetime import datetime
from typing import Protocol


class NonceStore(Protocol):
    """Remembers nonces until they expire."""

    def remember(self, digest: str, expires_at: datetime, now: datetime) -> bool:
        """Record ``digest`` until ``expires_at``; False when it is already recorded (a replay)."""
        ...


def replay_digest(signature_value: bytes, created: datetime | None) -> str:
    """The nonce of a signed request: SHA-256 over the decoded SignatureValue and Created (UTC).

    Decoded bytes, not Base64 text, so re-wrapping the Base64 does not make a "new" request.
    """
    stamp = created.isoformat().encode("ascii") if created is not None else b""
    return hashlib.sha256(b"".join((signature_value, b"|", stamp))).hexdigest()


class InMemoryNonceStore:
    """A process-local ``NonceStore`` -- **for tests and benchmarks only** (not shared by hosts)."""

    def __init__(self) -> None:
        self._expiry: dict[str, datetime] = {}
        self._queue: list[tuple[datetime, str]] = []
        self._lock = threading.Lock()

    def remember(self, digest: str, expires_at: datetime, now: datetime) -> bool:
        with self._lock:
            while self._queue and self._queue[0][0] <= now:
                expired_at, old = heapq.heappop(self._queue)
                if self._expiry.get(old) == expired_at:
                    del self._expiry[old]
            known = self._expiry.get(digest)
            if known is not None and known > now:
                return False
            self._expiry[digest] = expires_at
            heapq.heappush(self._queue, (expires_at, digest))
            return True

    def __len__(self) -> int:
        return len(self._expiry)
