"""Issue 14 acceptance: WSS4J 1.6 (Debian ``libwss4j-java``) signing with IssuerSerial, SKI,
Thumbprint and X509KeyIdentifier is accepted by a real ``gateway serve`` for a certificate
enrolled with ``gateway certs enrol``, refused (``CERTIFICATE_UNKNOWN``) for one that is not, and
refused again once ``gateway certs revoke`` ended the enrolment. An embedded
BinarySecurityToken needs no enrolment, as before.

The Java program (``wss4j_keyref/KeyRefCall.java``) is compiled and run here with the system's
Java 17; nothing is downloaded. ``scripts/lib/env.sh`` (``ensure_test_peers``) installs the
Debian packages; if they are missing the test fails saying which -- never a skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from java_peers import debian_classpath

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

JAVA_SOURCE = Path(__file__).with_name("wss4j_keyref") / "KeyRefCall.java"
JARS = ("wss4j", "xmlsec", "commons-logging", "slf4j-api", "commons-codec")
REFERENCES = ("IssuerSerial", "SKI", "Thumbprint", "X509KeyIdentifier")
CODE = re.compile(r"<(?:\w+:)?code>([A-Z_]+)</(?:\w+:)?code>")


def classpath() -> str:
    return debian_classpath(JARS, "the WSS4J key-reference test", "libwss4j-java")


@pytest.fixture(scope="module")
def gw(start_gateway: Any, default_seed: Any) -> Iterator[RunningGateway]:
    with start_gateway(default_seed) as running:
        yield running


@pytest.fixture(scope="module")
def java(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    cp = classpath()
    classes = tmp_path_factory.mktemp("wss4j-keyref")
    subprocess.run(["javac", "-nowarn", "-d", str(classes), "-cp", cp, str(JAVA_SOURCE)],
                   check=True, capture_output=True, timeout=300)
    return classes, cp


def cli(gateway: RunningGateway, *argv: str) -> subprocess.CompletedProcess[str]:
    pki_dir = gateway.pki.directory
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment.update({"GATEWAY_DATABASE_URL": gateway.database_url,
                        "GATEWAY_DATA_DIR": str(pki_dir.parent),
                        "GATEWAY_PKI_DIR": str(pki_dir)})
    return subprocess.run([sys.executable, "-m", "gateway.cli", *argv], env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


def call(gateway: RunningGateway, client: tuple[Path, str], work: Path, name: str,
         reference: str) -> tuple[int, str | None]:
    """(HTTP status, fault code or None) of one GetOfficialTime signed by ``name``."""
    classes, cp = client
    store = work / f"{name}.p12"
    if not store.exists():
        credential = gateway.pki.client(name)
        store.write_bytes(pkcs12.serialize_key_and_certificates(
            b"client", credential.private_key(), credential.certificate(), None,
            BestAvailableEncryption(b"changeit")))
    result = subprocess.run(
        ["java", "-cp", f"{classes}:{cp}", "KeyRefCall", f"{gateway.base_url}/NotificationService",
         str(store), "changeit", "client", reference],
        check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    first, _, body = result.stdout.partition("\n")
    status = int(first.removeprefix("STATUS "))
    found = CODE.search(body)
    if status == 200:
        assert "GetOfficialTimeResponse" in body, body[-2000:]
    return status, found.group(1) if found else None


def test_wss4j_key_references_are_accepted_only_for_enrolled_certificates(
        gw: RunningGateway, java: tuple[Path, str], tmp_path: Path) -> None:
    # An embedded token, today's path, needs no enrolment.
    assert call(gw, java, tmp_path, "person", "BST") == (200, None)
    # Nothing enrolled yet: every other reference is an unknown certificate.
    for reference in REFERENCES:
        status, code = call(gw, java, tmp_path, "company", reference)
        assert (status, code) != (200, None), reference
        assert code == "CERTIFICATE_UNKNOWN", (reference, status, code)

    pem = tmp_path / "company.pem"
    pem.write_bytes(gw.pki.client("company").cert_path.read_bytes())
    enrolled = cli(gw, "certs", "enrol", str(pem), "--principal", gw.pki.company_cif,
                   "--by", "acceptance-test")
    assert enrolled.returncode == 0, enrolled.stderr
    fingerprint = json.loads(enrolled.stdout.splitlines()[-1])["fingerprint"]
    listed = cli(gw, "certs", "list")
    assert fingerprint in listed.stdout

    for reference in REFERENCES:
        assert call(gw, java, tmp_path, "company", reference) == (200, None), reference
        # Enrolling the company does not let anybody else refer to a certificate.
        assert call(gw, java, tmp_path, "person", reference)[1] == "CERTIFICATE_UNKNOWN"

    revoked = cli(gw, "certs", "revoke", fingerprint, "--by", "acceptance-test")
    assert revoked.returncode == 0, revoked.stderr
    for reference in REFERENCES:
        assert call(gw, java, tmp_path, "company", reference)[1] == "CERTIFICATE_UNKNOWN"
    assert call(gw, java, tmp_path, "company", "BST") == (200, None)

    verified = cli(gw, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
