"""``gateway pki rotate``: schedule the next response-signing certificate (issue 14).

Clients of government SOAP services have been cut off by silent certificate rotations. Here the
next certificate is scheduled with the instant it takes over (at least ``MIN_NOTICE`` ahead, so
every worker has read it before; days ahead in practice, so every client can fetch it with
``GetServerCertificates`` over a response signed by the current one). Scheduling checks what
signing will need: the key loads, it is the certificate's key, the certificate is valid at the
activation instant and is not already scheduled. Every schedule is audited
(``server_certificate.scheduled``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from gateway.domain.clock import Clock, to_utc
from gateway.domain.server_certificates import ScheduledCertificate
from gateway.errors import InvalidRequest
from gateway.wssec.signing_keys import REFRESH_S, load_credential

ROTATION_ACTOR = "OPERATOR"
MIN_NOTICE = timedelta(seconds=6 * REFRESH_S)
"""The least notice a rotation gets: every worker re-reads the schedule well within it."""


class ScheduleStore(Protocol):
    def all(self) -> list[ScheduledCertificate]: ...
    def add(self, entry: ScheduledCertificate, actor: str, subject: str,
            at: datetime) -> None: ...


class RotationService:
    def __init__(self, store: ScheduleStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def schedule(self, certificate: bytes, key_path: Path, active_from: datetime,
                 actor: str = ROTATION_ACTOR) -> ScheduledCertificate:
        now = self.clock.now()
        active_from = to_utc(active_from)
        if active_from < now + MIN_NOTICE:
            raise InvalidRequest(
                f"--at must be at least {int(MIN_NOTICE.total_seconds())} s from now: clients "
                "are told of the next certificate before it signs", code="TOO_SOON")
        key_path = key_path.resolve()
        credential = load_credential(certificate, key_path, active_from)
        cert = credential.certificate
        if not cert.not_valid_before_utc <= active_from < cert.not_valid_after_utc:
            raise InvalidRequest("the certificate is not valid at the activation instant",
                                 code="CERTIFICATE_NOT_VALID_THEN")
        entry = ScheduledCertificate(credential.fingerprint, credential.der, str(key_path),
                                     active_from, now)
        self.store.add(entry, actor, cert.subject.rfc4514_string(), now)
        return entry

    def scheduled(self) -> Sequence[ScheduledCertificate]:
        return self.store.all()
