"""Collecting findings in the order of EN 319 102-1's building blocks.

Each format's validator adds findings as it discovers them, tagged with the building block that
produced them; :meth:`Findings.ordered` sorts them (stably) into the order the standard runs the
blocks -- format checking, identification of the signing certificate, X.509 validation,
cryptographic verification, signature acceptance -- so that the first INDETERMINATE finding is
the one EN 319 102-1 would return, whatever order the code found them in.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from gateway.signatures.report import Finding, SubIndication


class Step(IntEnum):
    FORMAT = 0
    IDENTIFICATION = 1
    CHAIN = 2
    CRYPTO = 3
    ACCEPTANCE = 4


class Findings:
    """A mutable collector; build a report from :meth:`ordered`."""

    def __init__(self) -> None:
        self._items: list[tuple[Step, Finding]] = []
        self.warnings: list[str] = []
        self._weak: list[tuple[Finding, str]] = []

    def add(self, step: Step, sub_indication: SubIndication, message: str) -> None:
        self._items.append((step, Finding(sub_indication, message)))

    def add_weak_algorithm(self, hash_name: str, message: str) -> None:
        """CRYPTO_CONSTRAINTS_FAILURE for an algorithm the policy refuses today, remembered by
        name: a proof of existence from before the policy's date for it may excuse it
        (:meth:`excuse_weak`)."""
        finding = Finding(SubIndication.CRYPTO_CONSTRAINTS_FAILURE, message)
        self._items.append((Step.ACCEPTANCE, finding))
        self._weak.append((finding, hash_name))

    def mark_weak(self, finding: Finding, name: str) -> None:
        """Remember an already added CRYPTO_CONSTRAINTS_FAILURE (a too-weak key found by path
        validation) as dated by ``name``, like :meth:`add_weak_algorithm`."""
        if any(item is finding for _, item in self._items):
            self._weak.append((finding, name))

    def excuse_weak(self, accepted: Callable[[str], bool | None]) -> list[str]:
        """Resolve the weak-algorithm findings (EN 319 102-1 §5.6.2.5): ``accepted(name)`` True
        removes the finding, None (acceptable with an earlier proof of existence, which is
        missing) turns it into CRYPTO_CONSTRAINTS_FAILURE_NO_POE, False keeps it. Returns the
        names excused."""
        excused: list[str] = []
        for finding, name in self._weak:
            verdict = accepted(name)
            if verdict is False:
                continue
            position = next(
                index for index, (_, item) in enumerate(self._items) if item is finding
            )
            step, _ = self._items[position]
            if verdict:
                del self._items[position]
                excused.append(name)
            else:
                self._items[position] = (
                    step,
                    Finding(SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE, finding.message),
                )
        self._weak = []
        return excused

    def extend(self, step: Step, findings: tuple[Finding, ...] | list[Finding]) -> None:
        self._items.extend((step, finding) for finding in findings)

    def has(self, sub_indication: SubIndication) -> bool:
        return any(finding.sub_indication is sub_indication for _, finding in self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def ordered(self) -> tuple[Finding, ...]:
        return tuple(finding for _, finding in sorted(self._items, key=lambda item: item[0]))


class FormatError(Exception):
    """The input cannot be processed further: TOTAL_FAILED/FORMAT_FAILURE with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
