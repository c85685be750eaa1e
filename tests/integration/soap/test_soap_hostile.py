"""Hostile input over HTTP against the running server (gunicorn, two workers, PostgreSQL).

Every case is a request a client could really send -- most of them genuinely signed with a demo
certificate and then attacked -- posted raw with ``requests``. Each must come back as the one
SOAP fault the contract promises (``faultcode`` and ``gw:code``), with a 4xx status (never 500),
no traceback, signed by the server, and must leave the database exactly as it was: refused before
authentication, it is counted and summarised per source, never one audit-chain event (issue 14).

Where a case smuggles an operation in, the smuggled operation is a state change
(``AssignReception`` of the company's second CCC), so "nothing executed" is observable.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeAlias

import pytest
import xmlsec
from lxml import etree

from gateway import namespaces as ns

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

Envelope: TypeAlias = etree._Element
SOAP = ns.SOAP11_ENV
WSU_ID = ns.qname(ns.WSU, "Id")


# --- envelope anatomy -------------------------------------------------------------------------


def header(envelope: Envelope) -> Envelope:
    found = envelope.find(ns.qname(SOAP, "Header"))
    assert found is not None
    return found


def body(envelope: Envelope) -> Envelope:
    found = envelope.find(ns.qname(SOAP, "Body"))
    assert found is not None
    return found


def security(envelope: Envelope) -> Envelope:
    found = header(envelope).find(ns.qname(ns.WSSE, "Security"))
    assert found is not None
    return found


def timestamp(envelope: Envelope) -> Envelope:
    found = security(envelope).find(ns.qname(ns.WSU, "Timestamp"))
    assert found is not None
    return found


def signature(envelope: Envelope) -> Envelope:
    found = security(envelope).find(ns.qname(ns.DS, "Signature"))
    assert found is not None
    return found


def references(envelope: Envelope) -> list[Envelope]:
    return signature(envelope).findall(f"{{{ns.DS}}}SignedInfo/{{{ns.DS}}}Reference")


def body_reference(envelope: Envelope) -> Envelope:
    body_id = body(envelope).get(WSU_ID)
    return next(r for r in references(envelope) if r.get("URI") == f"#{body_id}")


def wrapper(envelope: Envelope) -> Envelope:
    """An unknown header block an intermediary would ignore: the classic XSW hiding place."""
    return etree.SubElement(header(envelope), "{urn:evil}Wrapper")


def smuggled_body(gw: RunningGateway) -> Envelope:
    """An unsigned Body holding a state change (the company's second CCC to the RED agent)."""
    message = gw.message("AssignReception", ccc=gw.seed.ccc_other, agent=gw.pki.red_agent_cif)
    return copy.deepcopy(body(message))


def harmless(gw: RunningGateway, client: str = "company") -> Envelope:
    return gw.signed("GetOfficialTime", client)


def serialise(envelope: Envelope) -> bytes:
    return etree.tostring(envelope)


# --- the cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[RunningGateway], bytes]
    faultcode: str
    code: str
    status: int
    content_type: str = "text/xml; charset=utf-8"


def unsigned(gw: RunningGateway) -> bytes:
    return serialise(gw.message("AssignReception", ccc=gw.seed.ccc_other,
                                agent=gw.pki.red_agent_cif))


def body_modified_after_signing(gw: RunningGateway) -> bytes:
    envelope = gw.signed("ListNotifications", pageSize=5)
    size = body(envelope).find(".//{*}pageSize")
    assert size is not None and size.text == "5"
    size.text = "6"
    return serialise(envelope)


def xsw_signed_body_wrapped_in_header(gw: RunningGateway) -> bytes:
    envelope = harmless(gw)
    wrapper(envelope).append(body(envelope))  # moves it
    envelope.append(smuggled_body(gw))
    return serialise(envelope)


def xsw_smuggled_body_takes_the_signed_id(gw: RunningGateway) -> bytes:
    envelope = harmless(gw)
    original = body(envelope)
    wrapper(envelope).append(original)
    forged = smuggled_body(gw)
    forged.set(WSU_ID, original.get(WSU_ID) or "")
    envelope.append(forged)
    return serialise(envelope)


def xsw_signed_body_moved_into_signature_object(gw: RunningGateway) -> bytes:
    envelope = harmless(gw)
    original = body(envelope)
    etree.SubElement(signature(envelope), ns.qname(ns.DS, "Object")).append(original)
    envelope.append(smuggled_body(gw))
    return serialise(envelope)


def xsw_second_body_after_the_signed_one(gw: RunningGateway) -> bytes:
    envelope = harmless(gw)
    envelope.append(smuggled_body(gw))
    return serialise(envelope)


def timestamp_missing(gw: RunningGateway) -> bytes:
    return serialise(gw.sign_custom(gw.message("GetOfficialTime"), timestamp=False))


def timestamp_unsigned(gw: RunningGateway) -> bytes:
    envelope = gw.sign_custom(gw.message("GetOfficialTime"), timestamp=False)
    created = datetime.now(UTC).replace(microsecond=0)
    stamp = etree.SubElement(security(envelope), ns.qname(ns.WSU, "Timestamp"))
    etree.SubElement(stamp, ns.qname(ns.WSU, "Created")).text = f"{created:%Y-%m-%dT%H:%M:%SZ}"
    etree.SubElement(stamp, ns.qname(ns.WSU, "Expires")).text = (
        f"{created + timedelta(minutes=5):%Y-%m-%dT%H:%M:%SZ}")
    return serialise(envelope)


def timestamp_expired(gw: RunningGateway) -> bytes:
    created = datetime.now(UTC) - timedelta(minutes=10)
    return serialise(gw.sign_custom(gw.message("GetOfficialTime"), created=created))


def timestamp_in_the_future(gw: RunningGateway) -> bytes:
    created = datetime.now(UTC) + timedelta(minutes=3)
    return serialise(gw.sign_custom(gw.message("GetOfficialTime"), created=created))


def signed_by(client: str) -> Callable[[RunningGateway], bytes]:
    def case(gw: RunningGateway) -> bytes:
        return serialise(harmless(gw, client))

    return case


def sha1_signature(gw: RunningGateway) -> bytes:
    return serialise(gw.sign_custom(
        gw.message("GetOfficialTime"), signature_method=xmlsec.constants.TransformRsaSha1,
        digest_method=xmlsec.constants.TransformSha1))


def sha1_digest_only(gw: RunningGateway) -> bytes:
    return serialise(gw.sign_custom(
        gw.message("GetOfficialTime"), digest_method=xmlsec.constants.TransformSha1))


XXE = (
    b'<?xml version="1.0"?><!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body><x>&xxe;</x></soap:Body></soap:Envelope>"
)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body><x>&lol9;</x></soap:Body></soap:Envelope>"
)


def malformed_xml(gw: RunningGateway) -> bytes:
    return serialise(harmless(gw))[:-25]


def soap12_envelope(gw: RunningGateway) -> bytes:
    text = serialise(gw.message("GetOfficialTime")).replace(
        ns.SOAP11_ENV.encode(), ns.SOAP12_ENV.encode())
    return serialise(gw.sign(etree.fromstring(text)))


def two_security_headers(gw: RunningGateway) -> bytes:
    envelope = harmless(gw)
    extra = etree.SubElement(header(envelope), ns.qname(ns.WSSE, "Security"))
    etree.SubElement(extra, ns.qname(ns.WSU, "Timestamp"))
    return serialise(envelope)


def two_timestamps(gw: RunningGateway) -> bytes:
    envelope = harmless(gw)
    second = copy.deepcopy(timestamp(envelope))
    del second.attrib[WSU_ID]
    security(envelope).append(second)
    return serialise(envelope)


def duplicated_id(attribute: str) -> Callable[[RunningGateway], bytes]:
    def case(gw: RunningGateway) -> bytes:
        envelope = harmless(gw)
        etree.SubElement(wrapper(envelope), "{urn:evil}Decoy",
                         {attribute: body(envelope).get(WSU_ID) or ""})
        return serialise(envelope)

    return case


def reference_uri(template: str) -> Callable[[RunningGateway], bytes]:
    def case(gw: RunningGateway) -> bytes:
        envelope = harmless(gw)
        reference = body_reference(envelope)
        reference.set("URI", template.replace("ID", (reference.get("URI") or "#")[1:]))
        return serialise(envelope)

    return case


def constant(data: bytes) -> Callable[[RunningGateway], bytes]:
    return lambda gw: data


SECURITY, AUTHENTICATION, EXPIRED = "wsse:InvalidSecurity", "wsse:FailedAuthentication", \
    "wsse:MessageExpired"
INVALID = "soap:Client.InvalidRequest"

CASES = [
    Case("unsigned", unsigned, SECURITY, "SECURITY_HEADER_MISSING", 401),
    Case("body_modified_after_signing", body_modified_after_signing, AUTHENTICATION,
         "DIGEST_MISMATCH", 401),
    Case("xsw_signed_body_wrapped_in_header", xsw_signed_body_wrapped_in_header, SECURITY,
         "BODY_NOT_SIGNED", 401),
    Case("xsw_smuggled_body_takes_the_signed_id", xsw_smuggled_body_takes_the_signed_id,
         SECURITY, "DUPLICATE_ID", 401),
    Case("xsw_signed_body_moved_into_signature_object",
         xsw_signed_body_moved_into_signature_object, SECURITY, "BODY_NOT_SIGNED", 401),
    Case("xsw_second_body_after_the_signed_one", xsw_second_body_after_the_signed_one, INVALID,
         "ENVELOPE_STRUCTURE", 400),
    Case("timestamp_missing", timestamp_missing, SECURITY, "TIMESTAMP_REQUIRED", 401),
    Case("timestamp_unsigned", timestamp_unsigned, SECURITY, "TIMESTAMP_NOT_SIGNED", 401),
    Case("timestamp_expired", timestamp_expired, EXPIRED, "MESSAGE_EXPIRED", 401),
    Case("timestamp_in_the_future", timestamp_in_the_future, EXPIRED, "TIMESTAMP_IN_FUTURE", 401),
    Case("certificate_untrusted", signed_by("untrusted"), AUTHENTICATION,
         "CERTIFICATE_UNTRUSTED", 401),
    Case("certificate_expired", signed_by("expired"), AUTHENTICATION, "CERTIFICATE_EXPIRED", 401),
    Case("certificate_revoked_on_crl", signed_by("revoked"), AUTHENTICATION,
         "CERTIFICATE_REVOKED", 401),
    Case("intermediate_revoked_on_crl", signed_by("revoked_intermediate"), AUTHENTICATION,
         "CERTIFICATE_REVOKED", 401),
    Case("certificate_without_digital_signature", signed_by("no_digital_signature"),
         AUTHENTICATION, "CERTIFICATE_KEY_USAGE", 401),
    Case("certificate_unmapped", signed_by("unmapped"), AUTHENTICATION, "UNMAPPED_CERTIFICATE",
         401),
    Case("sha1_signature", sha1_signature, SECURITY, "ALGORITHM_NOT_ALLOWED", 401),
    Case("sha1_digest", sha1_digest_only, SECURITY, "ALGORITHM_NOT_ALLOWED", 401),
    Case("xxe_external_entity", constant(XXE), INVALID, "DTD_FORBIDDEN", 400),
    Case("billion_laughs", constant(BILLION_LAUGHS), INVALID, "DTD_FORBIDDEN", 400),
    Case("malformed_xml", malformed_xml, INVALID, "MALFORMED_XML", 400),
    Case("soap12_envelope_to_soap11_endpoint", soap12_envelope, INVALID, "SOAP_VERSION_MISMATCH",
         400, "application/soap+xml; charset=utf-8; action=\"GetOfficialTime\""),
    Case("two_security_headers", two_security_headers, SECURITY, "SECURITY_HEADER_DUPLICATED",
         401),
    Case("two_timestamps", two_timestamps, SECURITY, "TIMESTAMP_DUPLICATED", 401),
    Case("duplicated_wsu_id", duplicated_id(WSU_ID), SECURITY, "DUPLICATE_ID", 401),
    Case("duplicated_plain_id", duplicated_id("Id"), SECURITY, "DUPLICATE_ID", 401),
    Case("duplicated_xml_id", duplicated_id(ns.qname(ns.XML, "id")), SECURITY, "DUPLICATE_ID",
         401),
    Case("reference_uri_with_quotes", reference_uri("#ID'] | //*[@x='"), SECURITY,
         "REFERENCE_URI_FORBIDDEN", 401),
    Case("reference_uri_xpointer", reference_uri("#xpointer(id('ID'))"), SECURITY,
         "REFERENCE_URI_FORBIDDEN", 401),
    Case("reference_uri_xpath_root", reference_uri("#xpointer(/)"), SECURITY,
         "REFERENCE_URI_FORBIDDEN", 401),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_is_refused_and_changes_nothing(gateway: RunningGateway,
                                                       case: Case) -> None:
    data = case.build(gateway)
    before = gateway.snapshot()
    response = gateway.post(data, content_type=case.content_type)
    gateway.assert_fault(response, faultcode=case.faultcode, code=case.code, status=case.status)
    assert b"/etc/passwd" not in response.content and b"lollol" not in response.content
    gateway.assert_only_refusals_audited(before, before_authentication=True)


def _twenty_megabytes(gw: RunningGateway) -> bytes:
    envelope = gw.message("GetOfficialTime")
    filler = etree.SubElement(body(envelope)[0], "{urn:evil}filler")
    filler.text = "A" * (20 * 1024 * 1024)
    data = serialise(gw.sign(envelope))
    assert len(data) > 20 * 1024 * 1024
    return data


def test_twenty_megabyte_body_is_refused_with_413(gateway: RunningGateway) -> None:
    data = _twenty_megabytes(gateway)
    before = gateway.snapshot()
    response = gateway.post(data)
    gateway.assert_fault(response, faultcode="soap:Client.LimitExceeded",
                         code="MESSAGE_TOO_LARGE", status=413)
    gateway.assert_only_refusals_audited(before, before_authentication=True)


def test_twenty_megabyte_chunked_body_is_refused_with_413(gateway: RunningGateway) -> None:
    """Without Content-Length the cap holds too: the server stops reading at the limit."""
    data = _twenty_megabytes(gateway)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 1024 * 1024):
            yield data[start:start + 1024 * 1024]

    before = gateway.snapshot()
    response = gateway.post(chunks())
    gateway.assert_fault(response, faultcode="soap:Client.LimitExceeded",
                         code="MESSAGE_TOO_LARGE", status=413)
    gateway.assert_only_refusals_audited(before, before_authentication=True)


def test_set_postal_channel_modified_after_signing_leaves_it_untouched(
    gateway: RunningGateway,
) -> None:
    """Issue 3 item 4: a signed state change whose Body was altered in transit does nothing."""
    client = gateway.client("company")
    channel_before = client.service.GetPostalChannel()
    envelope = gateway.signed("SetPostalChannel", mode="PAPER_COPY", address={
        "addressLine": "Calle Mayor 1", "postalCode": "28013", "municipality": "Madrid"})
    for element in body(envelope).iter("{*}addressLine"):
        element.text = "Calle del Atacante 666"
    before = gateway.snapshot()

    response = gateway.post(serialise(envelope), soap_action="SetPostalChannel")

    gateway.assert_fault(response, faultcode=AUTHENTICATION, code="DIGEST_MISMATCH", status=401)
    gateway.assert_only_refusals_audited(before, before_authentication=True)
    assert client.service.GetPostalChannel() == channel_before
