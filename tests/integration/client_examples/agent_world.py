"""The client examples run as an integrator runs them: subprocesses against a real gateway.

One gateway for this folder (the ``agent_world`` fixture): the session machinery of
``tests/integration/soap/conftest.py`` (``running_gateway``: its own PostgreSQL schema, demo PKI,
``gateway serve`` with two workers), with data of its own, because the batch agent changes
everything it sees and other modules rely on the SOAP session gateway's seed. Each test works as
a different party so that the order of tests does not matter:

- the company (``company``): notifications with and without annexes, a special-category one,
  communications: the full run, the lost-state resync, ``list_notifications.py``;
- the person (``person``): notifications a rules file rejects or skips, and a communication
  that the shell example (xmlsec1 + curl) fetches;
- the RED agent (``red_agent``): three other companies' contribution accounts assigned to it
  (plus a special-category item on one of them, which it must never see) and two items of its
  own: the interruption test.

``tests/integration/soap/conftest.py`` is loaded as a module (pytest does not share conftest
fixtures between sibling folders, and test modules there do not import it either).
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import text

from gateway.domain.identifiers import make_ccc, make_cif
from gateway.pki import DemoPki
from gateway.services.publishing import DocumentInput, PublicationRequest

REPOSITORY = Path(__file__).resolve().parents[3]
EXAMPLES = REPOSITORY / "client_examples"


def _soap_fixtures() -> ModuleType:
    name = "soap_gateway_fixtures"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, REPOSITORY / "tests" / "integration" / "soap" / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while defining
        spec.loader.exec_module(module)
    return sys.modules[name]


soap = _soap_fixtures()
RunningGateway = soap.RunningGateway

RED_COMPANIES = tuple(make_cif("B", 7_100_000 + n) for n in range(3))
RED_CCCS = tuple(make_ccc(46, 3_100_000 + n) for n in range(3))
RED_ITEMS_PER_COMPANY = 36
"""Enough that the interruption test's seven cuts always find work left, however fast the agent
(with 10 per company, CI saw the fifth cut land on a run that had already finished)."""
MANDATE_GRANTOR = make_cif("B", 7_200_000)
"""Gives the person a mandate in test_batch_agent_rights.py only (no one else sees its items)."""


@dataclass(frozen=True)
class Expected:
    """One seeded item as the tests know it: its reference and documents (name, bytes)."""

    reference: str
    recipient: str
    kind: str
    issuer: str
    procedure: str
    ccc: str | None
    category: str
    documents: tuple[tuple[str, bytes], ...]


def _content(reference: str, size: int) -> bytes:
    line = f"{reference}: contenido del acto administrativo\n".encode()
    return (line * (size // len(line) + 1))[:size]


def expected_items(pki: DemoPki) -> list[Expected]:
    items: list[Expected] = []

    def add(recipient: str, reference: str, *, kind: str = "NOTIFICATION",
            issuer: str = "TGSS", procedure: str = "Reclamación de deuda",
            ccc: str | None = None, category: str = "NORMAL", annex: bool = False,
            size: int = 3000) -> None:
        documents = [(f"{reference}.pdf", _content(reference, size))]
        if annex:
            documents.append((f"{reference}-anexo.txt", _content(reference + "-anexo", 700)))
        items.append(Expected(reference, recipient, kind, issuer, procedure, ccc, category,
                              tuple(documents)))

    for n in range(16):
        add(pki.company_cif, f"AGENT-C-{n:02d}", issuer=("TGSS", "INSS", "ISM")[n % 3],
            annex=n % 4 == 1, category="SPECIAL" if n == 5 else "NORMAL", size=2000 + 97 * n)
    add(pki.company_cif, "AGENT-C-COM-0", kind="COMMUNICATION", annex=True)
    add(pki.company_cif, "AGENT-C-COM-1", kind="COMMUNICATION")

    for n in range(8):
        procedure = ("Embargo de cuentas" if n in (1, 4, 6) else
                     "Revisión manual" if n == 2 else "Resolución de prestación")
        add(pki.person_nif, f"AGENT-P-{n:02d}", issuer="ISM" if n in (1, 4, 6) else "INSS",
            procedure=procedure, annex=n == 3)
    add(pki.person_nif, "AGENT-P-COM-0", kind="COMMUNICATION", size=1500)

    for c, (company, ccc) in enumerate(zip(RED_COMPANIES, RED_CCCS, strict=True)):
        for n in range(RED_ITEMS_PER_COMPANY):
            add(company, f"AGENT-R{c}-{n:02d}", ccc=ccc, annex=n % 3 == 0,
                issuer=("TGSS", "ISM")[n % 2], size=1000 + 211 * (n % 10) + n)
    add(RED_COMPANIES[0], "AGENT-R0-COM", kind="COMMUNICATION", ccc=RED_CCCS[0])
    add(RED_COMPANIES[1], "AGENT-R1-SPECIAL", ccc=RED_CCCS[1], category="SPECIAL", issuer="INSS")
    add(pki.red_agent_cif, "AGENT-OWN-00")
    add(pki.red_agent_cif, "AGENT-OWN-01", annex=True)
    for n in range(3):  # a grantor without certificate: the person holds a mandate for it
        add(MANDATE_GRANTOR, f"AGENT-M-{n:02d}", annex=n == 1)
    return items


def seed_requests(pki: DemoPki, now: datetime) -> list[PublicationRequest]:
    return [
        PublicationRequest(
            issuer=item.issuer, issuer_reference=item.reference, kind=item.kind,
            procedure=item.procedure, subject=f"Asunto {item.reference}",
            recipient=item.recipient, ccc=item.ccc, category=item.category,
            documents=tuple(DocumentInput(name, "application/pdf" if name.endswith(".pdf")
                                          else "text/plain", data)
                            for name, data in item.documents),
            made_available_at=now - timedelta(hours=3) + timedelta(minutes=index),
        )
        for index, item in enumerate(expected_items(pki))
    ]


@dataclass
class AgentWorld:
    """The running gateway, what was seeded (by id) and how to run the examples."""

    gateway: Any  # RunningGateway
    items: dict[int, Expected]

    def visible_to(self, name: str) -> dict[int, Expected]:
        pki = self.gateway.pki
        if name in ("company", "company_ec", "representative"):
            return {i: e for i, e in self.items.items() if e.recipient == pki.company_cif}
        if name == "person":
            return {i: e for i, e in self.items.items() if e.recipient == pki.person_nif}
        if name == "red_agent":
            return {i: e for i, e in self.items.items()
                    if e.recipient == pki.red_agent_cif
                    or (e.ccc in RED_CCCS and e.category == "NORMAL")}
        raise KeyError(name)

    def credentials(self, name: str) -> list[str]:
        credential = self.gateway.pki.client(name)
        return ["--cert", str(credential.cert_path), "--key", str(credential.key_path),
                "--server-cert", str(self.gateway.pki.server.cert_path)]

    def agent_command(self, name: str, archive: Path, *extra: str) -> list[str]:
        return [sys.executable, str(EXAMPLES / "batch_agent.py"),
                "--url", self.gateway.service_url, *self.credentials(name),
                "--archive", str(archive), "--no-progress", *extra]

    def run_agent(self, name: str, archive: Path, *extra: str,
                  timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.agent_command(name, archive, *extra), cwd=REPOSITORY,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def verify_receipts(self, *paths: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(EXAMPLES / "verify_receipt.py"), "--server-cert",
             str(self.gateway.pki.server.cert_path), *map(str, paths)],
            cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=False)

    # server-side facts ----------------------------------------------------------------------

    def statuses(self, ids: list[int] | set[int]) -> dict[int, str]:
        with self.gateway.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, status FROM notification"))
            return {row[0]: row[1] for row in rows if row[0] in ids}

    def receipt_items(self, ids: list[int] | set[int]) -> dict[int, list[tuple[str, str]]]:
        """notification id -> [(registration number, outcome)] of every receipt item."""
        found: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
        with self.gateway.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT ri.notification_id, r.registration_number, ri.outcome "
                "FROM receipt_item ri JOIN receipt r ON r.id = ri.receipt_id"))
            for notification_id, number, outcome in rows:
                if notification_id in found:
                    found[notification_id].append((number, outcome))
        return found

    def receipts_signed_by(self, identifier: str) -> set[str]:
        with self.gateway.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT registration_number FROM receipt WHERE signer = :signer"),
                {"signer": identifier})
            return {row[0] for row in rows}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_files(archive: Path) -> dict[str, bytes]:
    """Every file in the archive except the agent's state, by relative path."""
    return {path.relative_to(archive).as_posix(): path.read_bytes()
            for path in sorted(archive.rglob("*"))
            if path.is_file() and not path.name.startswith(".batch-agent.db")}


def expected_documents(world: AgentWorld, ids: dict[int, Expected]) -> dict[str, str]:
    """relative path -> sha256 of every document the agent must archive for ``ids``."""
    return {f"{item.recipient}/{item_id}/{position:02d}-{name}": sha256(data)
            for item_id, item in ids.items()
            for position, (name, data) in enumerate(item.documents)}


