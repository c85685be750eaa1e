"""Trust store: chains, validity, CRLs (leaf and intermediate), key usage and the result cache."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from wssec_builders import NOW, Refusal, assert_refused

from gateway.errors import AuthenticationError
from gateway.pki import DemoPki
from gateway.trust.certificates import TrustStore, check_signing_usage


def test_loads_anchors_intermediates_and_crls(trust_store: TrustStore, pki: DemoPki) -> None:
    assert trust_store.anchors == (pki.root_ca.certificate(),)
    chain = trust_store.validate(pki.client("company").certificate(), NOW)
    assert chain.certificates == (
        pki.client("company").certificate(),
        pki.issuing_ca.certificate(),
        pki.root_ca.certificate(),
    )
    # The verdict may not outlive the issuing CA's CRL.
    assert chain.valid_until == NOW + timedelta(days=7)
    assert chain.valid_from <= NOW


@pytest.mark.parametrize(
    "client, when, code",
    [
        ("untrusted", NOW, "CERTIFICATE_UNTRUSTED"),
        ("expired", NOW, "CERTIFICATE_EXPIRED"),
        ("revoked", NOW, "CERTIFICATE_REVOKED"),
        ("revoked_intermediate", NOW, "CERTIFICATE_REVOKED"),
        ("company", NOW - timedelta(days=3), "CERTIFICATE_NOT_YET_VALID"),
        ("company", NOW + timedelta(days=8), "REVOCATION_UNKNOWN"),  # CRL nextUpdate passed
        ("company", NOW + timedelta(days=800), "CERTIFICATE_EXPIRED"),
    ],
)
def test_refusals(
    trust_store: TrustStore, pki: DemoPki, client: str, when: datetime, code: str
) -> None:
    certificate = pki.client(client).certificate()
    assert_refused(
        lambda: trust_store.validate(certificate, when), Refusal(AuthenticationError, code)
    )


def test_revocation_can_be_switched_off(trust_store: TrustStore, pki: DemoPki) -> None:
    trust_store.validate(pki.client("revoked").certificate(), NOW, check_revocation=False)
    trust_store.validate(
        pki.client("company").certificate(), NOW + timedelta(days=8), check_revocation=False
    )


def test_missing_crl_only_fails_when_required(pki: DemoPki) -> None:
    store = TrustStore.from_directory(pki.trust_dir)  # no CRLs at all
    certificate = pki.client("revoked").certificate()
    store.validate(certificate, NOW)  # nothing says it is revoked
    assert_refused(
        lambda: store.validate(certificate, NOW, require_revocation_info=True),
        Refusal(AuthenticationError, "REVOCATION_UNKNOWN"),
    )


def test_results_are_cached_inside_their_window(
    pki: DemoPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TrustStore.from_directory(pki.trust_dir, pki.crl_dir)
    calls: list[datetime] = []
    original = store._validate_uncached

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args[1])  # type: ignore[arg-type]
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_validate_uncached", counting)
    certificate = pki.client("person").certificate()
    for minutes in range(5):
        store.validate(certificate, NOW + timedelta(minutes=minutes))
    assert len(calls) == 1
    # Past the CRL's nextUpdate the cached verdict is not used.
    assert_refused(
        lambda: store.validate(certificate, NOW + timedelta(days=8)),
        Refusal(AuthenticationError, "REVOCATION_UNKNOWN"),
    )
    assert len(calls) == 2
    # Failures are cached too, but only briefly.
    untrusted = pki.client("untrusted").certificate()
    for _ in range(3):
        assert_refused(
            lambda: store.validate(untrusted, NOW),
            Refusal(AuthenticationError, "CERTIFICATE_UNTRUSTED"),
        )
    assert len(calls) == 3
    assert_refused(
        lambda: store.validate(untrusted, NOW + timedelta(minutes=6)),
        Refusal(AuthenticationError, "CERTIFICATE_UNTRUSTED"),
    )
    assert len(calls) == 4


def test_cache_is_bounded(pki: DemoPki) -> None:
    store = TrustStore.from_directory(pki.trust_dir, pki.crl_dir, cache_size=2)
    for name in ("company", "person", "representative", "red_agent"):
        store.validate(pki.client(name).certificate(), NOW)
    assert len(store._cache) == 2


def test_crl_from_an_unknown_issuer_is_a_configuration_error(pki: DemoPki, tmp_path: Path) -> None:
    untrusted_ca = pki.untrusted_ca
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(untrusted_ca.certificate().subject)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=1))
        .sign(untrusted_ca.private_key(), hashes.SHA256())
    )
    (tmp_path / "evil.crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ValueError, match="not signed by a trusted CA"):
        TrustStore.from_directory(pki.trust_dir, tmp_path)


def test_a_trust_store_needs_an_anchor(pki: DemoPki) -> None:
    with pytest.raises(ValueError):
        TrustStore([pki.issuing_ca.certificate()])


def _certificate(
    subject: str,
    issuer_cert: x509.Certificate,
    issuer_key: object,
    *,
    ca: bool,
    path_length: int | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return certificate, key


def test_path_length_constraint_is_enforced(pki: DemoPki) -> None:
    """The issuing CA has pathLenConstraint 0: a sub-CA below it may not issue."""
    issuing = pki.issuing_ca
    sub_ca, sub_key = _certificate("Sub CA", issuing.certificate(), issuing.private_key(), ca=True)
    leaf, _ = _certificate("Leaf", sub_ca, sub_key, ca=False)
    store = TrustStore([pki.root_ca.certificate(), issuing.certificate(), sub_ca])
    assert_refused(
        lambda: store.validate(leaf, NOW), Refusal(AuthenticationError, "CERTIFICATE_UNTRUSTED")
    )


def test_an_end_entity_cannot_act_as_a_ca(pki: DemoPki) -> None:
    company = pki.client("company")
    forged, _ = _certificate("Forged", company.certificate(), company.private_key(), ca=False)
    store = TrustStore(
        [pki.root_ca.certificate(), pki.issuing_ca.certificate(), company.certificate()]
    )
    assert_refused(
        lambda: store.validate(forged, NOW), Refusal(AuthenticationError, "CERTIFICATE_UNTRUSTED")
    )


@pytest.mark.parametrize(
    "client, code",
    [("no_digital_signature", "CERTIFICATE_KEY_USAGE"), ("company", None), ("company_ec", None)],
)
def test_signing_key_usage(pki: DemoPki, client: str, code: str | None) -> None:
    certificate = pki.client(client).certificate()
    if code is None:
        check_signing_usage(certificate, min_rsa_key_bits=2048)
    else:
        assert_refused(
            lambda: check_signing_usage(certificate, min_rsa_key_bits=2048),
            Refusal(AuthenticationError, code),
        )


def test_weak_rsa_keys_are_refused(pki: DemoPki) -> None:
    assert_refused(
        lambda: check_signing_usage(pki.client("company").certificate(), min_rsa_key_bits=3072),
        Refusal(AuthenticationError, "KEY_TOO_WEAK"),
    )


def test_a_certificate_without_key_usage_is_refused(pki: DemoPki) -> None:
    issuing = pki.issuing_ca
    leaf, _ = _certificate("No KU", issuing.certificate(), issuing.private_key(), ca=False)
    assert_refused(
        lambda: check_signing_usage(leaf, min_rsa_key_bits=2048),
        Refusal(AuthenticationError, "CERTIFICATE_KEY_USAGE"),
    )
