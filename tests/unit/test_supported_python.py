"""The suite runs on a Python that setup.cfg's python_requires admits (we test what we state)."""

from __future__ import annotations

import configparser
import platform
from pathlib import Path

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]


def _python_requires() -> SpecifierSet:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return SpecifierSet(config["options"]["python_requires"])


def test_this_interpreter_is_within_the_stated_range():
    assert platform.python_version() in _python_requires()


def test_the_readme_states_the_same_range():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = readme.split("`python_requires ", 1)[1].split("`", 1)[0]
    assert SpecifierSet(stated) == _python_requires()
