"""``gateway certs enrol|list|revoke`` end to end, on SQLite and PostgreSQL (issue 14).

What each command printed and its exit status, what the gate's lookup then finds by each
reference kind, and the audit chain (every change audited, refusals write nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from gateway import cli
from gateway.pki import DemoPki, generate_demo_pki
from gateway.store.enrolled import SqlEnrolledCertificates
from gateway.store.unit_of_work import SqlUnitOfWork
from gateway.wssec.tokens import ReferenceKind, subject_key_identifier


@pytest.fixture
def pki(tmp_path: Path) -> DemoPki:
    return generate_demo_pki(tmp_path / "pki", now=datetime.now(UTC))


@pytest.fixture
def gateway_env(database: Any, tmp_path: Path, pki: DemoPki,
                monkeypatch: pytest.MonkeyPatch) -> Any:
    for key in list(os.environ):
        if key.startswith("GATEWAY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_PKI_DIR", str(pki.directory))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database.url)
    return database


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines() if line.strip()], \
        captured.err


def events(database: Any) -> list[tuple[str, str, str]]:
    with SqlUnitOfWork(database.session_factory) as uow:
        return [(e.event_type, e.actor, e.subject) for e in uow.audit.iter_events()]


def test_enrol_list_revoke_audited_and_seen_by_the_gate(
        gateway_env: Any, pki: DemoPki, capsys: pytest.CaptureFixture[str]) -> None:
    certificate = pki.client("company").certificate()
    der = certificate.public_bytes(Encoding.DER)
    code, out, err = run(capsys, "certs", "enrol", str(pki.client("company").cert_path),
                         "--principal", pki.company_cif, "--by", "ops-1")
    assert code == 0, err
    fingerprint = out[0]["fingerprint"]
    assert fingerprint == hashlib.sha256(der).hexdigest()
    assert out[0]["principal"] == pki.company_cif

    lookup = SqlEnrolledCertificates(gateway_env.session_factory)
    assert lookup.enrolled(ReferenceKind.ISSUER_SERIAL, str(certificate.serial_number)) == [der]
    assert lookup.enrolled(ReferenceKind.SUBJECT_KEY_IDENTIFIER,
                           subject_key_identifier(certificate).hex()) == [der]
    assert lookup.enrolled(ReferenceKind.THUMBPRINT_SHA1,
                           hashlib.sha1(der).hexdigest()) == [der]
    assert lookup.enrolled(ReferenceKind.X509_KEY_IDENTIFIER, fingerprint) == [der]

    code, listed, _ = run(capsys, "certs", "list", "--principal", pki.company_cif)
    assert code == 0 and [r["fingerprint"] for r in listed] == [fingerprint]
    assert listed[0]["revoked_at"] is None

    code, out, err = run(capsys, "certs", "revoke", fingerprint, "--by", "ops-2")
    assert code == 0, err
    assert lookup.enrolled(ReferenceKind.THUMBPRINT_SHA1, hashlib.sha1(der).hexdigest()) == []
    code, listed, _ = run(capsys, "certs", "list")
    assert listed[0]["revoked_at"] is not None

    assert events(gateway_env) == [("certificate.enrolled", "ops-1", pki.company_cif),
                                   ("certificate.enrolment_revoked", "ops-2", pki.company_cif)]
    assert cli.main(["audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out


@pytest.mark.parametrize("client, principal", [
    ("untrusted", None), ("unmapped", None), ("no_digital_signature", None),
    ("company", "12345678Z"),
])
def test_refused_enrolments_write_nothing(
        gateway_env: Any, pki: DemoPki, capsys: pytest.CaptureFixture[str], client: str,
        principal: str | None) -> None:
    argv = ["certs", "enrol", str(pki.client(client).cert_path)]
    if principal:
        argv += ["--principal", principal]
    code, _, _ = run(capsys, *argv)
    assert code != 0
    assert events(gateway_env) == []
    code, listed, _ = run(capsys, "certs", "list")
    assert listed == []


def test_enrolling_twice_and_revoking_the_unknown_are_refused(
        gateway_env: Any, pki: DemoPki, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(pki.client("person").cert_path)
    assert run(capsys, "certs", "enrol", path)[0] == 0
    assert run(capsys, "certs", "enrol", path)[0] != 0
    assert run(capsys, "certs", "revoke", "ab" * 32)[0] != 0
    assert [e[0] for e in events(gateway_env)] == ["certificate.enrolled"]


def test_lookup_during_a_database_outage_is_service_unavailable(tmp_path: Path) -> None:
    from sqlalchemy.orm import sessionmaker

    from gateway.errors import ServiceUnavailable
    from gateway.store.engine import create_engine_for

    engine = create_engine_for(f"sqlite:///{tmp_path / 'missing' / 'nowhere' / 'x.db'}")
    lookup = SqlEnrolledCertificates(sessionmaker(engine))
    with pytest.raises(ServiceUnavailable):
        lookup.enrolled(ReferenceKind.THUMBPRINT_SHA1, "00" * 20)
    engine.dispose()
