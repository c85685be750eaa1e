"""What a GetContents call is charged against the caller's document bytes per hour: the whole
notifications ``_fill_budget`` would release within the answer's budget, the first always."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gateway.services.notifications import planned_bytes


def _candidate(*sizes: int) -> tuple[Any, Any]:
    return SimpleNamespace(documents=[SimpleNamespace(size=size) for size in sizes]), None


@pytest.mark.parametrize(("candidates", "budget", "charged"), [
    ([(100,), (200,), (300,)], 1000, 600),        # everything fits
    ([(700,), (200, 200), (300,)], 1000, 1000),   # the 400 no longer fits, the 300 still does
    ([(5000,), (10,)], 1000, 5000),                # the first always, alone when over budget
    ([(600,), (500,), (400,)], 1000, 1000),        # skips what does not fit, takes what does
    ([], 1000, 0),
])
def test_the_charge_is_what_the_answer_would_carry(candidates: list[tuple[int, ...]],
                                                   budget: int, charged: int) -> None:
    assert planned_bytes([_candidate(*sizes) for sizes in candidates], budget) == charged
