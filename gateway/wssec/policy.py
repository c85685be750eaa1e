"""What the WS-Security gate accepts: SOAP versions, canonicalisation, and the policy.

The defaults follow WSS4J's secure settings and WS-I Basic Security Profile 1.1; derive variants
with ``dataclasses.replace``. The digest and signature algorithm Enums are ``gateway.trust``'s
(shared with the document-signature engine); this policy picks its allow-lists from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from gateway import namespaces as ns
from gateway.trust.algorithms import DigestAlgorithm, SignatureAlgorithm


class SoapVersion(str, Enum):
    """A SOAP envelope version; the value is the one in a SOAP 1.2 ``Upgrade`` fault."""

    SOAP11 = "1.1"
    SOAP12 = "1.2"

    @property
    def envelope_namespace(self) -> str:
        return ns.SOAP11_ENV if self is SoapVersion.SOAP11 else ns.SOAP12_ENV

    @classmethod
    def from_namespace(cls, namespace: str) -> SoapVersion | None:
        for version in cls:
            if version.envelope_namespace == namespace:
                return version
        return None


class CanonicalizationAlgorithm(str, Enum):
    """Exclusive XML Canonicalization 1.0 (W3C, 2002), the only c14n WS-I BSP R5404 allows."""

    EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
    EXC_C14N_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"

    @property
    def with_comments(self) -> bool:
        return self is CanonicalizationAlgorithm.EXC_C14N_WITH_COMMENTS


@dataclass(frozen=True)
class WsSecurityPolicy:
    """The WS-Security verification policy of the gate (DESIGN.md §5). Secure by default."""

    soap_versions: frozenset[SoapVersion] = frozenset({SoapVersion.SOAP11})
    """Envelope versions this endpoint speaks; another version is ``SOAP_VERSION_MISMATCH``."""

    require_timestamp: bool = True
    """A signed ``wsu:Timestamp`` must be present (BSP R3227 then allows exactly one)."""

    require_expires: bool = True
    """The Timestamp must carry ``wsu:Expires``; without it the gate assumes Created + TTL."""

    timestamp_ttl: timedelta = timedelta(seconds=300)
    """How long after its ``Created`` a message is accepted (WSS4J ``timeStampTTL``), whatever its
    Expires says; a request is thus acceptable until ``min(Expires, Created + ttl)``, which is also
    how long its replay nonce is kept."""

    max_timestamp_lifetime: timedelta = timedelta(seconds=900)
    """Largest accepted ``Expires - Created`` (``TIMESTAMP_TTL_EXCEEDED`` above it). Not 300 s:
    node-soap hard-codes a 10-minute Expires and must work (DESIGN.md §5.4)."""

    future_skew: timedelta = timedelta(seconds=60)
    """How far ``Created`` may lie ahead of the official clock (WSS4J ``futureTimeToLive``)."""

    max_message_bytes: int = 10 * 1024 * 1024
    """Largest request body parsed at all (``MESSAGE_TOO_LARGE`` above it)."""

    max_depth: int = 64
    """Deepest element nesting parsed (``XML_TOO_DEEP`` above it)."""

    signature_algorithms: frozenset[SignatureAlgorithm] = frozenset(SignatureAlgorithm)
    """Accepted ``SignatureMethod`` values: RSA PKCS#1 v1.5 and ECDSA with SHA-2."""

    digest_algorithms: frozenset[DigestAlgorithm] = frozenset(DigestAlgorithm)
    """Accepted ``DigestMethod`` values: SHA-256, SHA-384, SHA-512."""

    canonicalization_algorithms: frozenset[CanonicalizationAlgorithm] = frozenset(
        CanonicalizationAlgorithm
    )
    """Accepted ``CanonicalizationMethod`` and Reference ``Transform`` values (exclusive only)."""

    require_bsp_token_types: bool = True
    """BinarySecurityToken and its Reference must state the X509v3 ValueType and Base64 EncodingType
    (BSP R3029, R3033, R3058); when False, missing attributes default to those values."""

    check_revocation: bool = True
    """Consult the trust store's CRLs for every certificate whose issuer has one configured."""

    require_revocation_info: bool = False
    """Refuse a certificate whose issuer has no configured CRL (``REVOCATION_UNKNOWN``)."""

    min_rsa_key_bits: int = 2048
    """Smallest RSA modulus accepted for the signing certificate (``KEY_TOO_WEAK``)."""

    max_references: int = 16
    """Most ``ds:Reference`` elements one signature may have; each costs a canonicalisation."""

    allow_comments_in_signed_elements: bool = False
    """Bare-name references drop comments from the digest (XMLDSig §4.3.3.3), so a comment could be
    inserted inside signed text without breaking the signature and truncate what a naive reader
    sees (CVE-2017-11427). Refused by default."""

    def __post_init__(self) -> None:
        if not self.soap_versions:
            raise ValueError("at least one SOAP version must be enabled")
        if not self.signature_algorithms or not self.digest_algorithms:
            raise ValueError("signature and digest allow-lists must not be empty")
        if not self.canonicalization_algorithms:
            raise ValueError("the canonicalisation allow-list must not be empty")
        if self.timestamp_ttl <= timedelta(0) or self.max_timestamp_lifetime <= timedelta(0):
            raise ValueError("timestamp_ttl and max_timestamp_lifetime must be positive")
        if self.future_skew < timedelta(0):
            raise ValueError("future_skew must not be negative")
        if self.max_message_bytes < 1 or self.max_depth < 4 or self.max_references < 2:
            raise ValueError("size, depth and reference limits are too small for a SOAP message")
