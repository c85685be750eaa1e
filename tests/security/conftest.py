"""Fixtures for the WS-Security tests: one demo PKI per session, a fresh gate per test.

Envelope builders and lineage signers are in ``wssec_builders`` (importable by test modules).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from wssec_builders import NOW, build_envelope, lineage_sign, serialise, zeep_sign

from gateway.domain.clock import FixedClock
from gateway.pki import DemoPki, generate_demo_pki
from gateway.trust.certificates import TrustStore
from gateway.wssec import InMemoryNonceStore, WsSecurityGate, WsSecurityPolicy


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return generate_demo_pki(Path(tmp_path_factory.mktemp("wssec-pki")), now=NOW)


@pytest.fixture(scope="session")
def trust_store(pki: DemoPki) -> TrustStore:
    return TrustStore.from_directory(pki.trust_dir, pki.crl_dir)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def policy() -> WsSecurityPolicy:
    return WsSecurityPolicy()


@pytest.fixture
def nonce_store() -> InMemoryNonceStore:
    return InMemoryNonceStore()


@pytest.fixture
def gate(
    policy: WsSecurityPolicy,
    trust_store: TrustStore,
    nonce_store: InMemoryNonceStore,
    clock: FixedClock,
) -> WsSecurityGate:
    return WsSecurityGate(policy, trust_store, nonce_store, clock)


@pytest.fixture
def signed_request(pki: DemoPki) -> Callable[..., bytes]:
    """``signed_request(lineage="zeep", client="company", **envelope_options) -> bytes``."""

    def make(lineage: str = "zeep", client: str = "company", **options: object) -> bytes:
        envelope = build_envelope(
            timestamp_default_namespace=lineage == "node-soap",
            **options,  # type: ignore[arg-type]
        )
        credential = pki.client(client)
        if lineage == "zeep":
            zeep_sign(envelope, credential)
        else:
            lineage_sign(envelope, credential, lineage)
        return serialise(envelope)

    return make
