"""The public verification page (``GET /verify``): server-rendered HTML, Spanish and English.

No framework and no script needed: a form, a summary as a description list, a link to the PDF
and an upload form. ``verify.js`` (a dozen lines, optional) only checks the CSV's check
character as the person types; the server checks it again on submit. Accessibility: one ``h1``,
labelled inputs with their help text (``aria-describedby``), errors announced (``role=alert``),
results as a live status, visible focus, no colour-only meaning (WCAG 2.1 AA intent).
Everything a person typed is escaped (``html.escape``) before it is shown again.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import quote
from zoneinfo import ZoneInfo

from gateway.receipt_pdf import official_time_text, signer_text
from gateway.services.receipts import CodeVerification

LANGUAGES = ("es", "en")

TEXT: dict[str, dict[str, str]] = {
    "es": {
        "title": "Verificación de justificantes",
        "intro": "Compruebe un justificante de notificación electrónica con su código seguro de "
                 "verificación (CSV), sin certificado electrónico.",
        "code": "Código seguro de verificación (CSV)",
        "code_help": "20 caracteres, tal como aparecen en el justificante; da igual mayúsculas o "
                     "minúsculas, espacios o guiones.",
        "submit": "Comprobar",
        "malformed": "El código no es válido: revise que ha copiado los 20 caracteres (el último "
                     "es un carácter de control).",
        "not_found": "No existe ningún justificante con este código.",
        "found": "Justificante encontrado",
        "registration": "Número de registro",
        "time": "Fecha y hora oficial",
        "decision": "Decisión",
        "ACCEPT": "Aceptación de las notificaciones (comparecencia)",
        "REJECT": "Rechazo de las notificaciones",
        "items": "Número de notificaciones",
        "issuers": "Emisor(es)",
        "signer": "Firmado por",
        "pdf_sha": "Huella SHA-256 del PDF emitido",
        "download": "Descargar el PDF emitido",
        "check_title": "¿Es este mi PDF?",
        "check_help": "Suba un PDF para saber si es exactamente el emitido. Se compara la huella "
                      "SHA-256 del fichero con la del PDF emitido: coinciden solo si es el mismo "
                      "fichero, byte a byte. El fichero no se guarda.",
        "file": "Fichero PDF",
        "check": "Comprobar el PDF",
        "match": "Sí: es el PDF emitido (la huella SHA-256 coincide).",
        "mismatch": "No: este fichero no es el PDF emitido. Su huella SHA-256 es {got}; la del "
                    "PDF emitido es {want}. Cualquier cambio, aunque sea de un byte (o una "
                    "copia impresa y escaneada), da otra huella.",
        "no_file": "Elija un fichero PDF.",
        "too_large": "El fichero es demasiado grande.",
        "limited": "Demasiadas consultas desde su dirección. Espere un minuto y vuelva a "
                   "intentarlo.",
        "other": "English",
        "js_bad": "El carácter de control no coincide: revise el código.",
        "js_ok": "Código bien formado.",
    },
    "en": {
        "title": "Receipt verification",
        "intro": "Check an electronic notification receipt (justificante) by its secure "
                 "verification code (CSV), without an electronic certificate.",
        "code": "Secure verification code (CSV)",
        "code_help": "20 characters as printed on the receipt; upper or lower case, spaces and "
                     "hyphens do not matter.",
        "submit": "Check",
        "malformed": "This code is not valid: make sure you copied all 20 characters (the last "
                     "one is a check character).",
        "not_found": "There is no receipt with this code.",
        "found": "Receipt found",
        "registration": "Registration number",
        "time": "Official date and time",
        "decision": "Decision",
        "ACCEPT": "Notifications accepted (access to their content)",
        "REJECT": "Notifications rejected",
        "items": "Number of notifications",
        "issuers": "Issuer(s)",
        "signer": "Signed by",
        "pdf_sha": "SHA-256 digest of the issued PDF",
        "download": "Download the issued PDF",
        "check_title": "Is this my PDF?",
        "check_help": "Upload a PDF to find out whether it is exactly the one issued. The file's "
                      "SHA-256 digest is compared with the issued PDF's: they match only for the "
                      "same file, byte for byte. The file is not kept.",
        "file": "PDF file",
        "check": "Check the PDF",
        "match": "Yes: this is the issued PDF (the SHA-256 digest matches).",
        "mismatch": "No: this file is not the issued PDF. Its SHA-256 digest is {got}; the "
                    "issued PDF's is {want}. Any change, even one byte (or a printed and "
                    "scanned copy), gives another digest.",
        "no_file": "Choose a PDF file.",
        "too_large": "The file is too large.",
        "limited": "Too many look-ups from your address. Wait a minute and try again.",
        "other": "Español",
        "js_bad": "The check character does not match: check the code.",
        "js_ok": "Well-formed code.",
    },
}

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;
line-height:1.5;color:#111;background:#fff}
label{font-weight:600;display:block}input[type=text]{font:1.1rem monospace;width:100%;
max-width:30rem;padding:.4rem}button{font-size:1rem;padding:.4rem 1rem;margin-top:.5rem}
:focus{outline:3px solid #1a5fb4;outline-offset:2px}.help{color:#333;font-size:.92rem}
.alert{border-left:.4rem solid #a51d2d;padding:.5rem 1rem;background:#fbeaea}
.ok{border-left:.4rem solid #26a269;padding:.5rem 1rem;background:#e9f7ef}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}code{overflow-wrap:anywhere}
"""


@dataclass(frozen=True, slots=True)
class PageState:
    """What one rendering of the page shows."""

    language: str
    code: str = ""
    """As the person typed it (shown back escaped) or canonical once parsed."""
    verification: CodeVerification | None = None
    malformed: bool = False
    limited: bool = False
    check: str | None = None
    """``"match"``, ``"mismatch"``, ``"no_file"`` or ``"too_large"`` after an upload."""
    uploaded_sha256: str | None = None


def choose_language(query_lang: str | None, accept_language: str) -> str:
    if query_lang in LANGUAGES:
        return query_lang
    return "en" if accept_language.strip().lower().startswith("en") else "es"


def render_page(state: PageState, zone: ZoneInfo) -> bytes:
    t = TEXT[state.language]
    other = "en" if state.language == "es" else "es"
    code_q = quote(state.code)
    parts = [(
        f'<!doctype html><html lang="{state.language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(t["title"])}</title><style>{_STYLE}</style>'
        '<script src="/verify/verify.js" defer></script></head><body>'
        f'<p><a href="/verify?lang={other}&amp;code={code_q}" lang="{other}" '
        f'hreflang="{other}">{escape(t["other"])}</a></p>'
        f'<main><h1>{escape(t["title"])}</h1><p>{escape(t["intro"])}</p>'
        f'<form method="get" action="/verify" id="code-form">'
        f'<input type="hidden" name="lang" value="{state.language}">'
        f'<label for="code">{escape(t["code"])}</label>'
        f'<p class="help" id="code-help">{escape(t["code_help"])}</p>'
        f'<input type="text" id="code" name="code" value="{escape(state.code)}" '
        'autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="64" '
        f'aria-describedby="code-help code-live{" code-error" if state.malformed else ""}"'
        f'{" aria-invalid=true" if state.malformed else ""} '
        f'data-bad="{escape(t["js_bad"])}" data-ok="{escape(t["js_ok"])}">'
        '<p class="help" id="code-live" aria-live="polite"></p>'
        f'<button type="submit" id="submit-code">{escape(t["submit"])}</button></form>'
    )]
    if state.limited:
        parts.append(f'<p role="alert" class="alert" id="limited">{escape(t["limited"])}</p>')
    elif state.malformed:
        parts.append(f'<p role="alert" class="alert" id="code-error">'
                     f'{escape(t["malformed"])}</p>')
    elif state.verification is not None and not state.verification.found:
        parts.append(f'<p role="status" class="alert" id="not-found">'
                     f'{escape(t["not_found"])}</p>')
    elif state.verification is not None:
        parts.append(_summary(state, state.verification, zone))
    parts.append("</main></body></html>")
    return "".join(parts).encode()


def _summary(state: PageState, found: CodeVerification, zone: ZoneInfo) -> str:
    t = TEXT[state.language]
    code_q = quote(found.code)
    rows = (
        ("registration", str(found.registration_number), "registration-number"),
        ("time", official_time_text(found.issued_at, zone) if found.issued_at else "-",
         "official-time"),
        ("decision", t[found.decision.value] if found.decision else "-", "decision"),
        ("items", str(found.items), "item-count"),
        ("issuers", ", ".join(found.issuers) or "-", "issuers"),
        ("signer", signer_text(found.signer or "-", found.signer_name), "signer"),
        ("pdf_sha", found.pdf_sha256 or "-", "pdf-sha256"),
    )
    listed = "".join(f'<dt>{escape(t[label])}</dt><dd id="{ident}">{escape(value)}</dd>'
                     for label, value, ident in rows)
    check = ""
    if state.check == "match":
        check = f'<p role="status" class="ok" id="check-result">{escape(t["match"])}</p>'
    elif state.check == "mismatch":
        message = t["mismatch"].format(got=state.uploaded_sha256, want=found.pdf_sha256)
        check = f'<p role="alert" class="alert" id="check-result">{escape(message)}</p>'
    elif state.check in ("no_file", "too_large"):
        check = f'<p role="alert" class="alert" id="check-result">{escape(t[state.check])}</p>'
    return (
        f'<section aria-labelledby="summary-title" id="summary"><h2 id="summary-title" '
        f'class="ok" role="status">{escape(t["found"])}</h2><dl>{listed}</dl>'
        f'<p><a id="download-pdf" href="/verify/pdf?code={code_q}" download>'
        f'{escape(t["download"])}</a></p></section>'
        f'<section aria-labelledby="check-title"><h2 id="check-title">'
        f'{escape(t["check_title"])}</h2><p class="help" id="check-help">'
        f'{escape(t["check_help"])}</p>'
        f'<form method="post" action="/verify/check?lang={state.language}" '
        'enctype="multipart/form-data" id="check-form">'
        f'<input type="hidden" name="code" value="{escape(found.code)}">'
        f'<label for="pdf-file">{escape(t["file"])}</label>'
        '<input type="file" id="pdf-file" name="pdf" accept="application/pdf,.pdf" '
        'aria-describedby="check-help" required> '
        f'<button type="submit" id="submit-pdf">{escape(t["check"])}</button></form>'
        f'{check}</section>'
    )


VERIFY_JS = b"""'use strict';
// Checks the CSV's check character as it is typed (ISO 7064 MOD 33,32, as the server does).
// Optional: the server validates again on submit; without this script the page works the same.
(function () {
  var A = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
  function ok(s) {
    var p = 32, i, v;
    for (i = 0; i < s.length - 1; i++) {
      v = A.indexOf(s[i]); if (v < 0) { return false; }
      p = (2 * (((p + v) % 32) || 32)) % 33;
    }
    return A[(33 - p) % 32] === s[s.length - 1];
  }
  document.addEventListener('DOMContentLoaded', function () {
    var input = document.getElementById('code'), live = document.getElementById('code-live');
    if (!input || !live) { return; }
    input.addEventListener('input', function () {
      var s = input.value.replace(/[\\s-]/g, '').toUpperCase();
      if (s.length < 20) { live.textContent = ''; input.removeAttribute('aria-invalid'); return; }
      var good = s.length === 20 && ok(s);
      live.textContent = good ? input.dataset.ok : input.dataset.bad;
      if (good) { input.removeAttribute('aria-invalid'); }
      else { input.setAttribute('aria-invalid', 'true'); }
    });
  });
}());
"""
