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

from .application import GatewayWsgiApplication, build_application
from .context import SoapDependencies
from .notification_service import notification_service

PLACEHOLDER_ADDRESS = "https://gateway.example/NotificationService"
PORTS = {"notification-service": "NotificationService"}


@lru_cache(maxsize=32)
def render_wsdl(port: str, address: str = PLACEHOLDER_ADDRESS) -> bytes:
    """The WSDL of ``port`` exactly as the server publishes it at ``address``."""
    # The contract does not depend on the services' collaborators: describe the types only.
    deps = SoapDependencies(queries=None, representation=None, clock=SystemClock(),  # type: ignore[arg-type]
                            official_zone=ZoneInfo("Europe/Madrid"))
    service = notification_service(deps)
    application = build_application([service], name=PORTS[port])
    GatewayWsgiApplication(application)  # binds the application to SOAP over HTTP
    wsdl = Wsdl11(application.interface)
    wsdl.build_interface_document(address)
    document = etree.fromstring(wsdl.get_interface_document())
    # Spyne documents operations but not the service; the limits and the security policy
    # belong in the contract too (DESIGN.md §4).
    _canonical_order(document)
    for element in document.iterfind(f"{{{namespaces.WSDL}}}service"):
        documentation = etree.Element(f"{{{namespaces.WSDL}}}documentation")
        documentation.text = inspect.cleandoc(service.__doc__ or "")
        element.insert(0, documentation)
    return etree.tostring(document, pretty_print=True, xml_declaration=True, encoding="UTF-8")


PORT_OF_SERVICE = {service: port for port, service in PORTS.items()}


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


def schemas(wsdl: bytes) -> dict[str, bytes]:
    """The xs:schema elements of a WSDL as standalone documents, keyed by file name."""
    document = etree.fromstring(wsdl)
    found = {}
    for index, schema in enumerate(document.iterfind(f".//{{{namespaces.XSD}}}schema")):
        standalone = etree.fromstring(etree.tostring(schema))
        name = "notification-service.xsd" if index == 0 else f"notification-service-{index}.xsd"
        found[name] = etree.tostring(standalone, pretty_print=True, xml_declaration=True,
                                     encoding="UTF-8")
    return found


def expected_files() -> dict[Path, bytes]:
    files: dict[Path, bytes] = {}
    for port in PORTS:
        wsdl = render_wsdl(port)
        files[Path("wsdl") / f"{port}.wsdl"] = wsdl
        for name, schema in schemas(wsdl).items():
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
