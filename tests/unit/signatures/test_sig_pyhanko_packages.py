"""PAdES validation imports pyHanko's validation modules but not its signers (issue 18), and a
process that then signs still gets the whole of pyHanko.

Each case runs in a fresh interpreter: the test process has imported pyHanko whole already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reportlab.pdfgen import canvas

from gateway.domain.clock import FixedClock
from gateway.pki import generate_demo_pki
from gateway.signatures import sign_pades

REPOSITORY = Path(__file__).resolve().parents[3]

PROBE = """
import json, sys
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.bootstrap import build
from gateway.config import Settings

folder = Path(sys.argv[1])
now = datetime.fromisoformat(sys.argv[2])
validation = build(Settings(pki_dir=folder / "pki", data_dir=folder / "var")).signature_validation()

def verdicts(pdf):
    return [s.indication.value for s in validation.validate(pdf).signatures]

result = {"validated": verdicts((folder / "signed.pdf").read_bytes())}
result["signers_after_validation"] = sorted(
    name for name in sys.modules if name.startswith(("aiohttp", "pyhanko.sign.signers")))
if sys.argv[3] == "sign":  # the server signs receipts with the pyHanko validation loaded
    from pyhanko.sign import SimpleSigner, signers
    import pyhanko.sign.validation

    from gateway.domain.clock import FixedClock
    from gateway.signatures import sign_pades

    assert signers.SimpleSigner is SimpleSigner
    assert callable(pyhanko.sign.validation.validate_pdf_signature)
    key = load_pem_private_key((folder / "key.pem").read_bytes(), None)
    leaf = x509.load_pem_x509_certificate((folder / "leaf.pem").read_bytes())
    twice = sign_pades((folder / "signed.pdf").read_bytes(), key, leaf, clock=FixedClock(now),
                       field_name="Signature2")
    result["signed_again"] = verdicts(twice)
    try:
        from pyhanko.sign import NoSuchSigner  # noqa: F401
    except ImportError as exc:
        result["unknown_name"] = str(exc)
print(json.dumps(result))
"""


def _run_probe(tmp_path: Path, mode: str) -> dict[str, list[str] | str]:
    """Sign a PDF here, then validate it (and sign it again) in a fresh interpreter."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    now = datetime.now(UTC)
    credential = generate_demo_pki(tmp_path / "pki", now=now - timedelta(hours=1)).client("person")
    key, cert = credential.private_key(), credential.certificate()
    page = tmp_path / "page.pdf"
    drawing = canvas.Canvas(str(page))
    drawing.drawString(72, 720, "Acuse de recibo")
    drawing.save()
    (tmp_path / "leaf.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    (tmp_path / "signed.pdf").write_bytes(
        sign_pades(page.read_bytes(), key, cert, clock=FixedClock(now - timedelta(minutes=5))))
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path), now.isoformat(), mode],
        capture_output=True, text=True, check=False, cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)})
    assert completed.returncode == 0, completed.stderr
    result: dict[str, list[str] | str] = json.loads(completed.stdout)
    return result


def test_validating_a_pdf_imports_neither_the_signers_nor_aiohttp(
        tmp_path: Path) -> None:
    result = _run_probe(tmp_path, "validate")
    assert result["validated"] == ["TOTAL_PASSED"]
    assert result["signers_after_validation"] == []


def test_a_process_that_validated_a_pdf_signs_one_with_the_whole_of_pyhanko(
        tmp_path: Path) -> None:
    result = _run_probe(tmp_path, "sign")
    assert result["validated"] == ["TOTAL_PASSED"]
    assert result["signed_again"] == ["TOTAL_PASSED", "TOTAL_PASSED"]
    assert "NoSuchSigner" in result["unknown_name"]
