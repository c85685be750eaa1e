"""The public key of ``ds:KeyInfo/ds:KeyValue`` (XMLDSig 1.1 §4.5.2: RSAKeyValue, DSAKeyValue,
dsig11:ECKeyValue with a NamedCurve).

A KeyValue identifies nobody, so it never makes a signature valid: it only lets the engine tell a
signature whose certificate cannot be found (INDETERMINATE/NO_SIGNING_CERTIFICATE_FOUND) from one
whose value does not even verify under the key it names (TOTAL_FAILED/SIG_CRYPTO_FAILURE), and
notice a KeyValue that contradicts the signing certificate. A KeyValue this module cannot read is
ignored (it is unsigned decoration), never a format failure.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from lxml import etree

from gateway import namespaces as ns
from gateway.signatures.findings import FormatError
from gateway.signatures.xmldsig import base64_text

_DS = f"{{{ns.DS}}}"
_DS11 = f"{{{ns.DS11}}}"
_MAX_INTEGER_BYTES = 2048  # a 16384-bit modulus: anything larger is not a key worth computing


def _integer(parent: etree._Element, name: str) -> int | None:
    element = parent.find(_DS + name)
    if element is None:
        return None
    value = base64_text(element, name)
    if not value or len(value) > _MAX_INTEGER_BYTES:
        return None
    return int.from_bytes(value, "big")


def _rsa(element: etree._Element) -> object | None:
    modulus, exponent = _integer(element, "Modulus"), _integer(element, "Exponent")
    if modulus is None or exponent is None:
        return None
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


def _dsa(element: etree._Element) -> object | None:
    values = [_integer(element, name) for name in ("P", "Q", "G", "Y")]
    p, q, g, y = values
    if p is None or q is None or g is None or y is None:
        return None
    return dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g)).public_key()


def _ec(element: etree._Element) -> object | None:
    curve = element.find(f"{_DS11}NamedCurve")
    point = element.find(f"{_DS11}PublicKey")
    if curve is None or point is None:
        return None
    uri = curve.get("URI") or ""
    if not uri.startswith("urn:oid:"):
        return None
    curve_class = ec.get_curve_for_oid(x509.ObjectIdentifier(uri[len("urn:oid:") :]))
    return ec.EllipticCurvePublicKey.from_encoded_point(
        curve_class(), base64_text(point, "ECKeyValue PublicKey")
    )


_READERS = {
    f"{_DS}RSAKeyValue": _rsa,
    f"{_DS}DSAKeyValue": _dsa,
    f"{_DS11}ECKeyValue": _ec,
}


def key_value(key_info: etree._Element | None) -> object | None:
    """The first readable KeyValue public key of ``key_info``, or None."""
    if key_info is None:
        return None
    for container in key_info.iterfind(f"{_DS}KeyValue"):
        for child in container:
            reader = _READERS.get(child.tag) if isinstance(child.tag, str) else None
            if reader is None:
                continue
            try:
                return reader(child)
            except (ValueError, TypeError, LookupError, UnsupportedAlgorithm, FormatError):
                continue
    return None


def same_key(first: object, second: object) -> bool:
    """Whether two public keys are the same key (by their SubjectPublicKeyInfo)."""

    def spki(key: object) -> bytes | None:
        public_bytes = getattr(key, "public_bytes", None)
        if public_bytes is None:
            return None
        try:
            encoded: bytes = public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return None
        return encoded

    left = spki(first)
    return left is not None and left == spki(second)
