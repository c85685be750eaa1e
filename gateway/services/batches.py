"""Rules shared by the operations that take a list of notification ids (receipts, contents)."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.errors import InvalidRequest, LimitExceeded


def check_id_batch(ids: Sequence[int], max_items: int, *, what: str) -> None:
    """At least one id, at most ``max_items``, none twice (faults NO_ITEMS, BATCH_TOO_LARGE,
    DUPLICATE_ID on the field ``id``)."""
    if not ids:
        raise InvalidRequest("name at least one notification", code="NO_ITEMS", field="id")
    if len(ids) > max_items:
        raise LimitExceeded(f"at most {max_items} notifications per {what}",
                            code="BATCH_TOO_LARGE", field="id")
    if len(set(ids)) != len(ids):
        raise InvalidRequest("a notification is named twice", code="DUPLICATE_ID", field="id")
