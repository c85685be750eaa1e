"""A rotation scheduled with ``gateway pki rotate`` against a real ``gateway serve`` (two
workers, PostgreSQL): every worker announces the next certificate on both routes while the
current one keeps signing, and the batch agent learns it and warns before the activation.
(Crossing the activation instant is tested with a controlled clock in
``tests/integration/test_server_certificate_rotation.py``: a real server's clock cannot be
moved, and nothing here sleeps.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
import zeep
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

REPOSITORY = Path(__file__).resolve().parents[3]
ACTIVATION = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)


@pytest.fixture(scope="module")
def rotating(tmp_path_factory: pytest.TempPathFactory, launch_gateway: Any,
             default_seed: Any) -> Iterator[tuple[RunningGateway, Path]]:
    with launch_gateway(tmp_path_factory.mktemp("rotating"), default_seed) as gateway:
        yield gateway, _next_certificate(tmp_path_factory.mktemp("next"))


def _next_certificate(directory: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "notess-gateway 2027")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=400)).sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return directory


def _cli(gateway: RunningGateway, *argv: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment.update({"GATEWAY_DATABASE_URL": gateway.database_url,
                        "GATEWAY_DATA_DIR": str(gateway.log_path.parent),
                        "GATEWAY_PKI_DIR": str(gateway.pki.directory),
                        "PYTHONPATH": str(REPOSITORY)})
    return subprocess.run([sys.executable, "-m", "gateway.cli", *argv], env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


def _sha256(path: Path) -> str:
    return x509.load_pem_x509_certificate(path.read_bytes()).fingerprint(hashes.SHA256()).hex()


def test_every_worker_announces_the_next_certificate(
        rotating: tuple[RunningGateway, Path], tmp_path: Path) -> None:
    gateway, following = rotating
    # Scheduled before any worker signed anything: each reads the schedule on first use.
    scheduled = _cli(gateway, "pki", "rotate", "--next", str(following / "cert.pem"),
                     "--key", str(following / "key.pem"), "--at", ACTIVATION.isoformat(),
                     "--by", "ops@example")
    assert scheduled.returncode == 0, scheduled.stderr
    current, upcoming = _sha256(gateway.pki.server.cert_path), _sha256(following / "cert.pem")

    for _ in range(8):  # new connections: both workers answer some
        bundle = requests.get(gateway.base_url + "/server-certificates", timeout=10,
                              headers={"Connection": "close"})
        assert [c.fingerprint(hashes.SHA256()).hex()
                for c in x509.load_pem_x509_certificates(bundle.content)] == [current, upcoming]
        fresh = zeep.Client(gateway.wsdl_url, wsse=gateway.signer("person"))  # verified
        entries = fresh.service.GetServerCertificates()
        assert [(str(e.role), e.sha256, e.activeFrom) for e in entries] == [
            ("CURRENT", current, None), ("NEXT", upcoming, ACTIVATION)]

    # The batch agent learns it over a verified response and says when it takes over.
    agent = subprocess.run(
        [sys.executable, str(REPOSITORY / "client_examples" / "batch_agent.py"),
         "--url", gateway.service_url,
         "--cert", str(gateway.pki.client("person").cert_path),
         "--key", str(gateway.pki.client("person").key_path),
         "--server-cert", str(gateway.pki.server.cert_path),
         "--archive", str(tmp_path / "archive"), "--no-progress"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)})
    assert agent.returncode == 0, agent.stderr[-3000:]
    assert f"new certificate from {ACTIVATION.isoformat()}" in agent.stderr
    assert upcoming in agent.stderr
    assert _cli(gateway, "audit", "verify").returncode == 0
