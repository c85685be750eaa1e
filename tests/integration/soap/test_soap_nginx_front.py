"""The shipped nginx front (``deploy/nginx.conf``), run for real (issue 14, "Deployment that is
tested"): Debian's nginx on loopback with TLS (a self-signed certificate made here) in front of
two ``gateway serve`` hosts on different ports sharing one PostgreSQL schema.

- zeep, trusting the certificate, calls signed operations through it (both hosts serve);
- the WSDL advertises the https public address (the hosts trust 127.0.0.1 as their proxy);
- nginx buffers request bodies: a client sending its body slowly never reaches a host until it
  is complete;
- a signed request accepted by one host is refused as a replay by the other.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
import zeep
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from zeep.transports import Transport

from gateway import namespaces as ns

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

SHIPPED = Path(__file__).resolve().parents[3] / "deploy" / "nginx.conf"
START_TIMEOUT_S = 60.0


@dataclass
class Front:
    url: str
    """``https://localhost:<port>``, nginx."""
    cert: Path
    host_a: RunningGateway
    host_b_url: str
    host_b_log: Path

    @property
    def logs(self) -> str:
        return (self.host_a.log_path.read_text(errors="replace")
                + self.host_b_log.read_text(errors="replace"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _nginx_conf(directory: Path, port: int, upstreams: tuple[int, int], cert: Path,
                key: Path) -> Path:
    """The shipped server block, inside a minimal nginx.conf, with only its host names, port
    and certificate paths replaced (each must be found: the test follows the shipped file)."""
    shipped = SHIPPED.read_text()
    for old, new in (("server gateway-1:8080;", f"server 127.0.0.1:{upstreams[0]};"),
                     ("server gateway-2:8080;", f"server 127.0.0.1:{upstreams[1]};"),
                     ("listen 443 ssl", f"listen 127.0.0.1:{port} ssl"),
                     ("/etc/nginx/tls/server.pem", str(cert)),
                     ("/etc/nginx/tls/server.key", str(key))):
        assert old in shipped, old
        shipped = shipped.replace(old, new)
    temp = "\n".join(f"    {kind}_temp_path {directory}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = directory / "nginx.conf"
    conf.write_text(f"""daemon off;
master_process off;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/access.log;
{temp}
{shipped}
}}
""")
    return conf


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    assert found, "nginx missing: scripts/lib/env.sh ensure_test_peers installs it"
    return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # our own group: start_new_session=True
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, **kwargs: object) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=2, **kwargs).status_code == 200:  # type: ignore[arg-type]
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not up after {START_TIMEOUT_S} s: {log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory,
          launch_gateway: Callable[..., AbstractContextManager[RunningGateway]],
          ) -> Iterator[Front]:
    shared = {"GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32",
              "GATEWAY_REQUEST_TIMEOUT_SECONDS": "3",  # a slow body straight to a host fails
              # one secret for every host: a listing cursor from one is good on the other
              "GATEWAY_CURSOR_SECRET": secrets.token_hex(32)}
    with launch_gateway(tmp_path_factory.mktemp("host-a"), settings_environment=shared) as a:
        b_dir = tmp_path_factory.mktemp("host-b")
        b_port = _free_port()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        environment.update({
            **shared,
            "GATEWAY_DATABASE_URL": a.database_url,  # the same schema as host A
            "GATEWAY_DATA_DIR": str(b_dir),
            "GATEWAY_PKI_DIR": str(a.log_path.parent / "pki"),
            "GATEWAY_RATE_PER_SECOND": "1000", "GATEWAY_RATE_BURST": "1000",
            "GATEWAY_UNAUTHENTICATED_RATE_PER_SECOND": "1000",
            "GATEWAY_UNAUTHENTICATED_BURST": "1000",
        })
        b_log = b_dir / "gateway-serve.log"
        a_port = int(a.base_url.rsplit(":", 1)[1])
        web = tmp_path_factory.mktemp("nginx")
        cert, key = _self_signed(web)
        port = _free_port()
        conf = _nginx_conf(web, port, (a_port, b_port), cert, key)
        host_b: subprocess.Popen[bytes] | None = None
        nginx: subprocess.Popen[bytes] | None = None
        try:
            with b_log.open("wb") as log, (b_dir / "gateway-serve.out").open("wb") as out:
                host_b = subprocess.Popen(
                    [str(Path(sys.executable).with_name("gateway")), "serve",
                     "--bind", f"127.0.0.1:{b_port}", "--workers", "2"],
                    env=environment, stdout=out, stderr=log, stdin=subprocess.DEVNULL,
                    start_new_session=True)
            _wait_for(f"http://127.0.0.1:{b_port}/healthz", host_b, b_log)
            nginx_log = web / "nginx.out"
            with nginx_log.open("wb") as log:
                nginx = subprocess.Popen(
                    [_nginx(), "-p", str(web), "-e", str(web / "error.log"), "-c", str(conf)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True)
            url = f"https://localhost:{port}"
            _wait_for(url + "/healthz", nginx, web / "error.log", verify=str(cert))
            yield Front(url, cert, a, f"http://127.0.0.1:{b_port}", b_log)
        finally:
            if nginx is not None:
                _stop(nginx)
            if host_b is not None:
                _stop(host_b)


def _wsdl_address(content: bytes) -> str:
    address = etree.fromstring(content).find(f".//{{{ns.WSDL_SOAP11}}}address")
    assert address is not None
    return str(address.get("location"))


def test_wsdl_through_nginx_advertises_the_https_address(front: Front) -> None:
    for _ in range(4):  # round robin: both hosts answer
        response = requests.get(front.url + "/NotificationService?wsdl", verify=str(front.cert),
                                timeout=10)
        assert response.status_code == 200
        assert _wsdl_address(response.content) == front.url + "/NotificationService"


def test_zeep_calls_signed_operations_through_nginx_on_both_hosts(front: Front) -> None:
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides session.verify
    session.verify = str(front.cert)
    client = zeep.Client(front.url + "/NotificationService?wsdl", wsse=front.host_a.signer(),
                         transport=Transport(session=session))
    marker_a = front.host_a.log_path.read_text().count("POST /NotificationService")
    marker_b = front.host_b_log.read_text().count("POST /NotificationService")
    for _ in range(8):
        assert client.service.GetOfficialTime() is not None  # responses verified by the signer
    deadline = time.monotonic() + 10
    while True:  # the access line is written just after the answer: let the last one land
        served_a = front.host_a.log_path.read_text().count("POST /NotificationService") - marker_a
        served_b = front.host_b_log.read_text().count("POST /NotificationService") - marker_b
        if served_a + served_b >= 8 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert served_a + served_b == 8 and served_a > 0 and served_b > 0, (served_a, served_b)


def _trickle(tls: socket.socket, host: str, path: str) -> bytes:
    """POST a 100-byte body 10 bytes every half second (5 s, past the hosts' 3 s deadline for a
    whole request) and return whatever answer comes back."""
    body = b"<not-soap>" + b"x" * 79 + b"</not-soap>"
    tls.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
    try:
        for offset in range(0, len(body), 10):
            tls.sendall(body[offset:offset + 10])
            time.sleep(0.5)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    except OSError:  # closed by the server mid-body
        return b""
    return answer


def test_nginx_buffers_a_slow_body_before_any_host_sees_it(front: Front) -> None:
    # Control: sent straight to a host, the trickle outlives its whole-request deadline and
    # the connection is closed unanswered (gateway.connections).
    with socket.create_connection(("127.0.0.1", int(front.host_b_url.rsplit(":", 1)[1])),
                                  timeout=15) as direct:
        assert not _trickle(direct, "127.0.0.1", "/NotificationService").startswith(b"HTTP/1.1 4")
    # Through nginx the host only ever sees the complete request, at once: answered (404 for
    # this path), and no host logged the request while its body was still coming.
    probe = f"SlowProbe{uuid.uuid4().hex}"
    context = ssl.create_default_context(cafile=str(front.cert))
    port = int(front.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=15) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        answer = _trickle(tls, f"localhost:{port}", f"/{probe}")
    assert answer.startswith(b"HTTP/1.1 404"), answer[:300]
    deadline = time.monotonic() + 10
    while probe not in front.logs:  # logged by the host that answered it
        assert time.monotonic() < deadline, "the probe never reached a host"
        time.sleep(0.1)


def test_a_replay_sent_to_the_other_host_is_refused(front: Front) -> None:
    data = etree.tostring(front.host_a.signed("GetOfficialTime"))
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"GetOfficialTime"'}
    first = requests.post(front.host_a.service_url, data=data, headers=headers, timeout=30)
    assert first.status_code == 200, first.text[:2000]
    replay = requests.post(front.host_b_url + "/NotificationService", data=data,
                           headers=headers, timeout=30)
    front.host_a.assert_fault(replay, faultcode="wsse:InvalidSecurity", code="REPLAY_DETECTED",
                              status=401)


def test_the_batch_agent_runs_through_nginx(front: Front, tmp_path: Path) -> None:
    """Last in this module: the agent accepts the company's notifications (state changes).
    It trusts the front's certificate as any requests-based client does (REQUESTS_CA_BUNDLE),
    reads the WSDL over https and posts where it says."""
    examples = Path(__file__).resolve().parents[3] / "client_examples"
    company = front.host_a.pki.client("company")
    posts_before = front.logs.count("POST /NotificationService")
    run = subprocess.run(
        [sys.executable, str(examples / "batch_agent.py"),
         "--url", front.url + "/NotificationService",
         "--cert", str(company.cert_path), "--key", str(company.key_path),
         "--server-cert", str(front.host_a.pki.server.cert_path),
         "--archive", str(tmp_path / "archive"), "--no-progress"],
        env={**os.environ, "REQUESTS_CA_BUNDLE": str(front.cert)},
        capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    accepted = re.search(r"accepted=(\d+) ", run.stdout)
    assert accepted and int(accepted.group(1)) > 0 and "errors=0" in run.stdout, run.stdout
    time.sleep(0.5)  # the last access lines
    assert front.logs.count("POST /NotificationService") > posts_before
