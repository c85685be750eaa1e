"""The trust store: certificate path validation and revocation (RFC 5280 §6, §6.3).

Path building and signature checks are delegated to ``cryptography.x509.verification`` (pyca's
Rust validator, tested against x509-limbo), with our own extension policies instead of the Web PKI
defaults, because those require a subjectAltName and a TLS EKU that qualified signing
certificates (ETSI EN 319 412-2) do not carry:

* CA certificates must have basicConstraints ``cA=TRUE``; keyUsage, when present, must allow
  ``keyCertSign``; ``pathLenConstraint`` is checked on the returned chain.
* The leaf may carry any extension; the gate checks its key usage itself
  (:func:`check_signing_usage`).

What the pyca validator does not do, we do here: CRL revocation of the leaf and of every
intermediate (RFC 5280 §6.3, full CRLs only: no delta CRLs, no indirect CRLs). A CRL is
consulted for a certificate when its issuer has one configured; a stale CRL (``nextUpdate`` passed)
fails closed (``REVOCATION_UNKNOWN``). OCSP responses placed next to the CRLs (``*.ocsp``, DER,
each authenticated by a trusted CA when loaded) are held for the signature engine
(``ocsp_responses``, judged with ``gateway.trust.revocation``); the WS-Security gate's check stays
on CRLs, unchanged.

Layout: every PEM file under the trust directory is read; self-signed certificates are the
anchors, the others are intermediates that must themselves chain to an anchor (and are checked
against the anchor's CRL). Every certificate under ``tl/`` is an anchor, self-signed or not: the
services an EU trusted list grants (``gateway trust import-tl``, ``gateway.trust.trusted_lists``),
each counting only while its service is granted by the status history recorded with it
(``gateway.trust.service_status``: a path validated at a time its service was withdrawn is
``CERTIFICATE_UNTRUSTED``). CRL files (PEM or DER) must be signed by one of those CAs, else loading
fails: a CRL we cannot authenticate is a configuration error, not a soft failure.

Results -- good and bad -- are cached per (fingerprint, revocation settings) and an entry is only
used inside the window in which the same answer is certain: never before the latest notBefore /
thisUpdate / service status change it relied on nor after the earliest notAfter / nextUpdate /
next status change; failures for at most
``failure_cache_ttl``. The cache is bounded (LRU) so a flood of distinct certificates cannot grow
it. A new ``TrustStore`` (reloaded CRLs) starts with an empty cache.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from gateway.errors import AuthenticationError
from gateway.trust.revocation import load_ocsp_response, responds_for
from gateway.trust.service_status import NO_SERVICE_HISTORY, ServiceStatusHistory

MAX_CHAIN_DEPTH = 4
"""Intermediates allowed between leaf and anchor (real Spanish PKIs use one or two)."""


@dataclass(frozen=True, slots=True)
class ValidatedChain:
    """A certificate path from the leaf (first) to a trusted anchor (last), valid at a time."""

    certificates: tuple[x509.Certificate, ...]
    valid_from: datetime
    """Earliest instant at which this verdict holds (latest notBefore / CRL thisUpdate)."""
    valid_until: datetime
    """Instant after which it must be recomputed (earliest notAfter / CRL nextUpdate)."""

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]


@dataclass(frozen=True, slots=True)
class _Refusal:
    code: str
    message: str

    def error(self) -> AuthenticationError:
        return AuthenticationError(self.message, code=self.code)


@dataclass(frozen=True, slots=True)
class _Entry:
    verdict: ValidatedChain | _Refusal
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class _Crl:
    crl: x509.CertificateRevocationList
    issuer: x509.Certificate


def _is_self_signed(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _require_ca(policy: Policy, certificate: x509.Certificate, extension: object) -> None:
    if not isinstance(extension, x509.BasicConstraints) or not extension.ca:
        raise ValueError("issuer is not a CA")


def _ca_key_usage(policy: Policy, certificate: x509.Certificate, extension: object) -> None:
    if isinstance(extension, x509.KeyUsage) and not extension.key_cert_sign:
        raise ValueError("issuer key usage does not allow certificate signing")


def _load_pem_certificates(path: Path) -> list[x509.Certificate]:
    return list(x509.load_pem_x509_certificates(path.read_bytes()))


def _load_crl(path: Path) -> x509.CertificateRevocationList:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def check_signing_usage(certificate: x509.Certificate, *, min_rsa_key_bits: int) -> None:
    """The leaf must allow digitalSignature (RFC 5280 §4.2.1.3) and have a strong enough key.

    WS-Security authenticates a message, which is digitalSignature; nonRepudiation
    (contentCommitment) alone is for signing documents and is not enough. A certificate without
    a keyUsage extension is refused too: every qualified certificate profile requires one.
    """
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise AuthenticationError(
            "The certificate may not be used for message signatures", code="CERTIFICATE_KEY_USAGE"
        ) from exc
    if not usage.digital_signature:
        raise AuthenticationError(
            "The certificate may not be used for message signatures", code="CERTIFICATE_KEY_USAGE"
        )
    public_key = certificate.public_key()
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < min_rsa_key_bits:
        raise AuthenticationError("The certificate key is too weak", code="KEY_TOO_WEAK")
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.key_size < 256:
        raise AuthenticationError("The certificate key is too weak", code="KEY_TOO_WEAK")


class TrustStore:
    """Trusted anchors, their intermediates and CRLs, with a bounded, time-aware result cache."""

    def __init__(
        self,
        certificates: Iterable[x509.Certificate],
        crls: Iterable[x509.CertificateRevocationList] = (),
        *,
        max_chain_depth: int = MAX_CHAIN_DEPTH,
        cache_size: int = 4096,
        failure_cache_ttl: timedelta = timedelta(minutes=5),
        ocsp_responses: Iterable[ocsp.OCSPResponse] = (),
        extra_anchors: Iterable[x509.Certificate] = (),
        service_history: ServiceStatusHistory = NO_SERVICE_HISTORY,
    ) -> None:
        self.service_history = service_history
        """Status histories of the anchors taken from trusted lists (``service_status``)."""
        pool = list(certificates)
        explicit = list(extra_anchors)
        self._anchors = [cert for cert in pool if _is_self_signed(cert)]
        self._anchors += [cert for cert in explicit if cert not in self._anchors]
        if not self._anchors:
            raise ValueError("the trust store needs at least one self-signed CA certificate")
        self._intermediates = [
            cert for cert in pool if not _is_self_signed(cert) and cert not in self._anchors
        ]
        self._store = Store(self._anchors)
        self._max_chain_depth = max_chain_depth
        ca_policy = (
            ExtensionPolicy.permit_all()
            .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _require_ca)
            .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _ca_key_usage)
        )
        self._builder = (
            PolicyBuilder()
            .store(self._store)
            .max_chain_depth(max_chain_depth)
            .extension_policies(ca_policy=ca_policy, ee_policy=ExtensionPolicy.permit_all())
        )
        self._crls: dict[x509.Name, list[_Crl]] = {}
        for crl in crls:
            issuer = self._crl_issuer(crl)
            self._crls.setdefault(crl.issuer, []).append(_Crl(crl, issuer))
        self._ocsp = tuple(ocsp_responses)
        for response in self._ocsp:
            if not any(responds_for(response, ca) for ca in self._anchors + self._intermediates):
                raise ValueError("an OCSP response is not signed for a trusted CA")
        self._cache: OrderedDict[tuple[str, bool, bool], _Entry] = OrderedDict()
        self._cache_size = cache_size
        self._failure_ttl = failure_cache_ttl
        self._lock = threading.Lock()

    @classmethod
    def from_directory(
        cls,
        trust_dir: Path,
        crl_dir: Path | None = None,
        *,
        max_chain_depth: int = MAX_CHAIN_DEPTH,
        cache_size: int = 4096,
        failure_cache_ttl: timedelta = timedelta(minutes=5),
    ) -> TrustStore:
        """Load ``trust_dir/*.pem`` (CA certificates), ``trust_dir/tl/*.pem`` (anchors from
        trusted lists) and ``crl_dir/*`` (CRLs, PEM or DER; ``*.ocsp``: DER OCSP responses)."""
        certificates = [
            cert
            for path in sorted(trust_dir.glob("*.pem"))
            for cert in _load_pem_certificates(path)
        ]
        listed = [
            cert
            for path in sorted((trust_dir / "tl").glob("*.pem"))
            for cert in _load_pem_certificates(path)
        ]
        crls = []
        responses = []
        if crl_dir is not None and crl_dir.is_dir():
            files = [path for path in sorted(crl_dir.iterdir()) if path.is_file()]
            crls = [_load_crl(path) for path in files if path.suffix.lower() != ".ocsp"]
            responses = [
                load_ocsp_response(path.read_bytes())
                for path in files
                if path.suffix.lower() == ".ocsp"
            ]
        return cls(
            certificates,
            crls,
            max_chain_depth=max_chain_depth,
            cache_size=cache_size,
            failure_cache_ttl=failure_cache_ttl,
            ocsp_responses=responses,
            extra_anchors=listed,
            service_history=ServiceStatusHistory.from_directory(trust_dir / "tl"),
        )

    def _crl_issuer(self, crl: x509.CertificateRevocationList) -> x509.Certificate:
        for ca in self._anchors + self._intermediates:
            if ca.subject == crl.issuer and crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]  # CA keys are RSA/EC
                return ca
        raise ValueError(f"CRL of {crl.issuer.rfc4514_string()} is not signed by a trusted CA")

    @property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        return tuple(self._anchors)

    def crls_for(self, issuer: x509.Certificate) -> list[x509.CertificateRevocationList]:
        """The authenticated CRLs held for certificates issued by ``issuer``."""
        return [entry.crl for entry in self._crls.get(issuer.subject, ()) if entry.issuer == issuer]

    @property
    def ocsp_responses(self) -> tuple[ocsp.OCSPResponse, ...]:
        """The OCSP responses of the trust directory (each signed for one of its CAs)."""
        return self._ocsp

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Trust anchors and the intermediates loaded with them."""
        return (*self.anchors, *self._intermediates)

    def validate(
        self,
        certificate: x509.Certificate,
        now: datetime,
        *,
        fingerprint: str | None = None,
        check_revocation: bool = True,
        require_revocation_info: bool = False,
    ) -> ValidatedChain:
        """Validate ``certificate`` at ``now``; raise ``AuthenticationError`` with a stable code.

        Codes: ``CERTIFICATE_EXPIRED``, ``CERTIFICATE_NOT_YET_VALID``, ``CERTIFICATE_UNTRUSTED``,
        ``CERTIFICATE_REVOKED``, ``REVOCATION_UNKNOWN``.
        """
        key = (
            fingerprint or certificate.fingerprint(hashes.SHA256()).hex(),
            check_revocation,
            require_revocation_info,
        )
        entry = self._cache.get(key)
        if entry is not None:
            # Lock-free hit path: another thread may evict the key in between, which is fine.
            try:
                self._cache.move_to_end(key)
            except KeyError:
                pass
        if entry is None or not entry.valid_from <= now < entry.valid_until:
            entry = self._compute(certificate, now, check_revocation, require_revocation_info)
            with self._lock:
                self._cache[key] = entry
                self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        if isinstance(entry.verdict, _Refusal):
            raise entry.verdict.error()
        return entry.verdict

    def _compute(
        self,
        certificate: x509.Certificate,
        now: datetime,
        check_revocation: bool,
        require_revocation_info: bool,
    ) -> _Entry:
        try:
            chain = self._validate_uncached(
                certificate, now, check_revocation, require_revocation_info
            )
        except AuthenticationError as exc:
            until = now + self._failure_ttl
            if exc.code == "CERTIFICATE_NOT_YET_VALID":
                until = min(until, certificate.not_valid_before_utc)
            elif exc.code == "CERTIFICATE_UNTRUSTED" and self.service_history:
                change = self.service_history.next_change_after(now)
                until = until if change is None else min(until, change)
            return _Entry(_Refusal(exc.code, exc.message), now, until)
        return _Entry(chain, chain.valid_from, chain.valid_until)

    def _validate_uncached(
        self,
        certificate: x509.Certificate,
        now: datetime,
        check_revocation: bool,
        require_revocation_info: bool,
    ) -> ValidatedChain:
        # Judge the leaf's own validity first so expired and not-yet-valid get their own codes.
        if now >= certificate.not_valid_after_utc:
            raise AuthenticationError("The certificate has expired", code="CERTIFICATE_EXPIRED")
        if now < certificate.not_valid_before_utc:
            raise AuthenticationError(
                "The certificate is not valid yet", code="CERTIFICATE_NOT_YET_VALID"
            )
        verifier = self._builder.time(now).build_client_verifier()
        try:
            chain = tuple(verifier.verify(certificate, self._intermediates).chain)
        except VerificationError as exc:
            raise AuthenticationError(
                "The certificate is not issued by a trusted authority",
                code="CERTIFICATE_UNTRUSTED",
            ) from exc
        self._check_path_lengths(chain)
        valid_from = max(cert.not_valid_before_utc for cert in chain)
        valid_until = min(cert.not_valid_after_utc for cert in chain)
        service = self.service_history.status_at(chain[-1], now)
        if service is not None:
            # A trusted-list anchor counts while its service is granted (TS 119 612 §5.6).
            if not service.trusted:
                raise AuthenticationError(
                    "The trusted list does not grant the authority's service at this time",
                    code="CERTIFICATE_UNTRUSTED",
                )
            valid_from = max(valid_from, service.since or valid_from)
            valid_until = min(valid_until, service.until or valid_until)
        if check_revocation:
            for subject, issuer in itertools.pairwise(chain):
                crl_from, crl_until = self._check_revocation(
                    subject, issuer, now, require_revocation_info
                )
                valid_from = max(valid_from, crl_from)
                valid_until = min(valid_until, crl_until)
        return ValidatedChain(chain, valid_from, valid_until)

    @staticmethod
    def _check_path_lengths(chain: tuple[x509.Certificate, ...]) -> None:
        # chain[i] for i >= 1 is a CA with i - 1 intermediate CAs below it in this path.
        for position, ca in enumerate(chain[1:], start=1):
            constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
            if constraints.path_length is not None and position - 1 > constraints.path_length:
                raise AuthenticationError(
                    "The certificate is not issued by a trusted authority",
                    code="CERTIFICATE_UNTRUSTED",
                )

    def _check_revocation(
        self,
        certificate: x509.Certificate,
        issuer: x509.Certificate,
        now: datetime,
        require_revocation_info: bool,
    ) -> tuple[datetime, datetime]:
        candidates = [
            entry.crl for entry in self._crls.get(certificate.issuer, ()) if entry.issuer == issuer
        ]
        if not candidates:
            if require_revocation_info:
                raise AuthenticationError(
                    "The revocation status of the certificate is unknown",
                    code="REVOCATION_UNKNOWN",
                )
            return now, datetime.max.replace(tzinfo=now.tzinfo)
        newest = max(candidates, key=lambda crl: crl.last_update_utc)
        next_update = newest.next_update_utc
        if newest.last_update_utc > now or (next_update is not None and next_update <= now):
            raise AuthenticationError(
                "The revocation status of the certificate is unknown", code="REVOCATION_UNKNOWN"
            )
        if any(
            crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None
            for crl in candidates
        ):
            raise AuthenticationError(
                "The certificate has been revoked", code="CERTIFICATE_REVOKED"
            )
        return newest.last_update_utc, next_update or datetime.max.replace(tzinfo=now.tzinfo)
