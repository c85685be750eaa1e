"""Public verification routes: a receipt's CSV code is the only credential (issue 15).

Anyone holding a printed justificante -- a judge, an auditor, an employee -- checks it without
an electronic certificate, so these routes sit beside the WS-Security gate, never behind it:

- ``GET /verify[?code=…&lang=es|en]``: the page (``verify_page``): the summary the printed
  justificante shows, a link to the issued PDF, an upload form to compare a PDF with it.
- ``GET /verify/pdf?code=…``: the one signed PDF of the receipt, byte-identical to
  ``GetReceipt(format=PDF)``.
- ``POST /verify/check`` (``multipart/form-data``: ``code``, ``pdf``): SHA-256 of the upload
  against the issued PDF's; the upload is hashed in memory and dropped.
- ``GET /public/verify.json?code=…``: the same look-up as JSON.
- ``POST /public/ValidationService``: ``VerifyDocumentCode`` as SOAP 1.1 without WS-Security,
  the same answer as the signed native port (``soap.validation_service.document_code_result``);
  any other operation is refused. The response is not signed (no WS-Security either way).

What a code reveals is what the printed justificante shows (registration number, official time,
decision, number of items, issuers, signer's name and identifier, digests) -- never a subject,
so never special-category content. A malformed code is told apart (it is a typing error, and
says nothing about receipts); for a well-formed one the only answer is found or not found.

Rate limit: a token bucket per source address (``REMOTE_ADDR``, or the ``X-Real-IP`` a trusted
reverse proxy sets: ``GATEWAY_TRUSTED_PROXIES``), per worker process, over every public route: ``PublicPolicy.burst`` look-ups at once, refilled at ``per_minute``. Beyond it,
HTTP 429 with ``Retry-After``. In-process keeps it simple and needs no shared store; with N
workers the effective limit is up to N times the figure (documented in DESIGN.md).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

from lxml import etree

from gateway import namespaces
from gateway.errors import GatewayError, InvalidRequest
from gateway.services.receipts import CodeVerification, ReceiptService
from gateway.soap.faults import fault_envelope, http_status_line
from gateway.soap.validation_service import document_code_element
from gateway.xmlsafe import parse_xml

from .verify_page import VERIFY_JS, PageState, choose_language, render_page

log = logging.getLogger("gateway.public")

StartResponse = Callable[..., Any]

PUBLIC_SOAP_PATH = "/public/ValidationService"
JSON_PATH = "/public/verify.json"
_SECURITY_HEADERS = [
    ("Content-Security-Policy", ("default-src 'none'; script-src 'self'; style-src "
                                 "'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
                                 "base-uri 'none'")),
    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]


@dataclass(frozen=True, slots=True)
class PublicPolicy:
    """Limits of the public routes."""

    per_minute: float = 60.0
    """Look-ups a source address may make per minute, sustained."""
    burst: int = 30
    """Look-ups a source address may make at once."""
    max_upload_bytes: int = 10 * 1024 * 1024
    """Largest PDF (or SOAP message) accepted; the justificantes are far smaller."""
    max_addresses: int = 100_000
    """Buckets kept in memory at most; the oldest are dropped beyond it."""
    trusted_proxies: tuple[str, ...] = ()
    """Reverse proxies (addresses or CIDR networks) whose ``X-Real-IP`` names the client; any
    other peer is limited by its own address, whatever headers it sends."""

    def client_address(self, environ: Mapping[str, Any]) -> str:
        """The address the rate limit counts: the peer's, or the one a trusted proxy names."""
        peer = str(environ.get("REMOTE_ADDR", ""))
        forwarded = str(environ.get("HTTP_X_REAL_IP", "")).strip()
        if not forwarded or not self.trusted_proxies:
            return peer
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return peer
        if any(address in ipaddress.ip_network(n, strict=False) for n in self.trusted_proxies):
            return forwarded
        return peer


@dataclass
class TokenBucket:
    """Per-address token buckets (a thread-safe dict; gunicorn's sync workers use one thread)."""

    per_minute: float
    burst: int
    max_addresses: int = 100_000
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, address: str) -> float:
        """0 when ``address`` may go on (a token taken), else the seconds until it may."""
        now = self.clock()
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, at = self._buckets.pop(address, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * rate)
            if len(self._buckets) >= self.max_addresses:
                self._buckets.pop(next(iter(self._buckets)))  # the least recently seen
            if tokens >= 1.0:
                self._buckets[address] = (tokens - 1.0, now)
                return 0.0
            self._buckets[address] = (tokens, now)
            return (1.0 - tokens) / rate


@dataclass(frozen=True)
class PublicVerification:
    """The WSGI application of the public routes (mounted by ``soap.wsgi.GatewayFront``)."""

    receipts: ReceiptService
    zone: ZoneInfo
    policy: PublicPolicy = PublicPolicy()
    limiter: TokenBucket = field(default_factory=lambda: TokenBucket(60.0, 30))

    @classmethod
    def build(cls, receipts: ReceiptService, zone: ZoneInfo,
              policy: PublicPolicy = PublicPolicy()) -> PublicVerification:
        return cls(receipts, zone, policy,
                   TokenBucket(policy.per_minute, policy.burst, policy.max_addresses))

    @staticmethod
    def serves(path: str) -> bool:
        return path in ("/verify", "/verify/") or path.startswith(("/verify/", "/public/"))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        query = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=10)
        language = choose_language(_first(query, "lang"),
                                   environ.get("HTTP_ACCEPT_LANGUAGE", ""))
        if path == "/verify/verify.js" and method == "GET":  # static: not rate limited
            return _send(start_response, "200 OK", VERIFY_JS, "text/javascript; charset=utf-8")
        wait = self.limiter.take(self.policy.client_address(environ))
        if wait:
            return self._limited(start_response, path, language, wait)
        try:
            if path in ("/verify", "/verify/") and method == "GET":
                return self._page(start_response, language, _first(query, "code"))
            if path == "/verify/pdf" and method == "GET":
                return self._pdf(start_response, _first(query, "code") or "")
            if path == "/verify/check" and method == "POST":
                return self._check(environ, start_response, language)
            if path == JSON_PATH and method == "GET":
                return self._json(start_response, _first(query, "code") or "")
            if path == PUBLIC_SOAP_PATH and method == "POST":
                return self._soap(environ, start_response)
        except Exception:  # a public page never shows a traceback
            log.exception("public verification failed on %s", path)
            return _send(start_response, "500 Internal Server Error", b"internal error\n")
        return _send(start_response, "404 Not Found", b"not found\n")

    # -- the page ----------------------------------------------------------------------------

    def _page(self, start_response: StartResponse, language: str,
              code: str | None) -> Iterable[bytes]:
        if code is None or not code.strip():
            return self._html(start_response, PageState(language))
        try:
            found = self.receipts.verify_code(code)
        except InvalidRequest:
            return self._html(start_response, PageState(language, code, malformed=True),
                              "400 Bad Request")
        return self._html(start_response, PageState(language, found.code, found))

    def _pdf(self, start_response: StartResponse, code: str) -> Iterable[bytes]:
        try:
            pdf = self.receipts.pdf_by_code(code)
        except InvalidRequest:
            return _send(start_response, "400 Bad Request", b"malformed code\n")
        if pdf is None:
            return _send(start_response, "404 Not Found", b"no receipt with this code\n")
        name = "justificante-" + quote(code.replace(" ", "").upper()) + ".pdf"
        return _send(start_response, "200 OK", pdf, "application/pdf",
                     [("Content-Disposition", f'attachment; filename="{name}"')])

    def _check(self, environ: dict[str, Any], start_response: StartResponse,
               language: str) -> Iterable[bytes]:
        body = _read(environ, self.policy.max_upload_bytes + 64 * 1024)
        if body is None:
            return _send(start_response, "413 Request Entity Too Large", b"too large\n")
        form = _multipart(environ.get("CONTENT_TYPE", ""), body)
        code = form.get("code", b"").decode("utf-8", "replace")
        try:
            found = self.receipts.verify_code(code)
        except InvalidRequest:
            return self._html(start_response, PageState(language, code, malformed=True),
                              "400 Bad Request")
        if not found.found:
            return self._html(start_response, PageState(language, found.code, found))
        upload = form.get("pdf")
        if not upload:
            return self._html(start_response, PageState(language, found.code, found,
                                                        check="no_file"))
        if len(upload) > self.policy.max_upload_bytes:
            return self._html(start_response, PageState(language, found.code, found,
                                                        check="too_large"))
        digest = hashlib.sha256(upload).hexdigest()
        verdict = "match" if digest == found.pdf_sha256 else "mismatch"
        return self._html(start_response, PageState(language, found.code, found, check=verdict,
                                                    uploaded_sha256=digest))

    def _html(self, start_response: StartResponse, state: PageState,
              status: str = "200 OK") -> Iterable[bytes]:
        return _send(start_response, status, render_page(state, self.zone),
                     "text/html; charset=utf-8", [("Content-Language", state.language)])

    # -- JSON and SOAP -----------------------------------------------------------------------

    def _json(self, start_response: StartResponse, code: str) -> Iterable[bytes]:
        try:
            found = self.receipts.verify_code(code)
        except InvalidRequest as error:
            return _json(start_response, "400 Bad Request",
                         {"error": {"code": error.code, "message": str(error)}})
        return _json(start_response, "200 OK", verification_json(found))

    def _soap(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        correlation_id = str(environ.get("gateway.correlation_id", "")) or "public"
        try:
            body = _read(environ, self.policy.max_upload_bytes)
            if body is None:
                raise InvalidRequest("the message is too large", code="MESSAGE_TOO_LARGE")
            envelope = parse_xml(body, max_bytes=self.policy.max_upload_bytes, max_depth=32)
            code = _verify_document_code_request(envelope)
            answer = document_code_element(self.receipts.verify_code(code))
        except GatewayError as error:
            fault, status = fault_envelope(error, correlation_id)  # the one fault mapping
            return _send(start_response, http_status_line(status, False), etree.tostring(
                fault, xml_declaration=True, encoding="UTF-8"), "text/xml; charset=utf-8")
        env = f"{{{namespaces.SOAP11_ENV}}}"
        response = etree.Element(env + "Envelope", nsmap={"soap": namespaces.SOAP11_ENV})
        etree.SubElement(response, env + "Body").append(answer)
        return _send(start_response, "200 OK", etree.tostring(
            response, xml_declaration=True, encoding="UTF-8"), "text/xml; charset=utf-8")

    def _limited(self, start_response: StartResponse, path: str, language: str,
                 wait: float) -> Iterable[bytes]:
        retry = [("Retry-After", str(max(1, round(wait))))]
        if path.startswith("/verify"):
            return _send(start_response, "429 Too Many Requests",
                         render_page(PageState(language, limited=True), self.zone),
                         "text/html; charset=utf-8", retry)
        return _send(start_response, "429 Too Many Requests", json.dumps(
            {"error": {"code": "RATE_LIMITED", "message": "too many look-ups"}}).encode(),
            "application/json", retry)


def verification_json(found: CodeVerification) -> dict[str, Any]:
    answer: dict[str, Any] = {"code": found.code, "found": found.found}
    if found.found:
        answer.update({
            "registrationNumber": str(found.registration_number),
            "issuedAt": found.issued_at.isoformat() if found.issued_at else None,
            "decision": found.decision.value if found.decision else None,
            "items": found.items, "issuers": list(found.issuers),
            "signer": found.signer, "signerName": found.signer_name,
            "sha256": found.sha256, "pdfSha256": found.pdf_sha256,
            "pdf": f"/verify/pdf?code={found.code}",
        })
    return answer


def _verify_document_code_request(envelope: etree._Element) -> str:
    env = f"{{{namespaces.SOAP11_ENV}}}"
    body = envelope.find(env + "Body") if envelope.tag == env + "Envelope" else None
    children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
    ns = f"{{{namespaces.VALIDATION_SERVICE}}}"
    if len(children) != 1 or children[0].tag != ns + "VerifyDocumentCode":
        raise InvalidRequest("only VerifyDocumentCode is served without WS-Security",
                             code="OPERATION_NOT_PUBLIC")
    code = children[0].findtext(ns + "code")
    if code is None:
        raise InvalidRequest("VerifyDocumentCode needs a code", code="MALFORMED_CSV",
                             field="code")
    return str(code)


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _read(environ: dict[str, Any], limit: int) -> bytes | None:
    """The request body, or ``None`` when it exceeds ``limit`` (never buffered beyond it)."""
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    data: bytes = environ["wsgi.input"].read(declared if declared else limit + 1)
    return None if len(data) > limit else data


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a ``multipart/form-data`` body (RFC 7578), by name."""
    if not content_type.lower().startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes) and name not in fields:
            fields[name] = payload
    return fields


def _send(start_response: StartResponse, status: str, body: bytes,
          content_type: str = "text/plain; charset=utf-8",
          extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                            *_SECURITY_HEADERS, *(extra or [])])
    return [body]


def _json(start_response: StartResponse, status: str, answer: dict[str, Any]) -> list[bytes]:
    return _send(start_response, status, json.dumps(answer).encode(), "application/json")
