"""``batch_agent.py``, ``verify_receipt.py`` and ``list_notifications.py`` run as subprocesses
against the real gateway, as an integrator runs them (see conftest.py for the parties)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from agent_world import EXAMPLES, REPOSITORY, AgentWorld, archive_files, expected_documents, sha256

pytestmark = pytest.mark.postgres


def receipt_files(numbers: set[str], recipient: str) -> set[str]:
    """Where the agent files receipts: in their recipient's folder (one receipt per recipient,
    so a company's folder holds nothing about another)."""
    return {f"{recipient}/receipts/{n.replace('/', '-')}.xml" for n in numbers}


def acknowledgement_files(files: dict[str, bytes]) -> set[str]:
    """The signed acknowledgements, kept apart at the root (they name every recipient's items)."""
    return {path for path in files if path.startswith("acknowledgements/")}


def test_full_run_archives_everything_once_and_the_receipts_verify(
    agent_world: AgentWorld, tmp_path: Path
) -> None:
    company = agent_world.gateway.pki.company_cif
    visible = agent_world.visible_to("company")
    notifications = {i for i, item in visible.items() if item.kind == "NOTIFICATION"}
    archive = tmp_path / "archive"

    # Documents over 2,500 bytes take the streamed path (gateway.client.download), the rest
    # zeep's: both end up the same in the archive.
    run = agent_world.run_agent("company", archive, "--batch-size", "5", "--page-size", "7",
                                "--stream-above", "2500")

    assert run.returncode == 0, run.stderr
    assert "accepted=16 " in run.stdout and "read=2 " in run.stdout and "errors=0" in run.stdout
    # On the server: every notification accepted by exactly one receipt item, communications
    # read; 16 notifications in batches of 5 make four acknowledgements, and five receipts, all
    # signed by the company: the special-category one is certified on a receipt of its own.
    assert agent_world.statuses(set(visible)) == {
        i: "ACCEPTED" if i in notifications else "READ" for i in visible}
    items = agent_world.receipt_items(notifications)
    assert all(len(found) == 1 and found[0][1] == "ACCEPTED" for found in items.values()), items
    numbers = {found[0][0] for found in items.values()}
    assert len(numbers) == 5 and agent_world.receipts_signed_by(company) == numbers
    special = {i for i in notifications if visible[i].category == "SPECIAL"}
    assert len(special) == 1 and len({items[i][0][0] for i in special}) == 1
    assert not {items[i][0][0] for i in special} & {items[i][0][0]
                                                   for i in notifications - special}

    # In the archive: every document once with its SHA-256, a notification.json per item, each
    # receipt and its signed acknowledgement; nothing else (no temporary file left).
    files = archive_files(archive)
    documents = expected_documents(agent_world, visible)
    entries = {f"{item.recipient}/{i}/notification.json" for i, item in visible.items()}
    acks = acknowledgement_files(files)
    assert len(acks) == 4  # one per batch, certified by the five receipts
    assert set(files) == set(documents) | entries | receipt_files(numbers, company) | acks
    assert {path: sha256(files[path]) for path in documents} == documents
    accepted = min(notifications)
    entry = json.loads(files[f"{company}/{accepted}/notification.json"])
    assert entry["status"] == "ACCEPTED" and entry["registrationNumber"] in numbers
    assert entry["receipt"] == \
        f"{company}/receipts/{entry['registrationNumber'].replace('/', '-')}.xml"
    assert [d["file"] for d in entry["documents"]] == [
        path for path in sorted(documents) if path.startswith(f"{company}/{accepted}/")]

    # verify_receipt.py: each receipt is the server's, and certifies the acknowledgement sent.
    check = agent_world.verify_receipts(*(archive / path
                                          for path in sorted(receipt_files(numbers, company))))
    assert check.returncode == 0, check.stderr
    for number in numbers:
        assert f"VALID receipt {number}" in check.stdout
    assert check.stdout.count("(matches acknowledgement") == 5
    tampered = tmp_path / "tampered.xml"
    receipt = archive / min(receipt_files(numbers, company))
    tampered.write_bytes(receipt.read_bytes().replace(b'outcome="ACCEPTED"',
                                                      b'outcome="REJECTED"', 1))
    refused = agent_world.verify_receipts(tampered)
    assert refused.returncode == 1 and "INVALID" in refused.stderr

    # Run again: nothing to do, nothing changes.
    again = agent_world.run_agent("company", archive)
    assert again.returncode == 0, again.stderr
    assert archive_files(archive) == files
    assert agent_world.receipts_signed_by(company) == numbers

    # An entry and a document lost from the archive (entries are not fsync'ed one by one): the
    # next run finds both missing, fetches the document again and rewrites the entry.
    lost_entry = f"{company}/{accepted}/notification.json"
    (archive / lost_entry).unlink()
    (archive / max(documents)).unlink()
    repaired = agent_world.run_agent("company", archive)
    assert repaired.returncode == 0, repaired.stderr
    assert archive_files(archive) == files
    assert agent_world.receipts_signed_by(company) == numbers

    # The state file, the receipts and one document are lost (say, a restore from an old
    # backup): --resync rebuilds the archive from the server, fetching the receipts
    # (GetReceipt) instead of signing again. Only the signed acknowledgements cannot come back.
    for path in archive.glob(".batch-agent.db*"):
        path.unlink()
    shutil.rmtree(archive / company / "receipts")
    shutil.rmtree(archive / "acknowledgements")
    (archive / min(documents)).unlink()

    rebuilt = agent_world.run_agent("company", archive, "--resync")

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert agent_world.receipts_signed_by(company) == numbers
    assert archive_files(archive) == {path: data for path, data in files.items()
                                      if path not in acks}


def test_rules_reject_and_skip_the_matching_notifications(
    agent_world: AgentWorld, tmp_path: Path
) -> None:
    person = agent_world.gateway.pki.person_nif
    visible = agent_world.visible_to("person")
    by_reference = {item.reference: i for i, item in visible.items()}
    rejected = {by_reference[f"AGENT-P-{n:02d}"] for n in (1, 4, 6)}
    skipped = {by_reference["AGENT-P-02"]}
    notifications = {i for i, item in visible.items() if item.kind == "NOTIFICATION"}
    accepted = notifications - rejected - skipped
    rules = tmp_path / "rules.toml"
    rules.write_text('default = "ACCEPT"\n\n'
                     '[[rule]]\ndecision = "REJECT"\nissuer = "ISM"\nprocedure = "embargo*"\n\n'
                     '[[rule]]\ndecision = "SKIP"\nprocedure = "*revisión*"\n', encoding="utf-8")
    archive = tmp_path / "archive"

    run = agent_world.run_agent("person", archive, "--rules", str(rules))

    assert run.returncode == 0, run.stderr
    assert "rejected=3 " in run.stdout and "skipped=1 " in run.stdout
    statuses = agent_world.statuses(notifications)
    assert statuses == {i: "REJECTED" if i in rejected else "AVAILABLE" if i in skipped
                        else "ACCEPTED" for i in notifications}
    items = agent_world.receipt_items(notifications)
    assert {i for i, found in items.items() if found} == accepted | rejected
    assert agent_world.receipts_signed_by(person) == {found[0][0] for found in items.values()
                                                       if found}
    # Content only for the accepted ones; the rejected ones have their notification.json with
    # the receipt, the skipped one nothing at all. (The communication is left out: the shell
    # example's test may have opened it first, and then it is no longer pending.)
    files = {path: data for path, data in archive_files(archive).items()
             if not any(path.startswith(f"{person}/{i}/") for i in set(visible) - notifications)}
    documents = expected_documents(agent_world, {i: visible[i] for i in accepted})
    assert {p for p in files if not p.endswith(".json") and "receipts/" not in p
            and not p.startswith("acknowledgements/")} \
        == set(documents)
    assert {path: sha256(files[path]) for path in documents} == documents
    for notification_id in rejected:
        entry = json.loads(files[f"{person}/{notification_id}/notification.json"])
        assert entry["status"] == "REJECTED" and entry["registrationNumber"]
        assert [d["file"] for d in entry["documents"]] == [None]
    assert not [p for p in files if p.startswith(f"{person}/{min(skipped)}/")]

    # The same archive with another certificate is refused before anything is done.
    other = agent_world.run_agent("company", archive)
    assert other.returncode == 2 and "state file" in other.stderr


def test_list_notifications_example_lists_every_item_page_by_page(agent_world: AgentWorld) -> None:
    visible = agent_world.visible_to("company")
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "list_notifications.py"),
         "--url", agent_world.gateway.wsdl_url, *agent_world.credentials("company"),
         "--page-size", "5"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    listed = [int(line.split()[0]) for line in run.stdout.splitlines()]
    assert listed == sorted(visible)
    assert f"{len(visible)} item(s) in {-(-len(visible) // 5)} page(s)" in run.stderr


def test_answers_not_signed_by_the_expected_server_stop_the_agent_before_anything_is_signed(
    agent_world: AgentWorld, tmp_path: Path
) -> None:
    """The listing and document batches are read with lxml, not zeep's binding: the server's
    signature must still be checked first. Told to expect another certificate, the agent
    refuses the very first answer and signs, accepts and archives nothing."""
    person = agent_world.gateway.pki.person_nif
    visible = agent_world.visible_to("person")
    before = agent_world.statuses(set(visible))
    signed_before = agent_world.receipts_signed_by(person)
    archive = tmp_path / "archive"

    run = agent_world.run_agent("person", archive, "--server-cert",
                                str(agent_world.gateway.pki.client("company").cert_path))

    assert run.returncode == 1, run.stdout
    assert "error:" in run.stderr and "ignatur" in run.stderr
    assert agent_world.statuses(set(visible)) == before
    assert agent_world.receipts_signed_by(person) == signed_before
    assert {p for p in archive_files(archive) if not p.startswith(".")} == set()
