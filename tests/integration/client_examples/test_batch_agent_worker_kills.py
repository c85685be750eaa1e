"""Issue 14 acceptance: the batch agent rides out server restarts.

A gateway of its own (``gateway serve``, three workers, PostgreSQL) holds the client-example world
plus notifications whose main document is over 2 MiB (streamed, ``GetContent``). While the
company's agent runs -- small batches and pages, several download threads, every document above
2,500 bytes streamed -- a thread SIGKILLs a worker busy answering it (gunicorn's master starts a
new one) at points of its progress: each time the agent has archived a number of the large
documents (drawn from a seeded random) and is streaming another. Answers are cut mid-stream,
other calls on that worker reset mid-request, requests queued while workers start. Kills placed
by the agent's progress, not by the clock, land while work is left and hit the agent however
fast it or the machine is (kills every 0.5-2 s fell after a fast agent had finished, or between
its calls). The agent must finish in one go (exit 0, no error) with a complete, verified
archive: every notification accepted by exactly one receipt item, every receipt verifying and
certifying the acknowledgement sent, every document's sha256 right, nothing else
in the archive. It says how many calls it asked again (``retried=``): the kills did hit it.
"""

from __future__ import annotations

import os
import platform
import random
import re
import signal
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from agent_world import (
    AgentWorld,
    Expected,
    archive_files,
    expected_documents,
    expected_items,
    seed_requests,
    sha256,
    soap,
)

from gateway.pki import DemoPki
from gateway.services.publishing import DocumentInput, PublicationRequest

pytestmark = pytest.mark.postgres

SEED = 20_261_207
WORKERS = 3
LARGE_SIZES = (3 * 2**20 + 11, 2 * 2**20 + 5, 4 * 2**20 + 1, 3 * 2**20, 5 * 2**20 + 3,
               *(2 * 2**20 + 7 * n for n in range(1, 8)))
"""Streamed documents: the kills land while the agent streams them."""
KILL_AFTER = sorted(random.Random(SEED).choices(range(len(LARGE_SIZES) * 2 // 3), k=6))
"""Large documents archived before each kill; a third of them are still to come after the last
(two kills may fall on one document: its resumed download is cut again)."""


def _large_items(pki: DemoPki) -> list[Expected]:
    rng = random.Random(SEED)
    return [Expected(f"AGENT-C-LARGE-{n}", pki.company_cif, "NOTIFICATION", "TGSS",
                     "Reclamación de deuda", None, "NORMAL",
                     ((f"AGENT-C-LARGE-{n}.pdf", rng.randbytes(size)),))
            for n, size in enumerate(LARGE_SIZES)]


def _seed(pki: DemoPki, now: datetime) -> list[PublicationRequest]:
    return [*seed_requests(pki, now), *(
        PublicationRequest(
            issuer=item.issuer, issuer_reference=item.reference, kind=item.kind,
            procedure=item.procedure, subject=f"Asunto {item.reference}",
            recipient=item.recipient, ccc=None, category=item.category,
            documents=tuple(DocumentInput(name, "application/pdf", data)
                            for name, data in item.documents),
            made_available_at=now - timedelta(hours=4))
        for item in _large_items(pki))]


def _workers(master: int) -> list[int]:
    """The live children of the gunicorn master ``master``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == master and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _master(base_url: str) -> int:
    """The ``gateway serve`` process bound to ``base_url`` (the parent of its workers)."""
    bind = base_url.removeprefix("http://").encode()
    candidates = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if bind not in (entry / "cmdline").read_bytes():
                continue
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        candidates[int(entry.name)] = parent
    masters = [pid for pid, parent in candidates.items() if parent not in candidates]
    assert len(masters) == 1, candidates
    return masters[0]


IDLE_SYSCALLS = {"x86_64": {35, 202, 230}, "aarch64": {98, 101, 115}}[platform.machine()]
"""Where a worker's request thread waits for work: futex (gthread's queue, a lock) and sleeps.
Anywhere else (running, or waiting for the database or the client) it is answering."""


def _answering(workers: list[int]) -> list[int]:
    """Those of ``workers`` with a request thread at work (neither waiting nor sleeping): the
    agent, their only client, is waiting for that answer, so a kill now cuts it."""
    found = []
    for pid in workers:
        try:
            tasks = [task for task in Path(f"/proc/{pid}/task").iterdir()
                     if task.name != str(pid)]  # the main thread accepts and reads requests
            for task in tasks:
                call = (task / "syscall").read_text().split()[0]
                if call == "running" or int(call) not in IDLE_SYSCALLS:
                    found.append(pid)
                    break
        except (OSError, ValueError, IndexError):
            continue
    return found


class WorkerKiller(threading.Thread):
    """SIGKILLs a worker of ``master`` at each of the ``KILL_AFTER`` points of the agent's
    progress, until stopped: once ``archive`` holds that many of the large documents, the
    first worker seen answering while a streamed download is under way (a partial file in the
    archive)."""

    def __init__(self, master: int, archive: Path) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.archive = archive
        self.killed: list[int] = []
        self.stopped = threading.Event()
        self.rng = random.Random(SEED)

    def run(self) -> None:
        for archived in KILL_AFTER:
            victim = self._victim(archived)
            if victim is None:
                return
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.killed.append(victim)

    def _victim(self, archived: int) -> int | None:
        """A worker answering the agent once ``archived`` large documents are in the archive
        and one is being streamed (None once stopped)."""
        while not self.stopped.wait(0.005):
            if len(list(self.archive.glob("*/*/*-AGENT-C-LARGE-*.pdf"))) < archived:
                continue
            if not any(self.archive.glob(".partial/*.part")):
                continue
            answering = _answering(_workers(self.master))
            if answering:
                return self.rng.choice(sorted(answering))
        return None


def test_the_agent_finishes_in_one_go_while_workers_are_killed(tmp_path: Path) -> None:
    with soap.running_gateway(tmp_path / "gateway", _seed, workers=WORKERS) as gateway:
        expected = {item.reference: item
                    for item in [*expected_items(gateway.pki), *_large_items(gateway.pki)]}
        world = AgentWorld(gateway, {seeded.id: expected[seeded.issuer_reference]
                                     for seeded in gateway.seed.items})
        company = gateway.pki.company_cif
        visible = world.visible_to("company")
        notifications = {i for i, item in visible.items() if item.kind == "NOTIFICATION"}
        large = {i for i, item in visible.items() if item.reference.startswith("AGENT-C-LARGE")}
        assert len(large) == len(LARGE_SIZES)
        master = _master(gateway.base_url)
        assert len(_workers(master)) == WORKERS

        archive = tmp_path / "archive"
        killer = WorkerKiller(master, archive)
        killer.start()
        try:
            run = world.run_agent("company", archive, "--batch-size", "3", "--page-size", "4",
                                  "--workers", "2", "--stream-above", "2500", timeout=900)
        finally:
            killer.stopped.set()
            killer.join(timeout=10)

        # In one go, and the kills did hit it: calls were asked again.
        assert run.returncode == 0, run.stderr[-4000:]
        assert "errors=0" in run.stdout, run.stdout
        assert re.search(rf"accepted={len(notifications)} ", run.stdout), run.stdout
        print(f"workers killed during the run: {len(killer.killed)}")
        assert len(killer.killed) >= 3, killer.killed
        retried = int(re.search(r"retried=(\d+)", run.stdout).group(1))  # type: ignore[union-attr]
        assert retried > 0, (run.stdout, killer.killed)

        # Server: every notification accepted by exactly one receipt item, every receipt the
        # company's, communications read.
        assert world.statuses(set(visible)) == {
            i: "ACCEPTED" if i in notifications else "READ" for i in visible}
        items = world.receipt_items(notifications)
        assert all(len(found) == 1 and found[0][1] == "ACCEPTED"
                   for found in items.values()), items
        numbers = {found[0][0] for found in items.values()}
        assert world.receipts_signed_by(company) == numbers

        # Archive: every document once with its sha256 (the large ones included), an entry per
        # item, each receipt and the acknowledgements; nothing else (no partial file).
        files = archive_files(archive)
        documents = expected_documents(world, visible)
        entries = {f"{company}/{i}/notification.json" for i in visible}
        receipts = {f"{company}/receipts/{n.replace('/', '-')}.xml" for n in numbers}
        acks = {path for path in files if path.startswith("acknowledgements/")}
        assert acks and set(files) == set(documents) | entries | receipts | acks
        assert {path: sha256(files[path]) for path in documents} == documents
        assert {sha256(files[path]) for path in documents
                if int(path.split("/")[1]) in large} == {
            sha256(data) for i in large for _, data in visible[i].documents}

        check = world.verify_receipts(*(archive / path for path in sorted(receipts)))
        assert check.returncode == 0, check.stderr
        assert check.stdout.count("(matches acknowledgement") == len(numbers)
