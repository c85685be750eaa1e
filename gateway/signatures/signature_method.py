"""What a ``ds:SignatureMethod`` asks for: key kind, digest and RSASSA-PSS parameters.

XMLDSig 1.1 §4.4.2 and §6.4; RFC 6931 §2.3.10 (PSS URIs without parameters: MGF1 with the
message digest, salt as long as the digest, trailer field 1) and §2.3.11 (``rsa-pss`` with
``pss:RSAPSSParams``: optional ``ds:DigestMethod`` (default SHA-256), ``MaskGenerationFunction``
(only MGF1; its ``ds:DigestMethod`` defaults to the message digest), ``SaltLength`` (default:
the digest length) and ``TrailerField`` (only 1, the 0xBC of RFC 8017 §9.1.1, can exist)).

Parameters that are well-formed but do not describe the signature are a *cryptographic* failure
(the value does not verify under them), never a format one; parameters this engine cannot
express (another MGF, another trailer, unknown elements) are FORMAT_FAILURE.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gateway import namespaces as ns
from gateway.signatures import crypto
from gateway.signatures.findings import FormatError

_PSS_NS = "http://www.w3.org/2007/05/xmldsig-more#"
_MGF1 = _PSS_NS + "MGF1"
_PARAMS = f"{{{_PSS_NS}}}RSAPSSParams"
_MGF = f"{{{_PSS_NS}}}MaskGenerationFunction"
_SALT = f"{{{_PSS_NS}}}SaltLength"
_TRAILER = f"{{{_PSS_NS}}}TrailerField"
_DIGEST_METHOD = f"{{{ns.DS}}}DigestMethod"


@dataclass(frozen=True, slots=True)
class Mechanism:
    """How to verify a SignatureValue and how the policy judges it."""

    key_kind: str
    """``rsa``, ``rsa-pss``, ``ecdsa``, ``dsa``, ``ed25519`` or ``ed448``."""
    hash_name: str
    pss_salt_length: int | None = None
    mgf1_hash_name: str | None = None

    def verify(self, public_key: object, signature: bytes, data: bytes) -> bool:
        return crypto.verify(
            public_key,
            signature,
            data,
            key_kind=self.key_kind,
            hash_name=self.hash_name,
            ecdsa_raw=True,
            pss_salt_length=self.pss_salt_length,
            mgf1_hash_name=self.mgf1_hash_name,
        )

    def verify_der(self, public_key: object, signature: bytes, data: bytes) -> bool:
        """An ECDSA or DSA value written as the DER SEQUENCE of r and s, as some tools write it
        against XML-DSig's ``r || s`` (RFC 4050): the same (r, s), so the same signature."""
        if self.key_kind not in ("ecdsa", "dsa") or signature[:1] != b"\x30":
            return False
        return crypto.verify(
            public_key, signature, data, key_kind=self.key_kind, hash_name=self.hash_name
        )


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _digest(element: etree._Element) -> str:
    name = crypto.XML_DIGESTS.get(element.get("Algorithm") or "")
    if name is None or _children(element):
        raise FormatError("RSAPSSParams name an unknown digest algorithm")
    return name


def _integer(element: etree._Element, what: str) -> int:
    text = (element.text or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 6 or _children(element):
        raise FormatError(f"RSAPSSParams {what} is not a small non-negative integer")
    return int(text)


def _pss(method: etree._Element) -> Mechanism:
    children = _children(method)
    if not children:
        return Mechanism("rsa-pss", "sha256", pss_salt_length=32)
    if len(children) != 1 or children[0].tag != _PARAMS:
        raise FormatError("An rsa-pss SignatureMethod holds one RSAPSSParams")
    hash_name = "sha256"
    mgf1_hash: str | None = None
    salt: int | None = None
    expected = [_DIGEST_METHOD, _MGF, _SALT, _TRAILER]
    for part in _children(children[0]):
        if part.tag not in expected:
            raise FormatError(
                "RSAPSSParams hold DigestMethod, MaskGenerationFunction, "
                "SaltLength and TrailerField, in that order"
            )
        expected = expected[expected.index(part.tag) + 1 :]
        if part.tag == _DIGEST_METHOD:
            hash_name = _digest(part)
        elif part.tag == _MGF:
            if (part.get("Algorithm") or _MGF1) != _MGF1:
                raise FormatError("Only the MGF1 mask generation function is supported")
            inner = _children(part)
            if len(inner) > 1 or (inner and inner[0].tag != _DIGEST_METHOD):
                raise FormatError("MaskGenerationFunction holds at most a DigestMethod")
            mgf1_hash = _digest(inner[0]) if inner else None
        elif part.tag == _SALT:
            salt = _integer(part, "SaltLength")
        elif _integer(part, "TrailerField") != 1:
            raise FormatError("Only trailer field 1 exists for RSASSA-PSS")
    if salt is None:
        salt = crypto.hash_algorithm(hash_name).digest_size
    return Mechanism("rsa-pss", hash_name, pss_salt_length=salt, mgf1_hash_name=mgf1_hash)


def mechanism(method: etree._Element) -> Mechanism:
    """The mechanism of a ``ds:SignatureMethod``; FormatError when it is not supported."""
    uri = method.get("Algorithm") or ""
    if uri == crypto.RSA_PSS:
        return _pss(method)
    known = crypto.XML_SIGNATURES.get(uri)
    if known is None:
        raise FormatError("The signature method is not supported")
    if _children(method):
        raise FormatError("SignatureMethod parameters are not supported")
    return Mechanism(*known)
