"""Reading a document in slices (GetContent streaming) on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace

import pytest

from gateway.store.unit_of_work import SqlUnitOfWork


def stored_document(database, make_notification, data: bytes) -> int:
    notification = make_notification(annexes=0)
    document = replace(notification.documents[0], size=len(data),
                       sha256=hashlib.sha256(data).hexdigest())
    with SqlUnitOfWork(database.session_factory) as uow:
        stored = uow.notifications.add(replace(notification, documents=(document,)), [data])
        uow.commit()
    assert stored.id is not None
    return stored.id


@pytest.mark.parametrize("slice_size", [1, 1000, 3 * 1024 * 1024, 5_000_000])
def test_slices_put_together_are_the_document(database, make_notification, slice_size) -> None:
    data = os.urandom(1_000_003) if slice_size > 1 else b"short \x00 document"
    notification_id = stored_document(database, make_notification, data)

    pieces = []
    offset = 0
    while True:
        with SqlUnitOfWork(database.session_factory) as uow:
            piece = uow.notifications.content_slice(notification_id, 0, offset, slice_size)
        assert piece is not None and len(piece) <= slice_size
        if not piece:
            break
        pieces.append(piece)
        offset += len(piece)
    assert b"".join(pieces) == data


def test_slice_past_the_end_is_empty_and_a_missing_document_is_none(
    database, make_notification
) -> None:
    notification_id = stored_document(database, make_notification, b"0123456789")
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.notifications.content_slice(notification_id, 0, 8, 100) == b"89"
        assert uow.notifications.content_slice(notification_id, 0, 10, 100) == b""
        assert uow.notifications.content_slice(notification_id, 0, 50, 100) == b""
        assert uow.notifications.content_slice(notification_id, 1, 0, 100) is None
        assert uow.notifications.content_slice(notification_id + 1, 0, 0, 100) is None


def test_an_empty_document_is_an_empty_slice(database, make_notification) -> None:
    notification_id = stored_document(database, make_notification, b"")
    with SqlUnitOfWork(database.session_factory) as uow:
        assert uow.notifications.content_slice(notification_id, 0, 0, 100) == b""
