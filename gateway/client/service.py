"""The gateway's native service as the batch agent calls it: zeep clients, one per thread, every
request signed and every response verified with the server certificate; the bulk answers read
with lxml once verified; transport failures retried.

Riding out restarts (issue 14): every call, and the WSDL fetch at start-up, is asked again after
a transport failure (connection reset or refused, a response cut short, a timeout), a non-SOAP
5xx or 429, an unsigned 429/503 fault (the per-address limit before the gate), or a RATE_LIMITED /
SERVICE_UNAVAILABLE fault, with exponential back-off and jitter,
waiting at least what the answer's ``Retry-After`` says. Asking again is safe for every
operation the agent sends: the reads are idempotent; PrepareReceipt asked twice leaves one
acknowledgement unused (it expires); SubmitReceipt carries the same signed acknowledgement bytes
(only the WS-Security envelope around them is signed afresh), and the server answers a signed
acknowledgement it already registered with the receipts it issued then, never twice.
"""

from __future__ import annotations

import base64
import email.utils
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import urllib3
import zeep
from lxml import etree
from zeep.exceptions import Fault, SignatureVerificationFailed, TransportError
from zeep.transports import Transport

from gateway.client.server_certs import ServerCertificates
from gateway.client.transport import ServerVerifyingSignature

FAULT_NS = "urn:notess:gateway:fault:v1"
TNS = "{urn:notess:gateway:notification:v1}"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_BODY = f"{{{SOAP_ENV}}}Body"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=True)  # large base64 documents; no DTD, no entities
RETRIES = 12
RETRYABLE_FAULTS = frozenset({"RATE_LIMITED", "SERVICE_UNAVAILABLE"})
"""Faults the server answers before doing any work (or after rolling it back): ask again."""
MAX_BACKOFF_S = 8.0
MAX_RETRY_AFTER_S = 120.0
"""A server's ``Retry-After`` is honoured up to this; beyond it the agent waits this long."""
TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError)
"""Reset, refused, timed out, or the answer cut short (``IncompleteRead``)."""


class AgentError(Exception):
    """Something the agent cannot go on with for one item or batch (reported, run continues)."""


def fault_code(fault: Fault) -> str | None:
    if fault.detail is None:
        return None
    return fault.detail.findtext(f"{{{FAULT_NS}}}error/{{{FAULT_NS}}}code")


# --- the service ------------------------------------------------------------------------------


class Service:
    """zeep clients on one parsed WSDL, one per thread (each its own HTTP session). Every request
    is signed (WS-Security, RSA-SHA256, Timestamp) and every response verified with the server
    certificate (``ServerVerifyingSignature``)."""

    def __init__(self, wsdl: str, endpoint: str | None, cert: Path, key: Path,
                 server_cert: Path | ServerCertificates, timeout: float) -> None:
        self._credentials = (key, cert, server_cert)
        self._timeout = timeout
        self._settings = zeep.Settings(xml_huge_tree=True)  # large base64 documents
        self._local = threading.local()
        self._retried = 0
        self._retried_lock = threading.Lock()
        first = self.retry(lambda: self._new_client(wsdl))  # the server may be restarting
        self._document = first.wsdl
        self._endpoint = endpoint
        self._local.client = first

    def _new_client(self, wsdl: Any) -> zeep.Client:
        key, cert, server_cert = self._credentials
        transport = Transport(timeout=self._timeout, operation_timeout=self._timeout)
        transport.session.hooks["response"].append(self._note_retry_after)
        client = zeep.Client(wsdl, wsse=ServerVerifyingSignature(key, cert, server_cert),
                             transport=transport, settings=self._settings)
        return client

    def _service(self) -> Any:
        local = self._local
        if getattr(local, "client", None) is None:
            local.client = self._new_client(self._document)
        if getattr(local, "service", None) is None:
            client = local.client
            if self._endpoint:
                binding = next(iter(client.wsdl.bindings))
                local.service = client.create_service(binding, self._endpoint)
            else:
                local.service = client.service
        return local.service

    @property
    def endpoint(self) -> str:
        return str(self._service()._binding_options["address"])

    @property
    def signature(self) -> ServerVerifyingSignature:
        """This thread's request signer (it also verifies responses)."""
        self._service()
        return self._local.client.wsse

    @property
    def session(self) -> requests.Session:
        """This thread's HTTP session (connections kept alive)."""
        self._service()
        return self._local.client.transport.session

    @property
    def timeout(self) -> float:
        return self._timeout

    @property
    def retried(self) -> int:
        """Calls asked again so far (transport failures, 5xx/429, retryable faults)."""
        return self._retried

    def _note_retry_after(self, response: requests.Response, *_: Any, **__: Any) -> None:
        """(requests response hook) The last answer's ``Retry-After`` and status, for
        ``retry``."""
        self._local.retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        self._local.status = response.status_code

    def call(self, operation: str, **arguments: Any) -> Any:
        """One operation, retried on transport failures (each retry is signed afresh)."""
        return self.retry(lambda: getattr(self._service(), operation)(**arguments))

    def call_xml(self, operation: str, **arguments: Any) -> etree._Element:
        """``call`` for the bulk operations (listing pages, document batches, acknowledgements),
        without zeep: the request built with lxml (``BULK_OPERATIONS`` gives each one's fields
        in the contract's order) and signed like zeep's, the answer read whole in one go,
        parsed with lxml and verified (the server's signature, signed parts, no wrapping); the
        result element (``<operation>Result``) is returned. Faults raise the same exceptions
        as ``call``. zeep's object binding of these answers, then its request serialiser and
        its transport reading answers 10 KiB at a time, were the agent's largest CPU costs
        (bench/e2e_agent.py)."""
        fields = BULK_OPERATIONS[operation]
        unknown = set(arguments) - set(fields)
        if unknown:
            raise TypeError(f"{operation} has no field {sorted(unknown)}")

        def send() -> etree._Element:
            signature = self.signature
            envelope = request_envelope(operation, [(name, arguments.get(name))
                                                    for name in fields])
            signature.apply(envelope, {})
            body: bytes = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
            with self.session.post(self.endpoint, data=body, stream=True, timeout=self._timeout,
                                   headers={"Content-Type": "text/xml; charset=utf-8",
                                            "SOAPAction": f'"{operation}"'}) as response:
                status = response.status_code
                try:
                    content = response.raw.read(decode_content=True)
                except urllib3.exceptions.HTTPError as exc:  # cut or timed out: ask again
                    raise requests.ConnectionError(exc) from exc
            return read_answer(operation, status, content, signature)

        result: etree._Element = self.retry(send)
        return result

    def retry(self, send: Callable[[], Any]) -> Any:
        """``send`` (which signs afresh each time), again after a transport failure, a
        non-SOAP 5xx or 429, an unsigned 429/503, or a RATE_LIMITED / SERVICE_UNAVAILABLE
        fault: the server refuses
        those before doing anything (a rate-limited request's nonce is not even spent) or rolls
        back, so asking again is safe (see the module doc for the signing calls); exponential
        back-off with jitter, so several agents behind one limit do not come back in step, and
        never sooner than the answer's ``Retry-After``."""
        for attempt in range(RETRIES):
            self._local.retry_after = self._local.status = None
            try:
                return send()
            except TRANSPORT_ERRORS as exc:
                error: Exception = exc
            except SignatureVerificationFailed as exc:
                # An unsigned 429/503 (the per-address limit before the gate, a proxy): only a
                # wait to lose by asking again. Any other answer that fails verification is not.
                if getattr(self._local, "status", None) not in (429, 503):
                    raise
                error = exc
            except requests.HTTPError as exc:  # the WSDL fetch: zeep raises for its status
                status = exc.response.status_code if exc.response is not None else 0
                if status < 500 and status != 429:
                    raise
                error = exc
            except TransportError as exc:  # a non-SOAP answer: proxy or server restarting
                if exc.status_code < 500 and exc.status_code != 429:
                    raise
                error = exc
            except Fault as exc:
                if fault_code(exc) not in RETRYABLE_FAULTS:
                    raise
                error = exc
            if attempt == RETRIES - 1:
                raise error
            with self._retried_lock:
                self._retried += 1
            time.sleep(backoff_seconds(attempt, getattr(self._local, "retry_after", None)))
        raise AssertionError("unreachable")


def backoff_seconds(attempt: int, retry_after: float | None) -> float:
    """How long to wait before attempt ``attempt + 1``: exponential from 0.5 s up to
    ``MAX_BACKOFF_S``, times a jitter of ±25 %, and at least ``retry_after`` (capped)."""
    backoff = min(MAX_BACKOFF_S, 0.5 * 2 ** attempt) * random.uniform(0.75, 1.25)
    if retry_after is None:
        return backoff
    return max(backoff, min(retry_after, MAX_RETRY_AFTER_S) * random.uniform(1.0, 1.1))


def retry_after_seconds(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` (delay-seconds, or an HTTP date) as seconds from now; None when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²" or "٣", which str.isdigit accepts
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


BULK_OPERATIONS: dict[str, tuple[str, ...]] = {
    "ListNotifications": ("role", "principal", "ccc", "issuer", "kind", "status", "from", "to",
                          "cursor", "pageSize"),
    "GetContents": ("id",),
    "PrepareReceipt": ("id", "decision"),
    "SubmitReceipt": ("signedReceipt", "detachedContent"),
}
"""The operations ``Service.call_xml`` sends, each with its request fields in the order of the
contract (wsdl/notification-service.wsdl)."""


def request_envelope(operation: str, fields: list[tuple[str, Any]]) -> etree._Element:
    """The SOAP 1.1 envelope of a document/literal request: None left out, a list repeated,
    bytes as base64."""
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap-env": SOAP_ENV})
    request = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body"),
                               f"{TNS}{operation}", nsmap={"ns0": TNS[1:-1]})
    for name, value in fields:
        for each in value if isinstance(value, list | tuple) else [value]:
            if each is None:
                continue
            etree.SubElement(request, f"{TNS}{name}").text = (
                base64.b64encode(each).decode() if isinstance(each, bytes) else str(each))
    return envelope


def read_answer(operation: str, status: int, content: bytes,
                signature: ServerVerifyingSignature) -> etree._Element:
    """The verified ``<operation>Result`` of an answer; a fault raised as zeep does."""
    try:
        envelope = etree.fromstring(content, _PARSER) if content else None
    except etree.XMLSyntaxError as exc:
        envelope = None
        if status == 200:
            raise TransportError(f"the answer to {operation} is not XML: {exc}",
                                 status_code=status) from exc
    if envelope is None:  # not SOAP: a proxy's error page, a server restarting
        raise TransportError(f"HTTP {status} without a SOAP answer", status_code=status)
    signature.verify(envelope)  # the server's signature, signed parts, no wrapping
    fault = envelope.find(f"{SOAP_BODY}/{{{SOAP_ENV}}}Fault")
    if status != 200 or fault is not None:
        if fault is None:
            raise TransportError(f"HTTP {status} without a fault", status_code=status)
        raise Fault(message=fault.findtext("faultstring"), code=fault.findtext("faultcode"),
                    actor=fault.findtext("faultactor"), detail=fault.find("detail"))
    result = envelope.find(f"{SOAP_BODY}/{TNS}{operation}Response/{TNS}{operation}Result")
    if result is None:
        raise TransportError(f"no {operation}Result in the answer", status_code=status)
    return result


def describe(exc: BaseException) -> str:
    """One line for the operator: a fault's stable code and message, else the exception."""
    if isinstance(exc, Fault):
        return f"fault {fault_code(exc)}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
