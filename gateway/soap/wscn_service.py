"""Port ``WSCN``: the administration's own notification contract (docs/WSCN.md), as an
adapter over the same services as ``NotificationService`` -- decode, call the service, encode.

Nothing here decides a rule. Listing is ``NotificationQueries.list_after_item`` (the native
listing, restricted to a role bucket and keyed by WSCN's integer cursors); the acknowledgement
is ``ReceiptService.prepare``/``submit`` (``PrepareReceipt``/``SubmitReceipt``); content is
``NotificationQueries.content`` (``GetContent``); the receipt's time is ``ReceiptService.get``
(``GetReceipt``, its release rule); ``identificadorPoderdante`` is
``RepresentationService.acting_for`` (``ListPrincipals``). Authorisation and audit happen inside
those services, exactly as for the native port.

What is WSCN's: the names, the integer codes and Spanish texts, the date strings, and the two
error channels -- a functional refusal is an ``error`` element inside the normal answer
(``soap.wscn_errors``), a system error a ``WSCNExcepcionSistema`` fault
(``soap.faults.wscn_system_fault``). README.md, "The WSCN port", lists every decision.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from spyne import Boolean, ByteArray, Integer32, ServiceBase, Unicode, rpc

from gateway.domain.listing import ListingFilter, Role
from gateway.domain.model import Status
from gateway.domain.receipts import Decision, Outcome
from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.services.notifications import NotificationQueries, Page, VisibleNotification
from gateway.services.receipts import ReceiptService

from .context import SoapDependencies, correlation_of, principal_of
from .faults import wscn_system_fault
from .wscn_errors import OUTCOME_CODES, is_functional, wscn_error
from .wscn_types import WscnTypes, unqualified

PAGE_SIZE = 50
"""Items per bucket and call (WSCN.md: unknown); ``hayMas`` says a bucket filled its page."""

DATE_FORMAT = "%d/%m/%Y %H:%M:%S"
"""``dd/MM/yyyy HH:mm:ss`` in official (Europe/Madrid) time, what Spanish clients parse."""

FROM_START = -1

BUCKETS: dict[int, tuple[Role, ...]] = {
    1: (Role.OWN, Role.GRANT),  # own side: the certificate's own, and what a grant lets it see
    2: (Role.RED,),
    3: (Role.MANDATE,),
}
"""WSCN ``rol`` -> our roles. 0 asks for all three buckets."""

STATES: dict[Status, tuple[int, str]] = {
    Status.AVAILABLE: (1, "Sin acuse"),
    Status.ACCEPTED: (2, "Aceptada"),
    Status.REJECTED: (3, "Rechazada"),
    Status.EXPIRED: (4, "Rechazada por transcurso del plazo"),
    Status.READ: (5, "Leída"),
    Status.CANCELLED: (6, "Anulada por el emisor"),
}
"""Our status -> WSCN ``estado`` and ``descripcionEstado`` (2 = accepted, as WSCN clients
expect; the other numbers are ours)."""

BUCKET_NAMES = {1: "Propia", 2: "Autorizado RED", 3: "Apoderado"}

R = TypeVar("R")


def wscn_service(deps: SoapDependencies, types: WscnTypes) -> type[ServiceBase]:
    queries = deps.queries
    representation = deps.representation
    zone = deps.official_zone

    def wscn_date(instant: datetime | None) -> str | None:
        return None if instant is None else instant.astimezone(zone).strftime(DATE_FORMAT)

    def answer(ctx: Any, model: Any, code: int, call: Callable[[], R]) -> R | Any:
        """``call()``; a functional refusal becomes ``model(error=...)`` (its identifier field
        set to ``code``), anything else a ``WSCNExcepcionSistema`` fault."""
        correlation_id = correlation_of(ctx)
        try:
            return call()
        except GatewayError as error:
            if not is_functional(error):
                raise wscn_system_fault(error, correlation_id, types.tns) from error
            return refusal(model, code, error.code, correlation_id, error)
        except Exception as error:
            raise wscn_system_fault(error, correlation_id, types.tns) from error

    def refusal(model: Any, code: int, gw_code: str, correlation_id: str,
                error: GatewayError | None = None) -> Any:
        mapped = wscn_error(gw_code, error)
        result = model()
        result.error = types.Error(codigo=mapped.codigo, descripcion=mapped.descripcion,
                                   identificadorPeticion=correlation_id)
        for field in ("codigoNotificacion",):
            if field in model._type_info:
                setattr(result, field, code)
        if model is types.ListadoNotificaciones:
            result.hayMas = False
            result.codigoSiguienteNotificacionPropia = FROM_START
            result.codigoSiguienteNotificacionAutorizadoRED = FROM_START
            result.codigoSiguienteNotificacionApoderado = FROM_START
        if model is types.ListadoPoderdantes:
            result.tienePoderdantes = False
        return result

    def acting_for(ctx: Any, poderdante: str | None) -> str | None:
        """The principal named by ``identificadorPoderdante`` once the caller may act for it."""
        if not poderdante:
            return None
        return representation.acting_for(principal_of(ctx), poderdante).identifier

    def notificacion(item: VisibleNotification, rol: int) -> Any:
        n = item.notification
        estado, descripcion_estado = STATES[n.status]
        return types.Notificacion(
            codigo=n.id, estado=estado, descripcionEstado=descripcion_estado,
            tipoDestinatario=str(rol), descripcionTipoDestinatario=BUCKET_NAMES[rol],
            destinatario=n.recipient, procedimiento=n.procedure,
            fechaPuestaDisposicion=wscn_date(n.made_available_at),
            fechaFinDisponibilidad=wscn_date(n.deadline_at),
            descripcion=n.subject, codDestinatario=n.ccc or n.recipient,
        )

    def recuperada(ctx: Any, notification_id: int, accepted_now: bool,
                   receipt_time: datetime | None, *, refusable: bool = True) -> Any:
        """The answer of enviar/ver: the main document and the act's official time (only once
        ACCEPTED: ``content`` refuses otherwise), and the receipt's time when given. The
        document answering an acceptance just made (not ``refusable``) is counted against the
        caller's bytes per hour but never refused: the act is done and must be answered."""
        content = queries.content(principal_of(ctx), notification_id, 0,
                                  refusable=refusable) if accepted_now else None
        if content is None:
            seen = queries.get(principal_of(ctx), notification_id).notification
            return types.NotificacionRecuperada(
                codigoNotificacion=notification_id, selladoTiempo=wscn_date(seen.status_at),
                selladoTiempoAcuse=wscn_date(receipt_time))
        return types.NotificacionRecuperada(
            codigoNotificacion=notification_id, pdfNotificacion=[content.data],
            selladoTiempo=wscn_date(content.notification.notification.status_at),
            selladoTiempoAcuse=wscn_date(receipt_time))

    # JAX-WS stubs send ``int``/``boolean`` parameters always (Java primitives): required.
    Int = unqualified(Integer32, min_occurs=1, nillable=False)
    Text = unqualified(Unicode)

    class WSCN(ServiceBase):
        """WSCN-compatible port of the NOTESS gateway (docs/WSCN.md): the same services,
        rules, authorisation and audit as NotificationService, in the administration's own
        contract. Requests carry the same WS-Security header as every port (X.509v3
        BinarySecurityToken, signature over Body and wsu:Timestamp); responses are signed
        without mustUnderstand. Functional errors: error{codigo, descripcion,
        identificadorPeticion} inside the answer; system errors: WSCNExcepcionSistema fault.
        Dates: dd/MM/yyyy HH:mm:ss, Europe/Madrid. Pages: 50 items per role and call."""

        __service_name__ = "WSCN"

        @rpc(Int, Text, Int, Int, Int,
             _returns=unqualified(types.ListadoNotificaciones),
             _out_variable_name="listadoNotificaciones")
        def consultarListadoNotificaciones(
                ctx: Any, rol: int | None, identificadorPoderdante: str | None,
                codigoSiguienteNotificacionPropia: int | None,
                codigoSiguienteNotificacionAutorizadoRED: int | None,
                codigoSiguienteNotificacionApoderado: int | None) -> Any:
            cursors = {1: codigoSiguienteNotificacionPropia,
                       2: codigoSiguienteNotificacionAutorizadoRED,
                       3: codigoSiguienteNotificacionApoderado}

            def run() -> Any:
                asked = _buckets(rol)
                listing_filter = ListingFilter(principal=acting_for(ctx, identificadorPoderdante))
                pages: dict[int, Page] = {
                    bucket: _page(queries, ctx, bucket, listing_filter, cursors[bucket])
                    for bucket in asked}
                following = {bucket: _following(pages.get(bucket), cursors[bucket])
                             for bucket in BUCKETS}

                def listed(bucket: int) -> list[Any]:
                    page = pages.get(bucket)
                    return [notificacion(i, bucket) for i in page.items] if page else []

                return types.ListadoNotificaciones(
                    hayMas=any(p.next_cursor is not None for p in pages.values()),
                    codigoSiguienteNotificacionPropia=following[1],
                    codigoSiguienteNotificacionAutorizadoRED=following[2],
                    codigoSiguienteNotificacionApoderado=following[3],
                    notificacionesPropias=listed(1), notificacionesAutorizadoRED=listed(2),
                    notificacionesApoderado=listed(3))

            return answer(ctx, types.ListadoNotificaciones, 0, run)

        @rpc(Int, Text, Int, unqualified(Boolean, min_occurs=1, nillable=False),
             _returns=unqualified(types.AcuseNotificacion),
             _out_variable_name="acuseNotificacion")
        def solicitarAcuseNotificacion(ctx: Any, rol: int | None,
                                       identificadorPoderdante: str | None,
                                       codigoNotificacion: int | None,
                                       esDeAceptacion: bool | None) -> Any:
            def run() -> Any:
                _buckets(rol)
                acting_for(ctx, identificadorPoderdante)
                if esDeAceptacion is None:
                    raise InvalidRequest("esDeAceptacion is required", field="esDeAceptacion")
                decision = Decision.ACCEPT if esDeAceptacion else Decision.REJECT
                prepared = _receipts(deps).prepare(principal_of(ctx),
                                                   [_codigo(codigoNotificacion)], decision)
                return types.AcuseNotificacion(codigoNotificacion=codigoNotificacion,
                                               XML=[prepared.document])

            return answer(ctx, types.AcuseNotificacion, codigoNotificacion or 0, run)

        @rpc(Int, Text, unqualified(ByteArray, nillable=True),
             _returns=unqualified(types.NotificacionRecuperada),
             _out_variable_name="notificacionRecuperada")
        def enviarAcuseNotificacion(ctx: Any, rol: int | None,
                                    identificadorPoderdante: str | None,
                                    xmlAcuseFirmado: list[bytes] | None) -> Any:
            def run() -> Any:
                _buckets(rol)
                acting_for(ctx, identificadorPoderdante)
                submission = _receipts(deps).submit(principal_of(ctx),
                                                    b"".join(xmlAcuseFirmado or []))
                # A WSCN acknowledgement names one notification; one prepared through the
                # native port may name more: the answer speaks of the first.
                item = submission.outcomes[0]
                receipt = next(v for v in submission.receipts
                               if any(i.notification_id == item.notification_id
                                      for i in v.content.items))
                if item.outcome not in (Outcome.ACCEPTED, Outcome.REJECTED):
                    return refusal(types.NotificacionRecuperada, item.notification_id,
                                   OUTCOME_CODES[item.outcome.value], correlation_of(ctx))
                return recuperada(ctx, item.notification_id,
                                  item.outcome is Outcome.ACCEPTED, receipt.content.issued_at,
                                  refusable=False)

            return answer(ctx, types.NotificacionRecuperada, 0, run)

        @rpc(Int, Text, Int,
             _returns=unqualified(types.NotificacionRecuperada),
             _out_variable_name="notificacionRecuperada")
        def verNotificacionAceptada(ctx: Any, rol: int | None,
                                    identificadorPoderdante: str | None,
                                    codigoNotificacion: int | None) -> Any:
            def run() -> Any:
                _buckets(rol)
                acting_for(ctx, identificadorPoderdante)
                notification_id = _codigo(codigoNotificacion)
                answer_ = recuperada(ctx, notification_id, True, None)
                try:  # the receipt's time only if its release rule lets the caller have it
                    view = _receipts(deps).get(principal_of(ctx), None, notification_id)
                    answer_.selladoTiempoAcuse = wscn_date(view.content.issued_at)
                except NotFound:
                    pass
                return answer_

            return answer(ctx, types.NotificacionRecuperada, codigoNotificacion or 0, run)

        @rpc(_returns=unqualified(types.ListadoPoderdantes),
             _out_variable_name="listadoPoderdantes")
        def solicitarPoderdantes(ctx: Any) -> Any:
            def run() -> Any:
                me = principal_of(ctx).acts_for
                seen: dict[str, Any] = {}
                for acting in representation.principals(principal_of(ctx)):
                    if acting.identifier != me and acting.identifier not in seen:
                        seen[acting.identifier] = types.Poderdante(
                            identificador=acting.identifier, denominacion=acting.identifier)
                return types.ListadoPoderdantes(poderdantes=list(seen.values()),
                                                tienePoderdantes=bool(seen))

            return answer(ctx, types.ListadoPoderdantes, 0, run)

    return WSCN


def _buckets(rol: int | None) -> tuple[int, ...]:
    if rol == 0:
        return tuple(BUCKETS)
    if rol in BUCKETS:
        return (rol,)
    raise InvalidRequest("rol must be 0, 1, 2 or 3", field="rol")


def _page(queries: NotificationQueries, ctx: Any, bucket: int, listing_filter: ListingFilter,
          cursor: int | None) -> Page:
    after = cursor if cursor is not None and cursor > 0 else None
    return queries.list_after_item(principal_of(ctx), frozenset(BUCKETS[bucket]), listing_filter,
                                   after, PAGE_SIZE)


def _following(page: Page | None, cursor: int | None) -> int:
    """The next cursor of a bucket: the last item listed, else the cursor sent (or -1)."""
    if page is not None and page.items:
        last = page.items[-1].notification.id
        assert last is not None
        return last
    return cursor if cursor is not None and cursor > 0 else FROM_START


def _codigo(value: int | None) -> int:
    if value is None or value < 1:
        raise InvalidRequest("codigoNotificacion must be a positive number", code="INVALID_ID",
                             field="codigoNotificacion")
    return value


def _receipts(deps: SoapDependencies) -> ReceiptService:
    if deps.receipts is None:  # only the contract renderer builds the port without services
        raise RuntimeError("receipt service not configured")
    return deps.receipts
