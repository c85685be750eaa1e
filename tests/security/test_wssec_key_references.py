"""Key references other than an embedded token (issue 14): enrolled certificates only.

Each message is signed WSS4J-style with a BinarySecurityToken, then its KeyInfo is rewritten to
the reference form under test and the token removed (the KeyInfo is not signed, as with every
client stack), which is byte for byte what WSS4J 1.6 sends for IssuerSerial, SKIKeyIdentifier,
Thumbprint and X509KeyIdentifier. tests/integration/soap/test_soap_wss4j_key_references.py
runs the real WSS4J against ``gateway serve``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from wssec_builders import build_envelope, lineage_sign, q, serialise

from gateway import namespaces as ns
from gateway.domain.clock import FixedClock
from gateway.domain.enrolment import EnrolledCertificate
from gateway.errors import AuthenticationError, InvalidSecurity
from gateway.pki import DemoPki
from gateway.services.enrolment import enrolment_of
from gateway.trust.certificates import TrustStore
from gateway.trust.principals import principal_from_certificate
from gateway.wssec import InMemoryNonceStore, WsSecurityGate, WsSecurityPolicy
from gateway.wssec.tokens import (
    SUBJECT_KEY_IDENTIFIER_VALUE_TYPE,
    THUMBPRINT_SHA1_VALUE_TYPE,
    X509V3_VALUE_TYPE,
    ReferenceKind,
    issuer_matches,
    subject_key_identifier,
)

BASE64 = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
FORMS = ("IssuerSerial", "SKI", "Thumbprint", "X509KeyIdentifier")


class MemoryEnrolment:
    """The gate's lookup over a list, as ``store.enrolled.SqlEnrolledCertificates`` does in SQL."""

    def __init__(self) -> None:
        self.entries: list[EnrolledCertificate] = []
        self.asked = 0

    def enrol(self, certificate: x509.Certificate) -> EnrolledCertificate:
        entry = enrolment_of(certificate, principal_from_certificate(certificate))
        self.entries.append(entry)
        return entry

    def revoke(self, certificate: x509.Certificate) -> None:
        fingerprint = hashlib.sha256(der(certificate)).hexdigest()
        self.entries = [replace(e, revoked_at=e.enrolled_at) if e.fingerprint == fingerprint
                        else e for e in self.entries]

    def enrolled(self, kind: str, value: str) -> Sequence[bytes]:
        self.asked += 1
        field = {"IssuerSerial": "serial_number", "SKI": "subject_key_identifier",
                 "Thumbprint": "thumbprint_sha1", "X509KeyIdentifier": "fingerprint"}[kind]
        return [e.certificate for e in self.entries
                if getattr(e, field) == value and e.revoked_at is None]


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def java_issuer_name(certificate: x509.Certificate) -> str:
    """The issuer as Java's X500Principal.getName() writes it (RFC 2253, most significant last)."""
    return certificate.issuer.rfc4514_string()


def rewrite_reference(envelope: etree._Element, form: str, certificate: x509.Certificate) -> None:
    """Replace the STR's wsse:Reference by ``form`` naming ``certificate``; drop the token."""
    token = envelope.find(f".//{q(ns.WSSE, 'BinarySecurityToken')}")
    assert token is not None
    token.getparent().remove(token)
    holder = envelope.find(f".//{q(ns.WSSE, 'SecurityTokenReference')}")
    assert holder is not None
    for child in list(holder):
        holder.remove(child)
    if form == "IssuerSerial":
        data = etree.SubElement(holder, q(ns.DS, "X509Data"))
        issuer_serial = etree.SubElement(data, q(ns.DS, "X509IssuerSerial"))
        etree.SubElement(issuer_serial, q(ns.DS, "X509IssuerName")).text = java_issuer_name(
            certificate)
        etree.SubElement(issuer_serial, q(ns.DS, "X509SerialNumber")).text = str(
            certificate.serial_number)
        return
    value_type, raw = {
        "SKI": (SUBJECT_KEY_IDENTIFIER_VALUE_TYPE, subject_key_identifier(certificate)),
        "Thumbprint": (THUMBPRINT_SHA1_VALUE_TYPE,
                       hashlib.sha1(der(certificate)).digest()),
        "X509KeyIdentifier": (X509V3_VALUE_TYPE, der(certificate)),
    }[form]
    identifier = etree.SubElement(holder, q(ns.WSSE, "KeyIdentifier"),
                                  EncodingType=BASE64, ValueType=value_type)
    identifier.text = base64.b64encode(raw).decode()


@pytest.fixture
def enrolment() -> MemoryEnrolment:
    return MemoryEnrolment()


@pytest.fixture
def enrolled_gate(trust_store: TrustStore, clock: FixedClock,
                  enrolment: MemoryEnrolment) -> WsSecurityGate:
    return WsSecurityGate(WsSecurityPolicy(), trust_store, InMemoryNonceStore(), clock,
                          enrolled=enrolment)


@pytest.fixture
def referenced(pki: DemoPki) -> Callable[..., bytes]:
    """``referenced(form, signer="company", named=None)``: signed by ``signer``'s key, its
    KeyInfo naming ``named``'s certificate (default: the signer's) by ``form``."""

    def make(form: str, signer: str = "company", named: str | None = None) -> bytes:
        envelope = build_envelope()
        lineage_sign(envelope, pki.client(signer), "wss4j")
        rewrite_reference(envelope, form, pki.client(named or signer).certificate())
        return serialise(envelope)

    return make


@pytest.mark.parametrize("form", FORMS)
def test_enrolled_certificate_is_accepted_by_each_reference(
        form: str, pki: DemoPki, enrolment: MemoryEnrolment, enrolled_gate: WsSecurityGate,
        referenced: Callable[..., bytes]) -> None:
    enrolment.enrol(pki.client("company").certificate())
    verified = enrolled_gate.verify_bytes(referenced(form))
    assert verified.certificate == pki.client("company").certificate()
    assert verified.principal.identifier == principal_from_certificate(
        pki.client("company").certificate()).identifier


@pytest.mark.parametrize("form", FORMS)
def test_not_enrolled_certificate_is_unknown(
        form: str, pki: DemoPki, enrolment: MemoryEnrolment, enrolled_gate: WsSecurityGate,
        referenced: Callable[..., bytes]) -> None:
    enrolment.enrol(pki.client("person").certificate())  # someone else's
    with pytest.raises(AuthenticationError) as info:
        enrolled_gate.verify_bytes(referenced(form))
    assert info.value.code == "CERTIFICATE_UNKNOWN"


@pytest.mark.parametrize("form", FORMS)
def test_without_an_enrolment_store_references_are_unsupported(
        form: str, gate: WsSecurityGate, referenced: Callable[..., bytes]) -> None:
    with pytest.raises(InvalidSecurity) as info:
        gate.verify_bytes(referenced(form))
    assert info.value.code == "KEY_INFO_UNSUPPORTED"


@pytest.mark.parametrize("form", FORMS)
def test_reference_to_an_enrolled_certificate_signed_by_another_key_fails_the_signature(
        form: str, pki: DemoPki, enrolment: MemoryEnrolment, enrolled_gate: WsSecurityGate,
        referenced: Callable[..., bytes]) -> None:
    enrolment.enrol(pki.client("person").certificate())
    enrolment.enrol(pki.client("company").certificate())
    with pytest.raises(AuthenticationError) as info:
        enrolled_gate.verify_bytes(referenced(form, signer="company", named="person"))
    assert info.value.code == "SIGNATURE_INVALID"


@pytest.mark.parametrize("form", FORMS)
def test_enrolled_certificate_on_the_crl_is_refused(
        form: str, pki: DemoPki, enrolment: MemoryEnrolment, enrolled_gate: WsSecurityGate,
        referenced: Callable[..., bytes]) -> None:
    enrolment.enrol(pki.client("revoked").certificate())
    with pytest.raises(AuthenticationError) as info:
        enrolled_gate.verify_bytes(referenced(form, signer="revoked"))
    assert info.value.code == "CERTIFICATE_REVOKED"


@pytest.mark.parametrize("form", ["IssuerSerial", "Thumbprint"])
def test_revoked_enrolment_is_refused_at_the_next_request(
        form: str, pki: DemoPki, enrolment: MemoryEnrolment, enrolled_gate: WsSecurityGate,
        referenced: Callable[..., bytes]) -> None:
    certificate = pki.client("company").certificate()
    enrolment.enrol(certificate)
    enrolled_gate.verify_bytes(referenced(form))
    enrolment.revoke(certificate)
    with pytest.raises(AuthenticationError) as info:
        enrolled_gate.verify_bytes(referenced(form))
    assert info.value.code == "CERTIFICATE_UNKNOWN"


def test_enrolled_but_untrusted_certificate_is_refused(
        pki: DemoPki, enrolment: MemoryEnrolment, enrolled_gate: WsSecurityGate,
        referenced: Callable[..., bytes]) -> None:
    enrolment.enrol(pki.client("untrusted").certificate())
    with pytest.raises(AuthenticationError) as info:
        enrolled_gate.verify_bytes(referenced("SKI", signer="untrusted"))
    assert info.value.code == "CERTIFICATE_UNTRUSTED"


def test_issuer_serial_with_the_right_serial_and_another_issuer_is_unknown(
        pki: DemoPki, enrolment: MemoryEnrolment, enrolled_gate: WsSecurityGate) -> None:
    certificate = pki.client("company").certificate()
    enrolment.enrol(certificate)
    envelope = build_envelope()
    lineage_sign(envelope, pki.client("company"), "wss4j")
    rewrite_reference(envelope, "IssuerSerial", certificate)
    name = envelope.find(f".//{q(ns.DS, 'X509IssuerName')}")
    assert name is not None
    name.text = "CN=Somebody Else,O=Elsewhere,C=ES"
    with pytest.raises(AuthenticationError) as info:
        enrolled_gate.verify_bytes(serialise(envelope))
    assert info.value.code == "CERTIFICATE_UNKNOWN"


def test_issuer_name_matching_takes_java_forms(pki: DemoPki) -> None:
    certificate = pki.client("company").certificate()
    issuer = certificate.issuer
    # Java writes serialNumber/organizationIdentifier as #hex DER; order and case may differ.
    java = ",".join(
        f"{a.oid.dotted_string}=#{(bytes([0x13, len(str(a.value))]) + str(a.value).encode()).hex()}"
        if a.oid.dotted_string in ("2.5.4.5", "2.5.4.97") else a.rfc4514_string()
        for a in reversed(list(issuer)))
    assert issuer_matches(certificate, java)
    assert issuer_matches(certificate, issuer.rfc4514_string().upper())
    assert not issuer_matches(certificate, "CN=Other")
    assert not issuer_matches(certificate, "not a name at all = = ,")


@pytest.mark.parametrize("mutation, code", [
    ("bad-base64", "TOKEN_MALFORMED"),
    ("short-thumbprint", "TOKEN_MALFORMED"),
    ("unknown-value-type", "KEY_INFO_UNSUPPORTED"),
    ("serial-not-a-number", "TOKEN_MALFORMED"),
    ("x509-certificate-in-x509data", "KEY_INFO_UNSUPPORTED"),
])
def test_hostile_references_are_refused_before_any_lookup(
        mutation: str, code: str, pki: DemoPki, enrolment: MemoryEnrolment,
        enrolled_gate: WsSecurityGate) -> None:
    certificate = pki.client("company").certificate()
    enrolment.enrol(certificate)
    envelope = build_envelope()
    lineage_sign(envelope, pki.client("company"), "wss4j")
    form = "IssuerSerial" if mutation in ("serial-not-a-number",
                                          "x509-certificate-in-x509data") else "Thumbprint"
    rewrite_reference(envelope, form, certificate)
    identifier = envelope.find(f".//{q(ns.WSSE, 'KeyIdentifier')}")
    if mutation == "bad-base64":
        assert identifier is not None
        identifier.text = "%%%not base64%%%"
    elif mutation == "short-thumbprint":
        assert identifier is not None
        identifier.text = base64.b64encode(b"short").decode()
    elif mutation == "unknown-value-type":
        assert identifier is not None
        identifier.set("ValueType", "urn:example:whatever")
    elif mutation == "serial-not-a-number":
        serial = envelope.find(f".//{q(ns.DS, 'X509SerialNumber')}")
        assert serial is not None
        serial.text = "12; DROP TABLE"
    else:
        data = envelope.find(f".//{q(ns.DS, 'X509Data')}")
        assert data is not None
        for child in list(data):
            data.remove(child)
        etree.SubElement(data, q(ns.DS, "X509Certificate")).text = base64.b64encode(
            der(certificate)).decode()
    with pytest.raises((InvalidSecurity, AuthenticationError)) as info:
        enrolled_gate.verify_bytes(serialise(envelope))
    assert info.value.code == code
    assert enrolment.asked == 0


def test_embedded_token_never_asks_the_enrolment_store(
        enrolment: MemoryEnrolment, enrolled_gate: WsSecurityGate,
        signed_request: Callable[..., bytes]) -> None:
    enrolled_gate.verify_bytes(signed_request(lineage="wss4j"))
    assert enrolment.asked == 0


def test_reference_kinds_match_the_store_columns() -> None:
    from gateway.store.enrolled import _COLUMNS

    assert set(_COLUMNS) == {kind.value for kind in ReferenceKind}
