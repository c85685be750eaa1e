"""The Spyne application: services, protocol, and the seams the gateway needs.

- **Parse once.** ``GatedSoap11.create_in_document`` takes the envelope the WS-Security gate
  already parsed and verified from the WSGI environ instead of parsing the bytes again, so Spyne
  dispatches on exactly the Body the signature covers.
- **One fault mapping.** ``GatewayApplication.call_wrapper`` and
  ``GatewayWsgiApplication.handle_error`` send every error through ``soap.faults``.
- **Signed responses.** ``GatedSoap11.create_out_string`` hands the finished envelope to the
  response signer (when configured) before it is turned into bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lxml import etree
from spyne import Application, ServiceBase
from spyne.error import RequestNotAllowed, ResourceNotFoundError, ValidationError
from spyne.model.fault import Fault
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from gateway import namespaces
from gateway.errors import GatewayError, InvalidRequest

from .context import ENVIRON_ENVELOPE, correlation_of
from .faults import GW, http_status_line, spyne_fault

ResponseSigner = Callable[[etree._Element], None]


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

    def create_out_string(self, ctx: Any, charset: str | None = None) -> None:
        if self.response_signer is not None and ctx.out_document is not None:
            self.response_signer(ctx.out_document)
        super().create_out_string(ctx, charset)


class GatewayApplication(Application):  # type: ignore[misc]
    def call_wrapper(self, ctx: Any) -> Any:
        try:
            return super().call_wrapper(ctx)
        except Fault:
            raise
        except Exception as exc:  # every error leaves as a fault from soap.faults
            raise spyne_fault(exc, correlation_of(ctx)) from exc


class GatewayWsgiApplication(WsgiApplication):  # type: ignore[misc]
    def handle_error(self, p_ctx: Any, others: Any, error: Any, start_response: Any) -> Any:
        p_ctx.out_error = _as_gateway_fault(error, correlation_of(p_ctx))
        return super().handle_error(p_ctx, others, p_ctx.out_error, start_response)


def _as_gateway_fault(error: Any, correlation_id: str) -> Fault:
    """Spyne's own faults (schema violations, unknown operations) get our codes too."""
    if isinstance(error, Fault) and isinstance(error.detail, etree._Element) \
            and error.detail.tag == GW + "error":
        return error  # already ours
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
    return GatewayApplication(
        list(services),
        tns=tns,
        name=name,
        in_protocol=GatedSoap11(validator="soft"),
        out_protocol=GatedSoap11(response_signer=response_signer,
                                 strict_wsi_status=strict_wsi_status),
    )
