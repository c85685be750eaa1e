"""What SOAP service methods get from the composition root and from the gate, per request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from gateway.domain.clock import Clock
from gateway.domain.principal import Principal
from gateway.services.access import AccessService
from gateway.services.events import EventsService
from gateway.services.notifications import NotificationQueries
from gateway.services.receipts import ReceiptService
from gateway.services.representation import RepresentationService
from gateway.wssec.signing_keys import Announcement

# WSGI environ keys set by ``soap.wsgi`` once the gate has verified the request.
ENVIRON_VERIFIED = "notess.verified"
ENVIRON_ENVELOPE = "notess.envelope"
ENVIRON_CORRELATION = "notess.correlation_id"
# ...and by ``soap.application`` when a call ends in a fault, for ``soap.metrics``.
ENVIRON_FAULT_CODE = "notess.fault_code"
ENVIRON_DATABASE_FAILURE = "notess.database_failure"
ENVIRON_RETRY_AFTER = "notess.retry_after"
"""Set by the application when a service refused with RATE_LIMITED (document bytes): the
seconds the front sends as ``Retry-After`` with the 429."""
ENVIRON_ATTACHMENTS = "notess.attachments"
"""MTOM requests: the element each ``xop:Include`` stood in -> its ``xop.Attachment``."""


@dataclass(frozen=True)
class SoapDependencies:
    queries: NotificationQueries
    representation: RepresentationService
    clock: Clock
    official_zone: ZoneInfo
    receipts: ReceiptService | None = None
    access: AccessService | None = None
    server_certificates: Callable[[], Announcement] | None = None
    """The response-signing certificate now and the next announced (GetServerCertificates)."""
    events: EventsService | None = None


def principal_of(ctx: Any) -> Principal:
    """The principal the WS-Security gate verified for this request (never from the message)."""
    verified = ctx.transport.req_env[ENVIRON_VERIFIED]
    principal: Principal = verified.principal
    return principal


def correlation_of(ctx: Any) -> str:
    value: str = ctx.transport.req_env.get(ENVIRON_CORRELATION, "-")
    return value


def activate_invitations_on_call(application: Any, access: AccessService | None) -> None:
    """A person's first authenticated call activates its pending access invitations: listen
    to every call Spyne dispatches (after the gate verified the caller) on ``application``."""
    if access is None:
        return

    def on_call(ctx: Any) -> None:
        access.on_authenticated(principal_of(ctx))

    application.event_manager.add_listener("method_call", on_call)
