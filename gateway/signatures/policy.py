"""What the signature engine accepts: one frozen policy shared by XAdES, CAdES and PAdES.

The algorithm allow-lists are made of the WS-Security gate's Enums (``gateway.trust.algorithms``),
valued by their XMLDSig URIs, so one configuration decides for WS-Security and for document
signatures alike, and SHA-1/MD5 can never be allowed because the Enums have no member for them.
CMS identifies algorithms by OID rather than URI; :meth:`SignaturePolicy.allows_digest` and
:meth:`SignaturePolicy.allows_signature` compare by hash name (``sha256``) and key type, so an
RSASSA-PSS signature with SHA-256 is accepted wherever RSA-SHA256 is (PSS is the stronger
padding; the Enums only name PKCS#1 v1.5 because XMLDSig clients use it).

Documents also use algorithms the gate does not take (RSA-PSS with SHA3, ECDSA with SHA3, EdDSA,
SHA3 digests): those are the engine's own Enums (``gateway.signatures.algorithms``), in their own
fields, so widening what documents may use never widens the gate. DSA, SHA-1 and SHA-224 have a
member in neither and are always CRYPTO_CONSTRAINTS_FAILURE -- after the signature has been
verified, so a weak but correct signature is never reported as a forgery.

Derive variants with ``dataclasses.replace`` or :meth:`SignaturePolicy.from_allow_lists`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from gateway.signatures.algorithms import DocumentDigestAlgorithm, DocumentSignatureAlgorithm
from gateway.trust.algorithms import DigestAlgorithm, SignatureAlgorithm

DEFAULT_MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
"""Same as the gateway's message-size limit: a signed document arrives inside one message."""


@dataclass(frozen=True)
class SignaturePolicy:
    """How XAdES, CAdES and PAdES signatures are judged (ETSI EN 319 102-1 constraints)."""

    signature_algorithms: frozenset[SignatureAlgorithm] = frozenset(SignatureAlgorithm)
    """Accepted signature algorithms (RSA PKCS#1 v1.5 / PSS and ECDSA with SHA-2); anything else
    is INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE."""

    digest_algorithms: frozenset[DigestAlgorithm] = frozenset(DigestAlgorithm)
    """Accepted digest algorithms for references, message digests, certificate references and
    time-stamp imprints; SHA-1 is INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE."""

    extra_signature_algorithms: frozenset[DocumentSignatureAlgorithm] = frozenset(
        DocumentSignatureAlgorithm
    )
    """Accepted beyond ``signature_algorithms`` for documents only: RSA-PSS (SHA-2, SHA3),
    ECDSA-SHA3, Ed25519, Ed448. May be empty."""

    extra_digest_algorithms: frozenset[DocumentDigestAlgorithm] = frozenset(DocumentDigestAlgorithm)
    """Accepted beyond ``digest_algorithms`` for documents only: SHA3-256/384/512. May be empty."""

    min_rsa_key_bits: int = 2048
    """Smallest RSA modulus accepted for signers and time-stamping units."""

    min_ec_key_bits: int = 256
    """Smallest elliptic-curve size accepted for signers and time-stamping units."""

    check_revocation: bool = True
    """Consult the trust store's CRLs for every certificate of the path."""

    require_revocation_info: bool = False
    """A certificate whose issuer has no CRL configured is INDETERMINATE/TRY_LATER."""

    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    """Largest document (and detached content) accepted; ``validate`` raises ``LimitExceeded``
    above it. Callers should refuse larger bodies before reading them whole."""

    max_xml_depth: int = 64
    """Deepest XML nesting parsed (``gateway.xmlsafe``); deeper is FORMAT_FAILURE."""

    max_signatures: int = 16
    """Most signatures validated in one document; more is FORMAT_FAILURE (each costs a path
    validation and, for XML and PDF, canonicalisation or diff analysis)."""

    max_container_entries: int = 256
    """Most entries in an ASiC container (ZIP); more is FORMAT_FAILURE before any is read."""

    max_container_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    """Most bytes a container's entries may hold uncompressed, all together (declared sizes
    checked first, then what inflating actually yields)."""

    max_compression_ratio: int = 100
    """Largest uncompressed/compressed ratio of one container entry above 64 KiB (zip bombs)."""

    max_references: int = 32
    """Most ``ds:Reference`` elements in one XML signature."""

    max_timestamps: int = 8
    """Most signature time-stamps examined per signature."""

    require_signing_certificate_reference: bool = True
    """The signer must bind its certificate with a signed attribute (XAdES SigningCertificate /
    SigningCertificateV2, CMS ESS signing-certificate / -v2), as every AdES baseline requires.
    Without one -- a plain XMLDSig or PKCS#7 signature -- the result is
    INDETERMINATE/NO_SIGNING_CERTIFICATE_FOUND (the crypto is still checked and reported)."""

    require_signing_time: bool = True
    """XAdES and CAdES signatures must claim a signing time (SigningTime / signing-time); missing is
    INDETERMINATE/SIG_CONSTRAINTS_FAILURE. PAdES carries it unsigned in ``/M`` and is exempt."""

    future_signing_time_tolerance: timedelta = timedelta(minutes=5)
    """A claimed signing time later than validation time plus this is SIG_CONSTRAINTS_FAILURE."""

    timestamp_order_tolerance: timedelta = timedelta(0)
    """How far a claimed signing time may lie after the signature time-stamp's genTime before it is
    INDETERMINATE/TIMESTAMP_ORDER_FAILURE (the claim comes from the signer's clock)."""

    require_whole_document: bool = False
    """Ask for signatures that cover the whole document (XML: the root element or ``URI=""``;
    PDF: the whole file). When False, partial coverage is only *reported*
    (``covers_whole_document``, ``signed_data_objects``); when True it is
    INDETERMINATE/SIG_CONSTRAINTS_FAILURE. Callers that act on one element (a receipt) should
    set it, or compare ``signed_data_objects`` with what they process."""

    representative_policies: frozenset[str] | None = None
    """Passed to ``principal_from_certificate`` when mapping the signer to a principal."""

    weak_algorithms_until: tuple[tuple[str, datetime], ...] = ()
    """Algorithm policy with dates (ETSI TS 119 312; EN 319 102-1 §5.6.2.5): hash names
    (``sha1``) refused today but accepted for a signature a time-stamp proves existed before the
    date, as digests and as the hash of a signature algorithm; and key sizes below the minimum,
    named ``rsa-BITS``, ``ec-BITS`` or ``dsa-BITS`` (a key of at least BITS bits: ``rsa-1024``
    covers a 1536-bit key when no ``rsa-1536`` is dated). A refused algorithm with a date and no
    such proof is INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE_NO_POE; without a date,
    CRYPTO_CONSTRAINTS_FAILURE. Applies to XAdES, CAdES and PAdES alike: references, signature
    methods, digests of signed attributes and message digests, signing-certificate digests, the
    signer's key; and to time-stamp tokens (imprint, token signature, TSU key), judged at the
    time the token is validated (a later archive or document time-stamp moves it back)."""

    def __post_init__(self) -> None:
        if not self.signature_algorithms or not self.digest_algorithms:
            raise ValueError("signature and digest allow-lists must not be empty")
        if self.max_document_bytes < 1 or self.max_xml_depth < 4:
            raise ValueError("document size and depth limits are too small")
        if (
            min(self.max_container_entries, self.max_container_bytes, self.max_compression_ratio)
            < 1
        ):
            raise ValueError("container limits must be positive")
        if self.max_signatures < 1 or self.max_references < 1 or self.max_timestamps < 1:
            raise ValueError("signature, reference and time-stamp limits must be positive")
        if self.future_signing_time_tolerance < timedelta(0):
            raise ValueError("future_signing_time_tolerance must not be negative")
        if self.timestamp_order_tolerance < timedelta(0):
            raise ValueError("timestamp_order_tolerance must not be negative")
        if any(until.tzinfo is None for _, until in self.weak_algorithms_until):
            raise ValueError("weak_algorithms_until dates must be timezone-aware")

    @classmethod
    def from_allow_lists(
        cls,
        signature_algorithms: frozenset[SignatureAlgorithm],
        digest_algorithms: frozenset[DigestAlgorithm],
        *,
        min_rsa_key_bits: int,
        check_revocation: bool,
        require_revocation_info: bool,
        **overrides: object,
    ) -> SignaturePolicy:
        """The document-signature policy matching another policy's algorithms and checks; the
        composition root passes the WS-Security policy's (``bootstrap.signature_policy``), so
        this package never imports the gate's.

        The document-only algorithms follow the families the gate allows: no RSA there, no
        RSA-PSS here; no ECDSA there, no ECDSA-SHA3 here (EdDSA stays: the gate has no member).
        """
        families = {"rsa-pss", "rsa"} if any(a.is_rsa for a in signature_algorithms) else set()
        if any(a.is_ecdsa for a in signature_algorithms):
            families.add("ecdsa")
        values: dict[str, object] = {
            "extra_signature_algorithms": frozenset(
                a
                for a in DocumentSignatureAlgorithm
                if a.key_kind in families or a.key_kind.startswith("ed")
            ),
            "signature_algorithms": signature_algorithms,
            "digest_algorithms": digest_algorithms,
            "min_rsa_key_bits": min_rsa_key_bits,
            "check_revocation": check_revocation,
            "require_revocation_info": require_revocation_info,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]  # keys are this class's own fields

    def weak_algorithm_accepted(self, hash_name: str, proven_at: datetime | None) -> bool | None:
        """Whether a refused hash is accepted for a signature proven to exist at ``proven_at``:
        True, False (no date for it, or proven too late), None (dated, but no proof)."""
        until = dict(self.weak_algorithms_until).get(hash_name)
        if until is None:
            return False
        if proven_at is None:
            return None
        return proven_at < until

    def key_name(self, kind: str, bits: int) -> str:
        """The name a too-short ``kind`` key (``rsa``, ``ec``, ``dsa``) of ``bits`` is judged
        under: the dated ``kind-N`` entry with the largest N not above ``bits``, else
        ``kind-bits`` (which has no date: refused outright)."""
        dated = [
            int(size)
            for name, _ in self.weak_algorithms_until
            for prefix, _, size in (name.partition("-"),)
            if prefix == kind and size.isdigit() and int(size) <= bits
        ]
        return f"{kind}-{max(dated) if dated else bits}"

    def allows_digest(self, hash_name: str) -> bool:
        """Whether a digest named like hashlib (``sha256``) is on an allow-list."""
        return hash_name in self._digest_names

    @cached_property
    def _digest_names(self) -> frozenset[str]:
        # computed once per policy (frozen: its lists never change)
        return frozenset(algorithm.hashlib_name for algorithm in self.digest_algorithms) | (
            frozenset(algorithm.hashlib_name for algorithm in self.extra_digest_algorithms)
        )

    def allows_signature(self, key_type: str, hash_name: str) -> bool:
        """Whether ``rsa``/``rsa-pss``/``ecdsa``/``ed25519``/``ed448`` with the named hash is on
        an allow-list (``dsa`` never is)."""
        if key_type == "rsa-pss" and self.allows_signature("rsa", hash_name):
            return True  # PSS is accepted wherever PKCS#1 v1.5 with the same hash is
        if (key_type, hash_name) in self._extra_signatures:
            return True
        prefix = {"rsa": "RSA_", "ecdsa": "ECDSA_"}.get(key_type)
        if prefix is None:
            return False
        return prefix + hash_name.upper() in self._signature_names

    @cached_property
    def _extra_signatures(self) -> frozenset[tuple[str, str]]:
        return frozenset(
            (algorithm.key_kind, algorithm.hash_name)
            for algorithm in self.extra_signature_algorithms
        )

    @cached_property
    def _signature_names(self) -> frozenset[str]:
        return frozenset(algorithm.name for algorithm in self.signature_algorithms)
