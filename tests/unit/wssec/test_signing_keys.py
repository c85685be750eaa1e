"""Which key signs a response at an instant, and what a worker does with a schedule it cannot
use (``gateway.wssec.signing_keys``)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.domain.server_certificates import ScheduledCertificate
from gateway.errors import InvalidRequest, ServiceUnavailable
from gateway.wssec.signing_keys import SigningKeys, load_credential, pem_bundle

NOW = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


def _credential(directory: Path, name: str) -> tuple[bytes, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - timedelta(days=30))
                   .not_valid_after(NOW + timedelta(days=365)).sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / f"{name}.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return certificate.public_bytes(serialization.Encoding.DER), key_path


def _scheduled(der: bytes, key_path: Path, active_from: datetime) -> ScheduledCertificate:
    return ScheduledCertificate(hashlib.sha256(der).hexdigest(), der, str(key_path),
                                active_from, NOW - timedelta(days=1))


class Schedule:
    """The database as the worker sees it: a list, or an outage."""

    def __init__(self, entries: Sequence[ScheduledCertificate] = ()) -> None:
        self.entries = list(entries)
        self.down = False
        self.reads = 0

    def __call__(self) -> list[ScheduledCertificate]:
        self.reads += 1
        if self.down:
            raise ServiceUnavailable("down")
        return self.entries


@pytest.fixture
def credentials(tmp_path: Path) -> dict[str, tuple[bytes, Path]]:
    return {name: _credential(tmp_path, name) for name in ("configured", "second", "third")}


def test_the_clock_picks_the_key_and_the_next_is_announced(
        credentials: dict[str, tuple[bytes, Path]]) -> None:
    configured = load_credential(*credentials["configured"])
    second_at, third_at = NOW + timedelta(days=7), NOW + timedelta(days=60)
    schedule = Schedule([_scheduled(*credentials["third"], third_at),
                         _scheduled(*credentials["second"], second_at)])
    keys = SigningKeys(configured, schedule)
    before = keys.announcement(NOW)
    assert before.current.fingerprint == configured.fingerprint
    assert before.next is not None and before.next.active_from == second_at
    assert keys.at(second_at - timedelta(microseconds=1)).fingerprint == configured.fingerprint
    assert keys.at(second_at).active_from == second_at  # from the instant itself
    after = keys.announcement(second_at + timedelta(days=1))
    assert after.current.active_from == second_at
    assert after.next is not None and after.next.active_from == third_at
    assert keys.at(third_at + timedelta(days=1)).active_from == third_at
    bundle = pem_bundle(before).decode()
    assert bundle.count("-----BEGIN CERTIFICATE-----") == 2
    assert f"# active-from: {second_at.isoformat()}" in bundle


def test_the_schedule_is_read_at_most_every_refresh_and_kept_through_an_outage(
        credentials: dict[str, tuple[bytes, Path]]) -> None:
    tick = [0.0]
    schedule = Schedule([_scheduled(*credentials["second"], NOW + timedelta(days=7))])
    keys = SigningKeys(load_credential(*credentials["configured"]), schedule, refresh_s=10.0,
                       monotonic=lambda: tick[0])
    for _ in range(5):
        keys.at(NOW)
    assert schedule.reads == 1
    schedule.down = True
    tick[0] = 11.0
    assert keys.announcement(NOW).next is not None  # the last schedule read, not nothing
    assert schedule.reads == 2


def test_a_key_this_host_cannot_use_is_skipped_loudly(
        credentials: dict[str, tuple[bytes, Path]], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    configured = load_credential(*credentials["configured"])
    der, _ = credentials["second"]
    _, wrong_key = credentials["third"]
    schedule = Schedule([_scheduled(der, wrong_key, NOW - timedelta(hours=1)),
                         _scheduled(credentials["third"][0], tmp_path / "missing.key",
                                    NOW - timedelta(minutes=1))])
    with caplog.at_level(logging.ERROR, logger="gateway.signing_keys"):
        keys = SigningKeys(configured, schedule)
        announced = keys.announcement(NOW)
    assert announced.current.fingerprint == configured.fingerprint and announced.next is None
    assert "not usable on this host" in caplog.text


def test_load_credential_refuses_a_key_that_is_not_the_certificates(
        credentials: dict[str, tuple[bytes, Path]]) -> None:
    der, _ = credentials["second"]
    with pytest.raises(InvalidRequest) as mismatch:
        load_credential(der, credentials["third"][1])
    assert mismatch.value.code == "KEY_MISMATCH"
    with pytest.raises(InvalidRequest) as garbage:
        load_credential(der[:40], credentials["second"][1])
    assert garbage.value.code == "CERTIFICATE_MALFORMED"
