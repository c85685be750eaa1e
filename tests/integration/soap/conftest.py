"""One real gateway per session: ``gateway serve`` (gunicorn, two workers) on PostgreSQL.

The session fixture ``gateway`` creates a PostgreSQL schema of its own, a demo PKI and a data
directory, seeds known notifications through the publishing service, starts
``gateway serve --bind 127.0.0.1:<free port> --workers 2`` as a subprocess (its own process
group), waits for ``/healthz`` and, at the end, terminates exactly that process group and drops
the schema.

``RunningGateway`` is the toolbox the tests share: zeep clients per demo certificate (signing
with ``ServerVerifyingSignature``), unsigned envelopes built by zeep, signing helpers for
hand-made (hostile) envelopes, raw HTTP posts, fault assertions and database snapshots that
prove a refused request changed nothing but the ``security.refused`` audit trail (for requests
refused after their signature was verified; junk leaves no chain event, issue 14).

Every test module using it carries ``pytest.mark.postgres``: PostgreSQL being down stops the run
(``tests/conftest.py``), it never skips.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import xmlsec
import zeep
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from zeep.transports import Transport
from zeep.wsse.signature import BinarySignature
from zeep.wsse.utils import WSU, ensure_id, get_security_header

from gateway import namespaces as ns
from gateway.bootstrap import build
from gateway.client.transport import ServerVerifyingSignature
from gateway.config import Settings
from gateway.domain.identifiers import make_ccc, make_dni
from gateway.pki import DemoPki, generate_demo_pki
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.store.engine import create_engine_for, url_with_schema
from gateway.store.models import AuditEventRow, Base

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SERVICE_PATH = "/NotificationService"
STARTUP_TIMEOUT_S = 30.0
GW = f"{{{ns.FAULT_DETAIL}}}"

# --- the seeded data ------------------------------------------------------------------------

COMPANY_ITEMS = 250
CCC_RED = make_ccc(28, 1_234_567)
"""The company's account that the RED tests assign to the agent."""
CCC_OTHER = make_ccc(8, 7_654_321)
OTHER_PERSON_NIF = make_dni(45_678_901)


@dataclass(frozen=True)
class SeededItem:
    id: int
    recipient: str
    kind: str
    ccc: str | None
    category: str
    issuer: str
    issuer_reference: str
    made_available_at: datetime
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Seed:
    items: tuple[SeededItem, ...]
    ccc_red: str = CCC_RED
    ccc_other: str = CCC_OTHER

    def of(self, recipient: str) -> list[SeededItem]:
        return [item for item in self.items if item.recipient == recipient]

    def by_id(self, item_id: int) -> SeededItem:
        return next(item for item in self.items if item.id == item_id)


def _seed_requests(pki: DemoPki, now: datetime) -> list[PublicationRequest]:
    """250 items for the company (NORMAL and SPECIAL, two CCCs and none, a few communications;
    groups of three share one instant so ordering must fall back to the id), five for the
    person, five for another person nobody here may see, two for the RED agent itself."""
    requests_: list[PublicationRequest] = []

    def add(recipient: str, reference: str, *, ccc: str | None = None, special: bool = False,
            communication: bool = False, age: timedelta) -> None:
        issuer = "INSS" if special else ("TGSS" if len(requests_) % 2 else "ISM")
        requests_.append(PublicationRequest(
            issuer=issuer, issuer_reference=reference,
            kind="COMMUNICATION" if communication else "NOTIFICATION",
            procedure="Procedimiento de prueba", subject=f"Asunto {reference}",
            recipient=recipient, ccc=ccc, category="SPECIAL" if special else "NORMAL",
            documents=(DocumentInput(f"{reference}.txt", "text/plain",
                                     f"Documento {reference} para {recipient}\n".encode()),),
            made_available_at=now - age,
        ))

    base_age = timedelta(hours=2)
    for index in range(COMPANY_ITEMS):
        ccc = CCC_RED if index % 5 == 0 else CCC_OTHER if index % 5 == 1 else None
        add(pki.company_cif, f"SOAP-IT-C-{index:04d}", ccc=ccc,
            special=index % 25 == 0 or index % 25 == 1,
            communication=index % 50 == 3,
            age=base_age - timedelta(minutes=index // 3))
    for index in range(5):
        add(pki.person_nif, f"SOAP-IT-P-{index:04d}", age=base_age - timedelta(minutes=index))
        add(OTHER_PERSON_NIF, f"SOAP-IT-O-{index:04d}", age=base_age - timedelta(minutes=index))
    for index in range(2):
        add(pki.red_agent_cif, f"SOAP-IT-R-{index:04d}", age=base_age)
    return requests_


# --- database snapshots ---------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Every table's content as a digest (audit_event apart), and the last audit sequence."""

    digests: Mapping[str, str]
    counts: Mapping[str, int]
    last_audit_seq: int


def take_snapshot(engine: Engine) -> Snapshot:
    digests: dict[str, str] = {}
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name == AuditEventRow.__tablename__:
                continue
            rows = connection.execute(
                select(table).order_by(*table.primary_key.columns)).all()
            digests[table.name] = hashlib.sha256(
                "\n".join(repr(tuple(row)) for row in rows).encode()).hexdigest()
            counts[table.name] = len(rows)
        last = connection.execute(select(func.max(AuditEventRow.seq))).scalar()
    return Snapshot(digests, counts, int(last or 0))


def audit_events_since(engine: Engine, snapshot: Snapshot) -> list[tuple[str, str]]:
    """(event_type, details) of the audit events appended after ``snapshot``."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(AuditEventRow.event_type, AuditEventRow.details)
            .where(AuditEventRow.seq > snapshot.last_audit_seq)
            .order_by(AuditEventRow.seq)).all()
    return [(row[0], row[1]) for row in rows]


# --- the running server -----------------------------------------------------------------------


class TamperingTransport(Transport):  # type: ignore[misc]  # zeep is untyped
    """A man in the middle: hands zeep each SOAP response after ``tamper`` changed its bytes."""

    def __init__(self, tamper: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tamper = tamper

    def post(self, address: str, message: Any, headers: Any) -> requests.Response:
        response: requests.Response = super().post(address, message, headers)
        response._content = self.tamper(response.content)  # what a proxy in the middle would do
        return response


@dataclass
class RunningGateway:
    base_url: str
    pki: DemoPki
    engine: Engine
    seed: Seed
    log_path: Path
    database_url: str = ""
    _clients: dict[str, zeep.Client] = field(default_factory=dict)

    @property
    def service_url(self) -> str:
        return self.base_url + SERVICE_PATH

    def operator(self, *args: str, **settings: str) -> str:
        """``gateway ARGS`` as the operator runs it on this gateway's database and data
        directory (plus ``settings``, ``GATEWAY_*`` names); its output, once it exited 0."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        environment.update({"GATEWAY_DATABASE_URL": self.database_url,
                            "GATEWAY_DATA_DIR": str(self.log_path.parent), **settings})
        done = subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=environment,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-4000:]
        return done.stdout

    @property
    def wsdl_url(self) -> str:
        return self.service_url + "?wsdl"

    # zeep clients ----------------------------------------------------------------------------

    def signer(self, name: str = "company") -> ServerVerifyingSignature:
        credential = self.pki.client(name)
        return ServerVerifyingSignature(credential.key_path, credential.cert_path,
                                        self.pki.server.cert_path)

    def client(self, name: str = "company") -> zeep.Client:
        """A zeep client signing with the demo certificate ``name``, verifying every response."""
        if name not in self._clients:
            self._clients[name] = zeep.Client(self.wsdl_url, wsse=self.signer(name))
        return self._clients[name]

    def tampered_client(self, tamper: Any, name: str = "company") -> zeep.Client:
        return zeep.Client(self.wsdl_url, wsse=self.signer(name),
                           transport=TamperingTransport(tamper))

    # hand-built envelopes ---------------------------------------------------------------------

    def message(self, operation: str, **arguments: Any) -> etree._Element:
        """The unsigned SOAP 1.1 envelope zeep would send for ``operation``."""
        if "_unsigned" not in self._clients:
            self._clients["_unsigned"] = zeep.Client(self.wsdl_url)
        unsigned = self._clients["_unsigned"]
        return unsigned.create_message(unsigned.service, operation, **arguments)

    def sign(self, envelope: etree._Element, name: str = "company") -> etree._Element:
        """Sign exactly as the zeep client does (``ServerVerifyingSignature.apply``)."""
        self.signer(name).apply(envelope, {})
        return envelope

    def sign_custom(self, envelope: etree._Element, name: str = "company", *,
                    created: datetime | None = None, lifetime: timedelta = timedelta(minutes=5),
                    timestamp: bool = True, signature_method: Any = None,
                    digest_method: Any = None) -> etree._Element:
        """zeep's ``BinarySignature`` with a Timestamp of our choosing (or none) and, unless
        told otherwise, RSA-SHA256/SHA-256."""
        if timestamp:
            created = (created or datetime.now(UTC)).replace(microsecond=0)
            stamp = WSU.Timestamp(
                WSU.Created(created.strftime("%Y-%m-%dT%H:%M:%SZ")),
                WSU.Expires((created + lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")),
            )
            ensure_id(stamp)
            get_security_header(envelope).insert(0, stamp)
        credential = self.pki.client(name)
        BinarySignature(
            str(credential.key_path), str(credential.cert_path),
            signature_method=signature_method or xmlsec.constants.TransformRsaSha256,
            digest_method=digest_method or xmlsec.constants.TransformSha256,
        ).apply(envelope, {})
        return envelope

    def signed(self, operation: str, name: str = "company", **arguments: Any) -> etree._Element:
        return self.sign(self.message(operation, **arguments), name)

    # raw HTTP --------------------------------------------------------------------------------

    def post(self, data: bytes | Any, *, soap_action: str | None = None, path: str = SERVICE_PATH,
             content_type: str = "text/xml; charset=utf-8",
             headers: Mapping[str, str] | None = None) -> requests.Response:
        """POST on a new connection (no session: every call may land on either worker)."""
        sent = {"Content-Type": content_type, **(headers or {})}
        if soap_action is not None:
            sent["SOAPAction"] = f'"{soap_action}"'
        return requests.post(self.base_url + path, data=data, headers=sent, timeout=30)

    def verify_response_signature(self, content: bytes) -> None:
        """The server's signature over a response (faults included), checked with xmlsec."""
        self.signer().verify(etree.fromstring(content))

    def assert_fault(self, response: requests.Response, *, faultcode: str, code: str,
                     status: int) -> etree._Element:
        """A refusal as the contract promises it: the class's HTTP status (never 500), the SOAP
        ``faultcode``, the stable ``gw:code``, the correlation id echoed in ``X-Request-Id``,
        no traceback, and the server's signature."""
        text = response.text
        assert response.status_code == status, (response.status_code, text[:2000])
        assert response.status_code != 500
        assert "Traceback" not in text and 'File "' not in text, text[:2000]
        document = etree.fromstring(response.content)
        fault = document.find(f"{{{ns.SOAP11_ENV}}}Body/{{{ns.SOAP11_ENV}}}Fault")
        assert fault is not None, text[:2000]
        assert fault.findtext("faultcode") == faultcode, text[:2000]
        assert fault.findtext(f"detail/{GW}error/{GW}code") == code, text[:2000]
        correlation_id = fault.findtext(f"detail/{GW}error/{GW}correlationId")
        assert correlation_id and correlation_id == response.headers.get("X-Request-Id")
        self.verify_response_signature(response.content)
        return fault

    # database --------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return take_snapshot(self.engine)

    def audit_since(self, snapshot: Snapshot) -> list[tuple[str, str]]:
        """(event_type, details) of the audit events appended after ``snapshot``."""
        return audit_events_since(self.engine, snapshot)

    def audit_event_types(self, since: Snapshot | None = None) -> list[str]:
        """Types of the audit events appended after ``since`` (all of them without it)."""
        return [event for event, _ in audit_events_since(self.engine,
                                                         since or Snapshot({}, {}, 0))]

    def assert_only_refusals_audited(self, before: Snapshot, refusals: int = 1, *,
                                     tolerate: frozenset[str] = frozenset(),
                                     before_authentication: bool = False) -> None:
        """Nothing changed since ``before`` except ``refusals`` new ``security.refused`` events
        (and the tables named in ``tolerate``). A refusal ``before_authentication`` (junk) adds
        no chain event at all: it is counted and summarised per source and interval
        (``gateway.soap.refusals``, issue 14)."""
        if before_authentication:
            refusals = 0
        after = self.snapshot()
        changed = sorted(name for name, digest in after.digests.items()
                         if before.digests.get(name) != digest and name not in tolerate)
        assert not changed, {name: (before.counts[name], after.counts[name]) for name in changed}
        events = audit_events_since(self.engine, before)
        assert [event_type for event_type, _ in events] == ["security.refused"] * refusals, events


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def throwaway_cluster() -> Iterator[tuple[str, str, str]]:
    """A PostgreSQL cluster of its own (pg_createcluster, trust auth on loopback), dropped after,
    for the tests that stop the database (the outage test, the metrics test).

    Yields (version, name, url). The shared cluster on 5432 is never touched."""
    if shutil.which("pg_createcluster") is None:
        pytest.fail("pg_createcluster (postgresql-common) is needed for the outage tests")
    version = max(os.listdir("/usr/lib/postgresql"), key=int)
    name = f"gwoutage{os.getpid()}"
    port = _free_port()
    subprocess.run(["pg_createcluster", version, name, "-p", str(port), "--start", "--",
                    "--auth=trust"], check=True, capture_output=True, timeout=120)
    try:
        yield version, name, f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(["pg_dropcluster", version, name, "--stop"], check=False,
                       capture_output=True, timeout=120)


def _postgres_url() -> str:
    return os.environ.get("GATEWAY_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


def _gateway_command() -> list[str]:
    script = Path(sys.executable).with_name("gateway")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the gunicorn master we started and, with it, its workers (its process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the group is ours: start_new_session=True
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway serve exited with {process.returncode}:\n"
                               f"{log_path.read_text(errors='replace')[-4000:]}")
        try:
            if requests.get(base_url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gateway serve not healthy after {STARTUP_TIMEOUT_S} s:\n"
                       f"{log_path.read_text(errors='replace')[-4000:]}")


SeedRequests = Callable[[DemoPki, datetime], list[PublicationRequest]]


@contextmanager
def running_gateway(data_dir: Path,
                    seed_requests: SeedRequests = _seed_requests, *,
                    postgres_url: str | None = None,
                    settings_environment: Mapping[str, str] | None = None,
                    workers: int = 2,
                    ) -> Iterator[RunningGateway]:
    """A gateway of its own: fresh schema, demo PKI in ``data_dir``, the notifications
    ``seed_requests`` makes published, ``gateway serve`` with two workers; all gone at exit.
    ``postgres_url`` (default: the shared test database) and extra ``GATEWAY_*`` settings for
    the server are the attack tests' (a throw-away cluster, small limits); ``workers``
    gunicorn workers (the worker-kill test wants more than two)."""
    schema = f"soap_{os.getpid()}_{secrets.token_hex(4)}"
    postgres_url = postgres_url or _postgres_url()
    admin = create_engine_for(postgres_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = url_with_schema(postgres_url, schema)
    pki = generate_demo_pki(data_dir / "pki", now=datetime.now(UTC))
    settings = Settings(data_dir=data_dir, pki_dir=data_dir / "pki", database_url=url)
    engine = create_engine_for(url)
    process: subprocess.Popen[bytes] | None = None
    try:
        container = build(settings)
        container.upgrade_database()
        batch = seed_requests(pki, container.clock.now())
        ids = container.publishing().publish(batch)
        container.dispose()
        seed = Seed(tuple(
            SeededItem(id=item_id, recipient=r.recipient, kind=r.kind, ccc=r.ccc,
                       category=r.category, issuer=r.issuer, issuer_reference=r.issuer_reference,
                       made_available_at=r.made_available_at or datetime.now(UTC),
                       content=r.documents[0].content)
            for item_id, r in zip(ids, batch, strict=True)))

        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        environment.update({
            "GATEWAY_DATABASE_URL": url,
            "GATEWAY_DATA_DIR": str(data_dir),
            "GATEWAY_PKI_DIR": str(data_dir / "pki"),
            # Functional tests call as fast as they can; the limits have their own tests
            # (test_soap_attacks.py), which set them through settings_environment.
            "GATEWAY_RATE_PER_SECOND": "1000", "GATEWAY_RATE_BURST": "1000",
            "GATEWAY_UNAUTHENTICATED_RATE_PER_SECOND": "1000",
            "GATEWAY_UNAUTHENTICATED_BURST": "1000",
            **(settings_environment or {}),
        })
        # stderr: the log, JSON lines only (test_soap_deployment.py); stdout: the banner.
        log_path = data_dir / "gateway-serve.log"
        with log_path.open("wb") as log, (data_dir / "gateway-serve.out").open("wb") as out:
            process = subprocess.Popen(
                [*_gateway_command(), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
                env=environment, stdout=out, stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _wait_until_healthy(process, base_url, log_path)
        yield RunningGateway(base_url, pki, engine, seed, log_path, url)
    finally:
        if process is not None:
            _stop(process)
        engine.dispose()
        try:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            admin.dispose()


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path_factory.mktemp("soap-gateway")) as running:
        yield running


@pytest.fixture(scope="session")
def default_seed() -> SeedRequests:
    """The shared ``gateway``'s seed, for modules that start a gateway of their own with it."""
    return _seed_requests


@pytest.fixture(scope="session")
def start_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[SeedRequests], AbstractContextManager[RunningGateway]]:
    """``with start_gateway(seed_requests) as gateway:`` a second, isolated gateway (its own
    schema, PKI and server) for tests that need exact counts of everything in the database."""

    def start(seed_requests: SeedRequests) -> AbstractContextManager[RunningGateway]:
        return running_gateway(tmp_path_factory.mktemp("soap-gateway"), seed_requests)

    return start


@pytest.fixture(scope="session")
def launch_gateway() -> Callable[..., AbstractContextManager[RunningGateway]]:
    """``running_gateway`` itself, for tests that need their own database or settings
    (``postgres_url=``, ``settings_environment=``)."""
    return running_gateway


def fault_code(fault: zeep.exceptions.Fault) -> str | None:
    """The stable ``gw:code`` in a zeep fault's detail."""
    if fault.detail is None:
        return None
    return fault.detail.findtext(f"{GW}error/{GW}code")


@pytest.fixture(scope="session")
def gw_code() -> Any:
    """``gw_code(fault) -> str``: the stable code of a zeep ``Fault`` (from its detail)."""
    return fault_code
