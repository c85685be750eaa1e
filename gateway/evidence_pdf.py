"""The evidence document's PDF form (``GetEvidence``): the same facts as
``evidence_xml``, on one A4 page, for people. Rendering only; the server signs it with PAdES
(``signatures.sign_pades``) in ``IssuingService``."""

from __future__ import annotations

from io import BytesIO
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from gateway.domain.issuers import ItemEvidence
from gateway.evidence_xml import events
from gateway.receipt_pdf import official_time_text

_EVENT_TEXT = {"MADE_AVAILABLE": "Puesta a disposición", "ACCESSED": "Acceso",
               "ACCEPTED": "Aceptada", "REJECTED": "Rechazada",
               "EXPIRED": "Rechazada por transcurso del plazo", "READ": "Leída",
               "CANCELLED": "Anulada por el emisor"}
_BOTTOM = 60


def render_evidence_pdf(evidence: ItemEvidence, *, zone: ZoneInfo) -> bytes:
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=True)
    status = evidence.status
    canvas.setTitle(f"Evidencia {evidence.issuer} {status.issuer_reference}")
    height = A4[1]
    y = height - 60
    canvas.setFont("Helvetica-Bold", 14)
    canvas.drawString(50, y, "Evidencia de la notificación electrónica")
    canvas.setFont("Helvetica", 10)
    lines = [
        ("Emisor", evidence.issuer), ("Referencia", status.issuer_reference),
        ("Identificador", str(status.notification_id)), ("Tipo", status.kind.value),
        ("Destinatario", evidence.recipient), ("Estado", status.status.value),
        ("Emitida", official_time_text(evidence.generated_at, zone)),
    ]
    if status.deadline_at is not None:
        lines.append(("Plazo", official_time_text(status.deadline_at, zone)))
    for label, value in lines:
        y -= 16
        canvas.drawString(50, y, f"{label}: {value}")
    y -= 26
    canvas.setFont("Helvetica-Bold", 11)
    canvas.drawString(50, y, "Hechos (hora oficial)")
    canvas.setFont("Helvetica", 10)
    for kind, change in events(evidence):
        y -= 16
        actor = f" por {change.acted_by}" if change.acted_by else ""
        canvas.drawString(60, y, f"{_EVENT_TEXT[kind]}: "
                                 f"{official_time_text(change.at, zone)}{actor}")
        if kind == "CANCELLED" and evidence.cancel_reason:
            y -= 14
            canvas.drawString(72, y, f"Motivo: {evidence.cancel_reason[:110]}")
    if status.receipt is not None:
        y -= 26
        canvas.drawString(50, y, f"Justificante {status.receipt.registration_number}, "
                                 f"{official_time_text(status.receipt.issued_at, zone)}")
        y -= 14
        canvas.setFont("Courier", 8)
        canvas.drawString(60, y, f"SHA-256 {evidence.receipt_sha256}")
        canvas.setFont("Helvetica", 10)
    y -= 26
    canvas.drawString(50, y, "Documentos (SHA-256)")
    canvas.setFont("Courier", 8)
    for d in evidence.documents:  # up to 51: continued on further pages
        y -= 14
        if y < _BOTTOM:
            canvas.showPage()
            canvas.setFont("Courier", 8)
            y = height - 60
        canvas.drawString(60, y, f"{d.position} {d.role} {d.sha256} {d.size} B")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
