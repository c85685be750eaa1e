"""``gateway demo --serve`` runs the event delivery process beside the server (issue 17) and
stops it with the server.

The demo (SQLite in a fresh data directory, on a free port) starts; an operator subscribes the
demo company with a loopback receiver (signatures checked by ``standardwebhooks``) and assigns
one of its CCCs to the RED agent: the ``representation.changed`` event arrives with nobody
running ``gateway events deliver`` by hand. SIGTERM to the demo process alone (not its group)
stops the server and the delivery process it started; the demo exits 0.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests
from webhook_receiver_harness import Receiver

from gateway.domain.identifiers import make_ccc
from gateway.pki import load_or_generate_demo_pki

GATEWAY = Path(sys.executable).with_name("gateway")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str,
             process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert process.poll() is None, log.read_text(errors="replace")[-4000:]
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n"
                         f"{log.read_text(errors='replace')[-4000:]}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def healthy(base_url: str) -> bool:
    try:
        return requests.get(base_url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_the_demo_delivers_events_and_stops_its_deliverer_with_the_server(
        tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment.update({"GATEWAY_DATA_DIR": str(tmp_path / "var"),
                        "GATEWAY_BIND": f"127.0.0.1:{port}",
                        "GATEWAY_EVENTS_ALLOWED_CALLBACKS": "127.0.0.1",
                        "GATEWAY_EVENTS_ALLOW_HTTP": "true"})
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        demo = subprocess.Popen([str(GATEWAY), "demo", "--count", "20", "--serve"],
                                env=environment, stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    receiver = Receiver().start()
    try:
        wait_for(lambda: healthy(base_url), 120, "the demo to serve", demo, log)
        [pid] = re.findall(r"event delivery: gateway events deliver \(pid (\d+)\)",
                           log.read_text(errors="replace"))
        deliverer = int(pid)
        assert alive(deliverer)

        pki = load_or_generate_demo_pki(tmp_path / "var" / "pki", now=datetime.now(UTC))

        def operator(*args: str) -> str:
            done = subprocess.run([str(GATEWAY), *args], env=environment, capture_output=True,
                                  text=True, timeout=120, check=False)
            assert done.returncode == 0, done.stderr[-4000:]
            return done.stdout

        subscribed = json.loads(operator("subscriptions", "add", receiver.url,
                                         "--for", f"ENTITY:{pki.company_cif}",
                                         "--type", "representation.changed"))
        receiver.secret = subscribed["secret"]
        ccc = make_ccc(28, 9_170_017)
        operator("red", "assign", "--company", pki.company_cif, "--ccc", ccc,
                 "--agent", pki.red_agent_cif)
        wait_for(lambda: bool(receiver.received), 60, "the event", demo, log)
        [event] = receiver.received
        assert event.type == "es.notess.gateway.representation.changed"
        assert json.loads(event.body)["data"]["change"] == "RED_ASSIGNED"
        assert receiver.refused == 0

        demo.send_signal(signal.SIGTERM)  # the demo alone: it stops what it started
        assert demo.wait(timeout=60) == 0, log.read_text(errors="replace")[-4000:]
        assert not alive(deliverer)
        assert not healthy(base_url)
    finally:
        receiver.stop()
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(timeout=10)
