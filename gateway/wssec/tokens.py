"""X.509 BinarySecurityTokens and the key reference to them (OASIS WSS X.509 Token Profile 1.1).

The key reference every lineage we serve can emit, and the only one that needs nothing on the
server: ``ds:KeyInfo`` -> ``wsse:SecurityTokenReference`` -> ``wsse:Reference URI="#id"`` -> a
``wsse:BinarySecurityToken`` that is a direct child of the processed ``wsse:Security`` header
(Token Profile §3.3.2, BSP R3057/R3061). The token must be an X.509 v3 certificate (``#X509v3``)
in Base64 (BSP R3029, R3031).

Four other forms of the ``SecurityTokenReference`` are parsed into a :class:`CertificateReference`
(Token Profile §3.2, WSS 1.1 §7.2), which the gate resolves only against certificates *enrolled*
for a principal (``gateway certs enrol``; issue 14):

- ``ds:X509Data/ds:X509IssuerSerial`` (CXF/WSS4J's default, ``IssuerSerial``);
- ``wsse:KeyIdentifier ValueType=#X509SubjectKeyIdentifier`` (WSS4J ``SKIKeyIdentifier``);
- ``wsse:KeyIdentifier ValueType=#ThumbprintSHA1`` (WSS4J ``Thumbprint``, .NET/WCF);
- ``wsse:KeyIdentifier ValueType=#X509v3`` with the certificate itself (WSS4J
  ``X509KeyIdentifier``).

Certificate paths (``#X509PKIPathv1``, ``#PKCS7``), raw ``ds:X509Data`` certificates, encrypted
key references and anything else are refused (``KEY_INFO_UNSUPPORTED``): the gate validates the
chain against its own trust store and never needs client-supplied intermediates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from gateway import namespaces as ns
from gateway.errors import InvalidSecurity
from gateway.xmlsig.references import IdIndex

X509V3_VALUE_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
)
BASE64_ENCODING_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

SUBJECT_KEY_IDENTIFIER_VALUE_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0"
    "#X509SubjectKeyIdentifier"
)
THUMBPRINT_SHA1_VALUE_TYPE = (
    "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#ThumbprintSHA1"
)

BINARY_SECURITY_TOKEN = ns.qname(ns.WSSE, "BinarySecurityToken")
KEY_IDENTIFIER = ns.qname(ns.WSSE, "KeyIdentifier")
X509_DATA = ns.qname(ns.DS, "X509Data")
X509_ISSUER_SERIAL = ns.qname(ns.DS, "X509IssuerSerial")
X509_ISSUER_NAME = ns.qname(ns.DS, "X509IssuerName")
X509_SERIAL_NUMBER = ns.qname(ns.DS, "X509SerialNumber")

MAX_NAME_CHARS = 4096
MAX_SERIAL_DIGITS = 64  # RFC 5280 §4.1.2.2: at most 20 octets, i.e. 49 decimal digits
SECURITY_TOKEN_REFERENCE = ns.qname(ns.WSSE, "SecurityTokenReference")
WSSE_REFERENCE = ns.qname(ns.WSSE, "Reference")
KEY_INFO = ns.qname(ns.DS, "KeyInfo")

MAX_TOKEN_CHARS = 64 * 1024
"""Base64 text longer than this is no end-entity certificate we want to parse."""

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class X509Token:
    """A decoded X.509 token: the certificate, its key and its SHA-256 fingerprint (hex)."""

    certificate: x509.Certificate
    public_key: PublicKey
    fingerprint: str


class ReferenceKind(StrEnum):
    """A key reference that names a certificate not carried in the message (or not as a token)."""

    ISSUER_SERIAL = "IssuerSerial"
    SUBJECT_KEY_IDENTIFIER = "SKI"
    THUMBPRINT_SHA1 = "Thumbprint"
    X509_KEY_IDENTIFIER = "X509KeyIdentifier"


class CertificateReference(NamedTuple):
    """A parsed non-token key reference, resolved by the gate against enrolled certificates.

    ``value`` is: the serial number in decimal (``ISSUER_SERIAL``, with ``issuer`` the name as
    sent), the identifier's bytes in lower-case hex (``SUBJECT_KEY_IDENTIFIER``,
    ``THUMBPRINT_SHA1``), or the Base64 certificate text (``X509_KEY_IDENTIFIER``).
    """

    kind: ReferenceKind
    value: str
    issuer: str | None = None


def _unsupported(message: str) -> InvalidSecurity:
    return InvalidSecurity(message, code="KEY_INFO_UNSUPPORTED")


def _token_type(message: str) -> InvalidSecurity:
    return InvalidSecurity(message, code="TOKEN_TYPE_NOT_ALLOWED")


def _only_child(parent: etree._Element, tag: str) -> etree._Element:
    if len(parent) == 1:  # the usual shape: one node and no comment around it
        child = parent[0]
        if child.tag == tag:
            return child
    children = [child for child in parent if isinstance(child.tag, str)]
    if len(children) != 1 or children[0].tag != tag:
        raise _unsupported("KeyInfo must hold one SecurityTokenReference with one Reference")
    return children[0]


def _single_element(parent: etree._Element) -> etree._Element:
    if len(parent) == 1 and isinstance(parent[0].tag, str):
        return parent[0]
    children = [child for child in parent if isinstance(child.tag, str)]
    if len(children) != 1:
        raise _unsupported("KeyInfo must hold one SecurityTokenReference with one reference")
    return children[0]


def find_signing_token(
    key_infos: Sequence[etree._Element],
    security: etree._Element,
    index: IdIndex,
    *,
    require_bsp_token_types: bool,
) -> etree._Element | CertificateReference:
    """The BinarySecurityToken element the signature's KeyInfo points to, or the parsed
    reference to a certificate the message does not carry as a token (resolved by the gate
    against enrolled certificates only).

    ``key_infos`` are the signature's ``ds:KeyInfo`` children (``ParsedSignature.key_infos``).
    """
    if len(key_infos) != 1:
        raise _unsupported("The signature must have exactly one KeyInfo")
    token_reference = _only_child(key_infos[0], SECURITY_TOKEN_REFERENCE)
    reference = _single_element(token_reference)
    if reference.tag != WSSE_REFERENCE:
        return _certificate_reference(reference, require_bsp_token_types=require_bsp_token_types)
    value_type = reference.get("ValueType")
    if value_type is None and require_bsp_token_types:
        raise _token_type("The token reference must state its ValueType")
    if value_type is not None and value_type != X509V3_VALUE_TYPE:
        raise _token_type("Only X.509 v3 token references are accepted")
    token = index.resolve(reference.get("URI"))
    if token.tag != BINARY_SECURITY_TOKEN or token.getparent() is not security:
        raise InvalidSecurity(
            "The key reference must point to a BinarySecurityToken of this Security header",
            code="SECURITY_TOKEN_UNAVAILABLE",
        )
    check_token_types(token, require_bsp_token_types=require_bsp_token_types)
    return token


def _certificate_reference(
    reference: etree._Element, *, require_bsp_token_types: bool
) -> CertificateReference:
    if reference.tag == KEY_IDENTIFIER:
        return _key_identifier(reference, require_bsp_token_types=require_bsp_token_types)
    if reference.tag == X509_DATA:
        return _issuer_serial(_single_element(reference))
    raise _unsupported("This kind of key reference is not accepted")


def _key_identifier(
    reference: etree._Element, *, require_bsp_token_types: bool
) -> CertificateReference:
    encoding_type = reference.get("EncodingType")
    if encoding_type is None and require_bsp_token_types:  # BSP R3070
        raise _token_type("The KeyIdentifier must state its EncodingType")
    if (encoding_type or BASE64_ENCODING_TYPE) != BASE64_ENCODING_TYPE:
        raise _token_type("Only Base64Binary key identifiers are accepted")
    if any(isinstance(child.tag, str) for child in reference):
        raise _unsupported("A KeyIdentifier holds text only")
    text = "".join((reference.text or "").split())
    if len(text) > MAX_TOKEN_CHARS:
        raise InvalidSecurity("The key identifier is too large", code="TOKEN_MALFORMED")
    value_type = reference.get("ValueType")
    if value_type == X509V3_VALUE_TYPE:
        return CertificateReference(ReferenceKind.X509_KEY_IDENTIFIER, text)
    if value_type == SUBJECT_KEY_IDENTIFIER_VALUE_TYPE:
        kind, sizes = ReferenceKind.SUBJECT_KEY_IDENTIFIER, range(1, 65)
    elif value_type == THUMBPRINT_SHA1_VALUE_TYPE:
        kind, sizes = ReferenceKind.THUMBPRINT_SHA1, range(20, 21)
    else:
        raise _unsupported("This kind of key identifier is not accepted")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecurity("The key identifier is not Base64", code="TOKEN_MALFORMED") from exc
    if len(raw) not in sizes:
        raise InvalidSecurity("The key identifier has the wrong length", code="TOKEN_MALFORMED")
    return CertificateReference(kind, raw.hex())


def _issuer_serial(element: etree._Element) -> CertificateReference:
    if element.tag != X509_ISSUER_SERIAL:
        raise _unsupported("Only an X509IssuerSerial is accepted inside X509Data")
    children = [child for child in element if isinstance(child.tag, str)]
    if len(children) != 2 or [c.tag for c in children] != [X509_ISSUER_NAME, X509_SERIAL_NUMBER]:
        raise _unsupported("X509IssuerSerial must hold X509IssuerName then X509SerialNumber")
    issuer = (children[0].text or "").strip()
    serial = (children[1].text or "").strip()
    if not issuer or len(issuer) > MAX_NAME_CHARS:
        raise InvalidSecurity("The issuer name is malformed", code="TOKEN_MALFORMED")
    if not serial.isascii() or not serial.isdigit() or len(serial) > MAX_SERIAL_DIGITS:
        raise InvalidSecurity("The serial number is malformed", code="TOKEN_MALFORMED")
    return CertificateReference(ReferenceKind.ISSUER_SERIAL, str(int(serial)), issuer)


_STRING_TAGS = frozenset({0x0C, 0x13, 0x14, 0x16, 0x1C, 0x1E})
"""DER string types an RFC 4514 ``#hex`` value may carry (UTF8, Printable, T61, IA5, Universal,
BMP): Java's ``X500Principal.getName()`` writes ``serialNumber`` and ``organizationIdentifier``
that way."""


def _attribute_text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    raw = value.encode("latin-1", "ignore") if value and ord(value[0]) in _STRING_TAGS else b""
    if len(raw) >= 2 and raw[1] == len(raw) - 2 and len(raw) == len(value):
        body = raw[2:]
        value = body.decode("utf-16-be" if raw[0] == 0x1E else "utf-8", "replace")
    return " ".join(value.split()).casefold()


def name_key(name: x509.Name) -> tuple[tuple[str, str], ...]:
    """An order- and case-insensitive form of a distinguished name, for IssuerSerial matching."""
    return tuple(sorted((attribute.oid.dotted_string, _attribute_text(attribute.value))
                        for attribute in name))


def issuer_matches(certificate: x509.Certificate, issuer: str) -> bool:
    """Whether ``issuer`` (an RFC 2253/4514 string as a client sent it) names the certificate's
    issuer. Unparseable names match nothing."""
    try:
        given = x509.Name.from_rfc4514_string(issuer)
    except ValueError:
        return False
    return name_key(given) == name_key(certificate.issuer)


def subject_key_identifier(certificate: x509.Certificate) -> bytes:
    """The certificate's SubjectKeyIdentifier extension, or (as WSS4J computes it for a
    certificate without one) the SHA-1 of its public key (RFC 5280 §4.2.1.2 method 1)."""
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def check_token_types(token: etree._Element, *, require_bsp_token_types: bool) -> None:
    """ValueType must be X509v3 and EncodingType Base64Binary (defaulted only when allowed)."""
    value_type = token.get("ValueType")
    encoding_type = token.get("EncodingType")
    if require_bsp_token_types and (value_type is None or encoding_type is None):
        raise _token_type("The BinarySecurityToken must state ValueType and EncodingType")
    if (value_type or X509V3_VALUE_TYPE) != X509V3_VALUE_TYPE:
        raise _token_type("Only X.509 v3 BinarySecurityTokens are accepted")
    if (encoding_type or BASE64_ENCODING_TYPE) != BASE64_ENCODING_TYPE:
        raise _token_type("Only Base64Binary BinarySecurityTokens are accepted")


def decode_x509_token(text: str) -> X509Token:
    """Decode a BinarySecurityToken's Base64 text into a certificate and its public key.

    Pure and deterministic, so the gate memoises it per token text.
    """
    if len(text) > MAX_TOKEN_CHARS:
        raise InvalidSecurity("The security token is too large", code="TOKEN_MALFORMED")
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        certificate = x509.load_der_x509_certificate(der)
        public_key = certificate.public_key()
    except (binascii.Error, ValueError, x509.InvalidVersion, UnsupportedAlgorithm) as exc:
        raise InvalidSecurity(
            "The security token is not a valid X.509 certificate", code="TOKEN_MALFORMED"
        ) from exc
    if certificate.version is not x509.Version.v3:
        raise _token_type("Only X.509 v3 certificates are accepted")
    if not isinstance(public_key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise InvalidSecurity(
            "The certificate key type is not accepted", code="KEY_TYPE_NOT_ALLOWED"
        )
    return X509Token(
        certificate=certificate,
        public_key=public_key,
        fingerprint=hashlib.sha256(der).hexdigest(),
    )
