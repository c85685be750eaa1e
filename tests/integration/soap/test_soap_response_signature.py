"""The client verifies the server's signature on every response (DESIGN.md §4).

A proxy between zeep and the gateway (a transport that rewrites the response bytes) stands in
for a man in the middle: any change to what the server signed must make zeep raise
``SignatureVerificationFailed`` instead of handing the forged answer to the application.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import zeep
from lxml import etree
from zeep.exceptions import SignatureVerificationFailed

from gateway import namespaces as ns

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres


def _flip_in(marker: bytes) -> Callable[[bytes], bytes]:
    """Flip the lowest bit of the last byte of ``marker`` (which must occur once)."""

    def tamper(content: bytes) -> bytes:
        assert content.count(marker) == 1, content[:500]
        position = content.index(marker) + len(marker) - 1
        return content[:position] + bytes([content[position] ^ 0x01]) + content[position + 1:]

    return tamper


def _rewrite(change: Callable[[etree._Element], None]) -> Callable[[bytes], bytes]:
    def tamper(content: bytes) -> bytes:
        envelope = etree.fromstring(content)
        change(envelope)
        return etree.tostring(envelope)

    return tamper


def test_untampered_response_verifies(gateway: RunningGateway) -> None:
    def identity(content: bytes) -> bytes:
        return content

    assert gateway.tampered_client(identity).service.GetOfficialTime().timeZone == "Europe/Madrid"


def test_one_flipped_byte_in_the_body_fails_verification(gateway: RunningGateway) -> None:
    client = gateway.tampered_client(_flip_in(b"Europe/Madrid"))
    with pytest.raises(SignatureVerificationFailed):
        client.service.GetOfficialTime()


def test_one_flipped_byte_in_a_listing_fails_verification(gateway: RunningGateway) -> None:
    recipient = gateway.pki.person_nif.encode()
    client = gateway.tampered_client(
        lambda content: content.replace(recipient, recipient[:-1] + b"X", 1), "person")
    with pytest.raises(SignatureVerificationFailed):
        client.service.ListNotifications(pageSize=1)


def test_flipped_byte_in_a_fault_fails_verification(gateway: RunningGateway) -> None:
    """Faults are signed too: a forged error code is not believed either."""
    item = gateway.seed.of(gateway.pki.company_cif)[0]
    client = gateway.tampered_client(_flip_in(b"<gw:code>NOT_FOUND"), "person")
    with pytest.raises(SignatureVerificationFailed):
        client.service.GetNotification(id=item.id)


def test_flipped_byte_in_the_timestamp_fails_verification(gateway: RunningGateway) -> None:
    def tamper(content: bytes) -> bytes:
        envelope = etree.fromstring(content)
        created = envelope.find(f".//{{{ns.WSU}}}Timestamp/{{{ns.WSU}}}Created")
        assert created is not None and created.text
        created.text = created.text[:-2] + ("1Z" if created.text[-2] != "1" else "2Z")
        return etree.tostring(envelope)

    with pytest.raises(SignatureVerificationFailed):
        gateway.tampered_client(tamper).service.GetOfficialTime()


def test_response_without_security_header_fails_verification(gateway: RunningGateway) -> None:
    def strip(envelope: etree._Element) -> None:
        security = envelope.find(f"{{{ns.SOAP11_ENV}}}Header/{{{ns.WSSE}}}Security")
        assert security is not None
        security.getparent().remove(security)

    with pytest.raises(SignatureVerificationFailed):
        gateway.tampered_client(_rewrite(strip)).service.GetOfficialTime()


def test_response_signature_wrapping_fails_verification(gateway: RunningGateway) -> None:
    def wrap(envelope: etree._Element) -> None:
        body = envelope.find(f"{{{ns.SOAP11_ENV}}}Body")
        header = envelope.find(f"{{{ns.SOAP11_ENV}}}Header")
        assert body is not None and header is not None
        forged = etree.fromstring(etree.tostring(body))
        for attribute in list(forged.attrib):
            del forged.attrib[attribute]  # the forged Body carries no Id
        zone = forged.find(".//{*}timeZone")
        assert zone is not None
        zone.text = "Atlantic/Canary"
        etree.SubElement(header, "{urn:evil}Wrapper").append(body)
        envelope.append(forged)

    client = gateway.tampered_client(_rewrite(wrap))
    with pytest.raises((SignatureVerificationFailed, zeep.exceptions.Error)):
        official = client.service.GetOfficialTime()
        assert official.timeZone == "Europe/Madrid", "forged response accepted"
