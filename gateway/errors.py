"""The one error tree of the gateway.

Every failure a client can cause is a ``GatewayError`` subclass. Each class names the SOAP fault
code it maps to (``fault_code``), the HTTP status its fault travels with (``http_status``; see
``Settings.fault_http_status``) and carries a stable machine-readable ``code`` that ends up in
the fault's ``detail``. ``gateway/soap/faults.py`` is the only place that turns these into SOAP
faults; anything that is not a ``GatewayError`` becomes a generic server fault with a correlation
id and is never shown to the client.

``domain/`` and ``services/`` raise these; library exceptions are translated at the seam (store,
wssec, signatures, soap) with ``raise ... from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ItemProblem:
    """What is wrong with one item of a batch: ``position`` is its 0-based index (faults show
    it 1-based), ``field`` the offending field."""

    position: int
    field: str
    message: str


class GatewayError(Exception):
    """Root of every error the gateway reports to a client."""

    fault_code = "soap:Server"
    default_code = "GATEWAY_ERROR"
    http_status = 500
    problems: tuple[ItemProblem, ...] = ()
    """Every bad item of a refused batch (``soap.faults`` lists them in the fault's detail)."""

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field

    def __str__(self) -> str:
        return self.message


class AuthenticationError(GatewayError):
    """The caller could not be authenticated (WS-Security failed). Fault: wsse:FailedAuthentication."""

    fault_code = "wsse:FailedAuthentication"
    default_code = "AUTHENTICATION_FAILED"
    http_status = 401


class InvalidSecurity(AuthenticationError):
    """The security header is malformed or does not satisfy the policy. Fault: wsse:InvalidSecurity."""

    fault_code = "wsse:InvalidSecurity"
    default_code = "INVALID_SECURITY"


class MessageExpired(AuthenticationError):
    """The message's Timestamp is expired or not yet valid. Fault: wsse:MessageExpired."""

    fault_code = "wsse:MessageExpired"
    default_code = "MESSAGE_EXPIRED"


class AuthorizationError(GatewayError):
    """The authenticated caller may not do this. Fault: soap:Client.Authorization."""

    fault_code = "soap:Client.Authorization"
    default_code = "NOT_AUTHORISED"
    http_status = 403


class NotFound(GatewayError):
    """The item does not exist, or the caller may not know that it exists. Fault: soap:Client.NotFound."""

    fault_code = "soap:Client.NotFound"
    default_code = "NOT_FOUND"
    http_status = 404


class InvalidState(GatewayError):
    """The item is not in a state that allows this action. Fault: soap:Client.InvalidState."""

    fault_code = "soap:Client.InvalidState"
    default_code = "INVALID_STATE"
    http_status = 409


class InvalidSignature(GatewayError):
    """A signature the client sent does not validate. Fault: soap:Client.InvalidSignature."""

    fault_code = "soap:Client.InvalidSignature"
    default_code = "INVALID_SIGNATURE"
    http_status = 400


class InvalidRequest(GatewayError):
    """The request is malformed or a field is invalid (``field`` names it). Fault: soap:Client.InvalidRequest."""

    fault_code = "soap:Client.InvalidRequest"
    default_code = "INVALID_REQUEST"
    http_status = 400


class Conflict(GatewayError):
    """The request conflicts with existing data (duplicate reference, race lost). Fault: soap:Client.Conflict."""

    fault_code = "soap:Client.Conflict"
    default_code = "CONFLICT"
    http_status = 409


class LimitExceeded(GatewayError):
    """A documented limit (page size, batch size, message size, rate) was exceeded. Fault: soap:Client.LimitExceeded."""

    fault_code = "soap:Client.LimitExceeded"
    default_code = "LIMIT_EXCEEDED"
    http_status = 400


class ServiceUnavailable(GatewayError):
    """A resource the gateway needs (the database) is unreachable; retry later. Fault: soap:Server."""

    fault_code = "soap:Server"
    default_code = "SERVICE_UNAVAILABLE"
    http_status = 503

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 failure_class: str = "unavailable") -> None:
        super().__init__(message, code=code, field=field)
        self.failure_class = failure_class
        """What failed, for the log (the driver error's class name), never shown to clients."""


class RateLimited(GatewayError):
    """The caller sent more requests than its limit allows; retry later. Fault: soap:Client.RateLimited."""

    fault_code = "soap:Client.RateLimited"
    default_code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int = 1, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        """Seconds after which the bucket holds a token again (the ``Retry-After`` header)."""


class MustUnderstand(GatewayError):
    """A header block marked mustUnderstand is not processed here (SOAP 1.1 §4.2.3). Fault: soap:MustUnderstand."""

    fault_code = "soap:MustUnderstand"
    default_code = "MUST_UNDERSTAND"
    http_status = 400
