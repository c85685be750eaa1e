"""Accept/reject rules for the batch agent: which decision each pending notification gets.

A rules file is TOML (``.toml``) or JSON (anything else)::

    default = "ACCEPT"            # ACCEPT (the default), REJECT or SKIP (leave it pending)

    [[rule]]                      # the first rule whose every condition holds decides
    decision = "REJECT"
    issuer = ["ISM"]              # TGSS, INSS, ISM
    procedure = "*embargo*"       # glob, case-insensitive (also: subject)

    [[rule]]
    decision = "SKIP"
    ccc = "28/1234567/42"         # identifiers compare normalised (upper case, no separators)
    recipient = ["B12345674"]

Conditions: ``issuer``, ``kind``, ``role``, ``category``, ``ccc``, ``recipient`` (one value or a
list: equality), ``procedure``, ``subject`` (one glob or a list). A rule without conditions
matches everything. Communications are never decided: they need no acknowledgement.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DECISIONS = ("ACCEPT", "REJECT", "SKIP")
EXACT_FIELDS = ("issuer", "kind", "role", "category", "ccc", "recipient")
GLOB_FIELDS = ("procedure", "subject")
IDENTIFIER_FIELDS = ("ccc", "recipient")


class RulesError(ValueError):
    """The rules file cannot be used (with the reason)."""


def _normalised(field: str, value: str) -> str:
    if field in IDENTIFIER_FIELDS:
        return "".join(ch for ch in value if ch.isalnum()).upper()
    return value.upper() if field in EXACT_FIELDS else value


@dataclass(frozen=True)
class Rule:
    decision: str
    exact: tuple[tuple[str, frozenset[str]], ...]
    globs: tuple[tuple[str, tuple[str, ...]], ...]

    def matches(self, item: Mapping[str, Any]) -> bool:
        for field, allowed in self.exact:
            value = item.get(field)
            if value is None or _normalised(field, str(value)) not in allowed:
                return False
        for field, patterns in self.globs:
            text = str(item.get(field) or "").casefold()
            if not any(fnmatch.fnmatchcase(text, pattern) for pattern in patterns):
                return False
        return True


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...] = ()
    default: str = "ACCEPT"

    def decide(self, item: Mapping[str, Any]) -> str:
        for rule in self.rules:
            if rule.matches(item):
                return rule.decision
        return self.default


def _values(field: str, raw: Any, where: str) -> tuple[str, ...]:
    values = raw if isinstance(raw, list) else [raw]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise RulesError(f"{where}: {field} must be a non-empty string or list of strings")
    return tuple(values)


def _decision(raw: Any, where: str) -> str:
    decision = str(raw).upper()
    if decision not in DECISIONS:
        raise RulesError(f"{where}: decision must be one of {', '.join(DECISIONS)}, not {raw!r}")
    return decision


def parse_rules(document: Mapping[str, Any]) -> Rules:
    unknown = set(document) - {"default", "rule", "rules"}
    if unknown:
        raise RulesError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    raw_rules = document.get("rule", document.get("rules", []))
    if not isinstance(raw_rules, list):
        raise RulesError("rules must be a list of tables")
    rules = []
    for index, raw in enumerate(raw_rules, 1):
        where = f"rule {index}"
        if not isinstance(raw, dict) or "decision" not in raw:
            raise RulesError(f"{where}: a table with a decision")
        unknown = set(raw) - {"decision", *EXACT_FIELDS, *GLOB_FIELDS}
        if unknown:
            raise RulesError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        exact = tuple((field, frozenset(_normalised(field, v)
                                        for v in _values(field, raw[field], where)))
                      for field in EXACT_FIELDS if field in raw)
        globs = tuple((field, tuple(p.casefold() for p in _values(field, raw[field], where)))
                      for field in GLOB_FIELDS if field in raw)
        rules.append(Rule(_decision(raw["decision"], where), exact, globs))
    return Rules(tuple(rules), _decision(document.get("default", "ACCEPT"), "default"))


def load_rules(path: Path | None) -> Rules:
    if path is None:
        return Rules()
    try:
        text = path.read_bytes()
        document = tomllib.loads(text.decode()) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise RulesError(f"{path}: {exc}") from exc
    if not isinstance(document, dict):
        raise RulesError(f"{path}: the top level must be a table/object")
    return parse_rules(document)
