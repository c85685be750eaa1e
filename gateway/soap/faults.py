"""The only place that turns errors into SOAP faults (STYLE.md habit 1).

- A ``GatewayError`` becomes a fault with its class's fault code and, in ``detail``, a
  ``gw:error`` element carrying the stable machine-readable ``code``, the offending ``field``
  (when known) and the request's correlation id.
- Anything else becomes a generic ``soap:Server`` fault whose text says only that an internal
  error happened and quotes the correlation id; the traceback goes to the log, never the client.

Two routes produce faults: the WS-Security gate, before Spyne runs (``fault_envelope`` builds the
whole envelope), and Spyne's call wrapper (``spyne_fault``). Both use ``describe``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus

from lxml import etree
from spyne.model.fault import Fault

from gateway import namespaces
from gateway.errors import GatewayError, ItemProblem, RateLimited, ServiceUnavailable
from gateway.logs import LogThrottle

log = logging.getLogger("gateway.soap")
_unavailable_log = LogThrottle(log)

INTERNAL_CODE = "INTERNAL_ERROR"
GW = f"{{{namespaces.FAULT_DETAIL}}}"


@dataclass(frozen=True, slots=True)
class FaultDescription:
    prefix: str
    local_code: str
    message: str
    code: str
    field: str | None
    correlation_id: str
    http_status: int
    problems: tuple[ItemProblem, ...] = ()

    def detail(self) -> etree._Element:
        error = etree.Element(GW + "error", nsmap={"gw": namespaces.FAULT_DETAIL})
        etree.SubElement(error, GW + "code").text = self.code
        if self.field:
            etree.SubElement(error, GW + "field").text = self.field
        etree.SubElement(error, GW + "correlationId").text = self.correlation_id
        # A refused batch: every bad item, 1-based as clients count them.
        for problem in self.problems:
            element = etree.SubElement(error, GW + "problem")
            etree.SubElement(element, GW + "position").text = str(problem.position + 1)
            etree.SubElement(element, GW + "field").text = problem.field
            etree.SubElement(element, GW + "message").text = problem.message
        return error


def describe(error: BaseException, correlation_id: str) -> FaultDescription:
    """What the client is told about ``error``. Logs unexpected errors with their traceback."""
    if isinstance(error, GatewayError):
        prefix, _, local = error.fault_code.partition(":")
        if isinstance(error, ServiceUnavailable):
            # one line per failure class and interval, no traceback (issue 14)
            _unavailable_log.log(logging.WARNING, error.failure_class,
                                 "service unavailable: %s, correlation_id=%s",
                                 error.failure_class, correlation_id)
            return FaultDescription(prefix, local, error.message, error.code, error.field,
                                    correlation_id, error.http_status)
        log.info("fault %s %s (%s) correlation_id=%s", error.fault_code, error.code,
                 error.message, correlation_id)
        return FaultDescription(prefix, local, error.message, error.code, error.field,
                                correlation_id, error.http_status, error.problems)
    log.error("unexpected error, correlation_id=%s", correlation_id, exc_info=error)
    return FaultDescription("soap", "Server",
                            f"internal error; quote correlation id {correlation_id}",
                            INTERNAL_CODE, None, correlation_id, 500)


def spyne_fault(error: BaseException, correlation_id: str) -> Fault:
    """The fault Spyne serialises for an error raised inside a service method."""
    description = describe(error, correlation_id)
    # Spyne prefixes the code with its own envelope prefix; only soap-namespace codes get here
    # (WS-Security faults are raised by the gate, before Spyne).
    fault = Fault(faultcode=description.local_code, faultstring=description.message,
                  detail=description.detail())
    fault.http_status = description.http_status  # read by GatedSoap11.fault_to_http_response_code
    return fault


def fault_code_of(fault: Fault) -> str:
    """The stable code a Spyne fault carries (``gw:code``), or its detail's name (the WSCN
    port's system error), for metrics."""
    detail = fault.detail
    if isinstance(detail, etree._Element):
        code = detail.findtext(f".//{GW}code") if detail.tag != GW + "code" else detail.text
        return code or etree.QName(detail).localname
    return INTERNAL_CODE


def http_status_line(status: int, strict_wsi: bool) -> str:
    """The HTTP status a fault travels with.

    By default it follows the error class (4xx for the client's faults, 500 only for ours), so
    monitoring and proxies can tell a hostile or broken request from a server failure. WS-I Basic
    Profile R1126 wants 500 for every fault; ``strict_wsi`` (GATEWAY_FAULT_HTTP_STATUS=500) does
    that for SOAP stacks that insist on it.
    """
    code = 500 if strict_wsi else status
    return f"{code} {HTTPStatus(code).phrase}"


def fault_envelope(error: BaseException, correlation_id: str,
                   soap_namespace: str = namespaces.SOAP11_ENV) -> tuple[etree._Element, int]:
    """A complete SOAP 1.1 fault envelope for errors raised before Spyne (the gate)."""
    description = describe(error, correlation_id)
    env = f"{{{soap_namespace}}}"
    nsmap = {"soap": soap_namespace}
    if description.prefix == "wsse":
        nsmap["wsse"] = namespaces.WSSE
    envelope = etree.Element(env + "Envelope", nsmap=nsmap)
    body = etree.SubElement(envelope, env + "Body")
    fault = etree.SubElement(body, env + "Fault")
    etree.SubElement(fault, "faultcode").text = f"{description.prefix}:{description.local_code}"
    etree.SubElement(fault, "faultstring").text = description.message
    etree.SubElement(fault, "detail").append(description.detail())
    return envelope, description.http_status


WSCN_SYSTEM_FAULT = "WSCNExcepcionSistema"


def wscn_system_fault(error: BaseException, correlation_id: str, tns: str) -> Fault:
    """The WSCN port's system error (docs/WSCN.md): a ``soap:Server`` fault whose detail is
    a ``WSCNExcepcionSistema`` element in the port's namespace, with a fixed text and the
    correlation id (``describe`` logs the real error; nothing internal reaches the client)."""
    describe(error, correlation_id)  # logs it, with the traceback when unexpected
    if isinstance(error, RateLimited):  # document bytes per hour: 429 and Retry-After
        return _wscn_rate_limited(error, correlation_id, tns)
    detail = etree.Element(f"{{{tns}}}{WSCN_SYSTEM_FAULT}", nsmap={"wscn": tns})
    etree.SubElement(detail, "mensaje").text = (
        f"error del sistema; indique el identificador {correlation_id}")
    etree.SubElement(detail, "identificadorPeticion").text = correlation_id
    fault = Fault(faultcode="Server", faultstring=f"{WSCN_SYSTEM_FAULT}: internal error; quote "
                                                  f"correlation id {correlation_id}",
                  detail=detail)
    fault.http_status = 500
    return fault


def _wscn_rate_limited(error: RateLimited, correlation_id: str, tns: str) -> Fault:
    """The WSCN port's system error for a client over its document bytes per hour: HTTP 429
    (the front adds ``Retry-After``) and the reason, with our ``gw:code``, in the text."""
    detail = etree.Element(f"{{{tns}}}{WSCN_SYSTEM_FAULT}", nsmap={"wscn": tns})
    etree.SubElement(detail, "mensaje").text = (
        f"límite de descarga superado; reintente en {error.retry_after} s (RATE_LIMITED)")
    etree.SubElement(detail, "identificadorPeticion").text = correlation_id
    fault = Fault(faultcode="Server", faultstring=f"{WSCN_SYSTEM_FAULT}: RATE_LIMITED: retry "
                                                  f"after {error.retry_after} s; correlation id "
                                                  f"{correlation_id}", detail=detail)
    fault.http_status = 429
    return fault
