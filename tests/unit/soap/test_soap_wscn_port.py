"""The WSCN port in-process: its two error channels and its wire shape, with stub services.

A functional refusal (a ``GatewayError`` the client caused) is an ``error`` inside the normal
answer with the documented WSCN code; anything else is a ``WSCNExcepcionSistema`` fault that
says nothing about the cause; the ``gw:code`` -> WSCN table is total.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from soap_doubles import CALLER

from gateway import namespaces as ns
from gateway.domain.clock import SystemClock
from gateway.errors import (
    AuthorizationError,
    GatewayError,
    InvalidRequest,
    InvalidSignature,
    InvalidState,
    NotFound,
)
from gateway.soap.application import GatewayWsgiApplication
from gateway.soap.context import ENVIRON_ENVELOPE, ENVIRON_VERIFIED, SoapDependencies
from gateway.soap.contract import port_application
from gateway.soap.wscn_errors import BY_CODE, is_functional, wscn_error

SOAP = f"{{{ns.SOAP11_ENV}}}"


@dataclass
class Raising:
    error: BaseException

    def list_after_item(self, *_: Any) -> Any:
        raise self.error


LISTING = ("<rol>1</rol><codigoSiguienteNotificacionPropia>-1"
           "</codigoSiguienteNotificacionPropia><codigoSiguienteNotificacionAutorizadoRED>-1"
           "</codigoSiguienteNotificacionAutorizadoRED><codigoSiguienteNotificacionApoderado>-1"
           "</codigoSiguienteNotificacionApoderado>")


def call(error: BaseException, tns: str = ns.WSCN, children: str = LISTING) -> etree._Element:
    deps = SoapDependencies(queries=Raising(error), representation=None,  # type: ignore[arg-type]
                            clock=SystemClock(), official_zone=ZoneInfo("Europe/Madrid"))
    port = "wscn" if tns == ns.WSCN else "wscn-pruebas"
    app = GatewayWsgiApplication(port_application(port, notification=deps))
    request = etree.fromstring(
        f'<s:Envelope xmlns:s="{ns.SOAP11_ENV}"><s:Body><w:consultarListadoNotificaciones '
        f'xmlns:w="{tns}">{children}</w:consultarListadoNotificaciones>'
        "</s:Body></s:Envelope>".encode())
    environ = {
        "REQUEST_METHOD": "POST", "CONTENT_TYPE": "text/xml; charset=utf-8",
        "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b""), "PATH_INFO": "/WSCN",
        "QUERY_STRING": "", "SCRIPT_NAME": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
        "wsgi.url_scheme": "http", "notess.correlation_id": "corr-12345678",
        ENVIRON_ENVELOPE: request, ENVIRON_VERIFIED: SimpleNamespace(principal=CALLER),
    }
    body = b"".join(app(environ, lambda *_: None))
    return etree.fromstring(body).find(f"{SOAP}Body")[0]


@pytest.mark.parametrize(("error", "codigo"), [
    (NotFound("x"), 1),
    (AuthorizationError("x"), 2),
    (InvalidState("x", code="NOT_PENDING"), 3),
    (InvalidState("x", code="EXPIRED"), 4),
    (InvalidRequest("x", code="ACK_EXPIRED"), 5),
    (InvalidState("x", code="NOT_ACCEPTED"), 6),
    (InvalidSignature("x", code="HASH_FAILURE"), 7),
    (InvalidRequest("x", code="NONCE_REUSED"), 8),
    (InvalidRequest("x", code="INVALID_CURSOR"), 9),
    (InvalidRequest("x", code="SOMETHING_NEW"), 10),
])
def test_functional_refusals_are_errors_inside_the_answer(error: GatewayError,
                                                          codigo: int) -> None:
    answer = call(error)
    assert answer.tag == f"{{{ns.WSCN}}}consultarListadoNotificacionesResponse"
    listing = answer.find("listadoNotificaciones")  # unqualified, as JAX-WS writes it
    assert listing.findtext("hayMas") == "false"
    assert listing.findtext("error/codigo") == str(codigo)
    assert listing.findtext("error/descripcion").endswith(f"({error.code})")
    assert listing.findtext("error/identificadorPeticion") == "corr-12345678"
    assert "x" not in listing.findtext("error/descripcion").split("(")[0].split()


@pytest.mark.parametrize("error", [RuntimeError("database password is hunter2"),
                                   GatewayError("no key", code="NO_SERVER_KEY")])
@pytest.mark.parametrize("tns", [ns.WSCN, ns.WSCN_PRUEBAS])
def test_system_errors_are_wscn_faults_that_leak_nothing(error: BaseException, tns: str) -> None:
    fault = call(error, tns)
    assert fault.tag == f"{SOAP}Fault"
    assert fault.findtext("faultcode").endswith("Server")
    assert fault.findtext("faultstring").startswith("WSCNExcepcionSistema")
    detail = fault.find(f"detail/{{{tns}}}WSCNExcepcionSistema")
    assert detail is not None and detail.findtext("identificadorPeticion") == "corr-12345678"
    text = etree.tostring(fault).decode()
    assert "hunter2" not in text and "no key" not in text and "Traceback" not in text


def test_every_listed_code_is_functional_and_maps_to_its_code() -> None:
    for code, mapped in BY_CODE.items():
        assert is_functional(InvalidRequest("x", code=code))
        assert wscn_error(code).codigo == mapped.codigo
    assert not is_functional(GatewayError("x", code="NO_SERVER_KEY"))


def test_a_request_without_a_required_int_is_the_ordinary_schema_fault() -> None:
    fault = call(RuntimeError("not reached"), children=LISTING.replace("<rol>1</rol>", ""))
    assert fault.tag == f"{SOAP}Fault"
    assert fault.findtext("faultcode").endswith("Client.InvalidRequest")
    assert fault.findtext(f"detail/{{{ns.FAULT_DETAIL}}}error/{{{ns.FAULT_DETAIL}}}code") == \
        "INVALID_REQUEST"
