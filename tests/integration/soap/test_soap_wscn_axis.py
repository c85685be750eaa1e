"""Issue 16 acceptance: a client we did not write -- Apache Axis 1.4 ``WSDL2Java`` from the
committed ``wsdl/wscn.wsdl`` (Debian ``libaxis-java``), requests signed by Apache WSS4J 1.6
(``libwss4j-java``) in an Axis handler, acknowledgements signed by Apache Santuario -- runs the
WSCN integrators' loop against a real ``gateway serve`` on PostgreSQL, with no response-side
WS-Security processing at all (WSCN-era clients leave responses alone).

The Java program (``wscn_axis/WscnLoop.java``) is generated, compiled and run here with the
system's Java 17; nothing is downloaded. ``scripts/lib/env.sh`` (``ensure_test_peers``)
installs the Debian packages; if they are missing the test fails saying which -- never a skip.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from java_peers import debian_classpath

if TYPE_CHECKING:
    from conftest import RunningGateway

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[3]
JAVA_SOURCE = Path(__file__).with_name("wscn_axis") / "WscnLoop.java"
JARS = ("axis", "axis-jaxrpc", "axis-saaj", "commons-discovery", "commons-logging", "wsdl4j",
        "javax.activation", "javax.mail", "wss4j", "xmlsec", "slf4j-api", "commons-codec")
DATE = r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}"


def classpath() -> str:
    return debian_classpath(JARS, "the WSCN Axis test", "libaxis-java and libwss4j-java")


@pytest.fixture(scope="module")
def gw(start_gateway: Any, default_seed: Any) -> Iterator[RunningGateway]:
    with start_gateway(default_seed) as running:
        yield running


@pytest.fixture(scope="module")
def axis_client(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """WSDL2Java over the committed WSDL, then javac of the stubs and the loop."""
    cp = classpath()
    work = tmp_path_factory.mktemp("wscn-axis")
    subprocess.run(["java", "-cp", cp, "org.apache.axis.wsdl.WSDL2Java", "-o",
                    str(work / "gen"), str(ROOT / "wsdl" / "wscn.wsdl")],
                   check=True, capture_output=True, timeout=120)
    sources = sorted(str(p) for p in (work / "gen").rglob("*.java"))
    assert any(s.endswith("WSCNServiceLocator.java") for s in sources)
    classes = work / "classes"
    subprocess.run(["javac", "-nowarn", "-d", str(classes), "-cp", cp, *sources,
                    str(JAVA_SOURCE)], check=True, capture_output=True, timeout=300)
    return classes, cp


def keystore(gateway: RunningGateway, name: str, path: Path) -> None:
    credential = gateway.pki.client(name)
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"wscn", credential.private_key(), credential.certificate(), None,
        BestAvailableEncryption(b"changeit")))


def run_loop(gateway: RunningGateway, client: tuple[Path, str], work: Path,
             reject_id: int, responses: str) -> dict[str, str]:
    classes, cp = client
    keystore(gateway, "company", work / "company.p12")
    out = work / "stored"
    out.mkdir()
    result = subprocess.run(
        ["java", "-cp", f"{classes}:{cp}", "WscnLoop", f"{gateway.base_url}/WSCN",
         str(work / "company.p12"), "changeit", "wscn", str(out), str(reject_id), responses, str(gateway.pki.server.cert_path)],
        check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    steps: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "LISTED":  # one line per role: "LISTED <rol> <items> <calls>"
            rol, _, value = value.partition(" ")
            key = f"LISTED {rol}"
        steps[key] = value
    return steps


@pytest.mark.parametrize(("responses", "reject_index"), [("ignore", -1), ("verify", -2)])
def test_an_axis_14_client_generated_from_the_wsdl_runs_the_wscn_loop(
        gw: RunningGateway, axis_client: tuple[Path, str], tmp_path: Path, responses: str,
        reject_index: int) -> None:
    """``ignore``: no response-side WS-Security at all (WSCN-era clients); ``verify``: WSS4J
    checks the server's signature on every response. Each run accepts the first pending
    notification it lists and rejects its own one."""
    company = gw.pki.company_cif
    pending = [i for i in gw.seed.of(company) if i.kind == "NOTIFICATION"
               and i.category == "NORMAL"]
    reject_id = pending[reject_index].id
    steps = run_loop(gw, axis_client, tmp_path, reject_id, responses)

    assert steps["PODERDANTES"] == "false 0"
    # 250 own items at 50 a page: five full pages, then hayMas false after a sixth call.
    assert steps["LISTED 1"] == f"{len(gw.seed.of(company))} 6"
    assert steps["LISTED 2"] == steps["LISTED 3"] == "0 1"
    accepted = int(steps["ACCEPTED"])
    assert re.fullmatch(DATE, steps["SELLADO"]) and re.fullmatch(DATE, steps["SELLADO_ACUSE"])
    stored = (tmp_path / "stored" / f"{accepted}.pdf").read_bytes()
    assert hashlib.sha256(stored).hexdigest() == gw.seed.by_id(accepted).sha256
    assert int(steps["REJECTED"]) == reject_id
    ver = steps["VER"].split(" ", 2)
    assert int(ver[0]) == accepted and int(ver[1]) == len(stored) and ver[2] == steps["SELLADO"]
    assert steps["REFUSED"] == "6"  # not accepted: error inside the answer, not an exception
    # 1 + 8 listing calls + 2 x (solicitar, enviar) + 2 ver: every one checked when verifying.
    assert steps["VERIFIED"] == ("15" if responses == "verify" else "0")

    native = gw.client("company")
    assert native.service.GetNotification(id=accepted).status == "ACCEPTED"
    assert native.service.GetNotification(id=reject_id).status == "REJECTED"
    assert native.service.GetReceipt(notificationId=accepted).decision == "ACCEPT"
