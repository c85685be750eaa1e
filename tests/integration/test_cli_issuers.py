"""``gateway issuers add|list|remove`` end to end, on SQLite and PostgreSQL (issue 17).

The operator's view: what each command printed, its exit status, what the registry holds, and
the audit chain (every change audited, refusals write nothing, the chain still verifies).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gateway import cli, cli_issuers
from gateway.domain.identifiers import make_cif
from gateway.domain.model import Issuer
from gateway.store.unit_of_work import SqlUnitOfWork

TGSS_SEAL = make_cif("Q", 2_827_004)
INSS_SEAL = make_cif("Q", 2_827_005)


@pytest.fixture
def gateway_env(database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key in list(os.environ):
        if key.startswith("GATEWAY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database.url)
    return database


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines() if line.strip()], \
        captured.err


def audit(database: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    with SqlUnitOfWork(database.session_factory) as uow:
        return [(e.event_type, e.actor, e.subject, dict(e.details))
                for e in uow.audit.iter_events()]


def test_add_list_remove_audited(gateway_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "issuers", "add", "TGSS", TGSS_SEAL.lower(), "--by", "ops-1")
    assert code == 0, err
    assert out[0]["organisation"] == TGSS_SEAL and out[0]["issuer"] == "TGSS"  # normalised
    code, _, err = run(capsys, "issuers", "add", "INSS", INSS_SEAL)
    assert code == 0, err

    code, listed, _ = run(capsys, "issuers", "list")
    assert code == 0
    assert [(r["issuer"], r["organisation"]) for r in listed] == [("INSS", INSS_SEAL),
                                                                   ("TGSS", TGSS_SEAL)]

    code, out, err = run(capsys, "issuers", "remove", TGSS_SEAL, "--by", "ops-2")
    assert code == 0, err
    code, listed, _ = run(capsys, "issuers", "list")
    assert [r["organisation"] for r in listed] == [INSS_SEAL]

    assert audit(gateway_env) == [
        ("issuer.registered", "ops-1", TGSS_SEAL, {"issuer": "TGSS"}),
        ("issuer.registered", "REGISTRY", INSS_SEAL, {"issuer": "INSS"}),
        ("issuer.unregistered", "ops-2", TGSS_SEAL, {"issuer": "TGSS"}),
    ]
    assert cli.main(["audit", "verify"]) == 0
    assert "audit chain intact: 3 event(s)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["issuers", "add", "TGSS", "12345678Z"], "entity"),  # a person's NIF is no seal's CIF
    (["issuers", "add", "TGSS", "Q2827004X"], "control character"),
    (["issuers", "remove", TGSS_SEAL], "not a registered issuer"),
])
def test_refusals_write_nothing(gateway_env: Any, capsys: pytest.CaptureFixture[str],
                                argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == [] and message in err
    assert audit(gateway_env) == []


def test_one_organisation_publishes_as_one_issuer(gateway_env: Any,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "issuers", "add", "TGSS", TGSS_SEAL)[0] == 0
    code, _, err = run(capsys, "issuers", "add", "ISM", TGSS_SEAL)
    assert code == 1 and "already registered" in err
    assert [e[0] for e in audit(gateway_env)] == ["issuer.registered"]


def test_an_unknown_issuer_is_a_usage_error(gateway_env: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["issuers", "add", "SEPE", TGSS_SEAL])
    assert exited.value.code == 2


def test_the_parser_spells_the_issuers_of_the_domain() -> None:
    assert cli_issuers.ISSUERS == tuple(i.value for i in Issuer)
