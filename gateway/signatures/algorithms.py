"""Algorithms the signature engine accepts beyond the WS-Security gate's (RFC 6931, RFC 9231).

The gate's Enums (``gateway.trust.algorithms``) name what a SOAP client may use: PKCS#1 v1.5
and ECDSA with SHA-2, SHA-2 digests. Signed documents come from signing tools that also use
RSASSA-PSS (RFC 6931 §2.3.10 without parameters, §2.3.11 ``rsa-pss`` with ``RSAPSSParams``),
ECDSA with SHA3 (RFC 9231 §2.3.6), EdDSA (RFC 9231 §2.3.13) and SHA3 digests (RFC 6931 §2.1.5).
Those live here, on the engine's side, so that accepting them for documents never widens the gate.

Like the gate's, these Enums only have members for algorithms that may be *accepted*: SHA-1,
SHA-224, SHA3-224 and DSA are verified by the engine (``gateway.signatures.crypto``) but have no
member, so a policy can never allow them and they end as CRYPTO_CONSTRAINTS_FAILURE (ETSI TS 119
312 §6; EN 319 102-1 §5.2.8). A parameterised ``rsa-pss`` is judged as the parameter-less URI
with the same digest.
"""

from __future__ import annotations

from enum import Enum

_MORE07 = "http://www.w3.org/2007/05/xmldsig-more#"
_MORE21 = "http://www.w3.org/2021/04/xmldsig-more#"


class DocumentSignatureAlgorithm(str, Enum):
    """``ds:SignatureMethod/@Algorithm`` values accepted for documents on top of the gate's."""

    RSA_PSS_SHA256 = _MORE07 + "sha256-rsa-MGF1"
    RSA_PSS_SHA384 = _MORE07 + "sha384-rsa-MGF1"
    RSA_PSS_SHA512 = _MORE07 + "sha512-rsa-MGF1"
    RSA_PSS_SHA3_256 = _MORE07 + "sha3-256-rsa-MGF1"
    RSA_PSS_SHA3_384 = _MORE07 + "sha3-384-rsa-MGF1"
    RSA_PSS_SHA3_512 = _MORE07 + "sha3-512-rsa-MGF1"
    ECDSA_SHA3_256 = _MORE21 + "ecdsa-sha3-256"
    ECDSA_SHA3_384 = _MORE21 + "ecdsa-sha3-384"
    ECDSA_SHA3_512 = _MORE21 + "ecdsa-sha3-512"
    RSA_SHA3_256 = "urn:oid:2.16.840.1.101.3.4.3.14"
    """RSA PKCS#1 v1.5 with SHA3 has no XMLDSig URI: valued by its CMS OID (RFC 3061 URN)."""
    RSA_SHA3_384 = "urn:oid:2.16.840.1.101.3.4.3.15"
    RSA_SHA3_512 = "urn:oid:2.16.840.1.101.3.4.3.16"
    ED25519 = _MORE21 + "eddsa-ed25519"
    ED448 = _MORE21 + "eddsa-ed448"

    @property
    def key_kind(self) -> str:
        """``rsa-pss``, ``ecdsa``, ``ed25519`` or ``ed448`` (the engine's key kinds)."""
        if self.name.startswith("RSA_PSS_"):
            return "rsa-pss"
        if self.name.startswith("ECDSA_"):
            return "ecdsa"
        if self.name.startswith("RSA_"):
            return "rsa"
        return self.name.lower()

    @property
    def hash_name(self) -> str:
        """The hashlib-style name of the message digest (EdDSA: the one RFC 8032 fixes)."""
        if self is DocumentSignatureAlgorithm.ED25519:
            return "sha512"
        if self is DocumentSignatureAlgorithm.ED448:
            return "shake256"
        return self.name.split("_", 2 if self.name.startswith("RSA_PSS") else 1)[-1].lower()


class DocumentDigestAlgorithm(str, Enum):
    """``ds:DigestMethod/@Algorithm`` values accepted for documents on top of the gate's."""

    SHA3_256 = _MORE07 + "sha3-256"
    SHA3_384 = _MORE07 + "sha3-384"
    SHA3_512 = _MORE07 + "sha3-512"

    @property
    def hashlib_name(self) -> str:
        return self.name.lower()
