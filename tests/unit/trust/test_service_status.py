"""Service status histories of trusted-list anchors (``gateway.trust.service_status``): the status
in force at a time, and hostile or broken records refused rather than trusted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import AuthenticationError
from gateway.signatures.policy import SignaturePolicy
from gateway.trust.certificates import TrustStore
from gateway.trust.service_status import ServiceStatusHistory

T0 = datetime(2020, 1, 1, tzinfo=UTC)
GRANTED = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted"
WITHDRAWN = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn"


def _certificate() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(T0).not_valid_after(T0 + timedelta(days=3650))
            .sign(key, hashes.SHA256()))


CA = _certificate()
FINGERPRINT = CA.fingerprint(hashes.SHA256()).hex()


def _write(folder: Path, history: object, name: str = "a.json") -> None:
    (folder / name).write_text(json.dumps({"sha256": FINGERPRINT, "history": history}))


def test_the_status_in_force_at_a_time(tmp_path: Path) -> None:
    _write(tmp_path, [
        {"status": GRANTED, "since": T0.isoformat(), "trusted": True},
        {"status": WITHDRAWN, "since": (T0 + timedelta(days=10)).isoformat(), "trusted": False},
        {"status": GRANTED, "since": (T0 + timedelta(days=20)).isoformat(), "trusted": True},
    ])
    history = ServiceStatusHistory.from_directory(tmp_path)
    assert history.status_at(CA, T0 - timedelta(seconds=1)).trusted is False  # before any status
    granted = history.status_at(CA, T0 + timedelta(days=1))
    assert granted.trusted and granted.until == T0 + timedelta(days=10)
    assert history.status_at(CA, T0 + timedelta(days=10)).trusted is False
    assert history.status_at(CA, T0 + timedelta(days=25)).trusted is True
    assert history.status_at(CA, T0 + timedelta(days=25)).until is None
    # An anchor without a recorded history is not judged here.
    assert history.status_at(_certificate(), T0) is None
    assert ServiceStatusHistory.from_directory(tmp_path / "absent").status_at(CA, T0) is None


@pytest.mark.parametrize("history", [
    [{"status": GRANTED, "since": "yesterday", "trusted": True}],
    [{"status": GRANTED, "since": "2020-01-01T00:00:00", "trusted": True}],  # naive
    [{"status": GRANTED, "trusted": True}],
    "granted",
])
def test_broken_records_are_refused(tmp_path: Path, history: object) -> None:
    _write(tmp_path, history)
    with pytest.raises(ValueError, match="a.json"):
        ServiceStatusHistory.from_directory(tmp_path)


def test_a_record_that_is_not_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(ValueError, match="a.json"):
        ServiceStatusHistory.from_directory(tmp_path)


@given(st.lists(st.tuples(st.integers(0, 1000), st.booleans()), min_size=1, max_size=8),
       st.integers(-10, 1100))
def test_the_latest_status_started_by_then_decides(tmp_path_factory, periods, offset) -> None:
    folder = tmp_path_factory.mktemp("h")
    _write(folder, [{"status": GRANTED if trusted else WITHDRAWN,
                     "since": (T0 + timedelta(days=day)).isoformat(), "trusted": trusted}
                    for day, trusted in periods])
    at = T0 + timedelta(days=offset)
    started = [trusted for day, trusted in sorted(periods, key=lambda p: p[0]) if day <= offset]
    verdict = ServiceStatusHistory.from_directory(folder).status_at(CA, at)
    assert verdict is not None and verdict.trusted is (started[-1] if started else False)


def test_dated_key_sizes_take_the_nearest_date_below_the_key() -> None:
    policy = SignaturePolicy(weak_algorithms_until=(
        ("rsa-1024", T0), ("rsa-1536", T0), ("ec-160", T0), ("sha1", T0)))
    assert policy.key_name("rsa", 1024) == "rsa-1024"
    assert policy.key_name("rsa", 1800) == "rsa-1536"
    assert policy.key_name("rsa", 768) == "rsa-768"  # no date covers it: refused outright
    assert policy.key_name("ec", 192) == "ec-160"
    assert policy.key_name("dsa", 2048) == "dsa-2048"


def test_the_trust_store_follows_the_status_even_with_a_refusal_remembered() -> None:
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LISTED CA")])
    usage = {"key_encipherment": False, "data_encipherment": False, "key_agreement": False,
             "encipher_only": False, "decipher_only": False}
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(2)
          .not_valid_before(T0 - timedelta(days=1)).not_valid_after(T0 + timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_cert_sign=True, crl_sign=True, **usage), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SIGNER")]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(3)
            .not_valid_before(T0 - timedelta(days=1)).not_valid_after(T0 + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    granted_at = T0 + timedelta(days=1)
    withdrawn_at = granted_at + timedelta(minutes=2)
    history = ServiceStatusHistory({ca.fingerprint(hashes.SHA256()).hex(): (
        (granted_at, True, GRANTED), (withdrawn_at, False, WITHDRAWN))})
    trust = TrustStore([], extra_anchors=[ca], service_history=history)
    with pytest.raises(AuthenticationError):  # before the service was granted
        trust.validate(leaf, granted_at - timedelta(minutes=1), check_revocation=False)
    # One minute later it is granted: the refusal above is not reused (its window ends there).
    chain = trust.validate(leaf, granted_at + timedelta(seconds=30), check_revocation=False)
    assert chain.certificates[-1] == ca
    # Nor is the success reused once the service is withdrawn, a minute later.
    with pytest.raises(AuthenticationError):
        trust.validate(leaf, withdrawn_at + timedelta(seconds=1), check_revocation=False)
