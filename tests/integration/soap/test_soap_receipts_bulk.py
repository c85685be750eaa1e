"""The acknowledgement workflow at batch size, end to end (issue 5, first acceptance point).

A gateway of its own (PostgreSQL, two gunicorn workers) holding 500 pending notifications and
a few overdue ones for the demo company. zeep lists them, prepares one acknowledgement for all
500, signs it with XAdES, submits it; every item is ACCEPTED, every content download matches
the sha256 the client signed, and the server's receipt validates with our ValidationService
and with Debian's xmlsec1. Overdue notifications never release content.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from lxml import etree
from receipt_answers import outcomes_of

from gateway import namespaces as ns
from gateway.domain.clock import SystemClock
from gateway.pki import DemoPki
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.signatures import sign_xades_enveloped

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

PENDING = 500
OVERDUE = 3
R = f"{{{ns.RECEIPT}}}"
XADES_SIGNED_PROPERTIES = "http://uri.etsi.org/01903/v1.3.2#:SignedProperties"


def batch_for_the_company(pki: DemoPki, now: datetime) -> list[PublicationRequest]:
    def item(reference: str, index: int, made_available_at: datetime) -> PublicationRequest:
        return PublicationRequest(
            issuer="TGSS", issuer_reference=reference, kind="NOTIFICATION",
            procedure="Reclamación de deuda", subject=f"Expediente {index}",
            recipient=pki.company_cif, ccc=None, category="NORMAL",
            documents=(DocumentInput(f"{reference}.txt", "text/plain",
                                     f"Resolución {index}\n".encode() * 20),),
            made_available_at=made_available_at)

    pending = [item(f"BULK-{i:04d}", i, now - timedelta(hours=2)) for i in range(PENDING)]
    overdue = [item(f"LATE-{i:04d}", i, now - timedelta(days=30)) for i in range(OVERDUE)]
    return pending + overdue


@pytest.fixture(scope="module")
def bulk(start_gateway: Callable[[Any], AbstractContextManager[RunningGateway]]
         ) -> Iterator[RunningGateway]:
    with start_gateway(batch_for_the_company) as running:
        yield running


def list_all(client: zeep.Client, status: str) -> list[Any]:
    items, cursor = [], None
    while True:
        page = client.service.ListNotifications(status=status, cursor=cursor, pageSize=1000)
        assert page.count == len(page.item)  # an empty page is a page, not null
        items += page.item
        cursor = page.nextCursor
        if not cursor:
            return items


def test_five_hundred_accepted_with_one_signature(bulk: RunningGateway, tmp_path: Path) -> None:
    client = bulk.client("company")
    pending = list_all(client, "AVAILABLE")
    ids = [item.id for item in pending]
    assert len(ids) == PENDING

    prepared = client.service.PrepareReceipt(id=ids, decision="ACCEPT")
    signed_hashes = {
        int(item.get("notificationId")): item.find(f"{R}Document").get("sha256")
        for item in etree.fromstring(prepared.receipt).iter(f"{R}Item")}
    credential = bulk.pki.client("company")
    signed = sign_xades_enveloped(prepared.receipt, credential.private_key(),
                                  credential.certificate(), clock=SystemClock())
    receipt = client.service.SubmitReceipt(signedReceipt=signed)

    assert outcomes_of(receipt) == dict.fromkeys(ids, "ACCEPTED")
    assert list_all(client, "AVAILABLE") == []
    for notification_id in ids:
        content = client.service.GetContent(id=notification_id)
        assert hashlib.sha256(content.data).hexdigest() == signed_hashes[notification_id]

    validation = zeep.Client(bulk.base_url + "/ValidationService?wsdl", wsse=bulk.signer())
    report = validation.service.ValidateSignature(document=receipt.signedReceipt)
    assert report.indication == "TOTAL_PASSED"
    assert report.signature[0].signer.principal == bulk.pki.server_cif

    (tmp_path / "receipt.xml").write_bytes(receipt.signedReceipt)
    checked = subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(bulk.pki.root_ca.cert_path),
         "--untrusted-pem", str(bulk.pki.issuing_ca.cert_path),
         "--id-attr:Id", XADES_SIGNED_PROPERTIES, str(tmp_path / "receipt.xml")],
        capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout + checked.stderr


def test_expired_notifications_never_release_content(bulk: RunningGateway, gw_code: Any) -> None:
    client = bulk.client("company")
    overdue = list_all(client, "EXPIRED")
    assert len(overdue) == OVERDUE  # overdue before any sweep: the deadline decides
    for item in overdue:
        with pytest.raises(zeep.exceptions.Fault) as fault:
            client.service.GetContent(id=item.id)
        assert gw_code(fault.value) == "NOT_ACCEPTED"
    prepared_late = [item.id for item in overdue]
    with pytest.raises(zeep.exceptions.Fault) as fault:
        client.service.PrepareReceipt(id=prepared_late, decision="ACCEPT")
    assert gw_code(fault.value) in {"NOT_PENDING", "EXPIRED"}
