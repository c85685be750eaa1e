"""Certificate validation with proof of existence (EN 319 102-1 §5.2.6, §5.5 and §5.6.2.1).

Path building, anchors and validity periods are the WS-Security trust store's job
(``TrustStore.validate`` with revocation off). Certificates the signature carries (XAdES KeyInfo
and CertificateValues; RFC 5280 §6.1 leaves where a path's certificates come from to the
verifier, EN 319 102-1 §5.2.6 names the signature among the sources) join the store's
intermediates for that one validation, in a store of their own so that neither the gate's store
nor its cache ever sees them. They can complete a path, never end one: a self-issued carried
certificate is dropped rather than becoming an anchor. Revocation is judged here, because a signature
needs *when* a certificate was revoked, not just whether: the gate's check refuses any listed
certificate, while a time-stamped signature made before the revocation date is still good.

Rules, with ``poe`` the best signature time a valid time-stamp proved (None without one) and
``control`` = ``poe`` or the validation time:

* The path must chain to an anchor at ``control``; otherwise NO_CERTIFICATE_CHAIN_FOUND.
* Leaf not yet valid at ``control``: with a POE, TOTAL_FAILED/NOT_YET_VALID (the signature
  provably existed before the certificate); without, OUT_OF_BOUNDS_NO_POE.
* Leaf expired at ``control``: OUT_OF_BOUNDS_NO_POE -- unless both the POE and the signer's own
  claimed signing time are after expiry, then TOTAL_FAILED/EXPIRED.
* Revocation, for every certificate of the path, from the trust directory's CRLs and OCSP
  responses and those the signature carries (``gateway.trust.revocation``: authenticated; known
  when an item is current at the validation time or was issued after the POE; any item saying
  revoked gives the revocation time): revoked after the POE is fine; revoked at or before it is TOTAL_FAILED/REVOKED when the claimed
  signing time is after the revocation too (the signer and the time-stamp agree it was signed by
  a revoked key), otherwise REVOKED_NO_POE; without a POE, REVOKED_NO_POE (REVOKED_CA_NO_POE for
  a CA). No current CRL for an issuer that has CRLs, or none at all when the policy requires it:
  TRY_LATER.
* Usage: a signer needs digitalSignature or nonRepudiation, a TSU the timeStamping EKU (RFC 3161
  §2.3); otherwise CHAIN_CONSTRAINTS_FAILURE. Weak keys: CRYPTO_CONSTRAINTS_FAILURE.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.errors import AuthenticationError
from gateway.signatures.crypto import weak_key_name
from gateway.signatures.policy import SignaturePolicy
from gateway.signatures.report import Finding, SubIndication
from gateway.trust.certificates import TrustStore
from gateway.trust.memo import IdentityMemo
from gateway.trust.revocation import Evidence, RevocationValues, gather, judge

NO_REVOCATION_VALUES = RevocationValues()

# Pure functions of immutable objects, kept across validations (``gateway.trust.memo``): the
# time-stamping unit and the CAs come back in every signature, and an XAdES-LTA validation
# judges the unit's certificate twice.
_FINGERPRINTS: IdentityMemo[str] = IdentityMemo(512)
_USAGE: IdentityMemo[tuple[Finding, ...]] = IdentityMemo(512)


class _StoreMemo:
    """What is memoised about one trust store. Held weakly by the store (``_STORES``): a
    reloaded store's memo -- and the CRLs and derived stores it references -- goes with it."""

    def __init__(self, trust: TrustStore) -> None:
        self.known = frozenset(trust.certificates)  # certificates compare and hash by DER
        self.trusted_evidence: IdentityMemo[tuple[Evidence, ...]] = IdentityMemo(512)
        """What the store's own CRLs say of (certificate, issuer)."""
        self.carried_evidence: IdentityMemo[tuple[Evidence, ...]] = IdentityMemo(64)
        """What carried values (and the store's OCSP responses) say of (certificate, issuer),
        by the values' identity: one validation judges the same pair several times (a unit's
        certificate for each of its tokens, the CA for each leaf); the judgement, which depends
        on the time, is still taken on every call. Small: the entries hold what was carried."""
        self.with_carried: IdentityMemo[TrustStore | None] = IdentityMemo(128)
        """The store to validate with, by the carried certificates (None: the store itself,
        never referenced from here, or the weak key could never be collected)."""
        self.extended: IdentityMemo[TrustStore] = IdentityMemo(32)
        """The store extended with carried intermediates, by those intermediates: its path
        cache stays warm for the next signature that carries the same ones."""


_STORES: weakref.WeakKeyDictionary[TrustStore, _StoreMemo] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def _memo_of(trust: TrustStore) -> _StoreMemo:
    memo = _STORES.get(trust)
    if memo is None:
        with _STORES_LOCK:
            memo = _STORES.get(trust)
            if memo is None:
                memo = _STORES[trust] = _StoreMemo(trust)
    return memo

class Purpose(Enum):
    SIGNER = "signer"
    TIME_STAMPING = "time-stamping"


@dataclass(frozen=True, slots=True)
class ChainAssessment:
    """The path (leaf first) and what was found about it."""

    chain: tuple[x509.Certificate, ...]
    findings: tuple[Finding, ...]
    revocation_time: datetime | None = None
    warnings: tuple[str, ...] = ()
    weak_key: tuple[Finding, str] | None = None
    """The too-weak-key finding (also in ``findings``) and its dated-policy name (``rsa-1024``),
    for the caller to resolve with a proof of existence (``Findings.mark_weak``)."""


def _crls_for(trust: TrustStore, issuer: x509.Certificate) -> list[x509.CertificateRevocationList]:
    """The authenticated CRLs the trust store holds for ``issuer``."""
    return trust.crls_for(issuer)


def _trust_certificates(trust: TrustStore) -> list[x509.Certificate]:
    """Anchors and intermediates of the trust store."""
    return list(trust.certificates)


def _issued_by_trust(
    trust: TrustStore, certificate: x509.Certificate
) -> tuple[x509.Certificate, ...] | None:
    """The path by names and signatures only, ignoring validity periods, or None.

    Used for the report of a certificate that is out of its validity at every instant a full path
    could be validated (the demo PKI's ``expired`` client predates its CA): distinguishes
    OUT_OF_BOUNDS_NO_POE (a trusted CA issued it) from NO_CERTIFICATE_CHAIN_FOUND.
    """
    pool = _trust_certificates(trust)
    anchors = trust.anchors
    path = [certificate]
    current = certificate
    for _ in range(8):
        if any(current == anchor for anchor in anchors):
            return tuple(path)
        issuer = next(
            (ca for ca in pool if ca.subject == current.issuer and _signed_by(current, ca)), None
        )
        if issuer is None or issuer in path:
            return None
        path.append(issuer)
        current = issuer
    return None


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


@dataclass(frozen=True, slots=True)
class _Revocation:
    known: bool
    revoked_at: datetime | None = None


def _revocation(
    trust: TrustStore,
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    now: datetime,
    poe: datetime | None,
    require_info: bool,
    carried: RevocationValues,
) -> _Revocation:
    # A store never changes its CRLs (a reload builds a new store): what they say is kept.
    memo = _memo_of(trust)
    trusted = memo.trusted_evidence.get(
        (certificate, issuer),
        lambda: tuple(gather(certificate, issuer, trusted_crls=_crls_for(trust, issuer))),
    )
    evidence = [
        *trusted,
        *memo.carried_evidence.get(
            (certificate, issuer, carried),
            lambda: tuple(
                gather(
                    certificate,
                    issuer,
                    crls=carried.crls,
                    responses=(*trust.ocsp_responses, *carried.responses),
                )
            ),
        ),
    ]
    if not evidence:
        return _Revocation(known=not require_info)
    status = judge(evidence, now=now, poe=poe)
    return _Revocation(known=status.known, revoked_at=status.revoked_at)


def _usage_findings(certificate: x509.Certificate, purpose: Purpose) -> list[Finding]:
    return list(_USAGE.get((certificate, purpose), lambda: _usage(certificate, purpose)))


def _usage(certificate: x509.Certificate, purpose: Purpose) -> tuple[Finding, ...]:
    return tuple(_usage_list(certificate, purpose))


def _usage_list(certificate: x509.Certificate, purpose: Purpose) -> list[Finding]:
    if purpose is Purpose.TIME_STAMPING:
        try:
            usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            usages = x509.ExtendedKeyUsage([])
        if ExtendedKeyUsageOID.TIME_STAMPING not in usages:
            return [
                Finding(
                    SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                    "The time-stamping unit's certificate lacks the timeStamping usage",
                )
            ]
        return []
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return []  # RFC 5280 §4.2.1.3: no keyUsage extension means no restriction
    if not (usage.digital_signature or usage.content_commitment):
        return [
            Finding(
                SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                "The signer's certificate may not be used for signatures (key usage)",
            )
        ]
    return []


def with_carried(trust: TrustStore, carried: tuple[x509.Certificate, ...]) -> TrustStore:
    """``trust`` with the carried CA certificates it lacks as intermediates (same anchors, CRLs).

    Only certificates that are not self-issued and not already trusted are added; when none is
    left, ``trust`` itself is returned (and its cache keeps serving).
    """
    if not carried:
        return trust
    extended = _memo_of(trust).with_carried.get(carried, lambda: _with_carried(trust, carried))
    return trust if extended is None else extended


def _with_carried(
    trust: TrustStore, carried: tuple[x509.Certificate, ...]
) -> TrustStore | None:
    candidates = [certificate for certificate in carried if _may_be_intermediate(certificate)]
    if not candidates:
        return None  # the usual case: KeyInfo holds the leaf only
    memo = _memo_of(trust)
    known = set(memo.known)
    extra: list[x509.Certificate] = []
    for certificate in candidates:
        if certificate not in known:
            known.add(certificate)
            extra.append(certificate)
    if not extra:
        return None
    return memo.extended.get(tuple(extra), lambda: _extended(trust, extra))


def _may_be_intermediate(certificate: x509.Certificate) -> bool:
    # basicConstraints first: most carried certificates are leaves, and comparing names builds
    # Python Name objects
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False  # not a CA: cannot be an intermediate (RFC 5280 §6.1.4 (k))
    if not constraints.value.ca:
        return False
    # self-issued: it could only be an anchor, and anchors are configured
    return bool(certificate.subject != certificate.issuer)


def _extended(trust: TrustStore, extra: list[x509.Certificate]) -> TrustStore:
    crls = [crl for ca in trust.certificates for crl in trust.crls_for(ca)]
    return TrustStore(
        [*trust.certificates, *extra],
        crls,
        cache_size=16,
        ocsp_responses=trust.ocsp_responses,
        extra_anchors=trust.anchors,  # trusted-list anchors need not be self-signed
        service_history=trust.service_history,
    )


def _path(
    trust: TrustStore, certificate: x509.Certificate, at: datetime
) -> tuple[tuple[x509.Certificate, ...] | None, str | None]:
    fingerprint = _FINGERPRINTS.get(
        (certificate,), lambda: certificate.fingerprint(hashes.SHA256()).hex()
    )
    try:
        chain = trust.validate(certificate, at, fingerprint=fingerprint, check_revocation=False)
    except AuthenticationError as exc:
        return None, exc.code
    return chain.certificates, None


def assess_certificate(
    certificate: x509.Certificate,
    *,
    trust: TrustStore,
    policy: SignaturePolicy,
    now: datetime,
    purpose: Purpose = Purpose.SIGNER,
    poe: datetime | None = None,
    claimed_signing_time: datetime | None = None,
    carried: tuple[x509.Certificate, ...] = (),
    revocation_values: RevocationValues = NO_REVOCATION_VALUES,
) -> ChainAssessment:
    """Validate ``certificate`` for ``purpose`` following the rules in the module docstring;
    ``carried`` are the certificates the signature itself holds (possible intermediates),
    ``revocation_values`` the CRLs and OCSP responses it holds (XAdES-LT)."""
    trust = with_carried(trust, carried)
    # Path problems come first (EN 319 102-1 §5.2.6 before the constraints of §5.2.8).
    findings: list[Finding] = []
    constraints = _usage_findings(certificate, purpose)
    weak_key: tuple[Finding, str] | None = None
    key_name = weak_key_name(certificate.public_key(), policy)
    if key_name is not None:
        weak = Finding(
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE, f"The certificate key ({key_name}) is too weak"
        )
        constraints.append(weak)
        weak_key = (weak, key_name)
    control = poe or now
    not_before = certificate.not_valid_before_utc
    not_after = certificate.not_valid_after_utc
    chain, refusal = _path(trust, certificate, control)
    if refusal == "CERTIFICATE_EXPIRED":
        # Report the path as it stood just before expiry; an untrusted path outranks expiry.
        chain, _ = _path(trust, certificate, not_after - timedelta(seconds=1))
        if chain is None:
            chain = _issued_by_trust(trust, certificate)
        if chain is None:
            refusal = "CERTIFICATE_UNTRUSTED"
        elif (
            poe is not None
            and claimed_signing_time is not None
            and claimed_signing_time >= not_after
        ):
            findings.append(
                Finding(
                    SubIndication.EXPIRED, "The signature was made after the certificate expired"
                )
            )
        else:
            findings.append(
                Finding(
                    SubIndication.OUT_OF_BOUNDS_NO_POE,
                    "The certificate has expired and no time-stamp proves the signature existed "
                    "while it was valid",
                )
            )
    elif refusal == "CERTIFICATE_NOT_YET_VALID":
        chain, _ = _path(trust, certificate, not_before)
        if chain is None:
            chain = _issued_by_trust(trust, certificate)
        if chain is None:
            refusal = "CERTIFICATE_UNTRUSTED"
        elif poe is not None:
            findings.append(
                Finding(
                    SubIndication.NOT_YET_VALID,
                    "A time-stamp proves the signature existed before the certificate was issued",
                )
            )
        else:
            findings.append(
                Finding(SubIndication.OUT_OF_BOUNDS_NO_POE, "The certificate is not valid yet")
            )
    if chain is None:
        if refusal == "CERTIFICATE_UNTRUSTED":
            findings.append(
                Finding(
                    SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                    "The certificate does not chain to a trusted authority",
                )
            )
        elif refusal not in ("CERTIFICATE_EXPIRED", "CERTIFICATE_NOT_YET_VALID"):
            findings.append(
                Finding(
                    SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE,
                    "The certificate path could not be validated",
                )
            )
        return ChainAssessment((), tuple(findings + constraints), weak_key=weak_key)
    revocation_time: datetime | None = None
    warnings: list[str] = []
    if policy.check_revocation:
        for subject, issuer in itertools.pairwise(chain):
            status = _revocation(
                trust,
                subject,
                issuer,
                now,
                poe,
                policy.require_revocation_info,
                revocation_values,
            )
            if not status.known:
                findings.append(
                    Finding(
                        SubIndication.TRY_LATER,
                        "No current revocation information for a certificate of the path",
                    )
                )
                continue
            if status.revoked_at is None:
                continue
            revoked_at = status.revoked_at
            revocation_time = (
                revoked_at if revocation_time is None else min(revocation_time, revoked_at)
            )
            is_leaf = subject is chain[0]
            if poe is not None and poe < revoked_at:
                warnings.append(
                    "A certificate of the path was revoked after the proven signing time"
                )
            elif (
                poe is not None
                and claimed_signing_time is not None
                and claimed_signing_time >= revoked_at
            ):
                findings.append(
                    Finding(
                        SubIndication.REVOKED,
                        "The signature was made after the certificate was revoked",
                    )
                )
            elif is_leaf:
                findings.append(
                    Finding(
                        SubIndication.REVOKED_NO_POE,
                        "The certificate is revoked and no time-stamp proves the signature "
                        "existed before",
                    )
                )
            else:
                findings.append(
                    Finding(
                        SubIndication.REVOKED_CA_NO_POE,
                        "A CA of the path is revoked and no time-stamp proves the signature "
                        "existed before",
                    )
                )
    return ChainAssessment(
        chain, tuple(findings + constraints), revocation_time, tuple(warnings), weak_key
    )
