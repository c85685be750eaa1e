"""Java clients we did not write, from Debian's packages, for the SOAP tests: their classpath,
or a failure (never a skip) that says what ``ensure_test_peers`` should have installed."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

DEBIAN_JAVA = Path("/usr/share/java")


def debian_classpath(jars: Sequence[str], needed_by: str, packages: str) -> str:
    """The classpath of ``jars`` (names under /usr/share/java); fails the test naming what is
    missing when a jar, ``java`` or ``javac`` is not there."""
    paths = [DEBIAN_JAVA / f"{name}.jar" for name in jars]
    missing = [str(path) for path in paths if not path.is_file()]
    tools = [tool for tool in ("java", "javac") if shutil.which(tool) is None]
    if missing or tools:
        pytest.fail(f"{needed_by} needs Java 17 (javac) and the Debian packages {packages} "
                    "(scripts/lib/env.sh ensure_test_peers installs them); "
                    f"missing: {' '.join(tools + missing)}")
    return ":".join(str(path) for path in paths)
