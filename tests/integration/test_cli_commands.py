"""The operator's commands end to end, on SQLite and the real PostgreSQL.

Each test drives ``gateway.cli.main`` as an operator would and checks what it printed and what
is (or is not) in the store afterwards.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import cli
from gateway.bootstrap import build
from gateway.config import Settings
from gateway.domain.identifiers import make_ccc, make_cif, make_dni
from gateway.domain.listing import Audience, ListingQuery, Role
from gateway.domain.model import Status

COMPANY = make_cif("B", 4_321_987)
PERSON = make_dni(45_678_123)
CCC = make_ccc(28, 7_654_321)


def run(database, capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["--database", database.url, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def all_items(database, recipient: str):
    container = build(Settings(database_url=database.url))
    try:
        with container.unit_of_work() as uow:
            return uow.notifications.list_page(
                ListingQuery(audience=(Audience(recipient, Role.OWN),), limit=1000)
            )
    finally:
        container.dispose()


def write_batch(directory: Path, rows: list[dict[str, str]], fmt: str = "csv") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("resolucion.pdf", "anexo1.pdf", "anexo2.xml"):
        (directory / name).write_bytes(f"contenido de {name}".encode())
    if fmt == "csv":
        columns = ["issuer", "issuer_reference", "kind", "procedure", "subject", "recipient",
                   "ccc", "category", "made_available_at", "main_document", "annexes"]
        lines = [",".join(columns)]
        lines += [",".join(row.get(c, "") for c in columns) for row in rows]
        (directory / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        (directory / "manifest.jsonl").write_text(
            "\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8"
        )
    return directory


def good_row(reference: str, **overrides: str) -> dict[str, str]:
    row = {
        "issuer": "TGSS", "issuer_reference": reference, "kind": "NOTIFICATION",
        "procedure": "Reclamación de deuda", "subject": "Reclamación 2026/001",
        "recipient": COMPANY, "ccc": CCC, "category": "NORMAL",
        "main_document": "resolucion.pdf", "annexes": "anexo1.pdf;anexo2.xml",
    }
    row.update(overrides)
    return row


def test_import_of_a_good_batch_stores_every_row_with_documents(database, capsys, tmp_path):
    batch = write_batch(tmp_path / "in", [
        good_row("R-1"),
        good_row("R-2", recipient=PERSON.lower(), ccc="", kind="COMMUNICATION", annexes=""),
        good_row("R-3", category="SPECIAL", issuer="INSS"),
    ])
    code, out, err = run(database, capsys, "import", str(batch))
    assert code == 0, err
    assert "imported 3 item(s)" in out
    company_items = all_items(database, COMPANY)
    assert sorted(n.issuer_reference for n in company_items) == ["R-1", "R-3"]
    first = next(n for n in company_items if n.issuer_reference == "R-1")
    assert [d.name for d in first.documents] == ["resolucion.pdf", "anexo1.pdf", "anexo2.xml"]
    assert first.documents[0].size == len(b"contenido de resolucion.pdf")
    assert first.deadline_at is not None and first.deadline_at > first.made_available_at
    person_items = all_items(database, PERSON)  # the lower-case NIF was normalised
    assert [n.issuer_reference for n in person_items] == ["R-2"]
    assert person_items[0].deadline_at is None  # communications have no deadline


def test_import_with_one_bad_row_imports_nothing_and_names_its_line(database, capsys, tmp_path):
    wrong_letter = PERSON[:-1] + ("A" if PERSON[-1] != "A" else "B")
    batch = write_batch(tmp_path / "in", [
        good_row("R-1"),
        good_row("R-2", recipient=wrong_letter),
        good_row("R-3"),
    ])
    code, _out, err = run(database, capsys, "import", str(batch))
    assert code == 1
    assert "nothing was imported" in err
    assert "line 3: recipient" in err  # header is line 1, so the second row is line 3
    assert "line 2" not in err and "line 4" not in err
    assert all_items(database, COMPANY) == []


def test_every_bad_row_is_reported_in_one_pass(database, capsys, tmp_path):
    batch = write_batch(tmp_path / "in", [
        good_row("R-1", issuer="XYZ"),
        good_row("R-2"),
        good_row("R-3", ccc="28123456700", main_document="missing.pdf"),
        good_row("R-2"),  # same reference twice in one batch
        good_row("R-5", made_available_at="yesterday"),
    ], fmt="jsonl")
    code, _, err = run(database, capsys, "import", str(batch))
    assert code == 1
    for expected in ("line 1: issuer", "line 3: ccc", "line 3: main_document",
                     "line 4: issuer_reference", "line 5: made_available_at"):
        assert expected in err
    assert all_items(database, COMPANY) == []


def test_reimporting_a_published_reference_is_refused(database, capsys, tmp_path):
    first = write_batch(tmp_path / "one", [good_row("R-1")])
    assert run(database, capsys, "import", str(first))[0] == 0
    second = write_batch(tmp_path / "two", [good_row("R-9"), good_row("R-1")])
    code, _, err = run(database, capsys, "import", str(second))
    assert code == 1
    assert "line 3: issuer_reference" in err and "already published" in err
    assert [n.issuer_reference for n in all_items(database, COMPANY)] == ["R-1"]


def test_dry_run_writes_nothing(database, capsys, tmp_path):
    batch = write_batch(tmp_path / "in", [good_row("R-1")])
    code, out, _ = run(database, capsys, "import", "--dry-run", str(batch))
    assert code == 0 and "valid (dry run" in out
    assert all_items(database, COMPANY) == []


def test_sweep_twice_expires_once(database, capsys, tmp_path):
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    batch = write_batch(tmp_path / "in", [
        good_row("OLD-1", made_available_at=old),
        good_row("OLD-2", made_available_at=old, kind="COMMUNICATION"),
        good_row("NEW-1", made_available_at=recent),
    ])
    assert run(database, capsys, "import", str(batch))[0] == 0

    code, out, _ = run(database, capsys, "sweep")
    assert code == 0 and "expired 1 overdue" in out
    after_first = {n.issuer_reference: (n.status, n.status_at) for n in all_items(database, COMPANY)}
    assert after_first["OLD-1"][0] is Status.EXPIRED
    assert after_first["OLD-2"][0] is Status.AVAILABLE  # a communication never expires
    assert after_first["NEW-1"][0] is Status.AVAILABLE

    code, out, _ = run(database, capsys, "sweep")
    assert code == 0 and "expired 0 overdue" in out
    after_second = {n.issuer_reference: (n.status, n.status_at) for n in all_items(database, COMPANY)}
    assert after_second == after_first


def test_recorded_outage_extends_pending_deadlines_it_overlapped(database, capsys, tmp_path):
    recent = datetime.now(UTC) - timedelta(days=2)
    batch = write_batch(tmp_path / "in", [good_row("R-1", made_available_at=recent.isoformat())])
    assert run(database, capsys, "import", str(batch))[0] == 0
    before = all_items(database, COMPANY)[0]

    starts = recent + timedelta(hours=3)
    code, out, err = run(database, capsys, "outage", "add", "--from", starts.isoformat(),
                         "--to", (starts + timedelta(hours=5)).isoformat(),
                         "--reason", "database failover")
    assert code == 0, err
    assert "extended 1 deadline(s)" in out
    after = all_items(database, COMPANY)[0]
    assert after.deadline_extension_days >= 1
    assert after.deadline_at > before.deadline_at

    code, out, _ = run(database, capsys, "outage", "list")
    assert "database failover" in out


def test_demo_builds_a_summary(database, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    code, out, err = run(database, capsys, "demo", "--count", "150")
    assert code == 0, err
    summary, _ = json.JSONDecoder().raw_decode(out[out.index("{"):])
    assert summary["total"] == 150
    assert summary["by_kind"]["NOTIFICATION"] + summary["by_kind"]["COMMUNICATION"] == 150
    assert (tmp_path / "var" / "pki" / "pki.json").is_file()  # the demo PKI came along
    code, out, _ = run(database, capsys, "demo", "--count", "150")
    assert code == 0 and "already there" in out
    assert "--count N with N > 150" in out  # says plainly what to do
    code, out, err = run(database, capsys, "demo", "--count", "200")
    assert code == 0, err
    assert "added 50 item(s)" in out
    summary, _ = json.JSONDecoder().raw_decode(out[out.index("{"):])
    assert summary["total"] == 200


def test_demo_gives_the_red_agent_companies_and_the_person_mandates(
        database, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    code, out, err = run(database, capsys, "demo", "--count", "400")
    assert code == 0, err
    summary, _ = json.JSONDecoder().raw_decode(out[out.index("{"):])
    assert summary["by_status"]["AVAILABLE"] >= 0.8 * 400  # most items are pending
    agent = make_cif("B", 7654321)
    code, out, err = run(database, capsys, "red", "list", "--agent", agent)
    assert code == 0, err
    companies = [json.loads(line) for line in out.splitlines()]
    assert len(companies) >= 3 and all(c["cccs"] for c in companies)
    container = build(Settings(database_url=database.url))
    try:
        with container.unit_of_work() as uow:
            pending = uow.notifications.list_page(ListingQuery(
                audience=tuple(Audience(c["company"], Role.OWN) for c in companies),
                limit=1000))
        mandates = container.mandates().listed(make_dni(12345678))
    finally:
        container.dispose()
    assert len({item.recipient for item in pending if item.ccc}) >= 3
    scopes = [m.scopes_codes() for m in mandates]
    assert any("notifications.content" in s for s in scopes)
    assert any("notifications.content" not in s for s in scopes)
    # a re-run prints the walkthrough's commands and the verification page too
    code, out, _ = run(database, capsys, "demo", "--count", "400")
    assert cli.WALKTHROUGH[0] in out and "/verify" in out


def test_red_assign_unassign_and_list_are_audited(database, capsys, tmp_path):
    agent = make_cif("B", 2_222_222)
    code, out, err = run(database, capsys, "red", "assign", "--company", COMPANY, "--ccc", CCC,
                         "--agent", agent, "--by", PERSON)
    assert code == 0, err
    assert json.loads(out)["agent"] == agent
    code, out, _ = run(database, capsys, "red", "list", "--agent", agent)
    assert json.loads(out) == {"agent": agent, "company": COMPANY, "cccs": [CCC]}
    code, out, err = run(database, capsys, "red", "assign", "--company", make_cif("B", 3_333_333),
                         "--ccc", CCC, "--agent", agent)
    assert code == 1 and "another company" in err
    code, out, _ = run(database, capsys, "red", "unassign", "--company", COMPANY, "--ccc", CCC)
    assert code == 0 and "ended 1" in out
    code, out, _ = run(database, capsys, "red", "list", "--agent", agent)
    assert out == ""
    code, out, _ = run(database, capsys, "red", "list", "--ccc", CCC)
    [history] = [json.loads(line) for line in out.splitlines()]
    assert history["unassigned_at"] is not None
    container = build(Settings(database_url=database.url))
    try:
        with container.unit_of_work() as uow:
            events = [e.event_type for e in uow.audit.iter_events()]
    finally:
        container.dispose()
    assert "reception.assigned" in events and "reception.unassigned" in events


@pytest.mark.parametrize("argv", [["--help"], ["db", "--help"], ["db", "upgrade", "--help"],
                                  ["import", "--help"], ["sweep", "--help"], ["demo", "--help"],
                                  ["outage", "--help"], ["outage", "add", "--help"],
                                  ["outage", "list", "--help"], ["serve", "--help"],
                                  ["pki", "--help"], ["pki", "demo", "--help"],
                                  ["contract", "--help"], ["validate", "--help"],
                                  ["audit", "--help"], ["audit", "verify", "--help"],
                                  ["red", "--help"], ["red", "assign", "--help"],
                                  ["red", "unassign", "--help"], ["red", "list", "--help"]])
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 0
    assert "usage: gateway" in capsys.readouterr().out


def test_import_after_an_outage_extends_the_new_items_deadline(database, capsys, tmp_path):
    made_available = datetime.now(UTC) - timedelta(days=3)
    starts = made_available + timedelta(hours=2)
    code, _, err = run(database, capsys, "outage", "add", "--from", starts.isoformat(),
                       "--to", (starts + timedelta(hours=4)).isoformat(), "--reason", "network")
    assert code == 0, err
    batch = write_batch(tmp_path / "in", [
        good_row("LATE-1", made_available_at=made_available.isoformat()),
        good_row("LATE-2", made_available_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat()),
    ])
    code, _, err = run(database, capsys, "import", str(batch))
    assert code == 0, err
    items = {n.issuer_reference: n for n in all_items(database, COMPANY)}
    assert items["LATE-1"].deadline_extension_days >= 1
    assert items["LATE-2"].deadline_extension_days == 0  # the outage was before its window
