"""The newcomer's path, as written: fresh data dir -> ``./scripts/demo`` -> the walkthrough's
commands.

The test runs ``./scripts/demo`` itself in a fresh directory laid out like a checkout
(``scripts``, ``setup.cfg``, ``pyproject.toml``, ``client_examples`` and the test's own
``.venv`` linked in, ``var/`` created by the demo), on a free port given as the documented
``GATEWAY_BIND``/``GATEWAY_PUBLIC_URL``: the script finds the environment already installed
(``scripts/lib/env.sh``: what setup.cfg asks is there) and starts the demo. Then it runs, with
bash and exactly as written, the ``sh`` blocks of README.md's set-up section and every ``sh``
block of client_examples/README.md in order — except blocks preceded by a ``<!-- not run … -->``
comment (placeholders) — checks what the demo's RED agent did (it listed, accepted and archived
at least 100 notifications of several companies, and the receipts verify offline), and that the
demo stops cleanly on SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from gateway import cli

REPOSITORY = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 120
FENCE = re.compile(r"(<!-- not run[^>]*-->\n)?```sh\n(.*?)```", re.DOTALL)


def sh_blocks(markdown: str) -> list[str]:
    """The ``sh`` blocks to run, in order (a preceding ``<!-- not run … -->`` skips one)."""
    return [match.group(2) for match in FENCE.finditer(markdown) if not match.group(1)]


def section(markdown: str, heading: str) -> str:
    start = markdown.index(heading)
    end = markdown.find("\n## ", start + len(heading))
    return markdown[start:end if end >= 0 else len(markdown)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> int | None:
    """Terminate the demo we started and its gunicorn workers (its own process group); its
    exit status, or None when it had to be killed."""
    if process.poll() is not None:
        return process.returncode
    os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
        return None


def wait_for_walkthrough(process: subprocess.Popen[bytes], base_url: str, log: Path) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the demo exited with {process.returncode}:\n"
                                 f"{log.read_text(errors='replace')[-4000:]}")
        try:
            if requests.get(base_url + "/healthz", timeout=1).status_code == 200:
                return log.read_text(errors="replace")
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the demo did not serve within {STARTUP_TIMEOUT_S} s:\n"
                         f"{log.read_text(errors='replace')[-4000:]}")


def run_blocks(blocks: list[str], home: Path, environment: dict[str, str],
               name: str) -> subprocess.CompletedProcess[str]:
    script = home / f"{name}.sh"
    script.write_text("set -euo pipefail\n" + "\n".join(blocks), encoding="utf-8")
    return subprocess.run(["bash", "-x", str(script)], cwd=home, env=environment,
                          capture_output=True, text=True, timeout=600, check=False)


def test_the_newcomer_path_archives_the_red_agents_work(tmp_path: Path) -> None:
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    examples = (REPOSITORY / "client_examples" / "README.md").read_text(encoding="utf-8")

    home = tmp_path / "checkout"
    home.mkdir()
    (home / ".venv").symlink_to(Path(sys.executable).parents[1])
    for name in ("scripts", "client_examples", "setup.cfg", "pyproject.toml"):
        (home / name).symlink_to(REPOSITORY / name)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environment.update({"GATEWAY_BIND": f"127.0.0.1:{port}", "GATEWAY_PUBLIC_URL": base_url,
                        "PYTHONPATH": os.pathsep.join(
                            [str(REPOSITORY), *filter(None, [os.environ.get("PYTHONPATH")])])})
    # The script must find this environment installed: never let it run pip here, where an
    # editable install would point the test's own .venv at this temporary directory.
    installed = subprocess.run(["bash", "-c", ". scripts/lib/env.sh; already_installed client"],
                               cwd=home, env=environment, capture_output=True, text=True,
                               timeout=60, check=False)
    assert installed.returncode == 0, installed.stderr
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        demo = subprocess.Popen(["./scripts/demo"], cwd=home, env=environment,
                                stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        printed = wait_for_walkthrough(demo, base_url, log)
        # The demo prints the walkthrough's commands as client_examples/README.md writes them.
        assert f"URL={base_url}/NotificationService" in printed
        assert f"{base_url}/verify" in printed
        for line in cli.WALKTHROUGH:
            assert f"  {line}\n" in printed and f"{line}\n" in examples
        for name in ("ME", "SERVER"):
            [assignment] = [line.strip() for line in printed.splitlines()
                            if line.strip().startswith(f"{name}=")]
            assert f"{assignment}\n" in examples

        started = time.monotonic()
        setup = run_blocks(sh_blocks(section(readme, "## Set-up")), home, environment, "readme")
        assert setup.returncode == 0, setup.stderr[-4000:]
        walkthrough = run_blocks(sh_blocks(examples), home, environment, "examples")
        seconds = time.monotonic() - started
        assert walkthrough.returncode == 0, walkthrough.stderr[-4000:]
    finally:
        status = stop(demo)
    # It found the environment installed, served from the fresh directory, and stopped cleanly.
    demo_log = log.read_text(errors="replace")
    assert "installing the gateway" not in demo_log and (home / "var").is_dir()
    assert status == 0, demo_log[-4000:]

    # The RED agent listed, accepted and archived the pending items of several companies.
    summary, person_summary = [line for line in walkthrough.stdout.splitlines()
                               if line.startswith("accepted=")]
    counts = dict(pair.split("=", 1) for pair in summary.split())
    assert int(counts["accepted"]) >= 100 and counts["errors"] == "0", summary
    archive = home / "archive"
    entries = list(archive.glob("*/*/notification.json"))
    companies = {entry.parents[1].name for entry in entries}
    assert len(entries) >= 100 and len(companies) >= 3, (len(entries), companies)
    receipts = list(archive.glob("*/receipts/*.xml"))
    assert len({path.parents[1].name for path in receipts}) >= 3
    assert walkthrough.stdout.count("VALID receipt") == len(receipts)

    # The person's mandate without content: its notifications are left pending, not accepted.
    person = dict(pair.split("=", 1) for pair in person_summary.split())
    assert int(person["accepted"]) > 0 and int(person["skipped"]) > 0, person_summary
    assert person["errors"] == "0", person_summary
    [no_content] = re.findall(r"holds a mandate of (\w+): notifications\.read, "
                              r"notifications\.sign\n", printed)
    person_archive = {path.parents[1].name
                      for path in (home / "person-archive").glob("*/*/notification.json")}
    assert person_archive and no_content not in person_archive
    notices = (walkthrough.stderr.count(f"of {no_content} not accepted")
               + walkthrough.stderr.count(f"of {no_content} not opened"))
    assert notices == int(person["skipped"]) > 0
    assert walkthrough.stderr.count(f"of {no_content} not opened") > 0  # its communications
    print(f"walkthrough: {summary}; {len(entries)} entries, {len(companies)} companies, "
          f"{len(receipts)} receipts, {seconds:.1f} s")
