"""Algorithm identifiers and raw public-key verification shared by the three formats.

Identifiers are mapped to *hash names* (hashlib spelling: ``sha256``) and *key types* (``rsa``,
``ecdsa``); :class:`~gateway.signatures.policy.SignaturePolicy` decides what is allowed. The
tables deliberately know weak algorithms (SHA-1, SHA-224): a signature that uses one can then be
verified and reported as CRYPTO_CONSTRAINTS_FAILURE rather than as an unreadable FORMAT_FAILURE,
which is what EN 319 102-1 §5.2.8 asks of the cryptographic-constraints check.

XMLDSig URIs: RFC 6931 §2.1-2.3 and XMLDSig 1.1 §6, RFC 9231 §2.3.6 (ECDSA-SHA3) and §2.3.13
(EdDSA). ECDSA values in XML are ``r || s`` (XMLDSig 1.1 §6.4.3), in CMS a DER
``ECDSA-Sig-Value`` (RFC 5753 §7.2); DSA values in XML are ``r || s`` too, each as long as the
group order ``q`` (XMLDSig 1.1 §6.4.1). Key kinds: ``rsa`` (PKCS#1 v1.5), ``rsa-pss``
(RFC 6931 §2.3.10: MGF1 with the message digest, salt as long as the digest), ``ecdsa``,
``dsa`` (verification only, never accepted), ``ed25519`` and ``ed448`` (RFC 8032, pure EdDSA).
There is no XMLDSig URI for PKCS#1 v1.5 with SHA3 (RFC 9231 registers SHA3 only with PSS and
ECDSA), so there is none here either.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from gateway.signatures.policy import SignaturePolicy

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha3_224": hashes.SHA3_224,
    "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384,
    "sha3_512": hashes.SHA3_512,
}

XML_DIGESTS: dict[str, str] = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "sha1",
    "http://www.w3.org/2001/04/xmldsig-more#sha224": "sha224",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-224": "sha3_224",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-256": "sha3_256",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-384": "sha3_384",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-512": "sha3_512",
}
"""``ds:DigestMethod/@Algorithm`` -> hash name."""

XML_DIGEST_URIS: dict[str, str] = {name: uri for uri, name in XML_DIGESTS.items()}

XML_SIGNATURES: dict[str, tuple[str, str]] = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": ("rsa", "sha1"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha224": ("rsa", "sha224"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": ("rsa", "sha256"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": ("rsa", "sha384"),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": ("rsa", "sha512"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1": ("ecdsa", "sha1"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha224": ("ecdsa", "sha224"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": ("ecdsa", "sha256"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": ("ecdsa", "sha384"),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": ("ecdsa", "sha512"),
    "http://www.w3.org/2021/04/xmldsig-more#ecdsa-sha3-224": ("ecdsa", "sha3_224"),
    "http://www.w3.org/2021/04/xmldsig-more#ecdsa-sha3-256": ("ecdsa", "sha3_256"),
    "http://www.w3.org/2021/04/xmldsig-more#ecdsa-sha3-384": ("ecdsa", "sha3_384"),
    "http://www.w3.org/2021/04/xmldsig-more#ecdsa-sha3-512": ("ecdsa", "sha3_512"),
    "http://www.w3.org/2007/05/xmldsig-more#sha1-rsa-MGF1": ("rsa-pss", "sha1"),
    "http://www.w3.org/2007/05/xmldsig-more#sha224-rsa-MGF1": ("rsa-pss", "sha224"),
    "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1": ("rsa-pss", "sha256"),
    "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1": ("rsa-pss", "sha384"),
    "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1": ("rsa-pss", "sha512"),
    "http://www.w3.org/2007/05/xmldsig-more#sha3-224-rsa-MGF1": ("rsa-pss", "sha3_224"),
    "http://www.w3.org/2007/05/xmldsig-more#sha3-256-rsa-MGF1": ("rsa-pss", "sha3_256"),
    "http://www.w3.org/2007/05/xmldsig-more#sha3-384-rsa-MGF1": ("rsa-pss", "sha3_384"),
    "http://www.w3.org/2007/05/xmldsig-more#sha3-512-rsa-MGF1": ("rsa-pss", "sha3_512"),
    "http://www.w3.org/2000/09/xmldsig#dsa-sha1": ("dsa", "sha1"),
    "http://www.w3.org/2009/xmldsig11#dsa-sha256": ("dsa", "sha256"),
    "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed25519": ("ed25519", "sha512"),
    "http://www.w3.org/2021/04/xmldsig-more#eddsa-ed448": ("ed448", "shake256"),
}
"""``ds:SignatureMethod/@Algorithm`` -> (key kind, hash name), for the methods without
parameters. EdDSA's hash is the one RFC 8032 fixes (reported, not chosen)."""

RSA_PSS = "http://www.w3.org/2007/05/xmldsig-more#rsa-pss"
"""RFC 6931 §2.3.11: RSASSA-PSS whose digest, MGF and salt are ``pss:RSAPSSParams``
(``gateway.signatures.signature_method``)."""


_LOADED: dict[bytes, x509.Certificate | None] = {}
_LOADED_MAX = 512
_MEMO_MAX_BYTES = 16 * 1024
"""Memoised certificates are at most this large (real ones are a few KiB): the table stays
within 8 MiB whatever documents arrive."""


def load_certificate(der: bytes) -> x509.Certificate | None:
    """A DER certificate whose fields all parse, or None.

    ``cryptography`` parses certificates lazily: a corrupt subject or extension would otherwise
    surface later, wherever the field is first read. Reading them here keeps that at the seam.
    Memoised by DER (bounded: at most 512 entries of at most 16 KiB, emptied when full): the
    same signers' and CAs' certificates arrive again and again, and a certificate object is
    immutable.
    """
    if len(der) > _MEMO_MAX_BYTES:  # hostile sizes are not kept
        return _load_certificate(der)
    try:
        return _LOADED[der]
    except KeyError:
        pass
    certificate = _load_certificate(der)
    if len(_LOADED) >= _LOADED_MAX:
        _LOADED.clear()
    _LOADED[der] = certificate
    return certificate


def _load_certificate(der: bytes) -> x509.Certificate | None:
    try:
        certificate = x509.load_der_x509_certificate(der)
        _ = (certificate.subject, certificate.issuer, certificate.serial_number)
        _ = (certificate.not_valid_before_utc, certificate.not_valid_after_utc)
        _ = list(certificate.extensions)
        certificate.public_key()
    except (
        ValueError,
        TypeError,
        UnsupportedAlgorithm,
        x509.InvalidVersion,
        x509.DuplicateExtension,
    ):
        return None
    return certificate


class UnknownAlgorithm(ValueError):
    """An identifier this engine cannot compute at all."""


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    """A ``cryptography`` hash for a hashlib-style name; ``UnknownAlgorithm`` otherwise."""
    if name in ("shake256", "shake256_len"):
        return hashes.SHAKE256(64)  # RFC 8419 §2.3: the 512-bit output Ed448 CMS uses
    factory = _HASHES.get(name)
    if factory is None:
        raise UnknownAlgorithm(name)
    return factory()


def digest(name: str, data: bytes | memoryview) -> bytes:
    """One-shot digest (no copy of ``data``)."""
    context = hashes.Hash(hash_algorithm(name))
    context.update(data)
    return context.finalize()


def key_type(public_key: object) -> str | None:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ecdsa"
    if isinstance(public_key, dsa.DSAPublicKey):
        return "dsa"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "ed448"
    return None


def key_is_strong_enough(public_key: object, policy: SignaturePolicy) -> bool:
    """RSA and EC by size; Ed25519/Ed448 always (fixed ~128/224-bit security); DSA never (FIPS
    186-5 withdrew it for signing: verification only)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.key_size >= policy.min_rsa_key_bits
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.curve.key_size >= policy.min_ec_key_bits
    return isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)


def weak_key_name(public_key: object, policy: SignaturePolicy) -> str | None:
    """None for a key strong enough; else the name the policy's dates judge it under
    (``rsa-1024``, :meth:`SignaturePolicy.key_name`)."""
    if key_is_strong_enough(public_key, policy):
        return None
    if isinstance(public_key, rsa.RSAPublicKey):
        return policy.key_name("rsa", public_key.key_size)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return policy.key_name("ec", public_key.curve.key_size)
    if isinstance(public_key, dsa.DSAPublicKey):
        return policy.key_name("dsa", public_key.key_size)
    return "unknown-key"


def _raw_to_der(signature: bytes, size: int) -> bytes | None:
    """``r || s`` (each ``size`` octets) as a DER ``Dss-Sig-Value``; None for a wrong length."""
    if len(signature) != 2 * size:
        return None
    return encode_dss_signature(
        int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
    )


def verify(
    public_key: object,
    signature: bytes,
    data: bytes,
    *,
    key_kind: str,
    hash_name: str,
    ecdsa_raw: bool = False,
    pss_salt_length: int | None = None,
    mgf1_hash_name: str | None = None,
    prehashed: bool = False,
) -> bool:
    """Whether ``signature`` over ``data`` verifies; False also when key and algorithm differ.

    ``pss_salt_length`` selects RSASSA-PSS (MGF1 with ``mgf1_hash_name``, by default the same
    hash, RFC 4055); key kind ``rsa-pss`` without it uses a salt as long as the digest (RFC 6931
    §2.3.10). ``ecdsa_raw`` reads an ECDSA or DSA ``r || s`` value instead of DER; ``prehashed``
    means ``data`` is already the digest (a CMS signature without signed attributes signs the
    content itself). EdDSA ignores ``hash_name``.
    """
    try:
        if key_kind == "ed25519" and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
            return True
        if key_kind == "ed448" and isinstance(public_key, ed448.Ed448PublicKey):
            public_key.verify(signature, data)
            return True
        hash_ = hash_algorithm(hash_name)
        algorithm: hashes.HashAlgorithm | Prehashed = Prehashed(hash_) if prehashed else hash_
        if key_kind == "rsa-pss" and pss_salt_length is None:
            pss_salt_length = hash_.digest_size
        if key_kind in ("rsa", "rsa-pss") and isinstance(public_key, rsa.RSAPublicKey):
            mgf_hash = hash_ if mgf1_hash_name is None else hash_algorithm(mgf1_hash_name)
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if pss_salt_length is None
                else padding.PSS(padding.MGF1(mgf_hash), pss_salt_length)
            )
            public_key.verify(signature, data, pad, algorithm)
            return True
        if key_kind == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
            if ecdsa_raw:
                der = _raw_to_der(signature, (public_key.curve.key_size + 7) // 8)
                if der is None:
                    return False
                signature = der
            public_key.verify(signature, data, ec.ECDSA(algorithm))
            return True
        if key_kind == "dsa" and isinstance(public_key, dsa.DSAPublicKey):
            if ecdsa_raw:
                q = public_key.parameters().parameter_numbers().q
                der = _raw_to_der(signature, (q.bit_length() + 7) // 8)
                if der is None:
                    return False
                signature = der
            public_key.verify(signature, data, algorithm)
            return True
    except (InvalidSignature, UnsupportedAlgorithm, UnknownAlgorithm, ValueError):
        return False
    return False
