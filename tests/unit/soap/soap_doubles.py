"""The NotificationService port called in-process, with stub queries and the real protocol.

``InProcessPort`` builds the Spyne application exactly as the composition root does (the
``GatedSoap11`` protocol, the response signer over the demo server key) around a stub of
``NotificationQueries``, and calls it through its WSGI interface the way ``soap.wsgi`` does after
the gate: the parsed request envelope and the verified caller in the environ.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from gateway import namespaces as ns
from gateway.domain.clock import SystemClock
from gateway.domain.principal import Principal, PrincipalKind
from gateway.pki import DemoPki
from gateway.services.notifications import ContentStream, Page
from gateway.soap.application import GatewayWsgiApplication
from gateway.soap.context import ENVIRON_ENVELOPE, ENVIRON_VERIFIED, SoapDependencies
from gateway.soap.contract import port_application
from gateway.soap.splice import ENVIRON_RESPONSE_LENGTH
from gateway.wssec import sign_response
from gateway.wssec.response import BodyCanonicalForm

CALLER = Principal(PrincipalKind.ENTITY, "B12345674", "Empresa de prueba", "00" * 32)


@dataclass
class StubQueries:
    """Answers ``list`` with ``page`` and ``open_content`` with ``content``."""

    page: Page = field(default_factory=lambda: Page((), None))
    content: ContentStream | None = None

    def list(self, *_: Any) -> Page:
        return self.page

    def open_content(self, *_: Any) -> ContentStream:
        assert self.content is not None
        return self.content


@dataclass(frozen=True)
class Response:
    status: str
    headers: dict[str, str]
    body: bytes
    announced_length: int | None
    """What the port told ``soap.wsgi`` to send as Content-Length for a streamed body."""

    @property
    def envelope(self) -> etree._Element:
        return etree.fromstring(self.body)

    def exclusive_c14n(self) -> bytes:
        return etree.tostring(self.envelope, method="c14n", exclusive=True)


class InProcessPort:
    def __init__(self, queries: StubQueries, signer_pki: DemoPki | None) -> None:
        signer = None
        if signer_pki is not None:
            key, cert = signer_pki.server.private_key(), signer_pki.server.certificate()

            def signer(envelope: etree._Element, *,
                       body_canonical: BodyCanonicalForm | None = None) -> None:
                sign_response(envelope, key, cert, SystemClock(), body_canonical=body_canonical)

        deps = SoapDependencies(queries=queries, representation=None,  # type: ignore[arg-type]
                                clock=SystemClock(), official_zone=ZoneInfo("Europe/Madrid"))
        self.app = GatewayWsgiApplication(port_application(
            "notification-service", notification=deps, response_signer=signer))

    def call(self, operation: str, **arguments: str) -> Response:
        parts = "".join(f"<n:{name}>{value}</n:{name}>" for name, value in arguments.items())
        request = etree.fromstring(
            f'<s:Envelope xmlns:s="{ns.SOAP11_ENV}"><s:Body>'
            f'<n:{operation} xmlns:n="{ns.NOTIFICATION_SERVICE}">{parts}</n:{operation}>'
            "</s:Body></s:Envelope>".encode())
        environ = {
            "REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/xml; charset=utf-8",
            "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b""), "PATH_INFO": "/NotificationService",
            "QUERY_STRING": "", "SCRIPT_NAME": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            ENVIRON_ENVELOPE: request, ENVIRON_VERIFIED: SimpleNamespace(principal=CALLER),
        }
        started: list[tuple[str, list[tuple[str, str]]]] = []
        body = b"".join(self.app(environ, lambda status, headers, *_: started.append(
            (status, headers))))
        status, headers = started[0]
        return Response(status, dict(headers), body, environ.get(ENVIRON_RESPONSE_LENGTH))


