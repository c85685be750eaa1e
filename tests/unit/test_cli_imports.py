"""The command line imports only what the command it runs needs (issue 18).

Behaviour, not timing: after a command ran in a fresh interpreter, the heavy stacks it does not
use must be absent from ``sys.modules`` -- the server (Spyne, the SOAP adapters), PDF rendering
(reportlab), signing (pyHanko's signers) and the ORM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import cli_access, cli_validate
from gateway.services.mandates import REGISTRY_ACTOR
from gateway.signatures import SignatureFormat

REPOSITORY = Path(__file__).resolve().parents[2]

SERVER_STACK = ("spyne", "gateway.soap", "gateway.wsgi", "gunicorn")
PDF_RENDERING = ("reportlab", "gateway.receipt_pdf")
SIGNING = ("pyhanko.sign.signers", "gateway.signatures.signing", "gateway.signatures.cms_signing")
DATABASE = ("sqlalchemy.orm", "gateway.store")
SIGNATURE_ENGINE = (
    "gateway.signatures", "pyhanko", "gateway.wssec", "gateway.trust", "gateway.xmlsig")

PROBE = """
import json, sys
from gateway import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded_after(*argv: str, env: dict[str, str] | None = None) -> set[str]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY), **(env or {})}, cwd=REPOSITORY)
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result["code"] in (0, None), completed.stderr
    return set(result["modules"])


def offenders(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in modules
                  if any(name == f or name.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("argv", [
    ["--help"], ["validate", "--help"], ["contract", "--help"], ["audit", "verify", "--help"],
    ["mandates", "list", "--help"], ["access", "--help"], ["issuers", "add", "--help"], ["certs", "enrol", "--help"], ["serve", "--help"],
    ["pki", "rotate", "--help"], ["limits", "set", "--help"],
    ["import", "--help"], ["trust", "import-tl", "--help"],
])
def test_help_imports_no_heavy_stack(argv: list[str]) -> None:
    modules = loaded_after(*argv)
    assert offenders(
        modules, SERVER_STACK + PDF_RENDERING + SIGNING + DATABASE + SIGNATURE_ENGINE) == []


def test_validate_loads_neither_the_server_nor_the_database_nor_pdf_rendering(
        tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from gateway.domain.clock import FixedClock
    from gateway.pki import generate_demo_pki
    from gateway.signatures import sign_cades

    now = datetime.now(UTC)
    pki = generate_demo_pki(tmp_path / "pki", now=now - timedelta(hours=1))
    credential = pki.client("person")
    signed = tmp_path / "ack.p7m"
    signed.write_bytes(sign_cades(b"acuse", credential.private_key(), credential.certificate(),
                                  detached=False, clock=FixedClock(now)))
    modules = loaded_after("validate", str(signed), env={
        "GATEWAY_PKI_DIR": str(pki.directory), "GATEWAY_DATA_DIR": str(tmp_path / "var")})
    # A CMS file needs neither the PDF nor the XML engine, nor the WS-Security gate; and it
    # passes without them (the exit code 0 is checked: CAdES once depended on XAdES's imports).
    assert offenders(modules, SERVER_STACK + PDF_RENDERING + DATABASE + SIGNING
                     + ("sqlalchemy", "pyhanko", "gateway.signatures.xades", "lxml",
                        "gateway.wssec.gate")) == []


@pytest.mark.parametrize("argv", [["audit", "verify"], ["mandates", "list"], ["issuers", "list"]])
def test_database_commands_load_neither_the_server_nor_pdf_rendering_nor_signing(
        argv: list[str], tmp_path: Path) -> None:
    modules = loaded_after("--database", f"sqlite:///{tmp_path / 'gateway.db'}", *argv,
                           env={"GATEWAY_DATA_DIR": str(tmp_path / "var")})
    assert "sqlalchemy.orm" in modules  # they do use the database
    assert offenders(modules, SERVER_STACK + PDF_RENDERING + SIGNING + SIGNATURE_ENGINE) == []


def test_values_spelled_out_for_the_parser_match_their_source() -> None:
    assert cli_validate.SIGNATURE_FORMATS == tuple(f.value for f in SignatureFormat)
    assert cli_access.REGISTRY_ACTOR == REGISTRY_ACTOR


def test_names_exported_lazily_are_found_and_unknown_ones_still_fail() -> None:
    import gateway.signatures
    import gateway.wssec
    from gateway.signatures.signing import sign_cades
    from gateway.wssec.gate import WsSecurityGate

    assert gateway.signatures.sign_cades is sign_cades
    assert gateway.wssec.WsSecurityGate is WsSecurityGate
    with pytest.raises(AttributeError, match="'gateway.wssec' has no attribute 'Gate'"):
        gateway.wssec.Gate  # noqa: B018

