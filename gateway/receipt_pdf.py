"""The human-readable receipt ("justificante") as a PDF (DESIGN.md §1 "each completed act yields a
receipt", §4 ``GetReceipt(..., format=PDF)``).

Rendering only: bytes in memory, no I/O, no clock. The PDF is then signed with PAdES by the
server key (``gateway.signatures.sign_pades``, ETSI EN 319 142-1 baseline B, or B-T with the
local TSA) in ``ReceiptService.signed_pdf``.

Library: **reportlab** (its low-level ``Canvas``). pyHanko can write PDF objects and draw stamp
boxes, but it has no text layout, font metrics or page flow for a 1,000-row table; reportlab is
the standard PDF writer for Python, pure Python with no system dependencies, and its output is
signed by pyHanko unchanged in an incremental update. The canvas (rather than platypus flowables)
keeps pagination explicit and cheap: rows per page are fixed, so "page n of N" is known up front.

Deterministic: the same ``ServerReceipt`` always renders to the same bytes (reportlab's
``invariant`` mode fixes the creation date and the document id). The PDF is therefore not
stored: the server-signed XML stays the legal record, and the PDF is a rendition of it, rendered
and signed on each request (each copy carries its own signing time and time-stamp).
Content streams are left uncompressed (``pageCompression=0``): a justificante is a few KiB per
page, and its text (registration number, CSV code) stays greppable in the raw bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from gateway.domain.clock import OFFICIAL_TIMEZONE
from gateway.domain.receipts import Decision, ItemOutcome, Outcome, ServerReceipt

ISSUING_ADMINISTRATION = "Seguridad Social - Sistema de Notificaciones Telemáticas (NOTESS)"
"""Printed as the issuer of every justificante."""

TITLE = "Justificante de notificación electrónica"

VERIFICATION_SENTENCE = (
    "Puede comprobar la autenticidad de este justificante sin certificado electrónico con el "
    "código seguro de verificación (CSV) de arriba, mediante la operación VerifyDocumentCode "
    "del servicio ValidationService de la pasarela."
)

DECISION_TEXT = {
    Decision.ACCEPT: "ACEPTACIÓN (comparecencia) - ACCEPT",
    Decision.REJECT: "RECHAZO - REJECT",
}

OUTCOME_TEXT = {
    Outcome.ACCEPTED: "Aceptada",
    Outcome.REJECTED: "Rechazada",
    Outcome.ALREADY_FINAL: "Ya estaba en estado final",
    Outcome.EXPIRED: "Plazo vencido (rechazo presunto)",
    Outcome.NOT_AUTHORISED: "No autorizado",
    Outcome.NOT_FOUND: "No encontrada",
}

# Layout in points (A4 portrait, 1 pt = 1/72 in).
_WIDTH, _HEIGHT = A4
_MARGIN = 56.0
_ROW = 14.0
_TABLE_TOP_FIRST = 520.0  # below the summary block of the first page
_TABLE_TOP_OTHERS = _HEIGHT - 130.0
_TABLE_BOTTOM = 72.0
ROWS_FIRST_PAGE = int((_TABLE_TOP_FIRST - _TABLE_BOTTOM) // _ROW) - 1  # minus the column header
ROWS_OTHER_PAGES = int((_TABLE_TOP_OTHERS - _TABLE_BOTTOM) // _ROW) - 1


def page_count(items: int) -> int:
    """Pages needed for a receipt of ``items`` notifications (at least one)."""
    if items <= ROWS_FIRST_PAGE:
        return 1
    rest = items - ROWS_FIRST_PAGE
    return 1 + -(-rest // ROWS_OTHER_PAGES)


def official_time_text(instant: datetime, zone: ZoneInfo) -> str:
    local = instant.astimezone(zone)
    offset = local.strftime("%z")
    return (f"{local:%d/%m/%Y %H:%M:%S} (hora oficial {zone.key}, UTC{offset[:3]}:{offset[3:]})")


def render_receipt_pdf(receipt: ServerReceipt, *, zone: ZoneInfo = OFFICIAL_TIMEZONE,
                       administration: str = ISSUING_ADMINISTRATION) -> bytes:
    """The justificante of ``receipt``: unsigned PDF bytes, identical for identical input.

    The item table lists each notification id and its outcome; subjects are not printed
    because the signed receipt does not carry them (the PDF states only what the XML certifies).
    """
    rows = receipt.items
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=0)
    canvas.setTitle(f"{TITLE} {receipt.registration_number}")
    canvas.setAuthor(administration)
    canvas.setSubject(f"Registro {receipt.registration_number}; CSV {receipt.csv_code}")
    canvas.setCreator("NOTESS gateway")
    total = page_count(len(rows))
    _summary(canvas, receipt, zone, administration)
    start, top, capacity = 0, _TABLE_TOP_FIRST, ROWS_FIRST_PAGE
    for page in range(1, total + 1):
        if page > 1:
            canvas.showPage()
            _continuation_header(canvas, receipt, administration)
            top, capacity = _TABLE_TOP_OTHERS, ROWS_OTHER_PAGES
        _table(canvas, rows[start:start + capacity], top, start)
        _footer(canvas, receipt, page, total)
        start += capacity
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _summary(canvas: Canvas, receipt: ServerReceipt, zone: ZoneInfo,
             administration: str) -> None:
    y = _HEIGHT - _MARGIN
    canvas.setFont("Helvetica-Bold", 16)
    canvas.drawString(_MARGIN, y, TITLE)
    y -= 18
    canvas.setFont("Helvetica", 10)
    canvas.drawString(_MARGIN, y, administration)
    y -= 28
    fields: Sequence[tuple[str, str, str]] = (
        ("Número de registro", str(receipt.registration_number), "Helvetica-Bold"),
        ("Fecha y hora oficial", official_time_text(receipt.issued_at, zone), "Helvetica"),
        ("Firmante del acuse", receipt.signer, "Helvetica"),
        ("Decisión", DECISION_TEXT[receipt.decision], "Helvetica"),
        ("Notificaciones", str(len(receipt.items)), "Helvetica"),
        ("Identificador del acuse", receipt.receipt_id, "Courier"),
    )
    for label, value, font in fields:
        canvas.setFont("Helvetica", 9)
        canvas.drawString(_MARGIN, y, label)
        canvas.setFont(font, 10)
        canvas.drawString(_MARGIN + 130, y, value)
        y -= 16
    canvas.setFont("Helvetica", 9)
    canvas.drawString(_MARGIN, y, "Huella del acuse firmado por el interesado (SHA-256)")
    y -= 13
    canvas.setFont("Courier", 9)
    canvas.drawString(_MARGIN, y, receipt.client_ack_digest)
    y -= 26
    canvas.setFont("Helvetica", 9)
    canvas.drawString(_MARGIN, y, "Código seguro de verificación (CSV)")
    y -= 20
    canvas.setFont("Courier-Bold", 16)
    canvas.drawString(_MARGIN, y, receipt.csv_code)  # already printed in groups of four
    y -= 16
    canvas.setFont("Helvetica", 8.5)
    for line in _wrap(VERIFICATION_SENTENCE, "Helvetica", 8.5, _WIDTH - 2 * _MARGIN, canvas):
        canvas.drawString(_MARGIN, y, line)
        y -= 11


def _continuation_header(canvas: Canvas, receipt: ServerReceipt, administration: str) -> None:
    y = _HEIGHT - _MARGIN
    canvas.setFont("Helvetica-Bold", 12)
    canvas.drawString(_MARGIN, y, f"{TITLE} (continuación)")
    y -= 15
    canvas.setFont("Helvetica", 9)
    canvas.drawString(_MARGIN, y, administration)
    y -= 13
    canvas.drawString(_MARGIN, y, f"Número de registro {receipt.registration_number}")


def _table(canvas: Canvas, rows: Sequence[ItemOutcome], top: float, first_index: int) -> None:
    columns = (_MARGIN, _MARGIN + 50, _MARGIN + 150)
    canvas.setFont("Helvetica-Bold", 9)
    canvas.drawString(columns[0], top, "Nº")
    canvas.drawString(columns[1], top, "Notificación")
    canvas.drawString(columns[2], top, "Resultado")
    canvas.line(_MARGIN, top - 4, _WIDTH - _MARGIN, top - 4)
    canvas.setFont("Helvetica", 9)
    y = top - _ROW
    for offset, row in enumerate(rows):
        canvas.drawString(columns[0], y, str(first_index + offset + 1))
        canvas.drawString(columns[1], y, str(row.notification_id))
        canvas.drawString(columns[2], y, f"{OUTCOME_TEXT[row.outcome]} ({row.outcome.value})")
        y -= _ROW


def _footer(canvas: Canvas, receipt: ServerReceipt, page: int, total: int) -> None:
    canvas.setFont("Helvetica", 8)
    canvas.drawString(_MARGIN, 40, f"Registro {receipt.registration_number} - "
                                   f"CSV {receipt.csv_code}")
    canvas.drawRightString(_WIDTH - _MARGIN, 40, f"Página {page} de {total}")


def _wrap(text: str, font: str, size: float, width: float, canvas: Canvas) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and canvas.stringWidth(candidate, font, size) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines

