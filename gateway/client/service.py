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

import email.utils
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault, SignatureVerificationFailed, TransportError
from zeep.loader import parse_xml
from zeep.transports import Transport

from gateway.client.transport import ServerVerifyingSignature

FAULT_NS = "urn:notess:gateway:fault:v1"
TNS = "{urn:notess:gateway:notification:v1}"
SOAP_BODY = "{http://schemas.xmlsoap.org/soap/envelope/}Body"
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
                 server_cert: Path, timeout: float) -> None:
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
        """``call`` for the bulk answers (listing pages, document batches), read with lxml:
        the result element (``<operation>Result``) once the server's signature over it is
        verified. zeep still builds and signs the request and turns faults into the same
        exceptions as ``call``; only its object binding is skipped, which cost the agent more
        CPU than anything else it does (py-spy, bench/e2e_agent.py)."""

        def send() -> etree._Element:
            service = self._service()
            client = self._local.client
            with client.settings(raw_response=True):
                response = getattr(service, operation)(**arguments)
            binding = service._binding
            if response.status_code != 200:  # a fault, or not SOAP at all: zeep's exceptions
                binding.process_reply(client, binding.get(operation), response)
                raise TransportError(f"HTTP {response.status_code} without a fault",
                                     status_code=response.status_code)
            envelope = parse_xml(response.content, client.transport, settings=client.settings)
            client.wsse.verify(envelope)  # the server's signature, signed parts, no wrapping
            result = envelope.find(f"{SOAP_BODY}/{TNS}{operation}Response/{TNS}{operation}Result")
            if result is None:
                raise TransportError(f"no {operation}Result in the answer", status_code=200)
            return result

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



def describe(exc: BaseException) -> str:
    """One line for the operator: a fault's stable code and message, else the exception."""
    if isinstance(exc, Fault):
        return f"fault {fault_code(exc)}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
