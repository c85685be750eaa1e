"""Every XML namespace URI the gateway reads or writes, in one table (like ``zeep/ns.py``).

soap/, wssec/ and signatures/ import from here; nobody spells a namespace URI inline. Algorithm
identifiers (which are URIs but not namespaces) live with the code that allow-lists them
(``gateway.wssec.policy``); token-profile ``ValueType``/``EncodingType`` URIs live in
``gateway.wssec.tokens``.
"""

from __future__ import annotations

from typing import Final

# SOAP envelopes (SOAP 1.1 W3C Note §4; SOAP 1.2 Part 1 §5).
SOAP11_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV: Final = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENC: Final = "http://schemas.xmlsoap.org/soap/encoding/"

# WSDL 1.1 and its SOAP bindings.
WSDL: Final = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP11: Final = "http://schemas.xmlsoap.org/wsdl/soap/"
WSDL_SOAP12: Final = "http://schemas.xmlsoap.org/wsdl/soap12/"

# XML Schema.
XSD: Final = "http://www.w3.org/2001/XMLSchema"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"

# The XML namespace itself (xml:id, xml:lang); bound to the prefix ``xml`` by definition.
XML: Final = "http://www.w3.org/XML/1998/namespace"

# OASIS WS-Security 1.0/1.1 (SOAP Message Security; X.509 Token Profile).
WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSSE11: Final = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"

# WS-Addressing 1.0.
WSA: Final = "http://www.w3.org/2005/08/addressing"

# XML Signature (XMLDSig 1.0 and 1.1 additions) and exclusive canonicalisation.
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
DS11: Final = "http://www.w3.org/2009/xmldsig11#"
EC: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"

# XAdES (ETSI EN 319 132-1).
XADES: Final = "http://uri.etsi.org/01903/v1.3.2#"
XADES141: Final = "http://uri.etsi.org/01903/v1.4.1#"

# ETSI TS 119 102-2 signature validation report.
ETSI_VALIDATION_REPORT: Final = "http://uri.etsi.org/19102/v1.2.1#"

# XOP/MTOM.
XOP: Final = "http://www.w3.org/2004/08/xop/include"

# Our own contract (DESIGN.md §4).
NOTIFICATION_SERVICE: Final = "urn:notess:gateway:notification:v1"
VALIDATION_SERVICE: Final = "urn:notess:gateway:validation:v1"
ISSUER_SERVICE: Final = "urn:notess:gateway:issuer:v1"
RECEIPT: Final = "urn:notess:gateway:receipt:v1"
EVIDENCE: Final = "urn:notess:gateway:evidence:v1"
"""The issuer's evidence of an item's life (``GetEvidence``; ``gateway.evidence_xml``)."""
FAULT_DETAIL: Final = "urn:notess:gateway:fault:v1"

# The administration's own notification web service, WSCN (docs/WSCN.md): production and
# test ("pruebas") target namespaces, served by the compatible port (soap.wscn_service).
WSCN: Final = "http://ws.wscn.infra.gi.org/"
WSCN_PRUEBAS: Final = "http://ws.pruebas.wscn.infra.gi.org/"

PREFIXES: Final[dict[str, str]] = {
    "soap": SOAP11_ENV,
    "soap12": SOAP12_ENV,
    "wsdl": WSDL,
    "xsd": XSD,
    "xsi": XSI,
    "wsse": WSSE,
    "wsu": WSU,
    "wsse11": WSSE11,
    "wsa": WSA,
    "ds": DS,
    "dsig11": DS11,
    "ec": EC,
    "xades": XADES,
    "xades141": XADES141,
    "xop": XOP,
    "ntf": NOTIFICATION_SERVICE,
    "val": VALIDATION_SERVICE,
    "iss": ISSUER_SERVICE,
    "rcpt": RECEIPT,
    "ev": EVIDENCE,
    "fault": FAULT_DETAIL,
}
"""Conventional prefixes, for XPath expressions and for the documents the gateway writes."""


def qname(namespace: str, local: str) -> str:
    """The Clark notation ``{namespace}local`` lxml uses for tags and attribute names."""
    return f"{{{namespace}}}{local}"
