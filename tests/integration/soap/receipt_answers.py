"""Reading a SubmitReceipt answer: one receipt per recipient (special-category items apart),
the first in the answer's own fields and the others in ``otherReceipt``."""

from __future__ import annotations

from typing import Any


def receipts_of(answer: Any) -> list[Any]:
    """Every receipt a SubmitReceipt answer carries, in registration order."""
    return [answer, *(answer.otherReceipt or [])]


def outcomes_of(answer: Any) -> dict[int, str]:
    """Every item's outcome across the answer's receipts."""
    return {o.notificationId: o.outcome for receipt in receipts_of(answer) for o in receipt.item}
