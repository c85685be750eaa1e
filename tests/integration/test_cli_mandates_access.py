"""``gateway mandates …`` and ``gateway access …`` end to end, on SQLite and PostgreSQL (issue 6).

The operator's view: each test drives ``gateway.cli.main`` with ``GATEWAY_DATA_DIR`` and
``GATEWAY_DATABASE_URL`` pointing at the test database (one test runs the installed ``gateway``
script as a subprocess), then checks what it printed, its exit status, what the store holds and
what the audit chain recorded; the chain must still verify after all of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway import cli
from gateway.domain.audit import AuditEvent
from gateway.domain.identifiers import make_ccc, make_cif, make_dni
from gateway.store.unit_of_work import SqlUnitOfWork

GRANTOR = make_cif("B", 4_111_222)
GRANTEE = make_dni(41_112_223)
OTHER_GRANTEE = make_cif("A", 4_333_444)
ENTITY = make_cif("B", 4_555_666)
MANAGER = make_dni(45_556_667)
USER = make_dni(46_667_778)
CCC_A = make_ccc(28, 4_111_222)
CCC_B = make_ccc(8, 4_111_223)
BEFORE_REGISTRY = "2016-10-01T23:00:00+02:00"  # 1 October 2016, Madrid: one hour too early
AFTER_REGISTRY = "2016-10-02T00:00:00+02:00"  # the registry's first instant


@pytest.fixture
def gateway_env(database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test database as the operator's environment sees it (no other GATEWAY_* leaks in)."""
    for key in list(os.environ):
        if key.startswith("GATEWAY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database.url)
    return database


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


INSTANTS = frozenset({"valid_from", "valid_to", "revoked_at", "granted_at", "invited_at",
                      "invitation_expires_at", "activated_at"})


def records(out: str) -> list[dict[str, Any]]:
    """The JSON lines a command printed, instants as aware datetimes (the command echoes an
    instant with the offset it was given; the store gives it back in UTC: same instant)."""
    return [{key: datetime.fromisoformat(value) if key in INSTANTS and value else value
             for key, value in json.loads(line).items()}
            for line in out.splitlines() if line.strip()]


def events(database: Any) -> list[AuditEvent]:
    with SqlUnitOfWork(database.session_factory) as uow:
        return list(uow.audit.iter_events())


def stored_mandates(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "mandates", "list")
    assert code == 0, err
    return records(out)


def assert_chain_intact(capsys: pytest.CaptureFixture[str], expected_events: int) -> None:
    code, out, err = run(capsys, "audit", "verify")
    assert code == 0, err
    assert f"audit chain intact: {expected_events} event(s)" in out


# --- mandates ---------------------------------------------------------------------------------


def test_add_list_and_revoke_a_mandate(gateway_env: Any, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    code, out, err = run(
        capsys, "mandates", "add", "--grantor", GRANTOR.lower(), "--grantee", f" {GRANTEE} ",
        "--scope", "notifications.read", "--scope", "notifications.sign",
        "--issuer", "tgss", "--ccc", "28/4111222/" + CCC_A[-2:], "--special-category",
        "--valid-from", "2026-01-01T00:00:00+01:00", "--valid-to", "2027-01-01T00:00:00+01:00")
    assert code == 0, err
    (added,) = records(out)
    assert added["grantor"] == GRANTOR and added["grantee"] == GRANTEE  # normalised
    assert added["scopes"] == ["notifications.read", "notifications.sign"]
    assert added["issuers"] == ["TGSS"] and added["cccs"] == [CCC_A]
    assert added["special_category"] is True and added["revoked_at"] is None
    assert added["valid_from"] == datetime(2025, 12, 31, 23, tzinfo=UTC)

    assert stored_mandates(capsys) == [added]
    code, out, _ = run(capsys, "mandates", "list", "--party", GRANTEE)
    assert code == 0 and records(out) == [added]
    code, out, _ = run(capsys, "mandates", "list", "--party", GRANTOR)
    assert code == 0 and records(out) == [added]
    code, out, _ = run(capsys, "mandates", "list", "--party", OTHER_GRANTEE)
    assert code == 0 and records(out) == []

    code, out, err = run(capsys, "mandates", "revoke", str(added["id"]))
    assert code == 0, err
    (revoked,) = records(out)
    assert revoked["id"] == added["id"] and revoked["revoked_at"] is not None
    assert abs((revoked["revoked_at"] - datetime.now(UTC)).total_seconds()) < 600  # "now"
    assert stored_mandates(capsys) == [revoked]

    # Revoking twice keeps the first revocation and audits nothing more.
    code, out, _ = run(capsys, "mandates", "revoke", str(added["id"]))
    assert code == 0 and records(out) == [revoked]

    audit = events(gateway_env)
    assert [e.event_type for e in audit] == ["mandate.added", "mandate.revoked"]
    assert all(e.actor == "REGISTRY" and e.subject == f"mandate:{added['id']}" for e in audit)
    assert audit[0].details["grantee"] == GRANTEE
    assert datetime.fromisoformat(str(audit[1].details["revoked_at"])) == revoked["revoked_at"]
    assert_chain_intact(capsys, 2)


def test_revoking_at_a_given_instant_and_an_unknown_mandate(
    gateway_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "mandates", "add", "--grantor", GRANTOR, "--grantee", GRANTEE,
                       "--scope", "postal.manage")
    assert code == 0
    (added,) = records(out)
    code, out, err = run(capsys, "mandates", "revoke", str(added["id"]),
                         "--at", "2030-05-01T12:00:00+02:00")
    assert code == 0, err
    assert records(out)[0]["revoked_at"] == datetime(
        2030, 5, 1, 10, tzinfo=UTC)

    code, out, err = run(capsys, "mandates", "revoke", str(added["id"] + 1000))
    assert code == 1 and out == "" and "not found" in err
    assert [e.event_type for e in events(gateway_env)] == ["mandate.added", "mandate.revoked"]


@pytest.mark.parametrize("when", [
    ("--valid-from", BEFORE_REGISTRY),
    ("--valid-from", "2026-01-01T00:00:00+01:00", "--granted-at", BEFORE_REGISTRY),
], ids=["valid-from", "granted-at"])
def test_a_mandate_given_before_the_registry_started_is_void(
    gateway_env: Any, capsys: pytest.CaptureFixture[str], when: tuple[str, ...]
) -> None:
    code, out, err = run(capsys, "mandates", "add", "--grantor", GRANTOR, "--grantee", GRANTEE,
                         "--scope", "notifications.read", *when)
    assert code == 1 and out == ""
    assert "void" in err and "2016-10-02" in err
    assert stored_mandates(capsys) == []
    assert events(gateway_env) == []

    # The registry's first instant is in time.
    code, _, err = run(capsys, "mandates", "add", "--grantor", GRANTOR, "--grantee", GRANTEE,
                       "--scope", "notifications.read", "--valid-from", AFTER_REGISTRY)
    assert code == 0, err
    assert len(stored_mandates(capsys)) == 1


@pytest.mark.parametrize(("arguments", "complaint"), [
    (("--grantor", "B12345670"), "grantor"),  # wrong control character
    (("--grantee", GRANTOR), "two different parties"),
    (("--scope", "access.grant"), "unknown mandate scope"),  # never delegated by mandate
    (("--issuer", "AEAT"), "issuers must be among"),
    (("--ccc", CCC_A[:-1] + str((int(CCC_A[-1]) + 1) % 10)), "wrong control digits"),
    (("--valid-to", "2025-12-31T00:00:00+01:00"), "validTo must be after validFrom"),
], ids=["bad-nif", "same-party", "management-scope", "issuer", "ccc", "period"])
def test_invalid_mandates_are_refused_and_nothing_is_stored(
    gateway_env: Any, capsys: pytest.CaptureFixture[str], arguments: tuple[str, ...],
    complaint: str
) -> None:
    base = {"--grantor": GRANTOR, "--grantee": GRANTEE, "--scope": "notifications.read",
            "--valid-from": "2026-01-01T00:00:00+01:00"}
    base.update(dict(zip(arguments[::2], arguments[1::2], strict=True)))
    code, out, err = run(capsys, "mandates", "add",
                         *(part for pair in base.items() for part in pair))
    assert code == 1 and out == ""
    assert complaint.lower() in err.lower(), err
    assert stored_mandates(capsys) == []
    assert events(gateway_env) == []


GOOD_CSV = f"""grantor,grantee,scopes,valid_from,valid_to,issuers,cccs,special_category,granted_at
{GRANTOR},{GRANTEE},notifications.read;notifications.sign,2026-01-01T00:00:00+01:00,,,,,
{GRANTOR},{OTHER_GRANTEE},notifications.read,2026-01-01T00:00:00+01:00,2027-01-01T00:00:00+01:00,TGSS;ISM,{CCC_A};{CCC_B},true,2025-12-15T10:00:00+01:00
{ENTITY},{GRANTEE},postal.manage;reception.assign,{AFTER_REGISTRY},,,,no,
"""

GOOD_JSONL = "\n".join(json.dumps(record) for record in [
    {"grantor": GRANTOR, "grantee": GRANTEE, "scopes": ["notifications.read"],
     "valid_from": "2026-01-01T00:00:00+01:00"},
    {"grantor": GRANTOR, "grantee": OTHER_GRANTEE,
     "scopes": "notifications.read,notifications.content", "issuers": ["INSS"],
     "cccs": [CCC_B], "special_category": True, "valid_from": "2026-02-01T00:00:00Z",
     "valid_to": "2026-03-01T00:00:00Z"},
    {"grantor": ENTITY, "grantee": GRANTEE, "scopes": ["postal.manage"],
     "valid_from": AFTER_REGISTRY},
]) + "\n\n"  # a trailing blank line is not a record


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("mandates.csv", GOOD_CSV, [
        (GRANTOR, GRANTEE, ["notifications.read", "notifications.sign"], None, None, False),
        (GRANTOR, OTHER_GRANTEE, ["notifications.read"], ["ISM", "TGSS"],
         sorted([CCC_A, CCC_B]), True),
        (ENTITY, GRANTEE, ["postal.manage", "reception.assign"], None, None, False),
    ]),
    ("mandates.jsonl", GOOD_JSONL, [
        (GRANTOR, GRANTEE, ["notifications.read"], None, None, False),
        (GRANTOR, OTHER_GRANTEE, ["notifications.content", "notifications.read"], ["INSS"],
         [CCC_B], True),
        (ENTITY, GRANTEE, ["postal.manage"], None, None, False),
    ]),
], ids=["csv", "jsonl"])
def test_importing_a_good_file_stores_every_mandate(
    gateway_env: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, text: str,
    expected: list[tuple[Any, ...]]
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "mandates", "import", str(path))
    assert code == 0, err
    assert "imported 3 mandate(s)" in out
    stored = stored_mandates(capsys)
    assert [(m["grantor"], m["grantee"], m["scopes"], m["issuers"], m["cccs"],
             m["special_category"]) for m in stored] == expected
    assert [e.event_type for e in events(gateway_env)] == ["mandate.added"] * 3
    assert_chain_intact(capsys, 3)


def test_the_csv_granted_at_column_is_kept(gateway_env: Any, capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    path = tmp_path / "mandates.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")
    assert run(capsys, "mandates", "import", str(path))[0] == 0
    second = stored_mandates(capsys)[1]
    assert second["granted_at"] == datetime(2025, 12, 15, 9, tzinfo=UTC)
    assert second["valid_to"] == datetime(2026, 12, 31, 23, tzinfo=UTC)


BAD_CSV = f"""grantor,grantee,scopes,valid_from,valid_to,issuers,cccs,special_category,granted_at
{GRANTOR},{GRANTEE},notifications.read,2026-01-01T00:00:00+01:00,,,,,
{GRANTOR},B12345670,notifications.read,2026-01-01T00:00:00+01:00,,,,,
{ENTITY},{GRANTEE},postal.manage,2026-01-01T00:00:00+01:00,,,,,
{ENTITY},{OTHER_GRANTEE},notifications.read,{BEFORE_REGISTRY},,,,,
{GRANTOR},{OTHER_GRANTEE},notifications.read,2026-01-01T00:00:00+01:00,,,,,
"""

BAD_JSONL_FIELDS = "\n".join(json.dumps(record) for record in [
    {"grantor": GRANTOR, "grantee": GRANTEE, "scopes": ["notifications.read"],
     "valid_from": "2026-01-01T00:00:00+01:00"},
    {"grantor": GRANTOR, "grantee": GRANTEE, "scopes": ["notifications.read"],
     "valid_from": "2026-01-01T00:00:00"},  # no UTC offset
    {"grantor": ENTITY, "grantee": GRANTEE, "scopes": ["postal.manage"],
     "valid_from": "2026-01-01T00:00:00+01:00"},
    {"grantor": ENTITY, "grantee": GRANTEE, "scopes": ["access.grant"],
     "valid_from": "2026-01-01T00:00:00+01:00"},
]) + "\n"

BAD_JSONL_SYNTAX = "\n".join([
    json.dumps({"grantor": GRANTOR, "grantee": GRANTEE, "scopes": ["notifications.read"],
                "valid_from": "2026-01-01T00:00:00+01:00"}),
    '{"grantor": "' + GRANTOR + '", "grantee": ',  # cut short
    json.dumps({"grantor": ENTITY, "grantee": GRANTEE, "scopes": ["postal.manage"],
                "valid_from": "2026-01-01T00:00:00+01:00"}),
    json.dumps({"grantor": ENTITY, "grantee": ENTITY, "scopes": ["postal.manage"],
                "valid_from": "2026-01-01T00:00:00+01:00"}),
]) + "\n"


@pytest.mark.parametrize(("name", "text", "bad_lines"), [
    ("bad.csv", BAD_CSV, (3, 5)),
    ("bad.jsonl", BAD_JSONL_FIELDS, (2, 4)),
    ("unparsable.jsonl", BAD_JSONL_SYNTAX, (2, 4)),
], ids=["csv", "jsonl-fields", "jsonl-syntax"])
def test_a_file_with_bad_lines_imports_nothing_and_names_every_bad_line(
    gateway_env: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, text: str,
    bad_lines: tuple[int, ...]
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "mandates", "import", str(path))
    assert code == 1
    assert "imported" not in out
    reported = sorted(int(line.split(":")[1]) for line in err.splitlines()
                      if line.startswith(f"{path}:"))
    assert reported == list(bad_lines), err
    assert f"{len(bad_lines)} bad line(s); nothing imported" in err
    assert stored_mandates(capsys) == []
    assert events(gateway_env) == []


# --- access managers and grants -----------------------------------------------------------------


def test_access_management_round_trip(gateway_env: Any, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    code, out, err = run(capsys, "access", "name-manager", "--entity", ENTITY,
                         "--person", MANAGER, "--by", "OPERATOR-7")
    assert code == 0, err
    (manager,) = records(out)
    assert (manager["entity"], manager["person"], manager["named_by"]) == (
        ENTITY, MANAGER, "OPERATOR-7")
    assert manager["revoked_at"] is None
    # Naming the same person again is not an error and adds nothing.
    code, out, _ = run(capsys, "access", "name-manager", "--entity", ENTITY, "--person", MANAGER)
    assert code == 0 and records(out)[0]["id"] == manager["id"]
    code, out, _ = run(capsys, "access", "managers", "--entity", ENTITY)
    assert code == 0 and records(out) == [manager]

    code, out, err = run(capsys, "access", "grant", "--entity", ENTITY, "--grantee", USER,
                         "--scope", "notifications.read", "--scope", "notifications.content",
                         "--ccc", CCC_A, "--ccc", CCC_B, "--valid-to",
                         "2099-01-01T00:00:00+01:00", "--by", "OPERATOR-7")
    assert code == 0, err
    (grant,) = records(out)
    assert (grant["entity"], grant["grantee"], grant["granted_by"]) == (ENTITY, USER, "OPERATOR-7")
    assert grant["scopes"] == ["notifications.content", "notifications.read"]
    assert grant["cccs"] == sorted([CCC_A, CCC_B])
    assert grant["state"] == "INVITATION_PENDING" and grant["activated_at"] is None
    assert grant["valid_to"] == datetime(2098, 12, 31, 23, tzinfo=UTC)
    assert (grant["invitation_expires_at"] - grant["invited_at"]).total_seconds() == 24 * 3600
    code, out, _ = run(capsys, "access", "grants", "--entity", ENTITY)
    assert code == 0 and records(out) == [grant]
    code, out, _ = run(capsys, "access", "grants", "--entity", GRANTOR)
    assert code == 0 and records(out) == []

    code, out, err = run(capsys, "access", "revoke", str(grant["id"]), "--entity", ENTITY)
    assert code == 0, err
    (revoked,) = records(out)
    assert revoked["id"] == grant["id"] and revoked["state"] == "GRANT_REVOKED"
    assert revoked["revoked_at"] is not None
    code, out, _ = run(capsys, "access", "grants", "--entity", ENTITY)
    assert code == 0 and records(out) == [revoked]

    code, out, err = run(capsys, "access", "remove-manager", "--entity", ENTITY,
                         "--person", MANAGER)
    assert code == 0, err
    assert "removed 1 access manager role(s)" in out
    code, out, _ = run(capsys, "access", "managers", "--entity", ENTITY)
    assert code == 0
    (removed,) = records(out)
    assert removed["id"] == manager["id"] and removed["revoked_at"] is not None
    code, out, _ = run(capsys, "access", "remove-manager", "--entity", ENTITY, "--person", MANAGER)
    assert code == 0 and "removed 0 access manager role(s)" in out

    audit = events(gateway_env)
    assert [e.event_type for e in audit] == [
        "access_manager.named", "access_grant.invited", "access_grant.revoked",
        "access_manager.removed"]
    assert {e.actor for e in audit} == {ENTITY}
    assert audit[0].details["named_by"] == "OPERATOR-7"
    assert audit[1].details["grant"] == grant["id"] and audit[1].details["grantee"] == USER
    assert_chain_intact(capsys, 4)


def test_a_grant_cannot_be_revoked_through_another_entity(
    gateway_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "access", "grant", "--entity", ENTITY, "--grantee", USER,
                       "--scope", "notifications.read")
    assert code == 0
    (grant,) = records(out)
    code, out, err = run(capsys, "access", "revoke", str(grant["id"]), "--entity", GRANTOR)
    assert code == 1 and out == "" and "not found" in err
    code, out, _ = run(capsys, "access", "grants", "--entity", ENTITY)
    assert records(out)[0]["revoked_at"] is None
    refused = events(gateway_env)[-1]
    assert refused.event_type == "access.refused"
    assert refused.subject == ENTITY
    assert refused.details == {"action": "access.grant", "reason": "NOT_ACCESS_MANAGER"}


@pytest.mark.parametrize(("argv", "complaint"), [
    (("access", "name-manager", "--entity", ENTITY, "--person", GRANTOR), "natural person"),
    (("access", "name-manager", "--entity", MANAGER, "--person", USER), "entity nif"),
    (("access", "grant", "--entity", ENTITY, "--grantee", USER, "--scope", "postal.manage"),
     "unknown grant scope"),
    (("access", "grant", "--entity", ENTITY, "--grantee", USER, "--scope",
      "notifications.read", "--valid-to", "2020-01-01T00:00:00+01:00"), "validto"),
], ids=["manager-not-a-person", "entity-not-an-entity", "scope", "past-end"])
def test_invalid_access_commands_change_nothing(
    gateway_env: Any, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], complaint: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert complaint in err.lower(), err
    assert events(gateway_env) == []
    assert run(capsys, "access", "managers", "--entity", ENTITY)[1] == ""
    assert run(capsys, "access", "grants", "--entity", ENTITY)[1] == ""


def test_the_installed_script_exits_with_the_documented_statuses(gateway_env: Any,
                                                                  tmp_path: Path) -> None:
    """The ``gateway`` console script as an operator runs it (environment only, real exit
    statuses). Few invocations: each one pays the whole import of the gateway."""
    script = Path(sys.executable).with_name("gateway")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]
    environment = dict(os.environ)  # GATEWAY_DATA_DIR / GATEWAY_DATABASE_URL from the fixture

    def gateway(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *argv], env=environment, capture_output=True,
                              text=True, check=False, timeout=300)

    csv_path = tmp_path / "mandates.csv"
    csv_path.write_text(GOOD_CSV, encoding="utf-8")
    imported = gateway("mandates", "import", str(csv_path))
    assert imported.returncode == 0, imported.stderr
    assert "imported 3 mandate(s)" in imported.stdout

    void = gateway("mandates", "add", "--grantor", GRANTOR, "--grantee", GRANTEE,
                   "--scope", "notifications.read", "--valid-from", BEFORE_REGISTRY)
    assert void.returncode == 1 and "void" in void.stderr and void.stdout == ""

    granted = gateway("access", "grant", "--entity", ENTITY, "--grantee", USER,
                      "--scope", "notifications.sign")
    assert granted.returncode == 0, granted.stderr
    assert records(granted.stdout)[0]["state"] == "INVITATION_PENDING"

    verified = gateway("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit chain intact: 4 event(s)" in verified.stdout  # 3 mandates, 1 invitation
