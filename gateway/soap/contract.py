"""The published contract: the WSDL each port serves, and the XML Schemas inside it.

``wsdl/`` and ``xsd/`` at the top of the repository hold the committed copies; ``gateway
contract --check`` (and a test) fails when the code would serve something else, and
``gateway contract --write`` regenerates them after an intended change. The service address in
the committed WSDL is a placeholder: the running server fills in its own.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from lxml import etree
from spyne.interface.wsdl import Wsdl11

from gateway import namespaces
from gateway.domain.clock import SystemClock
from gateway.services.events import EventsService
from gateway.services.issuing import IssuingService
from gateway.services.receipts import ReceiptService
from gateway.services.validation import SignatureValidation

from .application import (
    GatewayApplication,
    GatewayWsgiApplication,
    ResponseSigner,
    build_application,
)
from .context import SoapDependencies
from .issuer_service import issuer_service
from .notification_service import notification_service
from .validation_service import validation_service
from .wscn_service import wscn_service
from .wscn_types import wscn_types

PLACEHOLDER_ADDRESS = "https://gateway.example/{service}"
PORTS = {"notification-service": "NotificationService", "validation-service": "ValidationService",
         "wscn": "WSCN", "wscn-pruebas": "pruebas/WSCN", "issuer-service": "IssuerService"}
"""Contract name -> the path it is served at (``POST /<path>``, ``GET /<path>?wsdl``)."""

WSCN_PORTS = {"wscn": namespaces.WSCN, "wscn-pruebas": namespaces.WSCN_PRUEBAS}
"""The compatible WSCN port (docs/WSCN.md) in its production and test namespaces."""


def port_application(port: str, *, notification: SoapDependencies | None = None,
                     validation: SignatureValidation | None = None,
                     receipts: ReceiptService | None = None,
                     issuing: IssuingService | None = None,
                     events: EventsService | None = None,
                     response_signer: ResponseSigner | None = None,
                     strict_wsi_status: bool = False) -> GatewayApplication:
    """The Spyne application of one port. Without collaborators it describes the types only
    (enough to render the contract)."""
    name = PORTS[port]
    if port == "notification-service" or port in WSCN_PORTS:
        deps = notification or SoapDependencies(
            queries=None, representation=None, clock=SystemClock(),  # type: ignore[arg-type]
            official_zone=ZoneInfo("Europe/Madrid"))
        if port in WSCN_PORTS:
            tns, name = WSCN_PORTS[port], "WSCN"
            service = wscn_service(deps, wscn_types(tns))
        else:
            service, tns = notification_service(deps), namespaces.NOTIFICATION_SERVICE
    elif port == "issuer-service":
        service, tns = issuer_service(issuing, events), namespaces.ISSUER_SERVICE
    elif port == "validation-service":
        service = validation_service(validation, receipts)  # type: ignore[arg-type]
        tns = namespaces.VALIDATION_SERVICE
    else:
        raise KeyError(port)
    return build_application([service], name=name, tns=tns,
                             response_signer=response_signer,
                             strict_wsi_status=strict_wsi_status)


@lru_cache(maxsize=32)
def render_wsdl(port: str, address: str | None = None) -> bytes:
    """The WSDL of ``port`` exactly as the server publishes it at ``address``."""
    address = address or PLACEHOLDER_ADDRESS.format(service=PORTS[port])
    application = port_application(port)
    service = application.services[0]
    GatewayWsgiApplication(application)  # binds the application to SOAP over HTTP
    wscn = port in WSCN_PORTS
    wsdl = Wsdl11(application.interface,
                  element_form_default="unqualified" if wscn else "qualified")
    wsdl.build_interface_document(address)
    document = etree.fromstring(wsdl.get_interface_document())
    if wscn:
        _wscn_names(document)
    # Spyne documents operations but not the service; the limits and the security policy
    # belong in the contract too (DESIGN.md §4).
    _canonical_order(document)
    for element in document.iterfind(f"{{{namespaces.WSDL}}}service"):
        documentation = etree.Element(f"{{{namespaces.WSDL}}}documentation")
        documentation.text = inspect.cleandoc(service.__doc__ or "")
        element.insert(0, documentation)
    return etree.tostring(document, pretty_print=True, xml_declaration=True, encoding="UTF-8")


PORT_OF_SERVICE = {service: port for port, service in PORTS.items()}


def _wscn_names(document: etree._Element) -> None:
    """The JAX-WS names WSCN's stubs were generated with (docs/WSCN.md, "Service"):
    portType ``WSCN``, binding ``WSCNPortBinding``, service ``WSCNService``, port ``WSCNPort``,
    SOAPAction ``urn:<operation>`` and message parts named ``parameters``. Spyne names all four
    after the application and each part after its element."""
    wsdl = f"{{{namespaces.WSDL}}}"
    for part in document.iterfind(f"{wsdl}message/{wsdl}part"):
        part.set("name", "parameters")
    for operation in document.iterfind(f"{wsdl}portType/{wsdl}operation"):
        operation.attrib.pop("parameterOrder", None)
    tns_prefix = next(p for p, uri in document.nsmap.items()
                      if uri == document.get("targetNamespace") and p)
    for port_type in document.iterfind(f"{wsdl}portType"):
        port_type.set("name", "WSCN")
    for binding in document.iterfind(f"{wsdl}binding"):
        binding.set("name", "WSCNPortBinding")
        binding.set("type", f"{tns_prefix}:WSCN")
        for operation in binding.iterfind(f"{wsdl}operation"):
            for soap_operation in operation.iterfind(f"{{{namespaces.WSDL_SOAP11}}}operation"):
                soap_operation.set("soapAction", f"urn:{operation.get('name')}")
    for service in document.iterfind(f"{wsdl}service"):
        service.set("name", "WSCNService")
        for port in service.iterfind(f"{wsdl}port"):
            port.set("name", "WSCNPort")
            port.set("binding", f"{tns_prefix}:WSCNPortBinding")


def _canonical_order(document: etree._Element) -> None:
    """Sort top-level schema components and WSDL messages by kind and name.

    Spyne emits them in an order that depends on import order; their order has no meaning in
    XSD or WSDL, and a stable order keeps the committed contract diffable.
    """
    def key(element: etree._Element) -> tuple[str, str]:
        return (etree.QName(element).localname, element.get("name") or "")

    for schema in document.iter(f"{{{namespaces.XSD}}}schema"):
        imports = [c for c in schema if etree.QName(c).localname in ("import", "include")]
        components = sorted((c for c in schema if c not in imports), key=key)
        schema[:] = imports + components
    messages = sorted(document.findall(f"{{{namespaces.WSDL}}}message"), key=key)
    if messages:
        first = min(list(document).index(m) for m in messages)
        for message in messages:
            document.remove(message)
        for offset, message in enumerate(messages):
            document.insert(first + offset, message)


def schemas(wsdl: bytes, stem: str) -> dict[str, bytes]:
    """The xs:schema elements of a WSDL as standalone documents, keyed by file name."""
    document = etree.fromstring(wsdl)
    found = {}
    for index, schema in enumerate(document.iterfind(f".//{{{namespaces.XSD}}}schema")):
        standalone = etree.fromstring(etree.tostring(schema))
        name = f"{stem}.xsd" if index == 0 else f"{stem}-{index}.xsd"
        found[name] = etree.tostring(standalone, pretty_print=True, xml_declaration=True,
                                     encoding="UTF-8")
    return found


def expected_files() -> dict[Path, bytes]:
    files: dict[Path, bytes] = {}
    for port in PORTS:
        wsdl = render_wsdl(port)
        files[Path("wsdl") / f"{port}.wsdl"] = wsdl
        for name, schema in schemas(wsdl, port).items():
            files[Path("xsd") / name] = schema
    return files


def differences(root: Path) -> list[str]:
    """Committed contract files that are missing or differ from what the code serves."""
    return [str(path) for path, content in expected_files().items()
            if not (root / path).is_file() or (root / path).read_bytes() != content]


def write(root: Path) -> list[Path]:
    written = []
    for path, content in expected_files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
        written.append(path)
    return written
