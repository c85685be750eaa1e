"""The server's response-signing keys over time (issue 14: rotation announced in advance).

``SigningKeys`` holds the configured certificate and key (``GATEWAY_SERVER_CERT``/``_KEY``) and
the certificates ``gateway pki rotate`` scheduled, read from the database every
``REFRESH_S`` seconds (a database outage keeps the last schedule read). For each response the
signer asks ``at(now)``: the credential is chosen by the clock alone, so every worker of every
host switches at the activation instant, without a restart. ``announcement(now)`` is what
``GetServerCertificates`` and ``GET /server-certificates`` publish: the current certificate and
the next one with its activation time.

A scheduled key that cannot be loaded on this host (missing file, not the certificate's key) is
skipped and logged: the previous key keeps signing, and the certificate is not announced here.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.domain.server_certificates import ScheduledCertificate, signing_at
from gateway.errors import GatewayError, InvalidRequest
from gateway.logs import LogThrottle

log = logging.getLogger("gateway.signing_keys")
_throttled = LogThrottle(log, interval_s=60.0)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

REFRESH_S = 10.0
"""How long a ``gateway pki rotate`` takes at most to reach every worker (announce well before)."""


@dataclass(frozen=True)
class SigningCredential:
    certificate: x509.Certificate
    key: PrivateKey
    active_from: datetime | None
    """When it started (or starts) signing; None for the configured one."""

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Announcement:
    current: SigningCredential
    next: SigningCredential | None


def load_credential(certificate: bytes, key_path: Path,
                    active_from: datetime | None = None) -> SigningCredential:
    """A certificate (PEM or DER) and the PEM key at ``key_path``, which must be its key."""
    try:
        cert = (x509.load_pem_x509_certificate(certificate) if b"-----BEGIN" in certificate
                else x509.load_der_x509_certificate(certificate))
    except ValueError as exc:
        raise InvalidRequest("not an X.509 certificate (PEM or DER)",
                             code="CERTIFICATE_MALFORMED") from exc
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidRequest(f"cannot load the private key {key_path}: {exc}",
                             code="KEY_UNUSABLE") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidRequest("the server key must be RSA or EC", code="KEY_UNUSABLE")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, public):
        raise InvalidRequest(f"{key_path} is not the key of that certificate",
                             code="KEY_MISMATCH")
    return SigningCredential(cert, key, active_from)


class SigningKeys:
    def __init__(self, configured: SigningCredential,
                 schedule: Callable[[], Sequence[ScheduledCertificate]] | None = None, *,
                 refresh_s: float = REFRESH_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._configured = configured
        self._schedule = schedule
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._refresh_at = float("-inf")
        self._scheduled: list[tuple[datetime, SigningCredential]] = []
        self._loaded: dict[str, SigningCredential] = {}

    def at(self, now: datetime) -> SigningCredential:
        """The credential that signs a response at ``now``."""
        current, _, _, _ = signing_at(self._configured, self._current_schedule(), now)
        return current

    def announcement(self, now: datetime) -> Announcement:
        current, _, upcoming, _ = signing_at(self._configured, self._current_schedule(), now)
        return Announcement(current, upcoming)

    def _current_schedule(self) -> list[tuple[datetime, SigningCredential]]:
        if self._schedule is None:
            return []
        now = self._monotonic()
        with self._lock:
            if now < self._refresh_at:
                return self._scheduled
            self._refresh_at = now + self._refresh_s  # one thread refreshes, others go on
        try:
            entries = self._schedule()
        except GatewayError as exc:  # database unavailable: keep the last schedule read
            _throttled.log(logging.WARNING, "schedule",
                           "server certificate schedule not refreshed: %s", exc.code)
            return self._scheduled
        fresh = []
        for entry in entries:
            if entry.fingerprint == self._configured.fingerprint:
                continue
            credential = self._loaded.get(entry.fingerprint)
            if credential is None or credential.active_from != entry.active_from:
                try:
                    credential = load_credential(entry.certificate, Path(entry.key_path),
                                                 entry.active_from)
                except GatewayError as exc:
                    _throttled.log(logging.ERROR, f"key:{entry.fingerprint}",
                                   "scheduled server certificate %s not usable on this host "
                                   "(%s): the previous key keeps signing", entry.fingerprint,
                                   exc.message)
                    continue
                self._loaded[entry.fingerprint] = credential
            fresh.append((entry.active_from, credential))
        self._scheduled = fresh
        return fresh


def pem_bundle(announcement: Announcement) -> bytes:
    """``GET /server-certificates``: the current certificate then the next, each preceded by
    explanatory lines (RFC 7468 §2 lets text surround the encapsulation boundaries)."""
    parts = []
    for role, credential in (("current", announcement.current), ("next", announcement.next)):
        if credential is None:
            continue
        since = credential.active_from.isoformat() if credential.active_from else "-"
        parts.append(
            f"# {role} response-signing certificate\n"
            f"# subject: {credential.certificate.subject.rfc4514_string()}\n"
            f"# sha256: {credential.fingerprint}\n"
            f"# active-from: {since}\n"
            f"# not-after: {credential.certificate.not_valid_after_utc.isoformat()}\n")
        parts.append(credential.certificate.public_bytes(serialization.Encoding.PEM).decode())
    return "".join(parts).encode()
