"""A worker killed in the middle of a 1,000-item submission leaves all or nothing (DESIGN.md §3:
a whole receipt batch commits or nothing does; issue 5, acceptance point 2).

The submission runs in a child process (multiprocessing, spawn) through the real
``ReceiptService`` built by ``gateway.bootstrap`` on PostgreSQL. A test-only wrapper around its
unit of work pauses it inside the transaction at a chosen step -- right after the batch's
status UPDATE, or after the receipt, its items and the registration number were written --
and tells the parent how many of the 1,000 notifications its own transaction already sees
ACCEPTED. The parent then SIGKILLs it, checks that nothing of it survived (no final state, no
receipt, no receipt item, no registration number taken, the acknowledgement still unused, no
audit event), and submits the same signed acknowledgement again, which succeeds with number 1.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import pytest
from cryptography import x509
from sqlalchemy import text

from gateway.bootstrap import build
from gateway.config import Settings
from gateway.domain.clock import SystemClock
from gateway.domain.receipts import Decision, Outcome, RegistrationNumber
from gateway.pki import DemoPki, generate_demo_pki
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.signatures import sign_xades_enveloped
from gateway.store.engine import create_engine_for, url_with_schema
from gateway.trust.principals import principal_from_certificate

pytestmark = pytest.mark.postgres

ITEMS = 1000
PAUSE_TIMEOUT_S = 120.0
DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# --- the child ------------------------------------------------------------------------------


class _PausingRepository:
    """Delegates to ``target``; after ``method`` returns, calls ``pause`` (which never returns)."""

    def __init__(self, target: Any, method: str, pause: Any) -> None:
        self._target, self._method, self._pause = target, method, pause

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name != self._method:
            return attribute

        def paused(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            self._pause()
            return result

        return paused


class _PausingUnitOfWork:
    """The real unit of work with one repository wrapped by ``_PausingRepository``."""

    def __init__(self, inner: Any, repository: str, method: str, pause: Any) -> None:
        self._inner, self._repository, self._method, self._pause = inner, repository, method, pause

    def __enter__(self) -> Self:
        self._inner.__enter__()
        setattr(self, self._repository, _PausingRepository(
            getattr(self._inner, self._repository), self._method, lambda: self._pause(self._inner)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._inner.__exit__(*exc_info)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _submit_then_hang(settings: Settings, signer_cert: Path, signed: bytes, ids: list[int],
                      repository: str, method: str, paused: Any, seen: Any) -> None:
    """Child process: submit ``signed``, stopping forever inside the transaction at the step."""
    container = build(settings)

    def pause(uow: Any) -> None:
        in_transaction = uow.session.execute(
            text("SELECT count(*) FROM notification WHERE status = 'ACCEPTED' AND id = ANY(:ids)"),
            {"ids": ids}).scalar_one()
        seen.put(int(in_transaction))
        paused.set()
        while True:  # until the parent's SIGKILL
            time.sleep(60)

    service = container.receipts()
    service = replace(service, uow_factory=lambda: _PausingUnitOfWork(
        container.unit_of_work(), repository, method, pause))
    principal = principal_from_certificate(
        x509.load_pem_x509_certificate(signer_cert.read_bytes()))
    service.submit(principal, signed)


# --- the parent -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    settings: Settings
    pki: DemoPki
    ids: list[int]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return generate_demo_pki(tmp_path_factory.mktemp("crash") / "pki", now=datetime.now(UTC))


@pytest.fixture
def store(pki: DemoPki, tmp_path: Path) -> Iterator[Store]:
    base_url = os.environ.get("GATEWAY_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    schema = f"crash_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine_for(base_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    settings = Settings(data_dir=tmp_path, pki_dir=pki.directory,
                        database_url=url_with_schema(base_url, schema))
    try:
        container = build(settings)
        try:
            container.upgrade_database()
            now = container.clock.now()
            ids = container.publishing().publish([PublicationRequest(
                issuer="TGSS", issuer_reference=f"CRASH-{index:04d}", kind="NOTIFICATION",
                procedure="Procedimiento de prueba", subject=f"Asunto {index}",
                recipient=pki.company_cif, ccc=None, category="NORMAL",
                documents=(DocumentInput(f"crash-{index}.txt", "text/plain",
                                         f"Documento {index}\n".encode()),),
                made_available_at=now - timedelta(hours=1),
            ) for index in range(ITEMS)])
        finally:
            container.dispose()
        yield Store(settings, pki, ids)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def database_state(settings: Settings) -> dict[str, Any]:
    engine = create_engine_for(settings.database_url)
    try:
        with engine.connect() as connection:
            def scalar(sql: str) -> Any:
                return connection.execute(text(sql)).scalar_one()

            return {
                "final": scalar("SELECT count(*) FROM notification WHERE status <> 'AVAILABLE'"),
                "receipts": scalar("SELECT count(*) FROM receipt"),
                "receipt_items": scalar("SELECT count(*) FROM receipt_item"),
                "counter": scalar("SELECT coalesce(max(last_value), 0) FROM registration_counter"),
                "unused_acks": scalar(
                    "SELECT count(*) FROM prepared_receipt WHERE consumed_at IS NULL"),
                "issued_events": scalar(
                    "SELECT count(*) FROM audit_event WHERE event_type = 'receipt.issued'"),
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize(("repository", "method"), [
    ("notifications", "save_statuses"),  # every item updated, no receipt written yet
    ("receipts", "add_many"),  # receipt, items and registration number written; audit and commit next
])
def test_sigkill_mid_submission_leaves_nothing_then_a_retry_succeeds(
    store: Store, repository: str, method: str,
) -> None:
    container = build(store.settings)
    try:
        service = container.receipts()
        credential = store.pki.client("company")
        principal = principal_from_certificate(credential.certificate())
        prepared = service.prepare(principal, store.ids, Decision.ACCEPT)
        signed = sign_xades_enveloped(prepared.document, credential.private_key(),
                                      credential.certificate(), clock=SystemClock())
        before = database_state(store.settings)

        context = multiprocessing.get_context("spawn")
        paused, seen = context.Event(), context.Queue()
        child = context.Process(target=_submit_then_hang, args=(
            store.settings, credential.cert_path, signed, store.ids, repository, method, paused, seen))
        child.start()
        try:
            assert paused.wait(PAUSE_TIMEOUT_S), f"the child never paused (exit {child.exitcode})"
            assert seen.get(timeout=10) == ITEMS  # inside its transaction, all 1,000 moved
            assert database_state(store.settings) == before  # ... and none visible outside
        finally:
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
            child.join(timeout=30)
        assert child.exitcode == -signal.SIGKILL

        assert database_state(store.settings) == before == {
            "final": 0, "receipts": 0, "receipt_items": 0, "counter": 0, "unused_acks": 1,
            "issued_events": 0,
        }

        submission = service.submit(principal, signed)  # waits for nothing: locks died with it
        assert len(submission.receipts) == 1  # one recipient, no special-category item
        view = submission.first
        assert [o.outcome for o in view.content.items] == [Outcome.ACCEPTED] * ITEMS
        year = view.issued.registration_number.year
        assert view.issued.registration_number == RegistrationNumber(year, 1)  # no gap
        assert database_state(store.settings) == {
            "final": ITEMS, "receipts": 1, "receipt_items": ITEMS, "counter": 1,
            "unused_acks": 0, "issued_events": 1,
        }
    finally:
        container.dispose()
