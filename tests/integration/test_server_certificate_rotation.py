"""Server certificate rotation announced in advance, across its activation instant (issue 14).

The gateway (its real WSGI application, served over loopback HTTP) and the batch agent share one
controlled clock: nothing sleeps. ``gateway pki rotate`` schedules the next certificate; the
agent learns it from ``GetServerCertificates`` over a response signed by the current one, warns
before the activation, and then verifies every response -- before, across and after the
instant the server switches keys -- through full runs (listing, signed acknowledgements,
GetContents batches and streamed GetContent downloads). A response signed by a certificate
that was never announced is refused, and so is the announced one used before its time.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
import zeep
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from sqlalchemy import select
from zeep.exceptions import SignatureVerificationFailed

from gateway import namespaces as ns
from gateway.bootstrap import Container, build
from gateway.client.agent import AcknowledgementSigner, Agent, Bars
from gateway.client.archive import Archive
from gateway.client.receipts import receipt_signer
from gateway.client.rules import load_rules
from gateway.client.server_certs import Announced, KnownCertificate, ServerCertificates
from gateway.client.service import Service
from gateway.client.state import AgentState
from gateway.client.transport import ServerVerifyingSignature
from gateway.config import Settings
from gateway.domain.clock import FixedClock
from gateway.errors import InvalidRequest
from gateway.pki import DemoPki, generate_demo_pki
from gateway.services.publishing import DocumentInput, PublicationRequest
from gateway.store.models import AuditEventRow

REPOSITORY = Path(__file__).resolve().parents[2]


_TOKEN = re.compile(rb"<wsse:BinarySecurityToken[^>]*>([A-Za-z0-9+/=\s]+)<")


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@dataclass
class Stepping:
    """Moves the shared clock by ``step`` after every request the server answered (from
    ``start``), so that one agent run crosses the activation instant part-way."""

    clock: FixedClock
    step: timedelta = timedelta(0)
    signers: list[str] = field(default_factory=list)
    """SHA-256 of the certificate each SOAP answer names, in order."""

    def wrap(self, app: Callable[..., Any]) -> Callable[..., Any]:
        def stepped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            try:
                answer = list(app(environ, start_response))
                token = _TOKEN.search(b"".join(answer[:4])[:20_000])
                if token:
                    self.signers.append(hashlib.sha256(base64.b64decode(token[1])).hexdigest())
                return answer
            finally:
                self.clock.advance(self.step)
        return stepped


@dataclass
class World:
    container: Container
    clock: FixedClock
    stepping: Stepping
    pki: DemoPki
    base_url: str
    next_cert: Path
    next_key: Path
    rogue_url: str
    tmp: Path

    @property
    def service_url(self) -> str:
        return self.base_url + "/NotificationService"

    def publish(self, reference: str, count: int, *, size: int = 300) -> None:
        now = self.clock.now()
        self.container.publishing().publish([PublicationRequest(
            issuer="TGSS", issuer_reference=f"{reference}-{index}",
            kind="COMMUNICATION" if index % 3 == 2 else "NOTIFICATION",
            procedure="Rotación", subject=f"Asunto {reference}-{index}",
            recipient=self.pki.company_cif, ccc=None, category="NORMAL",
            documents=(DocumentInput(f"{reference}-{index}.txt", "text/plain",
                                     (f"{reference}-{index} " * size).encode()[:size // (
                                         1 + index % 2)]),),
            made_available_at=now - timedelta(minutes=5)) for index in range(count)])


def _certificate(directory: Path, common_name: str, now: datetime) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "ES"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "NOTESS Demo"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=400))
                   .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return directory / "cert.pem", directory / "key.pem"


def _serve(app: Callable[..., Any]) -> tuple[str, Callable[[], None]]:
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer,
                         handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
    return f"http://127.0.0.1:{server.server_address[1]}", stop


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    now = datetime.now(UTC).replace(microsecond=0)
    pki = generate_demo_pki(tmp_path / "pki", now=now)
    settings = Settings(data_dir=tmp_path, pki_dir=tmp_path / "pki", rate_per_second=1000,
                        rate_burst=1000)
    clock = FixedClock(now)
    container = build(settings, clock=clock)
    container.upgrade_database()
    stepping = Stepping(clock)
    base_url, stop = _serve(stepping.wrap(container.wsgi_app()))
    next_cert, next_key = _certificate(tmp_path / "next", "NOTESS gateway 2027", now)
    rogue_cert, rogue_key = _certificate(tmp_path / "rogue", "NOTESS gateway (rogue)", now)
    rogue = build(replace(settings, server_cert=rogue_cert, server_key=rogue_key), clock=clock)
    rogue_url, stop_rogue = _serve(rogue.wsgi_app())
    try:
        yield World(container, clock, stepping, pki, base_url, next_cert, next_key, rogue_url,
                    tmp_path)
    finally:
        stop()
        stop_rogue()
        rogue.dispose()
        container.dispose()


def _sha256(path: Path) -> str:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _agent(world: World, *, stream_above: int) -> Agent:
    """The batch agent as ``client_examples/batch_agent.py`` builds it, on the shared clock."""
    company = world.pki.client("company")
    state = AgentState(world.tmp / "agent" / "state.db")
    certificates = ServerCertificates(world.pki.server.certificate(), [  # earlier runs learnt
        KnownCertificate(x509.load_der_x509_certificate(der), active_from)
        for der, active_from in state.server_certificates()], clock=world.clock.now)
    service = Service(world.service_url + "?wsdl", None, company.cert_path, company.key_path,
                      certificates, timeout=30)
    return Agent(service, state, Archive(world.tmp / "agent" / "archive", fsync=False),
                 load_rules(None), AcknowledgementSigner(company.key_path, company.cert_path),
                 world.pki.server.certificate(), Bars.open(True), batch_size=50, page_size=50,
                 workers=2, role=None, principal=None, resync=False, stream_above=stream_above,
                 server_cert_path=world.pki.server.cert_path, certificates=certificates)


def _run(agent: Agent) -> None:
    try:
        agent.run()
        agent.shutdown(interrupted=False)
    finally:
        agent.state.close()
        agent.bars.close()
    assert agent.errors == []


def _signer_of(response: bytes) -> str:
    token = etree.fromstring(response).findtext(
        f"./*/{{{ns.WSSE}}}Security/{{{ns.WSSE}}}BinarySecurityToken")
    assert token
    return hashlib.sha256(base64.b64decode(token)).hexdigest()


def _official_time(world: World) -> requests.Response:
    """A signed GetOfficialTime, sent raw: the test reads which certificate signed the answer."""
    company = world.pki.client("company")
    client = zeep.Client(world.service_url + "?wsdl")
    message = client.create_message(client.service, "GetOfficialTime")
    on_the_clock = ServerCertificates(world.pki.server.certificate(), clock=world.clock.now)
    ServerVerifyingSignature(company.key_path, company.cert_path, on_the_clock).apply(message, {})
    return requests.post(world.service_url, data=etree.tostring(message),
                         headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)


def test_the_agent_verifies_responses_before_across_and_after_the_activation(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _sha256(world.pki.server.cert_path), _sha256(world.next_cert)
    activation = world.clock.now() + timedelta(minutes=30)
    entry = world.container.rotation().schedule(world.next_cert.read_bytes(), world.next_key,
                                                activation, "ops@example")
    assert entry.fingerprint == new

    # Announced, on both routes, while the old key signs.
    bundle = requests.get(world.base_url + "/server-certificates", timeout=30)
    assert bundle.headers["Content-Type"] == "application/pem-certificate-chain"
    assert [c.fingerprint(hashes.SHA256()).hex()
            for c in x509.load_pem_x509_certificates(bundle.content)] == [old, new]
    assert f"# active-from: {activation.isoformat()}" in bundle.text
    assert _signer_of(_official_time(world).content) == old

    # Run 1, well before: the agent learns the next certificate and says when it takes over.
    world.publish("ANTES", 6)
    _run(_agent(world, stream_above=200))
    warning = capsys.readouterr().err
    assert "new certificate from " + activation.isoformat() in warning and new in warning

    # Run 2 crosses the instant: it starts 3 s before and every answer moves the clock 1 s.
    world.publish("DURANTE", 6)
    world.clock.set(activation - timedelta(seconds=3))
    world.stepping.step = timedelta(seconds=1)
    world.stepping.signers.clear()
    _run(_agent(world, stream_above=200))  # the state gives it what run 1 learnt
    world.stepping.step = timedelta(0)
    crossing = world.stepping.signers
    switch = crossing.index(new)  # the old key signed up to the instant, the new one after
    assert switch >= 1 and crossing[:switch] == [old] * switch
    assert set(crossing[switch:]) == {new} and len(crossing) - switch >= 4, crossing
    assert _signer_of(_official_time(world).content) == new

    # Run 3, after: every answer is signed with the new key.
    world.clock.set(activation + timedelta(minutes=10))
    world.publish("DESPUES", 6)
    _run(_agent(world, stream_above=200))
    assert _signer_of(_official_time(world).content) == new
    archive = world.tmp / "agent" / "archive" / world.pki.company_cif
    documents = sorted(path.name for path in archive.glob("*/*-*.txt"))
    assert len(documents) == 18  # every document of the three runs, verified and stored
    # The server's receipts follow the rotation too, and the agent verified both kinds.
    signers = {hashlib.sha256(receipt_signer(path.read_bytes()) or b"").hexdigest()
               for path in archive.glob("receipts/*.xml")}
    assert signers == {old, new}

    # A client that never learnt of the rotation refuses the new signer: nothing is trusted
    # silently.
    unaware = ServerCertificates(world.pki.server.certificate(), clock=world.clock.now)
    company = world.pki.client("company")
    with pytest.raises(SignatureVerificationFailed):
        Service(world.service_url + "?wsdl", None, company.cert_path, company.key_path,
                unaware, timeout=30).call("GetOfficialTime")


def test_a_response_signed_by_an_unannounced_certificate_is_refused(world: World) -> None:
    world.container.rotation().schedule(world.next_cert.read_bytes(), world.next_key,
                                        world.clock.now() + timedelta(minutes=30))
    certificates = ServerCertificates(world.pki.server.certificate(), clock=world.clock.now)
    company = world.pki.client("company")
    genuine = Service(world.service_url + "?wsdl", None, company.cert_path, company.key_path,
                      certificates, timeout=30)
    answer = genuine.call("GetServerCertificates")
    assert [str(entry.role) for entry in answer] == ["CURRENT", "NEXT"]
    assert [entry.sha256 for entry in answer] == [_sha256(world.pki.server.cert_path),
                                                  _sha256(world.next_cert)]
    assert answer[1].activeFrom == world.clock.now() + timedelta(minutes=30)

    # Another server (a well-formed signature, by a certificate nobody announced).
    rogue = Service(world.rogue_url + "/NotificationService?wsdl", None, company.cert_path,
                    company.key_path, certificates, timeout=30)
    with pytest.raises(SignatureVerificationFailed):
        rogue.call("GetOfficialTime")
    # Its announcement of itself is not believed either: it never verifies.
    with pytest.raises(SignatureVerificationFailed):
        rogue.call("GetServerCertificates")
    assert len(certificates.known()) == 1


def test_the_announced_certificate_is_refused_before_its_activation(world: World) -> None:
    """The next key used early (well beyond clock skew) is refused: an announcement is not a
    licence to sign at any time."""
    activation = world.clock.now() + timedelta(minutes=30)
    world.container.rotation().schedule(world.next_cert.read_bytes(), world.next_key,
                                        activation)
    certificates = ServerCertificates(world.pki.server.certificate(), clock=world.clock.now)
    company = world.pki.client("company")
    service = Service(world.service_url + "?wsdl", None, company.cert_path, company.key_path,
                      certificates, timeout=30)
    certificates.learn([Announced(str(e.role), bytes(e.certificate), str(e.sha256),
                                  e.activeFrom) for e in service.call("GetServerCertificates")])
    early = build(replace(world.container.settings, server_cert=world.next_cert,
                          server_key=world.next_key), clock=world.clock)
    early_url, stop = _serve(early.wsgi_app())
    try:
        with pytest.raises(SignatureVerificationFailed):
            Service(early_url + "/NotificationService?wsdl", None, company.cert_path,
                    company.key_path, certificates, timeout=30).call("GetOfficialTime")
        world.clock.set(activation)
        Service(early_url + "/NotificationService?wsdl", None, company.cert_path,
                company.key_path, certificates, timeout=30).call("GetOfficialTime")
    finally:
        stop()
        early.dispose()


def test_rotate_refuses_what_could_not_sign(world: World) -> None:
    rotation = world.container.rotation()
    soon = world.clock.now() + timedelta(seconds=5)
    with pytest.raises(InvalidRequest) as too_soon:
        rotation.schedule(world.next_cert.read_bytes(), world.next_key, soon)
    assert too_soon.value.code == "TOO_SOON"
    later = world.clock.now() + timedelta(hours=1)
    with pytest.raises(InvalidRequest) as mismatch:  # another certificate's key
        rotation.schedule(world.next_cert.read_bytes(), world.pki.server.key_path, later)
    assert mismatch.value.code == "KEY_MISMATCH"
    with pytest.raises(InvalidRequest) as garbage:
        rotation.schedule(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                          world.next_key, later)
    assert garbage.value.code == "CERTIFICATE_MALFORMED"
    with pytest.raises(InvalidRequest) as expired:
        rotation.schedule(world.next_cert.read_bytes(), world.next_key,
                          world.clock.now() + timedelta(days=500))
    assert expired.value.code == "CERTIFICATE_NOT_VALID_THEN"
    assert rotation.scheduled() == []


def test_gateway_pki_rotate_schedules_and_audits(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    generate_demo_pki(tmp_path / "pki", now=now)
    cert, key = _certificate(tmp_path / "next", "NOTESS gateway 2027", now)
    environment = {"GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_PKI_DIR": str(tmp_path / "pki"),
                   "PATH": "/usr/bin:/bin"}
    at = (now + timedelta(days=7)).replace(microsecond=0).isoformat()

    def gateway(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gateway.cli", *argv], cwd=REPOSITORY,
                              env={**environment, "PYTHONPATH": str(REPOSITORY)},
                              capture_output=True, text=True, timeout=120, check=False)

    scheduled = gateway("pki", "rotate", "--next", str(cert), "--key", str(key), "--at", at,
                        "--by", "ops@example")
    assert scheduled.returncode == 0, scheduled.stderr
    listed = gateway("pki", "certificates")
    assert listed.returncode == 0, listed.stderr
    assert f'"sha256": "{_sha256(cert)}"' in listed.stdout and at in listed.stdout
    again = gateway("pki", "rotate", "--next", str(cert), "--key", str(key), "--at", at)
    assert again.returncode == 1 and "already scheduled" in again.stderr
    verified = gateway("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    container = build(Settings(data_dir=tmp_path, pki_dir=tmp_path / "pki"))
    with container.sessions() as session:
        events = session.execute(select(AuditEventRow.event_type, AuditEventRow.actor)).all()
    container.dispose()
    assert ("server_certificate.scheduled", "ops@example") in [tuple(e) for e in events]
