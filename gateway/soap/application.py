"""The Spyne application: services, protocol, and the seams the gateway needs.

- **Parse once.** ``GatedSoap11.create_in_document`` takes the envelope the WS-Security gate
  already parsed and verified from the WSGI environ instead of parsing the bytes again, so Spyne
  dispatches on exactly the Body the signature covers.
- **One fault mapping.** ``GatewayApplication.call_wrapper`` and
  ``GatewayWsgiApplication.handle_error`` send every error through ``soap.faults``.
- **Signed responses.** ``GatedSoap11.create_out_string`` hands the finished envelope to the
  response signer (when configured) before it is turned into bytes.
- **Spliced responses.** A method that registered a ``splice.Splice`` (a listing page written as
  octets, a document streamed from the store) gets an envelope with a placeholder where the
  octets go; it is signed over the spliced canonical form and written around the octets
  (``soap.splice`` explains why that is exact).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

from lxml import etree
from spyne import Application, ServiceBase
from spyne import const as spyne_const
from spyne.error import RequestNotAllowed, ResourceNotFoundError, ValidationError
from spyne.model.fault import Fault
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from gateway import namespaces
from gateway.errors import GatewayError, InvalidRequest, RateLimited, ServiceUnavailable
from gateway.wssec.response import BodyCanonicalForm

from .context import (
    ENVIRON_DATABASE_FAILURE,
    ENVIRON_ENVELOPE,
    ENVIRON_FAULT_CODE,
    ENVIRON_RETRY_AFTER,
    ENVIRON_VERIFIED,
    correlation_of,
)
from .faults import GW, WSCN_SYSTEM_FAULT, fault_code_of, http_status_line, spyne_fault
from .splice import (
    ENVIRON_RESPONSE_LENGTH,
    ENVIRON_SPLICE,
    Splice,
    canonical_expander,
    new_placeholder,
    registered_splice,
    splice_target,
    spliced_output,
)


class ResponseSigner(Protocol):
    """Signs a response envelope in place (``wssec.sign_response`` with the server key)."""

    def __call__(self, envelope: etree._Element, *,
                 body_canonical: BodyCanonicalForm | None = None) -> None: ...


class GatedSoap11(Soap11):  # type: ignore[misc]  # Spyne is untyped
    """SOAP 1.1 that reads the gate's parsed envelope and signs what it writes."""

    def __init__(self, *args: Any, response_signer: ResponseSigner | None = None,
                 strict_wsi_status: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.response_signer = response_signer
        self.strict_wsi_status = strict_wsi_status

    def fault_to_http_response_code(self, error: Any) -> str:
        return http_status_line(getattr(error, "http_status", 500), self.strict_wsi_status)

    def create_in_document(self, ctx: Any, charset: str | None = None) -> None:
        envelope = ctx.transport.req_env.get(ENVIRON_ENVELOPE)
        if envelope is None:  # only the WSGI front calls Spyne, always after the gate
            raise InvalidRequest("request did not pass the security gate", code="NOT_GATED")
        ctx.in_document = (envelope, {})

    def decompose_incoming_envelope(self, ctx: Any, message: Any = Soap11.REQUEST) -> None:
        # The gate found and verified the very Header and Body: Spyne dispatches on those
        # objects rather than looking them up again (two XPath compilations a request). Any
        # other shape (no gate result, another envelope version) goes to Spyne, which refuses it.
        verified = ctx.transport.req_env.get(ENVIRON_VERIFIED)
        header = getattr(verified, "header", None)
        body = getattr(verified, "body", None)
        envelope = ctx.in_document[0]
        if (message is not self.REQUEST or header is None or body is None or len(body) != 1
                or getattr(verified, "envelope", None) is not envelope
                or envelope.tag != f"{{{self.ns_soap_env}}}Envelope"):
            super().decompose_incoming_envelope(ctx, message)
            return
        ctx.in_document = envelope
        ctx.in_body_doc = body[0]
        if ctx.in_body_doc.tag == f"{{{self.ns_soap_env}}}Fault":
            return
        ctx.in_header_doc = header.getchildren()
        ctx.method_request_string = ctx.in_body_doc.tag
        self.validate_body(ctx, message)

    def serialize(self, ctx: Any, message: Any) -> None:
        try:
            self._serialize(ctx, message)
        except BaseException:
            _discard_output(ctx)
            raise

    def _serialize(self, ctx: Any, message: Any) -> None:
        splice = registered_splice(ctx) if message is self.RESPONSE else None
        if splice is None or splice.path:
            super().serialize(ctx, message)
            return
        # The octets are the Body's whole content: an empty Body is all Spyne would add.
        self.event_manager.fire_event("before_serialize", ctx)
        soap_env = self.ns_soap_env
        ctx.out_document = etree.Element(
            f"{{{soap_env}}}Envelope", nsmap={self.app.interface.prefmap[soap_env]: soap_env})
        ctx.out_body_doc = etree.SubElement(ctx.out_document, f"{{{soap_env}}}Body")
        self.event_manager.fire_event("after_serialize", ctx)

    def create_out_string(self, ctx: Any, charset: str | None = None) -> None:
        try:
            splice = registered_splice(ctx)
            if splice is not None and ctx.out_document is not None:
                self._create_spliced_string(ctx, splice)
                return
            if self.response_signer is not None and ctx.out_document is not None:
                self.response_signer(ctx.out_document)
            super().create_out_string(ctx, charset)
        except BaseException:
            _discard_output(ctx)
            raise

    def _create_spliced_string(self, ctx: Any, splice: Splice) -> None:
        placeholder = new_placeholder()
        body = ctx.out_document.find(f"{{{self.ns_soap_env}}}Body")
        splice_target(body, splice).text = placeholder
        mark = placeholder.encode("ascii")
        if self.response_signer is not None:
            # For a streamed document this is the first pass: it reads (and checks) every
            # slice before the first byte is sent.
            self.response_signer(ctx.out_document,
                                 body_canonical=canonical_expander(splice, mark))
        elif splice.octets is None:
            for _ in splice.iterate():  # unsigned: still check the document before sending
                pass
        serialised = etree.tostring(ctx.out_document, encoding="UTF-8",
                                    xml_declaration=self.xml_declaration)
        ctx.out_string = spliced_output(serialised, splice, mark)
        if splice.octets is None:
            ctx.transport.req_env[ENVIRON_RESPONSE_LENGTH] = (
                len(serialised) - len(mark) + splice.length)


def _discard_output(ctx: Any) -> None:
    """After a failure while writing a response, let Spyne answer with the fault instead: it
    serialises a fault afresh only when no out document is left, and picks the fault's HTTP
    status only when none is set yet (it set 200 before serialising; without this reset a
    half-built envelope went out as 200 OK)."""
    ctx.out_document = ctx.out_body_doc = ctx.out_string = None
    ctx.transport.resp_code = None


class GatewayApplication(Application):  # type: ignore[misc]
    def call_wrapper(self, ctx: Any) -> Any:
        try:
            return super().call_wrapper(ctx)
        except Fault as fault:
            _note_retry_after(ctx, fault.__cause__)  # a port's own fault (WSCN) made of it
            raise
        except Exception as exc:  # every error leaves as a fault from soap.faults
            if isinstance(exc, ServiceUnavailable):
                ctx.transport.req_env[ENVIRON_DATABASE_FAILURE] = exc.failure_class
            _note_retry_after(ctx, exc)
            raise spyne_fault(exc, correlation_of(ctx)) from exc


def _note_retry_after(ctx: Any, error: BaseException | None) -> None:
    """A RATE_LIMITED refusal's ``Retry-After`` for the front (``ENVIRON_RETRY_AFTER``)."""
    if isinstance(error, RateLimited):
        ctx.transport.req_env[ENVIRON_RETRY_AFTER] = error.retry_after


class GatewayWsgiApplication(WsgiApplication):  # type: ignore[misc]
    def handle_error(self, p_ctx: Any, others: Any, error: Any, start_response: Any) -> Any:
        p_ctx.out_error = _as_gateway_fault(error, correlation_of(p_ctx))
        p_ctx.transport.req_env[ENVIRON_FAULT_CODE] = fault_code_of(p_ctx.out_error)
        return super().handle_error(p_ctx, others, p_ctx.out_error, start_response)


def _as_gateway_fault(error: Any, correlation_id: str) -> Fault:
    """Spyne's own faults (schema violations, unknown operations) get our codes too."""
    if isinstance(error, Fault) and isinstance(error.detail, etree._Element) and (
            error.detail.tag == GW + "error"
            or etree.QName(error.detail).localname == WSCN_SYSTEM_FAULT):
        return error  # already ours (a native fault, or the WSCN port's system error)
    translated: BaseException
    if isinstance(error, ValidationError):
        translated = InvalidRequest(f"the request does not match the contract: {error.faultstring}",
                                    code="SCHEMA_VIOLATION")
    elif isinstance(error, ResourceNotFoundError):
        translated = InvalidRequest("no such operation", code="UNKNOWN_OPERATION")
    elif isinstance(error, RequestNotAllowed):
        translated = InvalidRequest("operations are invoked with POST", code="METHOD_NOT_ALLOWED")
    elif isinstance(error, Fault) and str(error.faultcode).startswith("Client"):
        translated = InvalidRequest(f"invalid request: {error.faultstring}", code="INVALID_REQUEST")
    elif isinstance(error, GatewayError):
        translated = error
    else:
        translated = error if isinstance(error, BaseException) else RuntimeError(repr(error))
    return spyne_fault(translated, correlation_id)


def build_application(
    services: Sequence[type[ServiceBase]], *, name: str,
    tns: str = namespaces.NOTIFICATION_SERVICE,
    response_signer: ResponseSigner | None = None, strict_wsi_status: bool = False,
) -> GatewayApplication:
    stop_spyne_forced_collections()
    application = GatewayApplication(
        list(services),
        tns=tns,
        name=name,
        in_protocol=GatedSoap11(validator="soft"),
        out_protocol=GatedSoap11(response_signer=response_signer,
                                 strict_wsi_status=strict_wsi_status),
    )
    application.event_manager.add_listener("method_context_closed", release_request_memory)
    return application


def release_request_memory(ctx: Any) -> None:
    """Once a response is written, drop what the request held (trees, spliced octets).

    Spyne's ``MethodContext`` sits in reference cycles, so without this everything it points
    to -- a 4 MiB GetContents answer, a 1,000-item page, the parsed request -- lives on until
    a full garbage collection finds the cycle (Spyne's forced once-a-second collection is off,
    see ``stop_spyne_forced_collections``). Measured in bench/e2e_agent.py: such leftovers
    piling up between collections made the workers' peak memory grow with the run's length.
    """
    environ = ctx.transport.req_env
    environ.pop(ENVIRON_SPLICE, None)
    environ.pop(ENVIRON_ENVELOPE, None)
    ctx.out_string = None
    ctx.out_document = None
    ctx.out_object = None
    ctx.in_document = None
    ctx.in_object = None
    ctx.in_body_doc = None
    ctx.in_header_doc = None


def stop_spyne_forced_collections() -> None:
    """Worker GC policy: Spyne forces no full ``gc.collect()`` (applied by ``build_application``).

    Spyne's ``MethodContext.close`` runs a full collection at most once per wall-clock second
    (``spyne.const.MIN_GC_INTERVAL``) so that uploaded files caught in reference cycles get closed
    promptly. The gateway hands Spyne no files (the WSGI front reads the body and passes the
    parsed tree on), while a full collection in a worker with the application loaded (about
    150,000 tracked objects) takes tens of milliseconds: a stall once a second in every busy
    worker, charged to whichever request crosses the second, and more of them per request the
    slower requests run. Python's own generational collection is unchanged. Process-wide, so
    ``bench/wssec_verify.py`` applies it to every Spyne path it compares.
    """
    spyne_const.MIN_GC_INTERVAL = math.inf
