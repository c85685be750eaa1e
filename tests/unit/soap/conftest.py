"""Fixtures of the in-process SOAP port tests (the doubles live in ``soap_doubles``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from soap_doubles import InProcessPort, StubQueries

from gateway.client.transport import ServerVerifyingSignature
from gateway.pki import DemoPki, generate_demo_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return generate_demo_pki(Path(tmp_path_factory.mktemp("soap-unit-pki")),
                             now=datetime.now(UTC))


@pytest.fixture
def port() -> Callable[..., InProcessPort]:
    """``port(queries, signed_by=pki)``: the port around ``queries``, signing when given a PKI."""

    def make(queries: StubQueries, signed_by: DemoPki | None = None) -> InProcessPort:
        return InProcessPort(queries, signed_by)

    return make


@pytest.fixture
def verify_signature(pki: DemoPki) -> Callable[[bytes], None]:
    """What the zeep client does with every response: check the server's signature (xmlsec)."""
    client = pki.client("company")
    verifier = ServerVerifyingSignature(client.key_path, client.cert_path, pki.server.cert_path)

    def verify(body: bytes) -> None:
        verifier.verify(etree.fromstring(body, etree.XMLParser(huge_tree=True)))

    return verify
