"""The SOAP types of the compatible WSCN port (docs/WSCN.md, "Types").

Names, types and order are WSCN's, not ours, so that a client generated from the original WSDL
(Axis 1.4 ``WSDL2Java``, CXF ``wsdl2java``) binds unchanged: ``int`` is ``xs:int`` (Java
``int``, not ``BigInteger``), dates are strings, local elements are **unqualified** (JAX-WS
style: ``sub_ns=""`` on every member, ``elementFormDefault="unqualified"`` in the schema, see
``soap.contract``). Element order follows WSCN.md; what WSCN.md leaves open (the list element of
``ListadoPoderdantes``, the next cursors of ``ListadoNotificaciones``, where ``error`` sits in
the two list answers) is decided in README.md, "The WSCN port".

WSCN has two target namespaces (production and "pruebas") with the same operations: the types
are built per namespace by ``wscn_types(tns)``, once per port.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from spyne import Boolean, ByteArray, ComplexModel, Integer32, Unicode


def unqualified(model: Any, **kwargs: Any) -> Any:
    """``model`` as an unqualified local element (no namespace on the wire)."""
    return model.customize(sub_ns="", **kwargs)


def _required(model: Any) -> Any:
    return unqualified(model, min_occurs=1, nillable=False)


def _optional(model: Any) -> Any:
    return unqualified(model, min_occurs=0)


@dataclass(frozen=True)
class WscnTypes:
    """The WSCN complex types of one target namespace (Spyne classes)."""

    tns: str
    Error: Any
    Notificacion: Any
    ListadoNotificaciones: Any
    AcuseNotificacion: Any
    NotificacionRecuperada: Any
    Poderdante: Any
    ListadoPoderdantes: Any


@lru_cache(maxsize=4)
def wscn_types(tns: str) -> WscnTypes:
    """The types in ``tns`` (cached: Spyne needs one class per type name and namespace)."""

    class Error(ComplexModel):
        """A functional refusal, inside the normal answer (README: WSCN error codes)."""

        __namespace__ = tns
        _type_info: ClassVar[list[tuple[str, Any]]] = [
            ("codigo", _required(Integer32)),
            ("descripcion", _optional(Unicode)),
            ("identificadorPeticion", _optional(Unicode)),
        ]

    class Notificacion(ComplexModel):
        __namespace__ = tns
        _type_info: ClassVar[list[tuple[str, Any]]] = [
            ("codigo", _required(Integer32)),
            ("estado", _required(Integer32)),
            ("descripcionEstado", _optional(Unicode)),
            ("tipoDestinatario", _optional(Unicode)),
            ("descripcionTipoDestinatario", _optional(Unicode)),
            ("destinatario", _optional(Unicode)),
            ("nombreAppRazonSocial", _optional(Unicode)),
            ("procedimiento", _optional(Unicode)),
            ("fechaPuestaDisposicion", _optional(Unicode)),
            ("fechaFinDisponibilidad", _optional(Unicode)),
            ("descripcion", _optional(Unicode)),
            ("codDestinatario", _optional(Unicode)),
        ]

    class ListadoNotificaciones(ComplexModel):
        __namespace__ = tns
        _type_info: ClassVar[list[tuple[str, Any]]] = [
            ("hayMas", _required(Boolean)),
            ("codigoSiguienteNotificacionPropia", _required(Integer32)),
            ("codigoSiguienteNotificacionAutorizadoRED", _required(Integer32)),
            ("codigoSiguienteNotificacionApoderado", _required(Integer32)),
            ("notificacionesPropias", unqualified(Notificacion, max_occurs="unbounded")),
            ("notificacionesAutorizadoRED", unqualified(Notificacion, max_occurs="unbounded")),
            ("notificacionesApoderado", unqualified(Notificacion, max_occurs="unbounded")),
            ("error", _optional(Error)),
        ]

    class AcuseNotificacion(ComplexModel):
        __namespace__ = tns
        _type_info: ClassVar[list[tuple[str, Any]]] = [
            ("codigoNotificacion", _required(Integer32)),
            ("error", _optional(Error)),
            ("XML", _optional(ByteArray)),
        ]

    class NotificacionRecuperada(ComplexModel):
        __namespace__ = tns
        _type_info: ClassVar[list[tuple[str, Any]]] = [
            ("codigoNotificacion", _required(Integer32)),
            ("error", _optional(Error)),
            ("pdfNotificacion", _optional(ByteArray)),
            ("selladoTiempo", _optional(Unicode)),
            ("selladoTiempoAcuse", _optional(Unicode)),
        ]

    class Poderdante(ComplexModel):
        __namespace__ = tns
        _type_info: ClassVar[list[tuple[str, Any]]] = [
            ("identificador", _optional(Unicode)),
            ("denominacion", _optional(Unicode)),
        ]

    class ListadoPoderdantes(ComplexModel):
        __namespace__ = tns
        _type_info: ClassVar[list[tuple[str, Any]]] = [
            ("poderdantes", unqualified(Poderdante, max_occurs="unbounded")),
            ("tienePoderdantes", _required(Boolean)),
            ("error", _optional(Error)),
        ]

    return WscnTypes(tns, Error, Notificacion, ListadoNotificaciones, AcuseNotificacion,
                     NotificacionRecuperada, Poderdante, ListadoPoderdantes)
