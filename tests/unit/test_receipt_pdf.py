"""The PDF justificante (gateway.receipt_pdf) and its PAdES signature (ReceiptService.signed_pdf):
content, pagination of a 1,000-item receipt, determinism, and the signed copy judged by our
validator and by pyHanko's, with the tamper test. A small EC PKI built in memory keeps it fast.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from reportlab.pdfgen.canvas import Canvas

from gateway.domain.calendar import WorkingCalendar
from gateway.domain.clock import FixedClock
from gateway.domain.receipts import (
    MAX_RECEIPT_ITEMS,
    Decision,
    ItemOutcome,
    Outcome,
    RegistrationNumber,
    ServerReceipt,
    new_csv_code,
)
from gateway.receipt_pdf import (
    ISSUING_ADMINISTRATION,
    PROTECTED_SUBJECT,
    ROWS_FIRST_PAGE,
    VERIFICATION_SENTENCE,
    ItemLine,
    Justificante,
    page_count,
    render_receipt_pdf,
)
from gateway.services.receipts import ReceiptService
from gateway.signatures import (
    Indication,
    LocalTimeStampAuthority,
    SignatureFormat,
    SignaturePolicy,
    SubIndication,
    validate,
)
from gateway.trust.certificates import TrustStore

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # 10:30 in Madrid (CET)
DIGEST = "3f" * 32


def receipt(items: int = 3, **changes: Any) -> ServerReceipt:
    outcomes = (Outcome.ACCEPTED, Outcome.ALREADY_FINAL, Outcome.EXPIRED, Outcome.NOT_FOUND)
    fields: dict[str, Any] = {
        "registration_number": RegistrationNumber(2026, 123), "csv_code": new_csv_code(),
        "issued_at": NOW, "receipt_id": "ab" * 16, "signer": "B12345674",
        "decision": Decision.ACCEPT, "client_ack_digest": DIGEST,
        "items": tuple(ItemOutcome(500_000 + i, outcomes[i % len(outcomes)])
                       for i in range(items)),
    }
    fields.update(changes)
    return ServerReceipt(**fields)


def page_contents(pdf: bytes) -> list[bytes]:
    """The decoded content stream of every page (pyHanko reads; no text-extraction library)."""
    reader = PdfFileReader(BytesIO(pdf))
    pages = []
    node = reader.root["/Pages"]
    for kid in node["/Kids"]:
        contents = kid.get_object()["/Contents"]
        streams = contents if isinstance(contents, list) else [contents]
        pages.append(b"".join(s.get_object().data for s in streams))
    return pages


def shown(text: str) -> bytes:
    """How reportlab writes an ASCII string with the standard fonts: a literal ``(…) Tj``."""
    return b"(" + text.encode("ascii") + b") Tj"


# --- rendering ------------------------------------------------------------------------------


def test_the_justificante_says_what_the_receipt_certifies() -> None:
    content = receipt(4)
    pdf = render_receipt_pdf(content)
    assert pdf.startswith(b"%PDF-")
    (page,) = page_contents(pdf)
    for text in ("2026/000000123", content.csv_code, DIGEST, "B12345674", "ab" * 16,
                 "02/03/2026 10:30:00", "Europe/Madrid, UTC+01:00", "500000", "500003",
                 "Aceptada", "Plazo vencido", "No encontrada"):
        assert text.encode() in page, text
    assert shown(content.csv_code) in page
    assert b"/verify" in page and VERIFICATION_SENTENCE.startswith("Puede comprobar")
    # Uncompressed content: the registration number and the code are found in the raw bytes too.
    assert b"2026/000000123" in pdf and content.csv_code.encode() in pdf


def test_the_official_time_follows_summer_time() -> None:
    (page,) = page_contents(render_receipt_pdf(receipt(issued_at=datetime(2026, 7, 1, 22, 15,
                                                                          tzinfo=UTC))))
    assert b"02/07/2026 00:15:00" in page and b"UTC+02:00" in page


def test_rendering_is_deterministic() -> None:
    content = receipt(40)
    assert render_receipt_pdf(content) == render_receipt_pdf(content)
    assert render_receipt_pdf(content) != render_receipt_pdf(receipt(40, decision=Decision.REJECT))


def test_a_thousand_items_are_paginated_and_all_listed() -> None:
    content = receipt(MAX_RECEIPT_ITEMS)
    pages = page_contents(render_receipt_pdf(content))
    assert len(pages) == page_count(MAX_RECEIPT_ITEMS) > 10
    listed = b"".join(pages)
    assert all(shown(str(item.notification_id)) in listed for item in content.items)
    assert shown(str(content.items[ROWS_FIRST_PAGE].notification_id)) not in pages[0]
    assert shown(str(content.items[ROWS_FIRST_PAGE].notification_id)) in pages[1]
    total = len(pages)
    for number, page in enumerate(pages, start=1):  # every page names its receipt
        assert f"gina {number} de {total}) Tj".encode() in page  # "Página": \341 in WinAnsi
        assert b"2026/000000123" in page


@pytest.mark.parametrize(("items", "pages"), [
    (0, 1), (1, 1), (ROWS_FIRST_PAGE, 1), (ROWS_FIRST_PAGE + 1, 2),
])
def test_page_count_edges(items: int, pages: int) -> None:
    assert page_count(items) == pages
    assert len(page_contents(render_receipt_pdf(receipt(items)))) == pages


# --- signing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    root: x509.Certificate
    server_key: ec.EllipticCurvePrivateKey
    server: x509.Certificate
    tsa_key: ec.EllipticCurvePrivateKey
    tsa: x509.Certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "ES"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Unit Administration"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def pki() -> Pki:
    root_key = ec.generate_private_key(ec.SECP256R1())

    def certificate(name: str, key: ec.EllipticCurvePrivateKey, serial: int, *, ca: bool = False,
                    eku: bool = False, signs: bool = False) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder().subject_name(_name(name))
            .issuer_name(_name("Unit Receipt Root CA")).public_key(key.public_key())
            .serial_number(serial).not_valid_before(NOW - timedelta(days=10))
            .not_valid_after(NOW + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if signs:  # pyHanko's default key-usage policy wants non-repudiation on a PAdES signer
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        if eku:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        return builder.sign(root_key, hashes.SHA256())

    server_key, tsa_key = ec.generate_private_key(ec.SECP256R1()), \
        ec.generate_private_key(ec.SECP256R1())
    return Pki(certificate("Unit Receipt Root CA", root_key, 1, ca=True), server_key,
               certificate("Unit Gateway Server", server_key, 2, signs=True), tsa_key,
               certificate("Unit TSU", tsa_key, 3, eku=True))


def service(pki: Pki, *, tsa: bool) -> ReceiptService:
    clock = FixedClock(NOW + timedelta(minutes=5))

    def no_store() -> Any:
        raise AssertionError("render_signed_pdf must not touch the store")

    return ReceiptService(
        no_store, clock, WorkingCalendar(), SignaturePolicy(), TrustStore([pki.root]),
        pki.server_key, pki.server,
        tsa=LocalTimeStampAuthority(pki.tsa_key, pki.tsa, clock) if tsa else None)


@pytest.mark.parametrize(("tsa", "level"), [(True, "PAdES-BASELINE-T"),
                                             (False, "PAdES-BASELINE-B")])
def test_signed_justificante_passes_our_validator_and_pyhankos(pki: Pki, tsa: bool,
                                                               level: str) -> None:
    content = receipt(5)
    signed = service(pki, tsa=tsa).render_signed_pdf(Justificante(content, {}))

    report = validate(signed, policy=SignaturePolicy(), trust=TrustStore([pki.root]),
                      now=NOW + timedelta(hours=1))
    assert report.format is SignatureFormat.PADES
    assert report.indication is Indication.TOTAL_PASSED, report.to_json()
    (signature,) = report.signatures
    assert signature.covers_whole_document and signature.level == level
    assert signature.claimed_signing_time == NOW + timedelta(minutes=5)

    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(pki.root.public_bytes(
            serialization.Encoding.DER))],
        moment=NOW + timedelta(hours=1), allow_fetching=False, revocation_mode="soft-fail")
    embedded = PdfFileReader(BytesIO(signed)).embedded_signatures[0]
    status = validate_pdf_signature(embedded, context, ts_validation_context=context)
    assert status.intact and status.valid and status.bottom_line
    assert (status.timestamp_validity is not None) == tsa

    # The signed copy still shows the registration number and the code (incremental update).
    assert b"2026/000000123" in page_contents(signed)[0]
    assert content.csv_code.encode() in page_contents(signed)[0]


def test_one_changed_byte_fails_validation(pki: Pki) -> None:
    content = receipt(5)
    signed = service(pki, tsa=False).render_signed_pdf(Justificante(content, {}))
    at = signed.index(b"2026/000000123")
    tampered = signed[:at] + b"2027" + signed[at + 4:]
    report = validate(tampered, policy=SignaturePolicy(), trust=TrustStore([pki.root]),
                      now=NOW + timedelta(hours=1))
    assert [(s.indication, s.sub_indication) for s in report.signatures] == \
        [(Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)]


# --- what a person reads: text extraction and a rendered page (poppler) ---------------------


def _pdftotext(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "justificante.pdf"
    source.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True,
                          capture_output=True, text=True).stdout


def _readable(items: int = 3) -> Justificante:
    content = receipt(items, recipient="B12345674")
    lines = {
        500_000: ItemLine("TGSS", "Reclamación de deuda", "Providencia de apremio 2026/77",
                          "B12345674", "28123456789"),
        500_001: ItemLine("INSS", "Incapacidad temporal", None, "B12345674", "28123456790"),
    }
    return Justificante(content, lines, "EMPRESA DEMO SL", "https://notess.example/verify",
                        "MANDATE")


def test_a_person_reads_every_field(pki: Pki, tmp_path: Path) -> None:
    document = _readable()
    content = document.receipt
    signed = service(pki, tsa=True).render_signed_pdf(document)
    text = _pdftotext(signed, tmp_path)
    for field in (
        ISSUING_ADMINISTRATION, "2026/000000123", "02/03/2026 10:30:00", "Europe/Madrid",
        "Aceptación: el firmante accede", "EMPRESA DEMO SL (B12345674)", "TGSS, INSS",
        "En nombre de", "B12345674, como apoderado (mandato)",
        "Reclamación de deuda", "Providencia de apremio 2026/77", "Incapacidad temporal",
        PROTECTED_SUBJECT, "28123456789", "28123456790", "Aceptada", "Ya estaba aceptada",
        "No encontrada" if len(content.items) > 3 else "Plazo vencido",
        "Totales", "Aceptada: 1", "Página 1 de 1", content.csv_code,
        "https://notess.example/verify", DIGEST, "Sello electronico",
    ):
        assert field in text, field
    # The subject of a special-category item is never in the file, in any form.
    assert b"Incapacidad temporal" in signed and PROTECTED_SUBJECT.encode() in signed
    # The real creation date: the official time, not reportlab's invariant 2000-01-01.
    info = PdfFileReader(BytesIO(signed)).trailer_view["/Info"]
    assert str(info["/CreationDate"]).startswith("D:20260302093000")
    # Rendered to an image as a person sees it (poppler), saved for a look.
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1",
                    str(tmp_path / "justificante.pdf"), str(tmp_path / "page")], check=True)
    (png,) = tmp_path.glob("page*.png")
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5_000


def test_the_qr_code_and_the_stamp_are_there(pki: Pki, tmp_path: Path) -> None:
    document = _readable()
    signed = service(pki, tsa=False).render_signed_pdf(document)
    embedded = PdfFileReader(BytesIO(signed)).embedded_signatures[0]
    widget = embedded.sig_field
    rect = [float(v) for v in widget["/Rect"]] if "/Rect" in widget else \
        [float(v) for v in widget["/Kids"][0]["/Rect"]]
    assert rect[2] - rect[0] > 100 and rect[3] - rect[1] > 30  # visible, not a 0x0 field
    # The QR code, as a phone reads it off the page: rendered by poppler, decoded by zxing-cpp.
    assert _qr_codes(signed, tmp_path) == [
        f"https://notess.example/verify?code={document.receipt.csv_code}"]


def test_a_qr_code_is_found_only_when_printed(tmp_path: Path) -> None:
    """The decoder really reads the page: a PDF without a QR code yields none."""
    canvas_pdf = BytesIO()
    canvas = Canvas(canvas_pdf)
    canvas.drawString(72, 720, "Justificante sin QR")
    canvas.save()
    assert _qr_codes(canvas_pdf.getvalue(), tmp_path) == []


def _qr_codes(pdf: bytes, tmp_path: Path) -> list[str]:
    """The text of every QR code on the first page, rendered at 150 dpi."""
    source = tmp_path / "qr.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", "-singlefile",
                    str(source), str(tmp_path / "qr")], check=True)
    with Image.open(tmp_path / "qr.png") as page:
        found = zxingcpp.read_barcodes(page.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    return [code.text for code in found]
