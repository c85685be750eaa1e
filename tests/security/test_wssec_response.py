"""Response signing: zeep's BinarySignature.verify (python-xmlsec) must accept what we sign."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree
from wssec_builders import NOW
from zeep.exceptions import SignatureVerificationFailed
from zeep.wsse.signature import BinarySignature

from gateway import namespaces as ns
from gateway.domain.clock import FixedClock
from gateway.domain.principal import PrincipalKind
from gateway.pki import Credential, DemoPki
from gateway.wssec import WsSecurityGate, sign_response
from gateway.xmlsig.references import WSU_ID

RESPONSE_11 = (
    f'<soap:Envelope xmlns:soap="{ns.SOAP11_ENV}" xmlns:tns="{ns.NOTIFICATION_SERVICE}">'
    "<soap:Body><tns:EchoResponse><tns:text>hola</tns:text></tns:EchoResponse></soap:Body>"
    "</soap:Envelope>"
)
RESPONSE_12 = RESPONSE_11.replace(ns.SOAP11_ENV, ns.SOAP12_ENV)


def _signed(credential: Credential, template: str = RESPONSE_11) -> bytes:
    envelope = etree.fromstring(template.encode())
    sign_response(
        envelope,
        credential.private_key(),
        credential.certificate(),
        FixedClock(NOW),
        timedelta(minutes=5),
    )
    return etree.tostring(envelope)


def _zeep_verify(credential: Credential, data: bytes) -> None:
    BinarySignature(str(credential.key_path), str(credential.cert_path)).verify(
        etree.fromstring(data)
    )


@pytest.mark.parametrize("template", [RESPONSE_11, RESPONSE_12], ids=["soap11", "soap12"])
def test_zeep_accepts_server_signed_response(pki: DemoPki, template: str) -> None:
    _zeep_verify(pki.server, _signed(pki.server, template))


def test_zeep_accepts_ecdsa_signed_response(pki: DemoPki) -> None:
    credential = pki.client("company_ec")
    _zeep_verify(credential, _signed(credential))


def test_zeep_refuses_a_tampered_response(pki: DemoPki) -> None:
    data = _signed(pki.server).replace(b">hola<", b">adios<")
    with pytest.raises(SignatureVerificationFailed):
        _zeep_verify(pki.server, data)


def test_response_shape(pki: DemoPki) -> None:
    envelope = etree.fromstring(_signed(pki.server))
    header, body = list(envelope)
    security = header[0]
    assert security.get(ns.qname(ns.SOAP11_ENV, "mustUnderstand")) == "1"
    assert [etree.QName(child).localname for child in security] == [
        "Timestamp",
        "BinarySecurityToken",
        "Signature",
    ]
    created, expires = (child.text for child in security[0])
    assert (created, expires) == ("2026-03-02T09:30:00.000Z", "2026-03-02T09:35:00.000Z")
    assert body.get(WSU_ID)
    assert b'wsu:Id="' in etree.tostring(body)  # the conventional prefix, not ns0
    methods = security[2].findall(f".//{{{ns.DS}}}SignatureMethod")
    assert [m.get("Algorithm") for m in methods] == [
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    ]


def test_our_gate_accepts_our_response(gate: WsSecurityGate, pki: DemoPki) -> None:
    """Round trip: the server certificate chains to the demo trust store and maps to its CIF."""
    verified = gate.verify_bytes(_signed(pki.server))
    assert verified.principal.kind is PrincipalKind.ENTITY
    assert verified.principal.identifier == pki.server_cif


def test_refuses_a_second_security_header(pki: DemoPki) -> None:
    envelope = etree.fromstring(_signed(pki.server))
    with pytest.raises(ValueError):
        sign_response(envelope, pki.server.private_key(), pki.server.certificate(), FixedClock(NOW))


def test_keeps_an_existing_body_id(pki: DemoPki) -> None:
    template = RESPONSE_11.replace("<soap:Body>", f'<soap:Body xmlns:wsu="{ns.WSU}" wsu:Id="b-1">')
    envelope = etree.fromstring(_signed(pki.server, template))
    assert envelope[1].get(WSU_ID) == "b-1"
    _zeep_verify(pki.server, etree.tostring(envelope))
