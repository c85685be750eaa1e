"""The client is its own room: no server module imports ``gateway.client``, and the client
package imports nothing of the server beyond the leaf modules a client shares with it."""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
CLIENT = GATEWAY / "client"
# What a client may share with the server: leaf modules that import nothing of the gateway.
SHARED_LEAVES = {"gateway.namespaces", "gateway.xmlsafe"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_server_module_imports_the_client_package() -> None:
    offenders = {
        str(path.relative_to(GATEWAY.parent)): sorted(
            name for name in imported_modules(path)
            if name == "gateway.client" or name.startswith("gateway.client."))
        for path in GATEWAY.rglob("*.py") if CLIENT not in path.parents
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_client_package_imports_no_server_module() -> None:
    offenders = {
        str(path.relative_to(GATEWAY.parent)): sorted(
            name for name in imported_modules(path)
            if name.startswith("gateway.") and not name.startswith("gateway.client")
            and not any(name == leaf or name.startswith(leaf + ".") for leaf in SHARED_LEAVES))
        for path in CLIENT.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_old_client_modules_are_gone_from_the_server_package() -> None:
    assert not (GATEWAY / "clientsupport.py").exists()
    assert not (GATEWAY / "content_download.py").exists()
