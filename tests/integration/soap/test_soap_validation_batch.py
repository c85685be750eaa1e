"""ValidationService.ValidateSignatures over the real server: one report per document, in order.

The batch form of ValidateSignature (issue 18): good, tampered and unparsable documents side by
side, each with its own report and the caller's name echoed; more documents than configured is
a LimitExceeded fault, never a partial answer.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
import zeep

from gateway.config import Settings
from gateway.domain.clock import FixedClock
from gateway.signatures import sign_cades

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres


def _client(gateway: RunningGateway) -> zeep.Client:
    return zeep.Client(gateway.base_url + "/ValidationService?wsdl",
                       wsse=gateway.signer("company"))


def _cades(gateway: RunningGateway, content: bytes, *, detached: bool = False) -> bytes:
    credential = gateway.pki.client("person")
    return sign_cades(content, credential.private_key(), credential.certificate(),
                      detached=detached, clock=FixedClock(datetime.now(UTC)))


def test_each_document_gets_its_own_report_in_order(gateway: RunningGateway) -> None:
    tampered = bytearray(_cades(gateway, b"acuse de recibo"))
    tampered[tampered.find(b"acuse")] ^= 0x01
    reports = _client(gateway).service.ValidateSignatures(document=[
        {"name": "good.p7m", "document": _cades(gateway, b"acuse")},
        {"name": "tampered.p7m", "document": bytes(tampered)},
        {"name": "noise.bin", "document": os.urandom(256)},
        {"name": "contract.txt.p7s", "document": _cades(gateway, b"contrato", detached=True),
         "detachedContent": b"contrato", "format": "CAdES"},
    ])
    assert [(r.name, r.result.indication, r.result.subIndication) for r in reports] == [
        ("good.p7m", "TOTAL_PASSED", None),
        ("tampered.p7m", "TOTAL_FAILED", "HASH_FAILURE"),
        ("noise.bin", "TOTAL_FAILED", "FORMAT_FAILURE"),
        ("contract.txt.p7s", "TOTAL_PASSED", None),
    ]
    assert reports[0].result.etsiReport


def test_more_documents_than_configured_is_a_limit_fault(gateway: RunningGateway) -> None:
    limit = Settings().max_validation_documents
    with pytest.raises(zeep.exceptions.Fault) as refused:
        _client(gateway).service.ValidateSignatures(
            document=[{"document": b"x"} for _ in range(limit + 1)])
    assert "LimitExceeded" in refused.value.code
    assert f"at most {limit} documents" in refused.value.message
