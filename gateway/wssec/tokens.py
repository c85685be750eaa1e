"""X.509 BinarySecurityTokens and the key reference to them (OASIS WSS X.509 Token Profile 1.1).

The only key reference accepted is the one every lineage we serve emits: ``ds:KeyInfo`` ->
``wsse:SecurityTokenReference`` -> ``wsse:Reference URI="#id"`` -> a ``wsse:BinarySecurityToken``
that is a direct child of the processed ``wsse:Security`` header (Token Profile §3.3.2, BSP
R3057/R3061). The token must be an X.509 v3 certificate (``#X509v3``) in Base64 (BSP R3029,
R3031); certificate paths (``#X509PKIPathv1``, ``#PKCS7``), key identifiers, issuer/serial
references and raw ``ds:X509Data`` are refused (``KEY_INFO_UNSUPPORTED``): the gate validates the
chain against its own trust store and never needs client-supplied intermediates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

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

BINARY_SECURITY_TOKEN = ns.qname(ns.WSSE, "BinarySecurityToken")
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


def find_signing_token(
    key_infos: Sequence[etree._Element],
    security: etree._Element,
    index: IdIndex,
    *,
    require_bsp_token_types: bool,
) -> etree._Element:
    """The BinarySecurityToken element the signature's KeyInfo points to.

    ``key_infos`` are the signature's ``ds:KeyInfo`` children (``ParsedSignature.key_infos``).
    """
    if len(key_infos) != 1:
        raise _unsupported("The signature must have exactly one KeyInfo")
    token_reference = _only_child(key_infos[0], SECURITY_TOKEN_REFERENCE)
    reference = _only_child(token_reference, WSSE_REFERENCE)
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
