"""The server certificates a client accepts on responses, across announced rotations (issue 14).

A client pins the server's certificate (``--server-cert``). The gateway announces the next
response-signing certificate before it uses it (``GetServerCertificates``); a client that learns
it **over a response it verified** with a certificate it already accepts adds it here, persists
it (the batch agent keeps it in its state file) and accepts responses signed by it from its
activation instant (``SKEW`` early, for clocks that differ). A response signed by any other
certificate is refused, however well-formed its signature: the response names its certificate
(the ``wsse:BinarySecurityToken``), and only an accepted one's key is used to verify.

Before an announced certificate takes over, ``upcoming`` lists it so the client can warn its
operator (the batch agent does at the start of each run).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from zeep.exceptions import SignatureVerificationFailed

from gateway import namespaces as ns

log = logging.getLogger("gateway.client")

SKEW = timedelta(minutes=5)
"""How early an announced certificate is accepted (the client's clock may run behind)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class KnownCertificate:
    certificate: x509.Certificate
    active_from: datetime | None
    """When it signs from; None for the pinned certificate (accepted at any time)."""

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(Encoding.DER)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


@dataclass(frozen=True)
class Announced:
    """One entry of a verified ``GetServerCertificates`` answer."""

    role: str
    der: bytes
    sha256: str
    active_from: datetime | None


class ServerCertificates:
    def __init__(self, pinned: x509.Certificate, announced: Iterable[KnownCertificate] = (), *,
                 clock: Callable[[], datetime] = _utc_now, skew: timedelta = SKEW) -> None:
        self._clock = clock
        self._skew = skew
        self._known: dict[bytes, KnownCertificate] = {}
        for entry in (KnownCertificate(pinned, None), *announced):
            self._known.setdefault(entry.der, entry)

    def now(self) -> datetime:
        """The client's clock (request Timestamps are stamped with it too)."""
        return self._clock()

    @property
    def pinned(self) -> x509.Certificate:
        return next(iter(self._known.values())).certificate

    def known(self) -> list[KnownCertificate]:
        return list(self._known.values())

    def accepted(self, der: bytes) -> x509.Certificate:
        """The certificate ``der`` if a response signed by it is accepted now, else
        ``SignatureVerificationFailed``."""
        entry = self._known.get(der)
        if entry is None:
            raise SignatureVerificationFailed(
                "the response is signed by a server certificate that was never announced")
        if entry.active_from is not None and self._clock() < entry.active_from - self._skew:
            raise SignatureVerificationFailed(
                f"the response is signed by the server certificate {entry.sha256} before its "
                f"announced activation at {entry.active_from.isoformat()}")
        return entry.certificate

    def learn(self, entries: Sequence[Announced]) -> list[KnownCertificate]:
        """Add the certificates of a ``GetServerCertificates`` answer **the caller verified**;
        returns those that are new (to persist). An entry whose digest does not match its
        certificate is ignored."""
        added = []
        for entry in entries:
            if hashlib.sha256(entry.der).hexdigest() != entry.sha256.lower():
                log.warning("announced server certificate ignored: its sha256 does not match")
                continue
            try:
                certificate = x509.load_der_x509_certificate(entry.der)
            except ValueError:
                log.warning("announced server certificate ignored: not an X.509 certificate")
                continue
            if entry.der in self._known:
                continue
            active_from = entry.active_from
            if active_from is None or entry.role == "CURRENT":
                # It signs now already (the server says so over a response we verified).
                active_from = min(active_from or self._clock(), self._clock())
            known = KnownCertificate(certificate, active_from.astimezone(UTC))
            self._known[entry.der] = known
            added.append(known)
        return added

    def upcoming(self) -> list[KnownCertificate]:
        """Announced certificates that do not sign yet (to warn about before they do)."""
        now = self._clock()
        return [entry for entry in self._known.values()
                if entry.active_from is not None and entry.active_from > now]


def signing_certificate(envelope: etree._Element, accepted: ServerCertificates) -> x509.Certificate:
    """The accepted certificate a response names in its ``wsse:Security`` header (the
    BinarySecurityToken the gateway embeds), or ``SignatureVerificationFailed``."""
    tokens = envelope.findall(f"./*/{{{ns.WSSE}}}Security/{{{ns.WSSE}}}BinarySecurityToken")
    if len(tokens) != 1 or not (tokens[0].text or "").strip():
        raise SignatureVerificationFailed("the response names no single server certificate")
    try:
        der = base64.b64decode("".join((tokens[0].text or "").split()), validate=True)
    except ValueError as exc:
        raise SignatureVerificationFailed("the server certificate is not base64") from exc
    return accepted.accepted(der)


def describe_upcoming(entry: KnownCertificate) -> str:
    assert entry.active_from is not None
    return (f"the server will sign its responses with a new certificate from "
            f"{entry.active_from.isoformat()} ({entry.certificate.subject.rfc4514_string()}, "
            f"sha256 {entry.sha256}); it was announced over a verified response and will be "
            "accepted")
