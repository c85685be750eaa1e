"""Hostile input: every case must be refused with its exact error class and stable code.

Cases are built from genuinely signed requests (python-xmlsec, several lineages) and then
attacked, so a refusal always comes from the check under test, not from a broken fixture.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from datetime import timedelta

import pytest
import xmlsec
from lxml import etree
from wssec_builders import (
    NOW,
    Refusal,
    assert_refused,
    build_envelope,
    lineage_sign,
    serialise,
    zeep_sign,
)
from zeep.wsse.signature import Signature as ZeepX509DataSignature

from gateway import namespaces as ns
from gateway.errors import (
    AuthenticationError,
    InvalidRequest,
    InvalidSecurity,
    LimitExceeded,
    MessageExpired,
)
from gateway.pki import DemoPki
from gateway.wssec import WsSecurityGate
from gateway.xmlsig.references import WALK_AT_MOST

Envelope = etree._Element
Case = Callable[[DemoPki], bytes]

SOAP = ns.SOAP11_ENV
WSU_ID = ns.qname(ns.WSU, "Id")


def signed(
    pki: DemoPki, lineage: str = "zeep", client: str = "company", **options: object
) -> Envelope:
    envelope = build_envelope(timestamp_default_namespace=lineage == "node-soap", **options)  # type: ignore[arg-type]
    if lineage == "zeep":
        return zeep_sign(envelope, pki.client(client))
    return lineage_sign(envelope, pki.client(client), lineage)


def header(envelope: Envelope) -> Envelope:
    return envelope[0]


def body(envelope: Envelope) -> Envelope:
    return envelope.find(ns.qname(SOAP, "Body"))  # type: ignore[return-value]


def security(envelope: Envelope) -> Envelope:
    return header(envelope).find(ns.qname(ns.WSSE, "Security"))  # type: ignore[return-value]


def timestamp(envelope: Envelope) -> Envelope:
    return security(envelope).find(ns.qname(ns.WSU, "Timestamp"))  # type: ignore[return-value]


def signature(envelope: Envelope) -> Envelope:
    return security(envelope).find(ns.qname(ns.DS, "Signature"))  # type: ignore[return-value]


def references(envelope: Envelope) -> list[Envelope]:
    return signature(envelope).findall(f"{{{ns.DS}}}SignedInfo/{{{ns.DS}}}Reference")


def token(envelope: Envelope) -> Envelope:
    return security(envelope).find(ns.qname(ns.WSSE, "BinarySecurityToken"))  # type: ignore[return-value]


def evil_body() -> Envelope:
    element = etree.Element(ns.qname(SOAP, "Body"))
    payload = etree.SubElement(element, ns.qname(ns.NOTIFICATION_SERVICE, "Echo"))
    etree.SubElement(payload, ns.qname(ns.NOTIFICATION_SERVICE, "text")).text = "evil"
    return element


def wrapper(envelope: Envelope) -> Envelope:
    """An unknown header block an intermediary would ignore: the classic XSW hiding place."""
    return etree.SubElement(header(envelope), "{urn:evil}Wrapper")


# --- the cases -------------------------------------------------------------------------------


def unsigned_without_security(pki: DemoPki) -> bytes:
    return serialise(build_envelope(security=False))


def unsigned_without_header(pki: DemoPki) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><x/></soap:Body></soap:Envelope>'.encode()
    )


def timestamp_but_no_signature(pki: DemoPki) -> bytes:
    return serialise(build_envelope())


def body_modified_after_signing(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    body(envelope)[0][0].text = "adios"
    return serialise(envelope)


def one_byte_changed(pki: DemoPki) -> bytes:
    data = serialise(signed(pki, "node-soap"))
    assert data.count(b"12345678Z") == 1
    return data.replace(b"12345678Z", b"12345679Z")


def timestamp_modified_after_signing(pki: DemoPki) -> bytes:
    envelope = signed(pki, "wss4j")
    timestamp(envelope)[1].text = (NOW + timedelta(minutes=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return serialise(envelope)


def signature_value_modified(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    value_element = signature(envelope).find(ns.qname(ns.DS, "SignatureValue"))
    assert value_element is not None
    value = bytearray(base64.b64decode("".join((value_element.text or "").split())))
    value[10] ^= 0x01
    value_element.text = base64.b64encode(bytes(value)).decode()
    return serialise(envelope)


def digest_value_modified(pki: DemoPki) -> bytes:
    envelope = signed(pki, "wss4j")
    digest = references(envelope)[0].find(ns.qname(ns.DS, "DigestValue"))
    assert digest is not None
    digest.text = base64.b64encode(b"\x00" * 32).decode()
    return serialise(envelope)


def xsw_body_wrapped_in_header(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    original = body(envelope)
    wrapper(envelope).append(original)  # moves it
    envelope.append(evil_body())
    return serialise(envelope)


def xsw_body_wrapped_new_body_same_id(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    original = body(envelope)
    wrapper(envelope).append(original)
    forged = evil_body()
    forged.set(WSU_ID, original.get(WSU_ID) or "")
    envelope.append(forged)
    return serialise(envelope)


def xsw_body_moved_into_signature_object(pki: DemoPki) -> bytes:
    envelope = signed(pki, "wss4j")
    original = body(envelope)
    holder = etree.SubElement(signature(envelope), ns.qname(ns.DS, "Object"))
    holder.append(original)
    envelope.append(evil_body())
    return serialise(envelope)


def xsw_duplicated_body_same_id(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    twin = evil_body()
    twin.set(WSU_ID, body(envelope).get(WSU_ID) or "")
    envelope.append(twin)
    return serialise(envelope)


def xsw_evil_body_before_signed_body(pki: DemoPki) -> bytes:
    envelope = signed(pki, "node-soap")
    body(envelope).addprevious(evil_body())
    return serialise(envelope)


def xsw_node_soap_plain_id_wrapped(pki: DemoPki) -> bytes:
    envelope = signed(pki, "node-soap")
    original = body(envelope)
    wrapper(envelope).append(original)
    envelope.append(evil_body())
    return serialise(envelope)


def xsw_stale_signed_timestamp_wrapped(pki: DemoPki) -> bytes:
    """An old signed request: hide its signed (expired) Timestamp, add a fresh unsigned one."""
    envelope = signed(pki, created=NOW - timedelta(hours=2))
    old = timestamp(envelope)
    wrapper(envelope).append(old)
    fresh = etree.SubElement(security(envelope), ns.qname(ns.WSU, "Timestamp"))
    etree.SubElement(fresh, ns.qname(ns.WSU, "Created")).text = "2026-03-02T09:30:00Z"
    etree.SubElement(fresh, ns.qname(ns.WSU, "Expires")).text = "2026-03-02T09:35:00Z"
    return serialise(envelope)


def timestamp_missing(pki: DemoPki) -> bytes:
    envelope = lineage_sign(
        build_envelope(created=None), pki.client("company"), "wss4j", parts=["body"]
    )
    return serialise(envelope)


def timestamp_unsigned(pki: DemoPki) -> bytes:
    envelope = lineage_sign(build_envelope(), pki.client("company"), "wss4j", parts=["body"])
    return serialise(envelope)


def body_unsigned(pki: DemoPki) -> bytes:
    envelope = lineage_sign(build_envelope(), pki.client("company"), "wss4j", parts=["timestamp"])
    return serialise(envelope)


def timestamp_expired(pki: DemoPki) -> bytes:
    return serialise(signed(pki, created=NOW - timedelta(minutes=10)))


def timestamp_too_old(pki: DemoPki) -> bytes:
    return serialise(
        signed(pki, created=NOW - timedelta(minutes=6), lifetime=timedelta(minutes=10))
    )


def timestamp_in_future(pki: DemoPki) -> bytes:
    return serialise(signed(pki, created=NOW + timedelta(minutes=2)))


def timestamp_lifetime_too_long(pki: DemoPki) -> bytes:
    return serialise(signed(pki, lifetime=timedelta(hours=1)))


def timestamp_expires_before_created(pki: DemoPki) -> bytes:
    return serialise(signed(pki, expires=NOW - timedelta(seconds=1)))


def _signed_after(pki: DemoPki, mutate: Callable[[Envelope], None]) -> bytes:
    envelope = build_envelope()
    mutate(envelope)
    return serialise(zeep_sign(envelope, pki.client("company")))


def timestamp_without_expires(pki: DemoPki) -> bytes:
    return _signed_after(pki, lambda envelope: timestamp(envelope).remove(timestamp(envelope)[1]))


def timestamp_without_zone(pki: DemoPki) -> bytes:
    def strip_zone(envelope: Envelope) -> None:
        timestamp(envelope)[0].text = "2026-03-02T09:30:00"

    return _signed_after(pki, strip_zone)


def timestamp_with_extra_child(pki: DemoPki) -> bytes:
    return _signed_after(
        pki, lambda envelope: etree.SubElement(timestamp(envelope), "{urn:evil}Note")
    )


def _client(name: str) -> Case:
    def case(pki: DemoPki) -> bytes:
        return serialise(signed(pki, "wss4j", client=name))

    case.__name__ = f"client_{name}"
    return case


def token_swapped_for_other_trusted_certificate(pki: DemoPki) -> bytes:
    envelope = signed(pki, client="company")
    other = lineage_sign(build_envelope(), pki.client("person"), "wss4j")
    token(envelope).text = token(other).text
    return serialise(envelope)


def sha1_signature_method(pki: DemoPki) -> bytes:
    envelope = zeep_sign(
        build_envelope(), pki.client("company"), signature_method=xmlsec.constants.TransformRsaSha1
    )
    return serialise(envelope)


def sha1_digest_method(pki: DemoPki) -> bytes:
    envelope = zeep_sign(
        build_envelope(), pki.client("company"), digest_method=xmlsec.constants.TransformSha1
    )
    return serialise(envelope)


def zeep_default_algorithms(pki: DemoPki) -> bytes:
    """zeep without explicit methods signs RSA-SHA1/SHA-1: the README warns, the gate refuses."""
    envelope = zeep_sign(
        build_envelope(), pki.client("company"), signature_method=None, digest_method=None
    )
    return serialise(envelope)


def _set_algorithm(path: str, algorithm: str) -> Case:
    def case(pki: DemoPki) -> bytes:
        envelope = signed(pki, "wss4j")
        for element in signature(envelope).iterfind(path, {"ds": ns.DS}):
            element.set("Algorithm", algorithm)
        return serialise(envelope)

    return case


hmac_sha1_signature_method = _set_algorithm(
    "ds:SignedInfo/ds:SignatureMethod", "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
)
md5_digest_method = _set_algorithm(
    "ds:SignedInfo/ds:Reference/ds:DigestMethod", "http://www.w3.org/2001/04/xmldsig-more#md5"
)
inclusive_c14n_method = _set_algorithm(
    "ds:SignedInfo/ds:CanonicalizationMethod", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
)
inclusive_c14n_transform = _set_algorithm(
    "ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
)
xslt_transform = _set_algorithm(
    "ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform",
    "http://www.w3.org/TR/1999/REC-xslt-19991116",
)
ecdsa_method_with_rsa_key = _set_algorithm(
    "ds:SignedInfo/ds:SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
)


def _set_uri(uri: str | None) -> Case:
    def case(pki: DemoPki) -> bytes:
        envelope = signed(pki, "wss4j")
        reference = references(envelope)[0]
        if uri is None:
            del reference.attrib["URI"]
        else:
            reference.set("URI", uri.replace("ID", reference.get("URI", "#")[1:]))
        return serialise(envelope)

    return case


uri_with_quotes = _set_uri("#ID'] | //*[@x='")
uri_xpointer_id = _set_uri("#xpointer(id('ID'))")
uri_xpointer_root = _set_uri("#xpointer(/)")
uri_empty = _set_uri("")
uri_external = _set_uri("https://evil.example/doc.xml#ID")
uri_missing = _set_uri(None)
uri_unknown_id = _set_uri("#no-such-id")


def too_many_references(pki: DemoPki) -> bytes:
    envelope = signed(pki, "wss4j")
    first = references(envelope)[0]
    for _ in range(20):
        first.addnext(copy.deepcopy(first))
    return serialise(envelope)


def two_references_to_one_element(pki: DemoPki) -> bytes:
    envelope = signed(pki, "wss4j")
    first = references(envelope)[0]
    first.addnext(copy.deepcopy(first))
    return serialise(envelope)


def two_signatures(pki: DemoPki) -> bytes:
    envelope = signed(pki, "wss4j")
    security(envelope).append(copy.deepcopy(signature(envelope)))
    return serialise(envelope)


def comment_inside_signed_text(pki: DemoPki) -> bytes:
    """CVE-2017-11427 shape: the digest ignores comments, a naive reader sees "1234"."""
    envelope = signed(pki)
    nif = body(envelope)[0][1]
    assert nif.text == "12345678Z"
    nif.text = "1234"
    comment = etree.Comment("")
    comment.tail = "5678Z"
    nif.append(comment)
    return serialise(envelope)


def key_info_with_x509_data(pki: DemoPki) -> bytes:
    envelope = build_envelope()
    credential = pki.client("company")
    ZeepX509DataSignature(
        str(credential.key_path),
        str(credential.cert_path),
        signature_method=xmlsec.constants.TransformRsaSha256,
        digest_method=xmlsec.constants.TransformSha256,
    ).apply(envelope, {})
    return serialise(envelope)


def token_reference_to_body(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    reference = signature(envelope).find(f".//{{{ns.WSSE}}}Reference")
    assert reference is not None
    reference.set("URI", "#" + (body(envelope).get(WSU_ID) or ""))
    return serialise(envelope)


def token_outside_security_header(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    wrapper(envelope).append(token(envelope))
    return serialise(envelope)


def token_value_type_pkipath(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    token(envelope).set(
        "ValueType",
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509PKIPathv1",
    )
    return serialise(envelope)


def token_without_encoding_type(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    del token(envelope).attrib["EncodingType"]
    return serialise(envelope)


def token_not_a_certificate(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    token(envelope).text = base64.b64encode(b"definitely not DER").decode()
    return serialise(envelope)


def token_not_base64(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    token(envelope).text = "***"
    return serialise(envelope)


def two_security_headers(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    extra = etree.SubElement(header(envelope), ns.qname(ns.WSSE, "Security"))
    etree.SubElement(extra, ns.qname(ns.WSU, "Timestamp"))
    return serialise(envelope)


def two_timestamps(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    second = copy.deepcopy(timestamp(envelope))
    del second.attrib[WSU_ID]
    security(envelope).append(second)
    return serialise(envelope)


def _duplicate_id(lineage: str, attribute: str) -> Case:
    def case(pki: DemoPki) -> bytes:
        envelope = signed(pki, lineage)
        signed_body = body(envelope)
        body_id = signed_body.get(WSU_ID) or signed_body.get("Id")
        assert body_id
        etree.SubElement(wrapper(envelope), "{urn:evil}Decoy", {attribute: body_id})
        return serialise(envelope)

    case.__name__ = f"duplicate_{lineage}_{attribute}"
    return case


def _duplicate_id_in_large_message(attribute: str) -> Case:
    """The same attack in a message with more nodes than the walked Id index visits."""

    def case(pki: DemoPki) -> bytes:
        envelope = signed(pki)
        body_id = body(envelope).get(WSU_ID)
        assert body_id
        hiding_place = wrapper(envelope)
        for position in range(WALK_AT_MOST):
            etree.SubElement(hiding_place, "{urn:evil}Filler", {"n": str(position)})
        etree.SubElement(hiding_place, "{urn:evil}Decoy", {attribute: body_id})
        return serialise(envelope)

    case.__name__ = f"duplicate_in_large_message_{attribute}"
    return case


def soap12_to_soap11_gate(pki: DemoPki) -> bytes:
    envelope = build_envelope(soap12=True)
    return serialise(zeep_sign(envelope, pki.client("company")))


def unknown_envelope_namespace(pki: DemoPki) -> bytes:
    return b'<e:Envelope xmlns:e="urn:not-soap"><e:Body/></e:Envelope>'


def not_an_envelope(pki: DemoPki) -> bytes:
    return b"<Echo>hola</Echo>"


def body_before_header(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    envelope.append(header(envelope))
    return serialise(envelope)


def two_headers(pki: DemoPki) -> bytes:
    envelope = signed(pki)
    header(envelope).addnext(etree.Element(ns.qname(SOAP, "Header")))
    return serialise(envelope)


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


def xxe(pki: DemoPki) -> bytes:
    return XXE


def billion_laughs(pki: DemoPki) -> bytes:
    return BILLION_LAUGHS


def twenty_megabytes(pki: DemoPki) -> bytes:
    chunk = "<line>" + "A" * 1000 + "</line>"
    data = serialise(signed(pki, payload="<big>" + chunk * 21_000 + "</big>"))
    assert len(data) > 20 * 1024 * 1024
    return data


def malformed_xml(pki: DemoPki) -> bytes:
    return serialise(signed(pki))[:-20]


def too_deep(pki: DemoPki) -> bytes:
    return serialise(signed(pki, payload="<d>" * 100 + "</d>" * 100))


CASES: list[tuple[Case, Refusal]] = [
    (unsigned_without_security, Refusal(InvalidSecurity, "SECURITY_HEADER_MISSING")),
    (unsigned_without_header, Refusal(InvalidSecurity, "SECURITY_HEADER_MISSING")),
    (timestamp_but_no_signature, Refusal(InvalidSecurity, "SIGNATURE_MISSING")),
    (body_modified_after_signing, Refusal(AuthenticationError, "DIGEST_MISMATCH")),
    (one_byte_changed, Refusal(AuthenticationError, "DIGEST_MISMATCH")),
    (timestamp_modified_after_signing, Refusal(AuthenticationError, "DIGEST_MISMATCH")),
    (signature_value_modified, Refusal(AuthenticationError, "SIGNATURE_INVALID")),
    (digest_value_modified, Refusal(AuthenticationError, "SIGNATURE_INVALID")),
    (xsw_body_wrapped_in_header, Refusal(InvalidSecurity, "BODY_NOT_SIGNED")),
    (xsw_body_wrapped_new_body_same_id, Refusal(InvalidSecurity, "DUPLICATE_ID")),
    (xsw_body_moved_into_signature_object, Refusal(InvalidSecurity, "BODY_NOT_SIGNED")),
    (xsw_duplicated_body_same_id, Refusal(InvalidRequest, "ENVELOPE_STRUCTURE")),
    (xsw_evil_body_before_signed_body, Refusal(InvalidRequest, "ENVELOPE_STRUCTURE")),
    (xsw_node_soap_plain_id_wrapped, Refusal(InvalidSecurity, "BODY_NOT_SIGNED")),
    (xsw_stale_signed_timestamp_wrapped, Refusal(InvalidSecurity, "TIMESTAMP_NOT_SIGNED")),
    (timestamp_missing, Refusal(InvalidSecurity, "TIMESTAMP_REQUIRED")),
    (timestamp_unsigned, Refusal(InvalidSecurity, "TIMESTAMP_NOT_SIGNED")),
    (body_unsigned, Refusal(InvalidSecurity, "BODY_NOT_SIGNED")),
    (timestamp_expired, Refusal(MessageExpired, "MESSAGE_EXPIRED")),
    (timestamp_too_old, Refusal(MessageExpired, "MESSAGE_EXPIRED")),
    (timestamp_in_future, Refusal(MessageExpired, "TIMESTAMP_IN_FUTURE")),
    (timestamp_lifetime_too_long, Refusal(InvalidSecurity, "TIMESTAMP_TTL_EXCEEDED")),
    (timestamp_expires_before_created, Refusal(InvalidSecurity, "TIMESTAMP_MALFORMED")),
    (timestamp_without_expires, Refusal(InvalidSecurity, "TIMESTAMP_REQUIRED")),
    (timestamp_without_zone, Refusal(InvalidSecurity, "TIMESTAMP_MALFORMED")),
    (timestamp_with_extra_child, Refusal(InvalidSecurity, "TIMESTAMP_MALFORMED")),
    (_client("untrusted"), Refusal(AuthenticationError, "CERTIFICATE_UNTRUSTED")),
    (_client("expired"), Refusal(AuthenticationError, "CERTIFICATE_EXPIRED")),
    (_client("revoked"), Refusal(AuthenticationError, "CERTIFICATE_REVOKED")),
    (_client("revoked_intermediate"), Refusal(AuthenticationError, "CERTIFICATE_REVOKED")),
    (_client("no_digital_signature"), Refusal(AuthenticationError, "CERTIFICATE_KEY_USAGE")),
    (_client("unmapped"), Refusal(AuthenticationError, "UNMAPPED_CERTIFICATE")),
    (
        token_swapped_for_other_trusted_certificate,
        Refusal(AuthenticationError, "SIGNATURE_INVALID"),
    ),
    (sha1_signature_method, Refusal(InvalidSecurity, "ALGORITHM_NOT_ALLOWED")),
    (sha1_digest_method, Refusal(InvalidSecurity, "ALGORITHM_NOT_ALLOWED")),
    (zeep_default_algorithms, Refusal(InvalidSecurity, "ALGORITHM_NOT_ALLOWED")),
    (hmac_sha1_signature_method, Refusal(InvalidSecurity, "ALGORITHM_NOT_ALLOWED")),
    (md5_digest_method, Refusal(InvalidSecurity, "ALGORITHM_NOT_ALLOWED")),
    (inclusive_c14n_method, Refusal(InvalidSecurity, "ALGORITHM_NOT_ALLOWED")),
    (inclusive_c14n_transform, Refusal(InvalidSecurity, "TRANSFORM_NOT_ALLOWED")),
    (xslt_transform, Refusal(InvalidSecurity, "TRANSFORM_NOT_ALLOWED")),
    (ecdsa_method_with_rsa_key, Refusal(InvalidSecurity, "ALGORITHM_KEY_MISMATCH")),
    (uri_with_quotes, Refusal(InvalidSecurity, "REFERENCE_URI_FORBIDDEN")),
    (uri_xpointer_id, Refusal(InvalidSecurity, "REFERENCE_URI_FORBIDDEN")),
    (uri_xpointer_root, Refusal(InvalidSecurity, "REFERENCE_URI_FORBIDDEN")),
    (uri_empty, Refusal(InvalidSecurity, "REFERENCE_URI_FORBIDDEN")),
    (uri_external, Refusal(InvalidSecurity, "REFERENCE_URI_FORBIDDEN")),
    (uri_missing, Refusal(InvalidSecurity, "REFERENCE_URI_FORBIDDEN")),
    (uri_unknown_id, Refusal(InvalidSecurity, "REFERENCE_NOT_FOUND")),
    (too_many_references, Refusal(InvalidSecurity, "TOO_MANY_REFERENCES")),
    (two_references_to_one_element, Refusal(InvalidSecurity, "SIGNATURE_MALFORMED")),
    (two_signatures, Refusal(InvalidSecurity, "SIGNATURE_DUPLICATED")),
    (comment_inside_signed_text, Refusal(InvalidSecurity, "COMMENT_IN_SIGNED_ELEMENT")),
    (key_info_with_x509_data, Refusal(InvalidSecurity, "KEY_INFO_UNSUPPORTED")),
    (token_reference_to_body, Refusal(InvalidSecurity, "SECURITY_TOKEN_UNAVAILABLE")),
    (token_outside_security_header, Refusal(InvalidSecurity, "SECURITY_TOKEN_UNAVAILABLE")),
    (token_value_type_pkipath, Refusal(InvalidSecurity, "TOKEN_TYPE_NOT_ALLOWED")),
    (token_without_encoding_type, Refusal(InvalidSecurity, "TOKEN_TYPE_NOT_ALLOWED")),
    (token_not_a_certificate, Refusal(InvalidSecurity, "TOKEN_MALFORMED")),
    (token_not_base64, Refusal(InvalidSecurity, "TOKEN_MALFORMED")),
    (two_security_headers, Refusal(InvalidSecurity, "SECURITY_HEADER_DUPLICATED")),
    (two_timestamps, Refusal(InvalidSecurity, "TIMESTAMP_DUPLICATED")),
    *[
        (_duplicate_id(lineage, attribute), Refusal(InvalidSecurity, "DUPLICATE_ID"))
        for lineage in ("zeep", "node-soap")
        for attribute in (WSU_ID, "Id", ns.qname(ns.XML, "id"))
    ],
    *[
        (_duplicate_id_in_large_message(attribute), Refusal(InvalidSecurity, "DUPLICATE_ID"))
        for attribute in (WSU_ID, "Id", ns.qname(ns.XML, "id"))
    ],
    (soap12_to_soap11_gate, Refusal(InvalidRequest, "SOAP_VERSION_MISMATCH")),
    (unknown_envelope_namespace, Refusal(InvalidRequest, "SOAP_VERSION_MISMATCH")),
    (not_an_envelope, Refusal(InvalidRequest, "NOT_SOAP_ENVELOPE")),
    (body_before_header, Refusal(InvalidRequest, "ENVELOPE_STRUCTURE")),
    (two_headers, Refusal(InvalidRequest, "ENVELOPE_STRUCTURE")),
    (xxe, Refusal(InvalidRequest, "DTD_FORBIDDEN")),
    (billion_laughs, Refusal(InvalidRequest, "DTD_FORBIDDEN")),
    (twenty_megabytes, Refusal(LimitExceeded, "MESSAGE_TOO_LARGE")),
    (malformed_xml, Refusal(InvalidRequest, "MALFORMED_XML")),
    (too_deep, Refusal(LimitExceeded, "XML_TOO_DEEP")),
]


def _case_id(case: Case) -> str:
    name = case.__name__
    return name.replace("{", "").replace("}", ":").replace("http://", "")


@pytest.mark.parametrize(
    "case, expected", CASES, ids=[_case_id(case) + "_" + e.code for case, e in CASES]
)
def test_hostile_request_is_refused(
    gate: WsSecurityGate, pki: DemoPki, case: Case, expected: Refusal
) -> None:
    data = case(pki)
    assert_refused(lambda: gate.verify_bytes(data), expected)


def test_replay_is_refused(gate: WsSecurityGate, pki: DemoPki) -> None:
    data = serialise(signed(pki, "wss4j"))
    gate.verify_bytes(data)
    assert_refused(lambda: gate.verify_bytes(data), Refusal(InvalidSecurity, "REPLAY_DETECTED"))


def test_replay_with_rewrapped_base64_is_refused(gate: WsSecurityGate, pki: DemoPki) -> None:
    """Re-encoding the SignatureValue text must not make a "new" request."""
    envelope = signed(pki)
    gate.verify_bytes(serialise(envelope))
    value = signature(envelope).find(ns.qname(ns.DS, "SignatureValue"))
    assert value is not None
    flat = "".join((value.text or "").split())
    value.text = "\n".join(flat[i : i + 20] for i in range(0, len(flat), 20))
    assert_refused(
        lambda: gate.verify_bytes(serialise(envelope)), Refusal(InvalidSecurity, "REPLAY_DETECTED")
    )


def test_refused_requests_leave_no_nonce(gate: WsSecurityGate, pki: DemoPki) -> None:
    """Nothing is written for a request that fails (DESIGN.md §5.7)."""
    for case, expected in CASES[:10]:
        data = case(pki)
        assert_refused(lambda data=data: gate.verify_bytes(data), expected)
    assert len(gate.nonce_store) == 0  # type: ignore[arg-type]


def test_error_messages_do_not_echo_ids(gate: WsSecurityGate, pki: DemoPki) -> None:
    envelope = signed(pki)
    body_id = body(envelope).get(WSU_ID)
    assert body_id
    error = assert_refused(
        lambda: gate.verify_bytes(_duplicate_id("zeep", "Id")(pki)),
        Refusal(InvalidSecurity, "DUPLICATE_ID"),
    )
    assert "id-" not in error.message
