"""The code stays lint- and type-clean: ``ruff check`` and ``mypy --strict`` (as configured in
pyproject.toml) run with the whole suite, so CI fails on a finding (issue 14: "CI also runs
ruff check and mypy and fails on findings"). Both tools are pinned in setup.cfg's test extra,
so the rule set cannot change under a passing commit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=REPOSITORY, capture_output=True,
                          text=True, timeout=600, check=False)


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", "--no-cache", "gateway", "tests", "bench", "client_examples")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
