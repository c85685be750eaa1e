"""The shipped systemd unit installs and passes ``systemd-analyze verify`` (issue 14): it runs
the package's own ``gateway serve`` (no config file that ``pip install`` leaves out) and gives
the service the directories a read-only root (``ProtectSystem=strict``) otherwise denies it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "notess-gateway.service"


def _directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def _verify(root: Path, unit_text: str) -> subprocess.CompletedProcess[str]:
    """Install the unit into a scratch root with what it refers to, and verify it there."""
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    (root / "etc/notess").mkdir(parents=True, exist_ok=True)
    (root / "etc/notess/gateway.env").write_text("GATEWAY_DATABASE_URL=postgresql+psycopg://\n")
    venv_bin = root / "opt/notess/venv/bin"
    venv_bin.mkdir(parents=True, exist_ok=True)
    entry = venv_bin / "gateway"  # pip's console script, stood in by a stub
    entry.write_text("#!/bin/sh\nexit 0\n")
    entry.chmod(0o755)
    if not (root / "usr/lib/systemd/system").exists():  # the targets the unit is ordered against
        shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system",
                        symlinks=True)
    (root / "etc/systemd/system/notess-gateway.service").write_text(unit_text)
    systemd_analyze = shutil.which("systemd-analyze")
    assert systemd_analyze, "systemd-analyze missing: scripts/lib/env.sh ensure_test_peers"
    return subprocess.run(
        [systemd_analyze, "verify", f"--root={root}", "/etc/systemd/system/notess-gateway.service"],
        capture_output=True, text=True, timeout=60, check=False)


def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    done = _verify(tmp_path, UNIT.read_text())
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_verification_catches_a_broken_unit(tmp_path: Path) -> None:
    # the check above means something: a misspelt key or a missing program is reported
    broken = UNIT.read_text().replace("StateDirectory=", "StateDirectry=")
    assert "Unknown key" in _verify(tmp_path, broken).stderr
    missing = UNIT.read_text().replace("venv/bin/gateway serve", "venv/bin/gunicorn -c x.py")
    assert "not executable" in _verify(tmp_path, missing).stderr


def test_unit_runs_gateway_serve_with_its_directories() -> None:
    unit = _directives(UNIT.read_text())
    assert unit["ExecStart"] == ["/opt/notess/venv/bin/gateway serve"]
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["StateDirectory"] == ["notess"] and unit["RuntimeDirectory"] == ["notess"]
    assert unit["ConfigurationDirectory"] == ["notess"]
    assert "GATEWAY_DATA_DIR=/var/lib/notess" in unit["Environment"]
    assert "PROMETHEUS_MULTIPROC_DIR=/run/notess/prometheus" in unit["Environment"]
    assert unit["EnvironmentFile"] == ["/etc/notess/gateway.env"]


def test_every_command_logs_json_where_the_unit_runs_it() -> None:
    from gateway.logs import json_wanted

    assert json_wanted("serve", False, {})
    assert not json_wanted("sweep", False, {})
    assert json_wanted("sweep", True, {})
    assert json_wanted("sweep", False, {"GATEWAY_JSON_LOGS": "true"})
    assert "GATEWAY_JSON_LOGS=true" in _directives(UNIT.read_text())["Environment"]
