"""Accept/reject with signed acknowledgements over the real server (PostgreSQL, two workers).

PrepareReceipt -> the caller signs (XAdES-BES enveloped with our signer, or CAdES detached made
by the openssl command line) -> SubmitReceipt -> the server-signed receipt, its CSV code and
GetReceipt. Hostile submissions must leave notification statuses and the receipt tables as
they were. Each test takes its own company notifications from the end of the seed (other
modules use the first ones and the RED account's), so the order of tests does not matter.
"""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import zeep
from lxml import etree
from receipt_answers import outcomes_of
from sqlalchemy import text

from gateway import namespaces as ns
from gateway.domain.clock import SystemClock
from gateway.domain.receipts import new_csv_code
from gateway.signatures import sign_xades_enveloped

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

R = f"{{{ns.RECEIPT}}}"
GUARDED_TABLES = ("notification", "receipt", "receipt_item", "registration_counter")


def pool(gateway: RunningGateway, start: int, stop: int) -> list[int]:
    """Company notifications reserved for one test (from the end of the seed)."""
    candidates = [item.id for item in gateway.seed.of(gateway.pki.company_cif)
                  if item.kind == "NOTIFICATION" and item.ccc != gateway.seed.ccc_red]
    return candidates[-120:][start:stop]


def prepare(gateway: RunningGateway, ids: list[int], decision: str = "ACCEPT",
            name: str = "company") -> Any:
    return gateway.client(name).service.PrepareReceipt(id=ids, decision=decision)


def xades(gateway: RunningGateway, document: bytes, name: str = "company") -> bytes:
    credential = gateway.pki.client(name)
    return sign_xades_enveloped(document, credential.private_key(), credential.certificate(),
                                clock=SystemClock())


def cades_detached_with_openssl(gateway: RunningGateway, document: bytes, tmp_path: Path) -> bytes:
    credential = gateway.pki.client("company")
    (tmp_path / "ack.xml").write_bytes(document)
    subprocess.run(
        ["openssl", "cms", "-sign", "-binary", "-md", "sha256", "-cades", "-outform", "DER",
         "-signer", str(credential.cert_path), "-inkey", str(credential.key_path),
         "-in", str(tmp_path / "ack.xml"), "-out", str(tmp_path / "ack.p7s")],
        check=True, capture_output=True)
    return (tmp_path / "ack.p7s").read_bytes()


def edited(document: bytes, edit: Any) -> bytes:
    root = etree.fromstring(document)
    edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def signed_hashes(document: bytes) -> dict[int, str]:
    root = etree.fromstring(document)
    return {int(item.get("notificationId")): item.find(f"{R}Document").get("sha256")
            for item in root.iter(f"{R}Item")}


def guarded(gateway: RunningGateway) -> dict[str, str]:
    return {name: digest for name, digest in gateway.snapshot().digests.items()
            if name in GUARDED_TABLES}


def validation_client(gateway: RunningGateway) -> zeep.Client:
    return zeep.Client(gateway.base_url + "/ValidationService?wsdl", wsse=gateway.signer())


def refused(gateway: RunningGateway, gw_code: Any, call: Any, code: str) -> None:
    before = guarded(gateway)
    with pytest.raises(zeep.exceptions.Fault) as fault:
        call()
    assert gw_code(fault.value) == code, fault.value.message
    assert guarded(gateway) == before


# --- the happy paths --------------------------------------------------------------------------


def test_accept_fifty_with_xades_then_content_receipt_and_code(gateway: RunningGateway) -> None:
    ids = pool(gateway, 0, 50)
    client = gateway.client("company")
    prepared = prepare(gateway, ids)
    assert prepared.expiresAt - prepared.issuedAt == timedelta(minutes=15)
    hashes = signed_hashes(prepared.receipt)
    assert list(hashes) == ids
    assert all(hashes[i] == gateway.seed.by_id(i).sha256 for i in ids)

    receipt = client.service.SubmitReceipt(signedReceipt=xades(gateway, prepared.receipt))

    # The company's ordinary items on one receipt, its special-category ones on another; both
    # certify the same acknowledgement, with consecutive numbers.
    receipts = [receipt, *receipt.otherReceipt]
    assert len(receipts) == 2
    assert sorted((o.notificationId, o.outcome) for r in receipts for o in r.item) == \
        [(i, "ACCEPTED") for i in sorted(ids)]
    specials = {i for i in ids if gateway.seed.by_id(i).category == "SPECIAL"}
    assert {o.notificationId for o in receipts[1].item} == specials
    assert {r.recipient for r in receipts} == {gateway.pki.company_cif}
    assert len({r.clientAckDigest for r in receipts}) == 1
    first_number = int(receipt.registrationNumber[5:])
    assert int(receipts[1].registrationNumber[5:]) == first_number + 1
    assert receipt.decision == "ACCEPT" and len(receipt.registrationNumber) == 14
    for notification_id in ids[:5]:
        assert client.service.GetNotification(id=notification_id).status == "ACCEPTED"
        content = client.service.GetContent(id=notification_id)
        assert hashlib.sha256(content.data).hexdigest() == hashes[notification_id]

    report = validation_client(gateway).service.ValidateSignature(document=receipt.signedReceipt)
    assert report.indication == "TOTAL_PASSED"
    server_receipt = etree.fromstring(receipt.signedReceipt)
    assert server_receipt.findtext(f"{R}RegistrationNumber") == receipt.registrationNumber
    assert server_receipt.findtext(f"{R}CsvCode") == receipt.csvCode

    by_number = client.service.GetReceipt(registrationNumber=receipt.registrationNumber)
    by_item = client.service.GetReceipt(notificationId=ids[7])
    assert by_number.signedReceipt == by_item.signedReceipt == receipt.signedReceipt

    verified = validation_client(gateway).service.VerifyDocumentCode(
        code=receipt.csvCode.lower().replace("-", " "))
    assert verified.found and verified.registrationNumber == receipt.registrationNumber
    assert verified.sha256 == hashlib.sha256(receipt.signedReceipt).hexdigest()
    assert verified.issuedAt == receipt.issuedAt


def test_accept_with_cades_detached_made_by_openssl(gateway: RunningGateway,
                                                    tmp_path: Path) -> None:
    ids = pool(gateway, 50, 60)
    prepared = prepare(gateway, ids)
    signature = cades_detached_with_openssl(gateway, prepared.receipt, tmp_path)
    receipt = gateway.client("company").service.SubmitReceipt(
        signedReceipt=signature, detachedContent=prepared.receipt)
    assert outcomes_of(receipt) == dict.fromkeys(ids, "ACCEPTED")
    report = validation_client(gateway).service.ValidateSignature(document=receipt.signedReceipt)
    assert report.indication == "TOTAL_PASSED"


def test_reject_keeps_content_refused(gateway: RunningGateway, gw_code: Any) -> None:
    ids = pool(gateway, 60, 65)
    prepared = prepare(gateway, ids, "REJECT")
    receipt = gateway.client("company").service.SubmitReceipt(
        signedReceipt=xades(gateway, prepared.receipt))
    assert outcomes_of(receipt) == dict.fromkeys(ids, "REJECTED")
    client = gateway.client("company")
    assert client.service.GetNotification(id=ids[0]).status == "REJECTED"
    with pytest.raises(zeep.exceptions.Fault) as fault:
        client.service.GetContent(id=ids[0])
    assert gw_code(fault.value) == "NOT_ACCEPTED"


def test_resubmitting_the_same_signed_bytes_returns_the_original_receipt(
    gateway: RunningGateway, gw_code: Any
) -> None:
    ids = pool(gateway, 75, 78)
    signed = xades(gateway, prepare(gateway, ids).receipt)
    client = gateway.client("company")
    first = client.service.SubmitReceipt(signedReceipt=signed)
    before = guarded(gateway)
    again = client.service.SubmitReceipt(signedReceipt=signed)
    assert again.registrationNumber == first.registrationNumber
    assert again.signedReceipt == first.signedReceipt
    assert guarded(gateway) == before


def test_the_receipt_is_not_shown_to_others(gateway: RunningGateway, gw_code: Any) -> None:
    ids = pool(gateway, 78, 79)
    receipt = gateway.client("company").service.SubmitReceipt(
        signedReceipt=xades(gateway, prepare(gateway, ids).receipt))
    person = gateway.client("person")
    for call in (lambda: person.service.GetReceipt(registrationNumber=receipt.registrationNumber),
                 lambda: person.service.GetReceipt(notificationId=ids[0])):
        with pytest.raises(zeep.exceptions.Fault) as fault:
            call()
        assert gw_code(fault.value) in ("RECEIPT_NOT_FOUND", "NOT_FOUND")


def test_the_companys_representative_may_sign_for_it(gateway: RunningGateway) -> None:
    ids = pool(gateway, 79, 81)
    prepared = prepare(gateway, ids)
    receipt = gateway.client("company").service.SubmitReceipt(
        signedReceipt=xades(gateway, prepared.receipt, "representative"))
    assert outcomes_of(receipt) == dict.fromkeys(ids, "ACCEPTED")


# --- hostile submissions ----------------------------------------------------------------------


def test_an_acknowledgement_signed_by_someone_else_is_refused(gateway: RunningGateway,
                                                              gw_code: Any) -> None:
    prepared = prepare(gateway, pool(gateway, 65, 67))
    signed = xades(gateway, prepared.receipt, "person")
    refused(gateway, gw_code, lambda: gateway.client("company").service.SubmitReceipt(
        signedReceipt=signed), "SIGNER_NOT_CALLER")


def test_an_acknowledgement_altered_after_signing_is_refused(gateway: RunningGateway,
                                                             gw_code: Any) -> None:
    ids = pool(gateway, 65, 67)
    signed = xades(gateway, prepare(gateway, ids).receipt)
    wanted = gateway.seed.by_id(ids[0]).sha256
    tampered = signed.replace(wanted.encode(), ("0" * 64).encode())
    assert tampered != signed
    refused(gateway, gw_code, lambda: gateway.client("company").service.SubmitReceipt(
        signedReceipt=tampered), "HASH_FAILURE")


@pytest.mark.parametrize("change", ["removed", "added", "slipped_in", "hash"])
def test_items_changed_before_signing_are_refused(gateway: RunningGateway, gw_code: Any,
                                                  change: str) -> None:
    ids = pool(gateway, 67, 70)
    prepared = prepare(gateway, ids)
    stranger = next(item for item in gateway.seed.items if item.recipient not in (
        gateway.pki.company_cif,) and item.kind == "NOTIFICATION")

    def edit(root: etree._Element) -> None:
        items = list(root.iter(f"{R}Item"))
        if change == "removed":
            root.remove(items[-1])
        elif change in ("added", "slipped_in"):
            extra = pool(gateway, 70, 71)[0] if change == "added" else stranger.id
            sha = gateway.seed.by_id(extra).sha256
            item = etree.SubElement(root, f"{R}Item", notificationId=str(extra))
            etree.SubElement(item, f"{R}Document", position="0", role="MAIN", sha256=sha)
        else:
            items[0][0].set("sha256", "0" * 64)

    signed = xades(gateway, edited(prepared.receipt, edit))
    code = "HASH_MISMATCH" if change == "hash" else "ITEMS_MISMATCH"
    refused(gateway, gw_code, lambda: gateway.client("company").service.SubmitReceipt(
        signedReceipt=signed), code)


def test_preparing_someone_elses_notification_is_refused(gateway: RunningGateway,
                                                         gw_code: Any) -> None:
    stranger = next(item for item in gateway.seed.items
                    if item.recipient not in (gateway.pki.company_cif,))
    refused(gateway, gw_code, lambda: prepare(gateway, [*pool(gateway, 70, 72), stranger.id]),
            "NOT_FOUND")


def test_a_reused_nonce_is_refused(gateway: RunningGateway, gw_code: Any) -> None:
    ids = pool(gateway, 72, 74)
    prepared = prepare(gateway, ids)
    gateway.client("company").service.SubmitReceipt(signedReceipt=xades(gateway, prepared.receipt))
    signed_again = xades(gateway, prepared.receipt)  # a new signature over the used document
    refused(gateway, gw_code, lambda: gateway.client("company").service.SubmitReceipt(
        signedReceipt=signed_again), "NONCE_REUSED")


def test_an_expired_acknowledgement_is_refused(gateway: RunningGateway, gw_code: Any) -> None:
    prepared = prepare(gateway, pool(gateway, 74, 75))
    signed = xades(gateway, prepared.receipt)
    with gateway.engine.begin() as connection:  # the 15 minutes have passed
        connection.execute(text("UPDATE prepared_receipt SET expires_at = :at WHERE nonce = :n"),
                           {"at": datetime.now(UTC) - timedelta(seconds=1),
                            "n": prepared.nonce})
    refused(gateway, gw_code, lambda: gateway.client("company").service.SubmitReceipt(
        signedReceipt=signed), "ACK_EXPIRED")


def test_a_malformed_code_is_a_fault_and_an_unknown_one_is_not_found(
    gateway: RunningGateway, gw_code: Any
) -> None:
    client = validation_client(gateway)
    with pytest.raises(zeep.exceptions.Fault) as fault:
        client.service.VerifyDocumentCode(code="ABCD-EFGH")
    assert gw_code(fault.value) == "MALFORMED_CSV"
    unknown = client.service.VerifyDocumentCode(code=new_csv_code())
    assert unknown.found is False and unknown.sha256 is None
