"""``GetEvidence`` (issue 17) against a real ``gateway serve``: an item's life, signed by the
server, checked by ``gateway validate`` and by Debian's ``xmlsec1``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from lxml import etree
from sqlalchemy import func, select

from gateway import namespaces as ns
from gateway.domain.clock import SystemClock
from gateway.signatures import sign_xades_enveloped
from gateway.store.engine import url_with_schema

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

PATH = "/IssuerService"
EV = f"{{{ns.EVIDENCE}}}"
GW = f"{{{ns.FAULT_DETAIL}}}"
XADES_SIGNED_PROPERTIES = "http://uri.etsi.org/01903/v1.3.2#:SignedProperties"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def gw(start_gateway: Any, default_seed: Any) -> Iterator[RunningGateway]:
    with start_gateway(default_seed) as running:
        with running.engine.connect() as connection:
            schema = connection.execute(select(func.current_schema())).scalar_one()
        url = url_with_schema(os.environ.get(
            "GATEWAY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
            schema)
        for issuer, cif in (("TGSS", running.pki.issuer_tgss_cif),
                            ("INSS", running.pki.issuer_inss_cif)):
            completed = subprocess.run(
                [sys.executable, "-m", "gateway.cli", "issuers", "add", issuer, cif],
                env={**os.environ, "GATEWAY_DATABASE_URL": url}, capture_output=True,
                text=True, check=False, cwd=ROOT)
            assert completed.returncode == 0, completed.stderr
        yield running


def issuer(gw: RunningGateway, name: str = "issuer_tgss") -> zeep.Client:
    return zeep.Client(gw.base_url + PATH + "?wsdl", wsse=gw.signer(name))


def publish(gw: RunningGateway, reference: str) -> int:
    answer = issuer(gw).service.PublishNotifications(item=[{
        "issuerReference": reference, "kind": "NOTIFICATION", "procedure": "Apremio",
        "subject": f"Providencia {reference}", "recipient": gw.pki.company_cif,
        "mainDocument": {"name": "acto.pdf", "content": b"%PDF-1.4 acto " + reference.encode()},
    }])
    return int(answer.item[0].id)


def events(xml: bytes) -> list[tuple[str, str | None]]:
    root = etree.fromstring(xml)
    return [(e.get("type") or "", e.get("actedBy"))
            for e in root.iterfind(f"{EV}Events/{EV}Event")]


def gateway_validate(gw: RunningGateway, path: Path) -> dict[str, Any]:
    data_dir = gw.log_path.parent
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    completed = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "validate", "--format", "jsonl", str(path)],
        env={**environment, "GATEWAY_DATA_DIR": str(data_dir),
             "GATEWAY_PKI_DIR": str(data_dir / "pki")},
        capture_output=True, text=True, check=False, cwd=ROOT)
    report: dict[str, Any] = json.loads(completed.stdout.splitlines()[0])
    report["exit"] = completed.returncode
    return report


def xmlsec1_verifies(gw: RunningGateway, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(gw.pki.root_ca.cert_path),
         "--untrusted-pem", str(gw.pki.issuing_ca.cert_path),
         "--id-attr:Id", XADES_SIGNED_PROPERTIES, str(path)],
        capture_output=True, text=True, check=False)


def test_the_evidence_follows_the_item_and_validates(gw: RunningGateway,
                                                     tmp_path: Path) -> None:
    notification_id = publish(gw, "EV-1")
    tgss = issuer(gw)
    first = tgss.service.GetEvidence(issuerReference="EV-1")
    assert (first.id, first.status) == (notification_id, "AVAILABLE")
    assert events(first.evidence) == [("MADE_AVAILABLE", None)]

    company = gw.client("company")
    company.service.GetNotification(id=notification_id)  # the first access
    prepared = company.service.PrepareReceipt(id=[notification_id], decision="ACCEPT")
    credential = gw.pki.client("company")
    signed = sign_xades_enveloped(prepared.receipt, credential.private_key(),
                                  credential.certificate(), clock=SystemClock())
    receipt = company.service.SubmitReceipt(signedReceipt=signed)

    answer = tgss.service.GetEvidence(issuerReference="EV-1")
    assert answer.status == "ACCEPTED"
    assert events(answer.evidence) == [("MADE_AVAILABLE", None),
                                       ("ACCESSED", gw.pki.company_cif),
                                       ("ACCEPTED", gw.pki.company_cif)]
    root = etree.fromstring(answer.evidence)
    on_receipt = root.find(f"{EV}Receipt")
    assert on_receipt is not None
    assert on_receipt.get("registrationNumber") == receipt.registrationNumber
    assert on_receipt.get("sha256") == hashlib.sha256(receipt.signedReceipt).hexdigest()
    document = root.find(f"{EV}Documents/{EV}Document")
    assert document is not None
    assert document.get("sha256") == hashlib.sha256(b"%PDF-1.4 acto EV-1").hexdigest()

    xml, pdf = tmp_path / "evidence.xml", tmp_path / "evidence.pdf"
    xml.write_bytes(answer.evidence)
    pdf.write_bytes(answer.evidencePdf)
    checked = xmlsec1_verifies(gw, xml)
    assert checked.returncode == 0 and "OK" in checked.stdout + checked.stderr, checked.stderr
    for path in (xml, pdf):
        report = gateway_validate(gw, path)
        assert (report["indication"], report["exit"]) == ("TOTAL_PASSED", 0), report

    # One changed fact and neither verifier accepts it.
    forged = tmp_path / "forged.xml"
    forged.write_bytes(answer.evidence.replace(b'type="ACCEPTED"', b'type="REJECTED"'))
    assert xmlsec1_verifies(gw, forged).returncode != 0
    assert gateway_validate(gw, forged)["indication"] == "TOTAL_FAILED"


def test_another_issuers_item_is_unknown(gw: RunningGateway) -> None:
    publish(gw, "EV-2")
    for client, reference in ((issuer(gw, "issuer_inss"), "EV-2"), (issuer(gw), "EV-NEVER")):
        snapshot = gw.snapshot()
        with pytest.raises(zeep.exceptions.Fault) as caught:
            client.service.GetEvidence(issuerReference=reference)
        assert caught.value.detail.findtext(f"{GW}error/{GW}code") == "UNKNOWN_REFERENCE"
        assert [e for e, _ in gw.audit_since(snapshot)] == []
    with pytest.raises(zeep.exceptions.Fault) as caught:
        zeep.Client(gw.base_url + PATH + "?wsdl", wsse=gw.signer("company")).service.GetEvidence(
            issuerReference="EV-2")
    assert caught.value.detail.findtext(f"{GW}error/{GW}code") == "NOT_AN_ISSUER"
