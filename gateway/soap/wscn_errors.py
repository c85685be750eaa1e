"""WSCN functional error codes: the table from our stable ``gw:code`` to WSCN's ``error``.

WSCN reports functional refusals *inside the normal answer* as ``error{codigo, descripcion,
identificadorPeticion}`` and system errors as a SOAP fault (``WSCNExcepcionSistema``,
``soap.faults.wscn_system_fault``). Its codes are not public (docs/WSCN.md): these are
ours, documented in README.md ("The WSCN port") and stable. A code not in ``BY_CODE`` falls back
to its error class (``BY_CLASS``), so a new refusal never becomes a system error by accident.
``descripcion`` is a fixed Spanish text followed by our ``gw:code`` in brackets -- the same code
the native port's fault carries -- and never the exception's text, so nothing internal leaks.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import (
    AuthorizationError,
    Conflict,
    GatewayError,
    InvalidRequest,
    InvalidSignature,
    InvalidState,
    LimitExceeded,
    NotFound,
)


@dataclass(frozen=True, slots=True)
class WscnError:
    codigo: int
    descripcion: str


NOT_FOUND = WscnError(1, "Notificación no encontrada")
NOT_AUTHORISED = WscnError(2, "No está autorizado para esta operación")
ALREADY_FINAL = WscnError(3, "La notificación ya no admite acuse")
EXPIRED = WscnError(4, "La notificación ha caducado (rechazada por transcurso del plazo)")
ACK_EXPIRED = WscnError(5, "El acuse ha caducado; solicítelo de nuevo")
NOT_ACCEPTED = WscnError(6, "La notificación no está aceptada")
BAD_SIGNATURE = WscnError(7, "La firma del acuse no es válida")
BAD_ACK = WscnError(8, "El acuse enviado no corresponde a uno solicitado")
BAD_CURSOR = WscnError(9, "Código de notificación siguiente no válido")
BAD_REQUEST = WscnError(10, "Petición no válida")

BY_CODE: dict[str, WscnError] = {
    "NOT_FOUND": NOT_FOUND,
    "RECEIPT_NOT_FOUND": NOT_FOUND,
    "DOCUMENT_NOT_FOUND": NOT_FOUND,
    "NOT_AUTHORISED": NOT_AUTHORISED,
    "NOT_PENDING": ALREADY_FINAL,
    "ALREADY_FINAL": ALREADY_FINAL,
    "EXPIRED": EXPIRED,
    "ACK_EXPIRED": ACK_EXPIRED,
    "NOT_ACCEPTED": NOT_ACCEPTED,
    "UNKNOWN_NONCE": BAD_ACK,
    "NONCE_REUSED": BAD_ACK,
    "ACK_MISMATCH": BAD_ACK,
    "ITEMS_MISMATCH": BAD_ACK,
    "HASH_MISMATCH": BAD_ACK,
    "MALFORMED_RECEIPT": BAD_ACK,
    "EMPTY_DOCUMENT": BAD_ACK,
    "UNSUPPORTED_FORMAT": BAD_ACK,
    "INVALID_CURSOR": BAD_CURSOR,
}

BY_CLASS: tuple[tuple[type[GatewayError], WscnError], ...] = (
    (NotFound, NOT_FOUND),
    (AuthorizationError, NOT_AUTHORISED),
    (InvalidSignature, BAD_SIGNATURE),
    (InvalidState, ALREADY_FINAL),
    (Conflict, ALREADY_FINAL),
    (LimitExceeded, BAD_REQUEST),
    (InvalidRequest, BAD_REQUEST),
)

OUTCOME_CODES: dict[str, str] = {
    "NOT_FOUND": "NOT_FOUND", "NOT_AUTHORISED": "NOT_FOUND", "ALREADY_FINAL": "ALREADY_FINAL",
    "EXPIRED": "EXPIRED",
}
"""A receipt item's outcome other than ACCEPTED/REJECTED as a ``gw:code`` (NOT_AUTHORISED is
told as NOT_FOUND, as the native port's prepare does: no probing for others' items)."""


def is_functional(error: GatewayError) -> bool:
    """A refusal the client caused (WSCN ``error``), not a system error (a fault)."""
    return error.code in BY_CODE or any(isinstance(error, cls) for cls, _ in BY_CLASS)


def wscn_error(code: str, error: GatewayError | None = None) -> WscnError:
    """The WSCN code and text for our ``gw:code`` (``error`` gives the class fallback)."""
    found = BY_CODE.get(code)
    if found is None and error is not None:
        found = next((w for cls, w in BY_CLASS if isinstance(error, cls)), None)
    found = found or BAD_REQUEST
    return WscnError(found.codigo, f"{found.descripcion} ({code})")
