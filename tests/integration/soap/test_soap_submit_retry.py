"""Issue 14: a signing call stays exactly-once when its answer is lost.

The batch agent's ``Service`` talks to a gateway of its own through ``BreakingProxy``, which lets
``SubmitReceipt`` reach the server, lets the server register it and answer 200, and then cuts
that answer short (what a worker killed while writing looks like). The agent asks again with the
same signed acknowledgement bytes (a fresh WS-Security envelope around them) and gets the
receipt the server issued the first time: one receipt, one receipt item per notification.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from breaking_proxy import BreakingProxy
from sqlalchemy import text

from gateway.client.agent import AcknowledgementSigner
from gateway.client.receipts import verify_server_receipt
from gateway.client.service import Service

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

WSDL = Path(__file__).resolve().parents[3] / "wsdl" / "notification-service.wsdl"


@pytest.fixture(scope="module")
def own_gateway(start_gateway: Callable[..., AbstractContextManager[RunningGateway]],
                default_seed: Any) -> Iterator[RunningGateway]:
    with start_gateway(default_seed) as running:
        yield running


def test_a_submit_whose_answer_is_cut_is_sent_again_and_registered_once(
    own_gateway: RunningGateway,
) -> None:
    gw = own_gateway
    ids = [item.id for item in gw.seed.of(gw.pki.company_cif)
           if item.kind == "NOTIFICATION" and item.category == "NORMAL"][:3]
    host, port = gw.base_url.removeprefix("http://").split(":")
    proxy = BreakingProxy((host, int(port)), cut_answer_to=b"SubmitReceipt", marker_cut=300)
    company = gw.pki.client("company")
    try:
        service = Service(str(WSDL), proxy.url + "/NotificationService", company.cert_path,
                          company.key_path, gw.pki.server.cert_path, timeout=60)
        prepared = service.call("PrepareReceipt", id=ids, decision="ACCEPT")
        signed = AcknowledgementSigner(company.key_path, company.cert_path).sign(
            bytes(prepared.receipt))
        result = service.call("SubmitReceipt", signedReceipt=signed)
    finally:
        proxy.close()

    # The first answer was the server's 200 (registered), cut; the agent asked once more.
    assert proxy.cut_status == [b"HTTP/1.1 200 OK"]
    assert service.retried == 1
    sent = [match.group(1) for request in proxy.requests
            for match in re.finditer(rb"<\w+:signedReceipt>([^<]+)<", request)]
    assert len(sent) == 2 and sent[0] == sent[1]  # the same signed acknowledgement bytes...
    assert base64.b64decode(sent[0]) == signed
    values = [match.group(1) for request in proxy.requests
              for match in re.finditer(rb"SignatureValue>([^<]+)<", request)
              if b"SubmitReceipt" in request]
    assert len(set(values)) >= 2  # ...in WS-Security envelopes signed afresh

    receipt = verify_server_receipt(bytes(result.signedReceipt), gw.pki.server.certificate())
    assert {item_id for item_id, outcome in receipt.items if outcome == "ACCEPTED"} == set(ids)
    with gw.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT ri.notification_id, r.registration_number FROM receipt_item ri "
            "JOIN receipt r ON r.id = ri.receipt_id")).all()
    registered = [(item_id, number) for item_id, number in rows if item_id in ids]
    assert sorted(registered) == sorted((item_id, receipt.registration_number)
                                        for item_id in ids)
