"""GetReceipt(format=PDF) over the real server (PostgreSQL, two workers): the justificante is a
PDF signed with PAdES by the server key, time-stamped by the local TSA (the demo PKI has one, so
level B-T); it passes our validator (over SOAP) and pyHanko's, shows the registration number and
the CSV code as text, and one changed byte breaks it. Uses company notifications 90..93 of the
pool test_soap_receipts.py draws from (it uses 0..81).
"""

from __future__ import annotations

from io import BytesIO
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from gateway.domain.clock import SystemClock
from gateway.signatures import sign_xades_enveloped

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import RunningGateway

pytestmark = pytest.mark.postgres


def _ids(gateway: RunningGateway) -> list[int]:
    candidates = [item.id for item in gateway.seed.of(gateway.pki.company_cif)
                  if item.kind == "NOTIFICATION" and item.ccc != gateway.seed.ccc_red]
    return candidates[-120:][90:93]


def _asn1(path: Path) -> asn1_x509.Certificate:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _page_contents(pdf: bytes) -> bytes:
    """Every page's decoded content streams (the renderer writes them uncompressed anyway)."""
    reader = PdfFileReader(BytesIO(pdf))
    found = []
    for kid in reader.root["/Pages"]["/Kids"]:
        contents = kid.get_object()["/Contents"]
        for stream in contents if isinstance(contents, list) else [contents]:
            found.append(stream.get_object().data)
    return b"".join(found)


@pytest.fixture(scope="module")
def issued(gateway: RunningGateway) -> Any:
    client = gateway.client("company")
    prepared = client.service.PrepareReceipt(id=_ids(gateway), decision="ACCEPT")
    credential = gateway.pki.client("company")
    signed = sign_xades_enveloped(prepared.receipt, credential.private_key(),
                                  credential.certificate(), clock=SystemClock())
    return client.service.SubmitReceipt(signedReceipt=signed)


def _validation_client(gateway: RunningGateway) -> zeep.Client:
    return zeep.Client(gateway.base_url + "/ValidationService?wsdl", wsse=gateway.signer())


def test_pdf_is_signed_time_stamped_and_passes_both_validators(gateway: RunningGateway,
                                                                issued: Any) -> None:
    result = gateway.client("company").service.GetReceipt(
        registrationNumber=issued.registrationNumber, format="PDF")
    assert result.signedReceipt == issued.signedReceipt  # the XML record is still returned
    pdf = result.pdf
    assert pdf.startswith(b"%PDF-")

    report = _validation_client(gateway).service.ValidateSignature(document=pdf)
    assert (report.indication, report.format) == ("TOTAL_PASSED", "PAdES"), report
    (signature,) = report.signature
    assert signature.level == "PAdES-BASELINE-T"
    assert signature.signedObject[0].coversWholeDocument

    context = ValidationContext(
        trust_roots=[_asn1(gateway.pki.root_ca.cert_path)],
        other_certs=[_asn1(gateway.pki.issuing_ca.cert_path)],
        allow_fetching=False, revocation_mode="soft-fail")
    embedded = PdfFileReader(BytesIO(pdf)).embedded_signatures[0]
    status = validate_pdf_signature(embedded, context, ts_validation_context=context)
    assert status.intact and status.valid and status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.valid

    text = _page_contents(pdf)
    assert issued.registrationNumber.encode() in text
    assert issued.csvCode.encode() in text
    assert issued.clientAckDigest.encode() in text
    assert all(str(i).encode() in text for i in _ids(gateway))


def test_one_changed_byte_in_the_signed_pdf_fails(gateway: RunningGateway, issued: Any) -> None:
    pdf = gateway.client("company").service.GetReceipt(
        registrationNumber=issued.registrationNumber, format="PDF").pdf
    at = pdf.index(issued.csvCode.encode())
    tampered = pdf[:at] + (b"Z" if pdf[at:at + 1] != b"Z" else b"Y") + pdf[at + 1:]
    report = _validation_client(gateway).service.ValidateSignature(document=tampered)
    assert (report.indication, report.subIndication) == ("TOTAL_FAILED", "HASH_FAILURE")


def test_by_notification_and_default_format(gateway: RunningGateway, issued: Any) -> None:
    client = gateway.client("company")
    by_item = client.service.GetReceipt(notificationId=_ids(gateway)[1], format="PDF")
    assert issued.csvCode.encode() in _page_contents(by_item.pdf)
    assert client.service.GetReceipt(registrationNumber=issued.registrationNumber).pdf is None
    assert client.service.GetReceipt(registrationNumber=issued.registrationNumber,
                                     format="XML").pdf is None


def test_the_pdf_is_not_shown_to_others(gateway: RunningGateway, issued: Any,
                                        gw_code: Any) -> None:
    with pytest.raises(zeep.exceptions.Fault) as fault:
        gateway.client("person").service.GetReceipt(
            registrationNumber=issued.registrationNumber, format="PDF")
    assert gw_code(fault.value) == "RECEIPT_NOT_FOUND"
