"""Names a package exports but imports only when first asked for (PEP 562).

A package whose ``__init__`` re-exports a heavy module's names (pyHanko's signers, the
WS-Security gate) would make every import of any of its modules pay for that one: the command
line imports only what a command needs (issue 18). The package lists those names instead::

    __getattr__ = lazy_names(globals(), {"sign_pades": "gateway.signatures.signing"})

and declares them under ``TYPE_CHECKING`` for the type checker.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(namespace: dict[str, Any], modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``name`` from ``modules[name]`` on first use and
    keeps it in ``namespace`` (the package's ``globals()``), so that it is looked up once."""

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
