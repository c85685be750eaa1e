"""ValidationService over the real server, and ``gateway validate`` on files.

The engine is tested format by format in tests/integration/signatures; here we check what a
caller of the port and an operator of the command see.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import xmlsec_xades
import zeep
from lxml import etree

from gateway import cli
from gateway.domain.clock import FixedClock
from gateway.signatures import sign_cades

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

ETSI = "{http://uri.etsi.org/19102/v1.2.1#}"


def _validation_client(gateway: RunningGateway, name: str = "company") -> zeep.Client:
    return zeep.Client(gateway.base_url + "/ValidationService?wsdl", wsse=gateway.signer(name))


def _cades(gateway: RunningGateway, content: bytes) -> bytes:
    credential = gateway.pki.client("person")
    return sign_cades(content, credential.private_key(), credential.certificate(),
                      detached=False, clock=FixedClock(datetime.now(UTC)))


def test_a_valid_cades_signature_passes_with_its_signer_mapped(gateway: RunningGateway) -> None:
    result = _validation_client(gateway).service.ValidateSignature(
        document=_cades(gateway, b"acuse de recibo"))
    assert result.indication == "TOTAL_PASSED"
    assert result.format == "CAdES"
    signature = result.signature[0]
    assert signature.signer.principal == gateway.pki.person_nif
    assert signature.signedObject and signature.signedObject[0].coversWholeDocument
    report = etree.fromstring(result.etsiReport)
    assert report.find(f".//{ETSI}MainIndication").text.endswith("total-passed")


def test_a_tampered_signature_is_reported_not_faulted(gateway: RunningGateway) -> None:
    signed = bytearray(_cades(gateway, b"acuse de recibo"))
    at = signed.find(b"acuse")
    signed[at] ^= 0x01  # one byte of the signed content
    result = _validation_client(gateway).service.ValidateSignature(document=bytes(signed))
    assert (result.indication, result.subIndication) == ("TOTAL_FAILED", "HASH_FAILURE")


def test_random_bytes_are_a_format_failure(gateway: RunningGateway) -> None:
    result = _validation_client(gateway).service.ValidateSignature(document=os.urandom(512))
    assert (result.indication, result.subIndication) == ("TOTAL_FAILED", "FORMAT_FAILURE")


def test_the_port_is_behind_the_same_gate(gateway: RunningGateway) -> None:
    with pytest.raises(zeep.exceptions.Fault) as refused:
        _validation_client(gateway, "untrusted").service.ValidateSignature(document=b"x")
    assert refused.value.code.endswith("FailedAuthentication")


def test_validate_command_prints_json_and_etsi_xml(gateway: RunningGateway, tmp_path: Any,
                                                   capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("GATEWAY_PKI_DIR", str(gateway.pki.directory))
    signed = tmp_path / "ack.p7m"
    signed.write_bytes(_cades(gateway, b"acuse"))
    assert cli.main(["validate", str(signed)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indication"] == "TOTAL_PASSED"

    assert cli.main(["validate", "--format", "etsi-xml", str(signed)]) == 0
    xml = etree.fromstring(capsys.readouterr().out.encode())
    assert xml.find(f".//{ETSI}MainIndication") is not None

    broken = tmp_path / "broken.p7m"
    broken.write_bytes(b"not a signature")
    assert cli.main(["validate", str(broken)]) == 3
    assert json.loads(capsys.readouterr().out)["sub_indication"] == "FORMAT_FAILURE"


def test_validate_signature_takes_several_detached_documents(gateway: RunningGateway) -> None:
    files = {"annex 1.xml": b"<annex>one</annex>", "docs/contract.pdf": b"%PDF- two"}
    signed = xmlsec_xades.detached(gateway.pki.client("person"), files)
    service = _validation_client(gateway).service
    documents = [{"name": name, "content": content} for name, content in reversed(files.items())]
    result = service.ValidateSignature(document=signed, detachedDocument=documents)
    assert (result.indication, result.subIndication) == ("TOTAL_PASSED", None)
    assert [o.identifier for o in result.signature[0].signedObject][:2] == [
        "annex%201.xml", "docs/contract.pdf"]
    result = service.ValidateSignature(document=signed, detachedDocument=documents[:1])
    assert (result.indication, result.subIndication) == ("INDETERMINATE", "SIGNED_DATA_NOT_FOUND")
    documents[0]["content"] = b"%PDF- Two"
    result = service.ValidateSignature(document=signed, detachedDocument=documents)
    assert (result.indication, result.subIndication) == ("TOTAL_FAILED", "HASH_FAILURE")


def test_validate_command_takes_several_detached_documents(
        gateway: RunningGateway, tmp_path: Any, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("GATEWAY_PKI_DIR", str(gateway.pki.directory))
    files = {"annex 1.xml": b"<annex>one</annex>", "docs/contract.pdf": b"%PDF- two"}
    (tmp_path / "docs").mkdir()
    (tmp_path / "ack.xsig").write_bytes(
        xmlsec_xades.detached(gateway.pki.client("person"), files))
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    arguments = ["validate", str(tmp_path / "ack.xsig"),
                 "--detached", str(tmp_path / "docs" / "contract.pdf"),
                 "--detached", str(tmp_path / "annex 1.xml")]
    assert cli.main(arguments) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["indication"] == "TOTAL_PASSED"
    assert [o["identifier"] for o in report["signatures"][0]["signed_data_objects"]][:2] == [
        "annex%201.xml", "docs/contract.pdf"]
    assert cli.main(arguments[:4]) == 3  # the annex left out
    assert json.loads(capsys.readouterr().out)["sub_indication"] == "SIGNED_DATA_NOT_FOUND"
    (tmp_path / "annex 1.xml").write_bytes(b"<annex>One</annex>")
    assert cli.main(arguments) == 3
    assert json.loads(capsys.readouterr().out)["sub_indication"] == "HASH_FAILURE"
