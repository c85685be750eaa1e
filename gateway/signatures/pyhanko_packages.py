"""pyHanko's validation modules without its signers: deferred package ``__init__`` files.

Python runs a package's ``__init__`` before any of its submodules, and ``pyhanko/sign/__init__.py``
imports the signers, whose time-stamp client imports aiohttp: more than half of what importing
``pyhanko.sign.fields`` and ``pyhanko.sign.validation.pdf_embedded`` costs (~0.2 s of ~0.4 s of
CPU here), none of it used to validate a PDF. ``pyhanko/sign/validation/__init__.py`` likewise
imports the DSS and qualified-trust modules that PAdES validation here does not use.

:func:`defer_inits` registers those packages as module objects whose ``__path__`` is set but
whose ``__init__`` has not run: their submodules import from them as usual. The first name asked
of such a package that is not one of its submodules (``from pyhanko.sign import SimpleSigner``,
``pyhanko.sign.validation.validate_pdf_signature``) runs the real ``__init__`` then, in the same
module object, so code that signs or uses the package's own names sees the complete package. A
package imported before (the server, which also signs) is left as it is.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any

DEFERRED_PACKAGES = ("pyhanko.sign", "pyhanko.sign.validation")
"""Parents first: the second is a subpackage of the first."""

_lock = threading.RLock()
"""Held while a package is registered or completed (the server validates in threads)."""


def defer_inits() -> None:
    """Register every package of :data:`DEFERRED_PACKAGES` not imported yet, ``__init__`` deferred."""
    with _lock:
        for name in DEFERRED_PACKAGES:
            if name not in sys.modules:
                _register(name)


def _register(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not an installed package: the ordinary import will say so
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def complete(attribute: str) -> Any:
        """Module ``__getattr__`` (PEP 562): a submodule, else the real ``__init__``'s name."""
        if not attribute.startswith("__"):
            submodule = f"{name}.{attribute}"
            if submodule in sys.modules or importlib.util.find_spec(submodule) is not None:
                return importlib.import_module(submodule)
        with _lock:
            if package.__dict__.get("__getattr__") is complete:
                del package.__dict__["__getattr__"]
                loader.exec_module(package)
        try:
            return package.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None

    package.__dict__["__getattr__"] = complete  # PEP 562: consulted for missing attributes
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:  # as the import system does: the package is an attribute of its parent
        setattr(sys.modules[parent], child, package)
