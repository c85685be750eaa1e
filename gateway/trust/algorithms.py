"""Digest and signature algorithms trusted for XML signatures: Enums valued by their spec URI.

One vocabulary for the WS-Security gate and the document-signature engine, so one configuration
decides for both. The Enums list only what can be verified *and* is considered safe: SHA-1, MD5,
DSA and HMAC signature methods have no member, so no policy can allow them (XMLDSig 1.1 §6,
RFC 6931, and NIST SP 800-131A on SHA-1 for signatures). Each policy (``WsSecurityPolicy``,
``SignaturePolicy``) holds its own allow-list as a frozenset of these members.
"""

from __future__ import annotations

from enum import Enum

from cryptography.hazmat.primitives import hashes


class DigestAlgorithm(str, Enum):
    """``ds:DigestMethod/@Algorithm`` values (XMLDSig 1.1 §6.2, RFC 6931 §2.1)."""

    SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
    SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"

    def hash(self) -> hashes.HashAlgorithm:
        return _HASHES[self.name]()

    @property
    def digest_size(self) -> int:
        return self.hash().digest_size

    @property
    def hashlib_name(self) -> str:
        return self.name.lower()


class SignatureAlgorithm(str, Enum):
    """``ds:SignatureMethod/@Algorithm`` values (RFC 6931 §2.3; ECDSA per XMLDSig 1.1 §6.4.3)."""

    RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
    RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
    ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    ECDSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
    ECDSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"

    @property
    def is_rsa(self) -> bool:
        return self.name.startswith("RSA_")

    @property
    def is_ecdsa(self) -> bool:
        return self.name.startswith("ECDSA_")

    def hash(self) -> hashes.HashAlgorithm:
        return _HASHES[self.name.rsplit("_", 1)[1]]()


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}
