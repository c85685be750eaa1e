"""Fixtures for the signature-engine tests: one demo PKI per session, scenario trust stores.

``PKI_NOW`` (``sig_scenarios``) is the real current time: ``openssl cms`` and ``openssl ts`` stamp
signing times from the system clock, so the PKI is generated around it and validation happens an
hour later (``VALIDATION_TIME``). Scenarios that need other instants (revocation after signing,
expiry before validation) use their own certificates, CRLs and trust stores built here with the
demo CAs' keys.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sig_cms_vectors import BC_JARS
from sig_scenarios import PKI_NOW, ExpiresSoon, RevokedLater
from sig_vectors import SANTUARIO_JAR, Signer, issue_leaf, local_tsa, make_crl, trust_store

from gateway.pki import DemoPki, generate_demo_pki
from gateway.signatures import LocalTimeStampAuthority, SignaturePolicy
from gateway.trust.certificates import TrustStore


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = [
        tool
        for tool in ("xmlsec1", "openssl", "java", "javac", "qpdf", "pdfsig")
        if shutil.which(tool) is None
    ]
    if not SANTUARIO_JAR.is_file():
        missing.append("libxml-security-java")
    if not all(jar.is_file() for jar in BC_JARS):
        missing.append("libbcpkix-java")
    if missing:
        raise pytest.UsageError(
            f"the signature tests need {', '.join(missing)} (scripts/lib/env.sh "
            "ensure_test_peers installs xmlsec1, openssl, qpdf, poppler-utils, "
            "openjdk-17-jdk-headless, libxml-security-java and libbcpkix-java)"
        )


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return generate_demo_pki(Path(tmp_path_factory.mktemp("sig-pki")), now=PKI_NOW)


@pytest.fixture(scope="session")
def trust(pki: DemoPki) -> TrustStore:
    return TrustStore.from_directory(pki.trust_dir, pki.crl_dir)


@pytest.fixture(scope="session")
def policy() -> SignaturePolicy:
    return SignaturePolicy()


@pytest.fixture(scope="session")
def tsa(pki: DemoPki) -> LocalTimeStampAuthority:
    return local_tsa(pki, PKI_NOW)


@pytest.fixture(scope="session")
def signer(pki: DemoPki) -> Callable[[str], Signer]:
    """``signer("company")`` -> the demo client as a :class:`Signer`."""
    cache: dict[str, Signer] = {}

    def get(name: str) -> Signer:
        if name not in cache:
            cache[name] = Signer.from_credential(pki.client(name))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def revoked_later(pki: DemoPki) -> RevokedLater:
    person = Signer.from_credential(pki.client("person"))
    revoked_at = PKI_NOW + timedelta(days=2)
    validate_at = PKI_NOW + timedelta(days=5)
    crls = [
        make_crl(
            pki.issuing_ca,
            [(person.certificate.serial_number, revoked_at)],
            this_update=PKI_NOW + timedelta(days=3),
            next_update=PKI_NOW + timedelta(days=10),
        ),
        make_crl(
            pki.root_ca,
            [(pki.revoked_issuing_ca.certificate().serial_number, PKI_NOW - timedelta(days=1))],
            this_update=PKI_NOW + timedelta(days=3),
            next_update=PKI_NOW + timedelta(days=10),
        ),
    ]
    return RevokedLater(person, revoked_at, validate_at, trust_store(pki, crls))


@pytest.fixture(scope="session")
def expires_soon(pki: DemoPki, tmp_path_factory: pytest.TempPathFactory) -> ExpiresSoon:
    signer = issue_leaf(
        pki,
        tmp_path_factory.mktemp("short-lived"),
        "short-lived",
        not_before=PKI_NOW - timedelta(days=1),
        not_after=PKI_NOW + timedelta(days=3),
    )
    # The demo CRLs are current until PKI_NOW + 7 days, so the demo trust store serves.
    return ExpiresSoon(signer, PKI_NOW + timedelta(days=5))
