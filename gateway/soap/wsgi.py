"""The WSGI front: every route to an operation passes the WS-Security gate first.

Routing is an allow-list (CXF CVE-2012-5633 was an operation reachable around the security
interceptor through GET/query strings):

- ``POST /<Service>`` with no query string: gate -> Spyne. The only way to invoke an operation.
- ``GET /<Service>?wsdl``: the published contract (no credentials needed to read it). Its
  endpoint address is the public one (``public_address``): ``GATEWAY_PUBLIC_URL`` when set,
  else ``X-Forwarded-Proto``/``X-Forwarded-Host`` when the peer is a trusted proxy
  (``GATEWAY_TRUSTED_PROXIES``), else the request's own scheme and Host.
- ``GET /server-certificates``: the response-signing certificate now and the next one
  announced (PEM bundle with explanatory lines; ``wssec.signing_keys.pem_bundle``). Public
  information: a client trusts a next certificate only from the signed ``GetServerCertificates``.
- ``GET /healthz`` (liveness: the process answers), ``GET /readyz`` (readiness: the database
  answers; 503 with ``Retry-After`` while it does not), ``GET /metrics``: operations.
- ``/verify``, ``/verify/…``, ``/public/…``: public verification by CSV code
  (``gateway.web.public``), without WS-Security by design: the code is the credential.
- ``POST /tsa``: the local RFC 3161 time-stamping unit, when configured (a query carries only a
  digest, so it needs no WS-Security).
- anything else: a SOAP fault (405 for other methods, 404 for other paths).

After the gate, dispatch follows the signed Body: a ``SOAPAction`` header that names another
operation is refused (CXF CVE-2012-3451), and the Body must hold exactly one element.
Every refusal is a SOAP fault from ``soap.faults``, signed like any response. A refusal after
the signature was verified is an audit event in the chain; one before (junk) is counted and
summarised by ``soap.refusals`` and drains its source's bucket (``soap.limits``), and a source
whose bucket is empty is refused before its body is even parsed (429, unsigned). A verified
principal over its rate is refused right after the signature check (429, ``RATE_LIMITED``);
one over its document bytes per hour is refused by the content service before it reads the
document (429, ``RATE_LIMITED``, ``Retry-After`` from its byte bucket).
The database unreachable is ``SERVICE_UNAVAILABLE`` (503); both carry ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import urllib.parse
import uuid
import wsgiref.util
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lxml import etree

from gateway.domain.principal import Principal
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    RateLimited,
    ServiceUnavailable,
)
from gateway.wssec.gate import WsSecurityGate
from gateway.wssec.signing_keys import Announcement, pem_bundle
from gateway.xmlsafe import parse_xml

from .application import GatewayWsgiApplication, ResponseSigner
from .context import (
    ENVIRON_ATTACHMENTS,
    ENVIRON_CORRELATION,
    ENVIRON_DATABASE_FAILURE,
    ENVIRON_ENVELOPE,
    ENVIRON_FAULT_CODE,
    ENVIRON_RETRY_AFTER,
    ENVIRON_VERIFIED,
)
from .contract import PORT_OF_SERVICE, render_wsdl
from .faults import fault_envelope, http_status_line
from .limits import PrincipalLimits, SourceLimits
from .metrics import GatewayMetrics
from .refusals import UnauthenticatedRefusals
from .splice import ENVIRON_RESPONSE_LENGTH
from .xop import XopLimits, XopPackage, is_multipart, read_package, resolve_includes

log = logging.getLogger("gateway.http")

StartResponse = Callable[..., Any]
RefusalAudit = Callable[[GatewayError, Mapping[str, str]], None]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class PublicRoutes(Protocol):
    """Routes served without WS-Security (``gateway.web.public.PublicVerification``)."""

    def serves(self, path: str) -> bool: ...
    def __call__(self, environ: dict[str, Any],
                 start_response: StartResponse) -> Iterable[bytes]: ...


@dataclass(frozen=True)
class GatewayFront:
    services: Mapping[str, GatewayWsgiApplication]
    gate: WsSecurityGate
    response_signer: ResponseSigner | None
    audit_refusal: RefusalAudit
    health: Callable[[], bool]
    """Readiness (``/readyz``): the database answers."""
    metrics: GatewayMetrics
    max_message_bytes: int
    strict_wsi_status: bool = False
    junk: UnauthenticatedRefusals | None = None
    """Where refusals before authentication go (None: the chain, as authenticated ones)."""
    source_limits: SourceLimits | None = None
    principal_limits: PrincipalLimits | None = None
    retry_after_seconds: int = 5
    tsa: Callable[..., Iterable[bytes]] | None = None
    """The local RFC 3161 time-stamping unit (``POST /tsa``), when configured."""
    port_signers: Mapping[str, ResponseSigner | None] | None = None
    """The signer of a port's refusals when it is not ``response_signer`` (the WSCN port signs
    without mustUnderstand), by service path."""
    public: PublicRoutes | None = None
    """Public verification by CSV code (``GET /verify``, ``/public/…``), when configured."""
    public_url: str = ""
    """``GATEWAY_PUBLIC_URL``: the base the WSDL advertises, whatever the request says."""
    trusted_proxies: tuple[str, ...] = ()
    """``GATEWAY_TRUSTED_PROXIES``: peers whose ``X-Forwarded-Proto``/``-Host`` are believed."""
    server_certificates: Callable[[], Announcement] | None = None
    """The response-signing certificates announced (``GET /server-certificates``)."""
    xop_parents: Mapping[str, str] | None = None
    """Services that accept MTOM/XOP requests (``soap.xop``), each with the one element tag an
    ``xop:Include`` may stand in (a document's ``content``); other services refuse them."""
    xop_limits: XopLimits | None = None
    """Caps of an MTOM request (root part, one attachment, the whole body)."""

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        supplied = environ.get("HTTP_X_REQUEST_ID", "")
        correlation_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        environ[ENVIRON_CORRELATION] = correlation_id
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        query = environ.get("QUERY_STRING", "")
        service_name = path.strip("/")
        started = time.perf_counter()

        if method == "GET" and path == "/healthz" and not query:
            return _plain(start_response, "200 OK", b"ok\n", correlation_id)
        if method == "GET" and path == "/readyz" and not query:
            if self.health():
                return _plain(start_response, "200 OK", b"ready\n", correlation_id)
            self.metrics.database_errors.labels("readiness").inc()
            return _plain(start_response, "503 Service Unavailable", b"database unavailable\n",
                          correlation_id, extra=[("Retry-After", str(self.retry_after_seconds))])
        if path == "/tsa" and self.tsa is not None and not query:
            # RFC 3161 over HTTP: no WS-Security (a time-stamp query carries only a digest).
            return self.tsa(environ, start_response)
        if self.public is not None and self.public.serves(path):
            return self.public(environ, start_response)
        if method == "GET" and path == "/server-certificates" and not query \
                and self.server_certificates is not None:
            return _plain(start_response, "200 OK", pem_bundle(self.server_certificates()),
                          correlation_id, "application/pem-certificate-chain")
        if method == "GET" and path == "/metrics" and not query:
            body, content_type = self.metrics.render()
            return _plain(start_response, "200 OK", body, correlation_id, content_type)

        service = self.services.get(service_name)
        if service is None:
            return self._refuse(start_response, NotFound("no such endpoint", code="NO_SUCH_ENDPOINT"),
                                environ, correlation_id)
        if method == "GET" and query.lower() == "wsdl":
            address = public_address(environ, self.public_url, self.trusted_proxies) + path
            return _plain(start_response, "200 OK",
                          render_wsdl(PORT_OF_SERVICE[service_name], address), correlation_id,
                          "text/xml; charset=utf-8")
        if method != "POST":
            error = InvalidRequest("operations are invoked with POST", code="METHOD_NOT_ALLOWED")
            return self._refuse(start_response, error, environ, correlation_id,
                                status=405, extra=[("Allow", "POST")])
        if query:
            error = InvalidRequest("a query string is not accepted on a SOAP endpoint",
                                   code="QUERY_NOT_ALLOWED")
            return self._refuse(start_response, error, environ, correlation_id)

        source = str(environ.get("REMOTE_ADDR", "")) or "-"
        if self.source_limits is not None:
            try:
                self.source_limits.check(source)
            except RateLimited as error:
                self.metrics.rate_limited.labels("source").inc()
                self.metrics.observe(service_name, "-", "refused", time.perf_counter() - started)
                return self._refuse(start_response, error, environ, correlation_id,
                                    authenticated=False, sign=False)
        operations: list[str] = []
        package: XopPackage | None = None
        xop_parent = (self.xop_parents or {}).get(service_name)
        try:
            package = self._read_package(environ, service_name, xop_parent)
            raw = package.root if package is not None else self._read_body(environ)
            envelope = parse_xml(raw, max_bytes=self.max_message_bytes,
                                 max_depth=self.gate.policy.max_depth)
            del raw
            if package is not None:
                package.root = b""  # parsed: the tree is all that is needed now

            def admit(body: etree._Element, principal: Principal) -> None:
                operations.append("")  # the signature is verified: refusals are now audited
                if self.principal_limits is not None:
                    self.principal_limits.check(principal)
                operations[0] = _operation(body)
                _check_soap_action(environ.get("HTTP_SOAPACTION"), operations[0])

            verified = self.gate.verify(envelope, admit)
            operation = operations[0]
            if package is not None or xop_parent is not None:
                # After the signature check: the includes it covered name the parts.
                environ[ENVIRON_ATTACHMENTS] = resolve_includes(
                    envelope, package or XopPackage(b""), xop_parent)
        except GatewayError as error:
            if package is not None:
                package.close()
            status = 413 if error.code in _TOO_LARGE else None
            if isinstance(error, RateLimited):
                self.metrics.rate_limited.labels("principal").inc()
            self.metrics.observe(service_name, "-", "refused", time.perf_counter() - started)
            return self._refuse(start_response, error, environ, correlation_id, status=status,
                                authenticated=bool(operations))

        environ[ENVIRON_ENVELOPE] = envelope
        environ[ENVIRON_VERIFIED] = verified
        environ["wsgi.input"] = _EmptyInput()  # Spyne must not read the body again
        environ["CONTENT_LENGTH"] = "0"
        log.info("request %s %s by %s (%s) correlation_id=%s", service_name, operation,
                 verified.principal.acts_for, verified.principal.kind.value, correlation_id)

        def _start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            headers = [*headers, ("X-Request-Id", correlation_id)]
            streamed_length = environ.get(ENVIRON_RESPONSE_LENGTH)
            if streamed_length is not None and status.startswith("200") and not any(
                    name.lower() == "content-length" for name, _ in headers):
                # Spyne sends a generator without a length; we know it (soap.splice).
                headers.append(("Content-Length", str(streamed_length)))
            outcome = "ok" if status.startswith("200") else "fault"
            if environ.get(ENVIRON_FAULT_CODE):
                self.metrics.faults.labels(environ[ENVIRON_FAULT_CODE]).inc()
            if environ.get(ENVIRON_DATABASE_FAILURE):
                self.metrics.database_errors.labels(environ[ENVIRON_DATABASE_FAILURE]).inc()
            if status.startswith("503"):
                self.metrics.unavailable.inc()
                headers.append(("Retry-After", str(self.retry_after_seconds)))
            elif status.startswith("429"):  # document bytes per hour (soap.limits)
                self.metrics.rate_limited.labels("bytes").inc()
                headers.append(("Retry-After", str(environ.get(ENVIRON_RETRY_AFTER, 1))))
            self.metrics.observe(service_name, operation, outcome, time.perf_counter() - started)
            return start_response(status, headers, *args)

        try:
            return service(environ, _start)  # type: ignore[no-any-return]
        finally:  # the operation ran: its attachments were stored (or refused)
            if package is not None:
                package.close()
            environ.pop(ENVIRON_ATTACHMENTS, None)

    def _read_package(self, environ: dict[str, Any], service_name: str,
                      xop_parent: str | None) -> XopPackage | None:
        """An MTOM request's parts (``soap.xop``), or None for a plain SOAP request."""
        content_type = str(environ.get("CONTENT_TYPE", ""))
        if not is_multipart(content_type):
            return None
        if xop_parent is None or self.xop_limits is None:
            raise InvalidRequest(f"{service_name} does not accept MTOM (multipart) requests",
                                 code="MTOM_NOT_ACCEPTED")
        return read_package(environ["wsgi.input"], content_type, _declared_length(environ),
                            self.xop_limits)

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        declared = _declared_length(environ)
        if declared is not None and declared > self.max_message_bytes:
            raise LimitExceeded(f"the message exceeds {self.max_message_bytes} bytes",
                                code="MESSAGE_TOO_LARGE")
        stream = environ["wsgi.input"]
        # Read at most one byte more than allowed: a chunked or lying client cannot make us
        # buffer more than the cap.
        limit = self.max_message_bytes + 1 if declared is None else declared
        data: bytes = stream.read(limit)
        if len(data) > self.max_message_bytes:
            raise LimitExceeded(f"the message exceeds {self.max_message_bytes} bytes",
                                code="MESSAGE_TOO_LARGE")
        return data

    def _refuse(self, start_response: StartResponse, error: GatewayError,
                environ: Mapping[str, Any], correlation_id: str, *, status: int | None = None,
                extra: list[tuple[str, str]] | None = None, authenticated: bool = False,
                sign: bool = True) -> Iterable[bytes]:
        remote = str(environ.get("REMOTE_ADDR", "")) or "-"
        headers = [("Content-Type", "text/xml; charset=utf-8"), ("X-Request-Id", correlation_id),
                   *(extra or [])]
        self.metrics.faults.labels(error.code).inc()
        if isinstance(error, ServiceUnavailable):
            # the audit store is the database that just failed: counted and logged instead
            self.metrics.unavailable.inc()
            self.metrics.database_errors.labels(error.failure_class).inc()
            headers.append(("Retry-After", str(self.retry_after_seconds)))
        elif isinstance(error, RateLimited) and not sign:
            headers.append(("Retry-After", str(error.retry_after)))  # counted by its caller
        elif authenticated or self.junk is None:
            if isinstance(error, RateLimited):
                headers.append(("Retry-After", str(error.retry_after)))
            self._audit(error, remote, environ, correlation_id)
        else:
            self.junk.record(error, remote, correlation_id)
            if self.source_limits is not None:
                self.source_limits.charge(remote)
        envelope, class_status = fault_envelope(error, correlation_id)
        signer = self.response_signer
        service_name = str(environ.get("PATH_INFO", "")).strip("/")
        if self.port_signers is not None and service_name in self.port_signers:
            signer = self.port_signers[service_name]
        if signer is not None and sign:
            signer(envelope)
        body = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        headers.append(("Content-Length", str(len(body))))
        code = status or class_status
        if code == 401:
            headers.append(("WWW-Authenticate", 'WSSE realm="NOTESS gateway", profile="X509"'))
        # Transport-level refusals (404/405/413) and the retry-later ones (429/503) keep their
        # status even in strict WS-I mode: clients and balancers act on them.
        strict = self.strict_wsi_status and status is None and code not in (429, 503)
        start_response(http_status_line(code, strict), headers)
        return [body]

    def _audit(self, error: GatewayError, remote: str, environ: Mapping[str, Any],
               correlation_id: str) -> None:
        try:
            self.audit_refusal(error, {
                "code": error.code, "fault": error.fault_code, "remote": remote,
                "path": str(environ.get("PATH_INFO", "")), "correlation_id": correlation_id,
            })
        except ServiceUnavailable as failure:  # answered anyway; logged once per interval
            self.metrics.unavailable.inc()
            self.metrics.database_errors.labels(failure.failure_class).inc()
        except Exception:  # the refusal must still be answered if the audit store is down
            log.exception("could not audit a refused request, correlation_id=%s", correlation_id)


_TOO_LARGE = ("MESSAGE_TOO_LARGE", "ATTACHMENT_TOO_LARGE")


def _declared_length(environ: Mapping[str, Any]) -> int | None:
    raw_length = environ.get("CONTENT_LENGTH") or ""
    try:
        return int(raw_length) if raw_length else None
    except ValueError as exc:
        raise InvalidRequest("Content-Length is not a number", code="BAD_CONTENT_LENGTH") from exc


_FORWARDED_HOST = re.compile(r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$")


def public_address(environ: Mapping[str, Any], public_url: str = "",
                   trusted_proxies: tuple[str, ...] = ()) -> str:
    """The base URL clients reach this gateway at, without a trailing slash.

    ``public_url`` (``GATEWAY_PUBLIC_URL``) wins. Otherwise the forwarded scheme and host are
    taken only from a peer inside ``trusted_proxies``: anyone else could make the published
    WSDL send its readers (zeep, the batch agent) to an address of their choosing. A forwarded
    value that is not a plain scheme or host name is ignored.
    """
    if public_url:
        return public_url.rstrip("/")
    own = wsgiref.util.application_uri(dict(environ)).rstrip("/")
    if not trusted_proxies or not _is_trusted(str(environ.get("REMOTE_ADDR", "")), trusted_proxies):
        return own
    scheme = str(environ.get("HTTP_X_FORWARDED_PROTO", "")).split(",")[0].strip().lower()
    host = str(environ.get("HTTP_X_FORWARDED_HOST", "")).split(",")[0].strip()
    if scheme not in ("http", "https"):
        scheme = str(environ.get("wsgi.url_scheme", "http"))
    if not host or not _FORWARDED_HOST.match(host):
        host = str(environ.get("HTTP_HOST", "")) or own.split("://", 1)[1].split("/", 1)[0]
    script = urllib.parse.quote(str(environ.get("SCRIPT_NAME", "")))
    return f"{scheme}://{host}{script}".rstrip("/")


def _is_trusted(peer: str, trusted_proxies: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in trusted_proxies)


def _operation(body: etree._Element) -> str:
    """The operation named by the signed Body: exactly one element, nothing else."""
    children = [c for c in body if isinstance(c.tag, str)]
    others = [c for c in body if not isinstance(c.tag, str)]
    text = (body.text or "").strip() or any((c.tail or "").strip() for c in body)
    if len(children) != 1 or others or text:
        raise InvalidRequest("the SOAP Body must contain exactly one operation element",
                             code="INVALID_BODY")
    return etree.QName(children[0]).localname


def _check_soap_action(header: str | None, operation: str) -> None:
    action = (header or "").strip().strip('"')
    if not action:
        return
    if action == operation or re.search(rf"[/#:]{re.escape(operation)}$", action):
        return
    raise InvalidRequest("SOAPAction names another operation than the signed Body",
                         code="SOAPACTION_MISMATCH")


class _EmptyInput:
    def read(self, *_: Any) -> bytes:
        return b""


def _plain(start_response: StartResponse, status: str, body: bytes, correlation_id: str,
           content_type: str = "text/plain; charset=utf-8",
           extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                            ("X-Request-Id", correlation_id), *(extra or [])])
    return [body]

