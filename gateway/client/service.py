"""The gateway's native service as the batch agent calls it: zeep clients, one per thread, every
request signed and every response verified with the server certificate; the bulk answers read
with lxml once verified; transport failures retried."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault, TransportError
from zeep.loader import parse_xml
from zeep.transports import Transport

from gateway.client.server_certs import ServerCertificates
from gateway.client.transport import ServerVerifyingSignature

FAULT_NS = "urn:notess:gateway:fault:v1"
TNS = "{urn:notess:gateway:notification:v1}"
SOAP_BODY = "{http://schemas.xmlsoap.org/soap/envelope/}Body"
RETRIES = 6
RETRYABLE_FAULTS = frozenset({"RATE_LIMITED", "SERVICE_UNAVAILABLE"})
"""Faults the server answers before doing any work (or after rolling it back): ask again."""


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
        first = self._new_client(wsdl)
        self._document = first.wsdl
        self._endpoint = endpoint
        self._local.client = first

    def _new_client(self, wsdl: Any) -> zeep.Client:
        key, cert, server_cert = self._credentials
        transport = Transport(timeout=self._timeout, operation_timeout=self._timeout)
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

    def call(self, operation: str, **arguments: Any) -> Any:
        """One operation, retried on transport failures (each retry is signed afresh)."""
        return self._retrying(lambda: getattr(self._service(), operation)(**arguments))

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

        result: etree._Element = self._retrying(send)
        return result

    def _retrying(self, send: Callable[[], Any]) -> Any:
        """``send`` (which signs afresh each time), again after a transport failure, a
        non-SOAP 5xx or 429, or a RATE_LIMITED / SERVICE_UNAVAILABLE fault: the server refuses
        those before doing anything (a rate-limited request's nonce is not even spent) or rolls
        back, so asking again is safe; exponential back-off with jitter, so several agents
        behind one limit do not come back in step."""
        for attempt in range(RETRIES):
            try:
                return send()
            except (requests.ConnectionError, requests.Timeout) as exc:
                error: Exception = exc
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
            time.sleep(min(8.0, 0.5 * 2 ** attempt) * random.uniform(0.75, 1.25))
        raise AssertionError("unreachable")



def describe(exc: BaseException) -> str:
    """One line for the operator: a fault's stable code and message, else the exception."""
    if isinstance(exc, Fault):
        return f"fault {fault_code(exc)}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
