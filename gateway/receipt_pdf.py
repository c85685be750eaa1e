"""The human-readable receipt ("justificante") as a PDF (DESIGN.md §1 "each completed act yields a
receipt", §4 ``GetReceipt(..., format=PDF)``, "Public verification").

Rendering only: bytes in memory, no I/O, no clock. The PDF is then signed with PAdES by the
server key (``gateway.signatures.sign_pades``, ETSI EN 319 142-1 baseline B, or B-T with the
local TSA), with the signature visible as a stamp, in ``ReceiptService``; the signed PDF is
stored once and served byte-identical ever after.

What it shows, as the administration's own justificantes do: who (the administration, the
signer's name and identifier, the recipient), when (registration number, official date and time
in Madrid), what (the decision in words; per item the issuer, procedure, subject, recipient, CCC
and outcome; totals), and how to verify (the public page's URL, the CSV code and a QR code of
the page with the code). The subject of a special-category item is never printed ("contenido
protegido").

Library: **reportlab** (its low-level ``Canvas``): text layout, font metrics and a QR widget;
pyHanko then signs its output unchanged in an incremental update. The canvas (rather than
platypus flowables) keeps pagination explicit and cheap: rows per page are fixed, so "page n of
N" is known up front.

Deterministic: the same input always renders to the same bytes (reportlab's ``invariant`` mode
fixes the document id; the creation date is the receipt's official time, not the wall clock).
Content streams are left uncompressed (``pageCompression=0``): a justificante is a few KiB per
page, and its text (registration number, CSV code) stays greppable in the raw bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from zoneinfo import ZoneInfo

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.utils import TimeStamp
from reportlab.pdfgen.canvas import Canvas

from gateway.domain.clock import OFFICIAL_TIMEZONE
from gateway.domain.receipts import Decision, ItemOutcome, Outcome, ServerReceipt

ISSUING_ADMINISTRATION = "Seguridad Social - Sistema de Notificaciones Telemáticas (NOTESS)"
"""Printed as the issuer of every justificante."""

TITLE = "Justificante de notificación electrónica"

PROTECTED_SUBJECT = "contenido protegido"
"""Printed instead of the subject of a special-category item."""

VERIFICATION_SENTENCE = (
    "Puede comprobar la autenticidad de este justificante sin certificado electrónico: abra la "
    "dirección de verificación (o lea el código QR) e introduzca el código seguro de "
    "verificación (CSV). Allí puede descargar el PDF emitido y comprobar si un PDF es este mismo."
)

DECISION_TEXT = {
    Decision.ACCEPT: "Aceptación: el firmante accede al contenido de las notificaciones "
                     "(comparecencia)",
    Decision.REJECT: "Rechazo: el firmante rechaza las notificaciones, que se tienen por "
                     "practicadas",
}

OUTCOME_TEXT = {
    Outcome.ACCEPTED: "Aceptada",
    Outcome.REJECTED: "Rechazada",
    Outcome.ALREADY_FINAL: "Ya estaba aceptada o rechazada",
    Outcome.EXPIRED: "Plazo vencido (rechazo presunto)",
    Outcome.NOT_AUTHORISED: "No autorizado",
    Outcome.NOT_FOUND: "No encontrada",
}

DEFAULT_VERIFICATION_URL = "http://127.0.0.1:8080/verify"

ROLE_TEXT = {
    "OWN": "en nombre propio (interesado)",
    "MANDATE": "como apoderado (mandato)",
    "GRANT": "como autorizado por el gestor de accesos",
    "RED": "como autorizado RED",
}


@dataclass(frozen=True, slots=True)
class ItemLine:
    """What the justificante prints of one notification besides its id and outcome."""

    issuer: str
    procedure: str
    subject: str | None
    """``None`` for special-category items: printed as ``PROTECTED_SUBJECT``."""
    recipient: str
    ccc: str | None


@dataclass(frozen=True, slots=True)
class Justificante:
    """Everything one justificante prints: the certified receipt and what describes it."""

    receipt: ServerReceipt
    items: Mapping[int, ItemLine]
    """Per notification id; an id missing here (unknown item) prints dashes."""
    signer_name: str | None = None
    verification_url: str = DEFAULT_VERIFICATION_URL
    """The public verification page (``GET /verify``); the QR code adds ``?code=<CSV>``."""
    signer_role: str | None = None
    """By which right the signer acted (``Role`` wire codes, comma separated)."""

    def qr_url(self) -> str:
        return f"{self.verification_url}?code={self.receipt.csv_code}"


# Layout in points (A4 landscape, 1 pt = 1/72 in).
_WIDTH, _HEIGHT = landscape(A4)
_MARGIN = 40.0
_ROW = 12.0
_TABLE_TOP_FIRST = 318.0  # below the summary block of the first page
_TABLE_TOP_OTHERS = _HEIGHT - 100.0
_TABLE_BOTTOM = 62.0
ROWS_FIRST_PAGE = int((_TABLE_TOP_FIRST - _TABLE_BOTTOM) // _ROW) - 1  # minus the column header
ROWS_OTHER_PAGES = int((_TABLE_TOP_OTHERS - _TABLE_BOTTOM) // _ROW) - 1
STAMP_BOX = (470, 332, int(_WIDTH - _MARGIN), 392)
"""Where the server's signature shows as a stamp on the first page (``sign_pades`` stamp)."""

_COLUMNS: tuple[tuple[str, float, float], ...] = (  # title, x, width
    ("Nº", _MARGIN, 26), ("Notificación", _MARGIN + 26, 52), ("Emisor", _MARGIN + 78, 36),
    ("Procedimiento", _MARGIN + 114, 150), ("Asunto", _MARGIN + 264, 196),
    ("Destinatario", _MARGIN + 460, 64), ("CCC", _MARGIN + 524, 74),
    ("Resultado", _MARGIN + 598, 164),
)
_TABLE_FONT, _TABLE_SIZE = "Helvetica", 7.5


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


def signer_text(identifier: str, name: str | None) -> str:
    return f"{name} ({identifier})" if name else identifier


def rights_text(roles: str | None) -> str:
    """By which right(s) the signer acted, in words."""
    return " y ".join(ROLE_TEXT.get(role, role) for role in (roles or "").split(",") if role)


def issuers_of(items: Mapping[int, ItemLine], outcomes: Sequence[ItemOutcome]) -> tuple[str, ...]:
    """The issuers of the listed items, each once, in order of first appearance."""
    seen = (items[o.notification_id].issuer for o in outcomes if o.notification_id in items)
    return tuple(dict.fromkeys(seen))


def render_receipt_pdf(receipt: ServerReceipt | Justificante, *,
                       zone: ZoneInfo = OFFICIAL_TIMEZONE,
                       administration: str = ISSUING_ADMINISTRATION) -> bytes:
    """The justificante: unsigned PDF bytes, identical for identical input (a bare
    ``ServerReceipt`` renders with no item details)."""
    document = receipt if isinstance(receipt, Justificante) else Justificante(receipt, {})
    content = document.receipt
    rows = content.items
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=landscape(A4), invariant=1, pageCompression=0)
    _set_creation_date(canvas, content.issued_at)
    canvas.setTitle(f"{TITLE} {content.registration_number}")
    canvas.setAuthor(administration)
    canvas.setSubject(f"Registro {content.registration_number}; CSV {content.csv_code}")
    canvas.setCreator("NOTESS gateway")
    total = page_count(len(rows))
    _summary(canvas, document, zone, administration)
    start, top, capacity = 0, _TABLE_TOP_FIRST, ROWS_FIRST_PAGE
    for page in range(1, total + 1):
        if page > 1:
            canvas.showPage()
            _continuation_header(canvas, content, administration)
            top, capacity = _TABLE_TOP_OTHERS, ROWS_OTHER_PAGES
        _table(canvas, rows[start:start + capacity], document.items, top, start)
        _footer(canvas, document, page, total)
        start += capacity
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _set_creation_date(canvas: Canvas, issued_at: datetime) -> None:
    """CreationDate and ModDate are the official time of the receipt (reportlab's invariant
    mode would print 2000-01-01)."""
    stamp = TimeStamp(1)
    moment = issued_at.astimezone(UTC)
    stamp.t = moment.timestamp()
    stamp.lt = moment.timetuple()
    stamp.YMDhms = tuple(moment.timetuple())[:6]
    canvas._doc._timeStamp = stamp  # reportlab has no public setter


def _summary(canvas: Canvas, document: Justificante, zone: ZoneInfo,
             administration: str) -> None:
    receipt = document.receipt
    y = _HEIGHT - _MARGIN
    canvas.setFont("Helvetica-Bold", 15)
    canvas.drawString(_MARGIN, y, TITLE)
    y -= 16
    canvas.setFont("Helvetica", 9.5)
    canvas.drawString(_MARGIN, y, f"Administración emisora: {administration}")
    y -= 24
    totals = Counter(item.outcome for item in receipt.items)
    recipients = ", ".join(dict.fromkeys(
        line.recipient for line in document.items.values())) or (receipt.recipient or "-")
    fields: Sequence[tuple[str, str, str]] = (
        ("Número de registro", str(receipt.registration_number), "Helvetica-Bold"),
        ("Fecha y hora oficial", official_time_text(receipt.issued_at, zone), "Helvetica"),
        ("Decisión", DECISION_TEXT[receipt.decision], "Helvetica"),
        ("Firmado por", signer_text(receipt.signer, document.signer_name), "Helvetica"),
        ("En nombre de", f"{recipients}, {rights_text(document.signer_role)}"
         if document.signer_role else recipients, "Helvetica"),
        ("Emisor(es)", ", ".join(issuers_of(document.items, receipt.items)) or "-",
         "Helvetica"),
        ("Notificaciones", str(len(receipt.items)), "Helvetica"),
        ("Totales", "; ".join(f"{OUTCOME_TEXT[o]}: {totals[o]}" for o in Outcome
                              if totals[o]) or "ninguna", "Helvetica"),
        ("Identificador del acuse", receipt.receipt_id, "Courier"),
    )
    for label, value, font in fields:
        canvas.setFont("Helvetica", 8.5)
        canvas.drawString(_MARGIN, y, label)
        canvas.setFont(font, 9.5)
        for line in _wrap(value, font, 9.5, 300, canvas)[:2]:
            canvas.drawString(_MARGIN + 115, y, line)
            y -= 12
        y -= 2
    canvas.setFont("Helvetica", 8.5)
    canvas.drawString(_MARGIN, y, "Huella del acuse firmado por el interesado (SHA-256)")
    canvas.setFont("Courier", 8)
    canvas.drawString(_MARGIN + 115, y - 11, receipt.client_ack_digest)
    _verification_block(canvas, document)


def _verification_block(canvas: Canvas, document: Justificante) -> None:
    x, y, size = 470.0, _HEIGHT - 70.0, 96.0
    canvas.setFont("Helvetica-Bold", 9.5)
    canvas.drawString(x, y, "Verificación")
    y -= 14
    canvas.setFont("Helvetica", 8)
    canvas.drawString(x, y, "Código seguro de verificación (CSV)")
    y -= 16
    canvas.setFont("Courier-Bold", 12)
    canvas.drawString(x, y, document.receipt.csv_code)  # already printed in groups of four
    y -= 14
    canvas.setFont("Helvetica", 8)
    canvas.drawString(x, y, "Dirección de verificación:")
    y -= 11
    canvas.setFont("Courier", 8)
    canvas.drawString(x, y, document.verification_url)
    y -= 14
    canvas.setFont("Helvetica", 7.5)
    for line in _wrap(VERIFICATION_SENTENCE, "Helvetica", 7.5, _WIDTH - _MARGIN - x - size - 8,
                      canvas):
        canvas.drawString(x, y, line)
        y -= 9.5
    widget = QrCodeWidget(document.qr_url(), barLevel="M")
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (right - left), 0, 0,
                                             size / (top - bottom), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, _WIDTH - _MARGIN - size, _HEIGHT - _MARGIN - size - 4)


def _continuation_header(canvas: Canvas, receipt: ServerReceipt, administration: str) -> None:
    y = _HEIGHT - _MARGIN
    canvas.setFont("Helvetica-Bold", 12)
    canvas.drawString(_MARGIN, y, f"{TITLE} (continuación)")
    y -= 14
    canvas.setFont("Helvetica", 9)
    canvas.drawString(_MARGIN, y, administration)
    y -= 12
    canvas.drawString(_MARGIN, y, f"Número de registro {receipt.registration_number}")


def _table(canvas: Canvas, rows: Sequence[ItemOutcome], lines: Mapping[int, ItemLine],
           top: float, first_index: int) -> None:
    canvas.setFont("Helvetica-Bold", 8)
    for title, x, _ in _COLUMNS:
        canvas.drawString(x, top, title)
    canvas.line(_MARGIN, top - 4, _WIDTH - _MARGIN, top - 4)
    canvas.setFont(_TABLE_FONT, _TABLE_SIZE)
    y = top - _ROW
    for offset, row in enumerate(rows):
        line = lines.get(row.notification_id)
        cells = (
            str(first_index + offset + 1), str(row.notification_id),
            line.issuer if line else "-", line.procedure if line else "-",
            (line.subject if line.subject is not None else PROTECTED_SUBJECT) if line else "-",
            line.recipient if line else "-", (line.ccc or "-") if line else "-",
            OUTCOME_TEXT[row.outcome],
        )
        for text, (_, x, width) in zip(cells, _COLUMNS, strict=True):
            canvas.drawString(x, y, _fit(text, width - 4, canvas))
        y -= _ROW


def _footer(canvas: Canvas, document: Justificante, page: int, total: int) -> None:
    receipt = document.receipt
    canvas.setFont("Helvetica", 8)
    canvas.drawString(_MARGIN, 36, f"Registro {receipt.registration_number} - "
                                   f"CSV {receipt.csv_code} - verificación: "
                                   f"{document.verification_url}")
    canvas.drawRightString(_WIDTH - _MARGIN, 36, f"Página {page} de {total}")


def _fit(text: str, width: float, canvas: Canvas) -> str:
    """``text`` cut to ``width`` with an ellipsis (a long subject must not run into the next
    column)."""
    if canvas.stringWidth(text, _TABLE_FONT, _TABLE_SIZE) <= width:
        return text
    while text and canvas.stringWidth(text + "...", _TABLE_FONT, _TABLE_SIZE) > width:
        text = text[:-1]
    return text.rstrip() + "..."


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
