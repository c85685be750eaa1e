"""Releasing content (``NotificationQueries.open_content``) on SQLite and PostgreSQL.

A document larger than ``CONTENT_INLINE_BYTES`` is not read when it is released: every pass of ``chunks()``
reads it afresh in slices and checks it against its sha256, so a corrupt document is noticed
before the SOAP layer sends any of it. A smaller document is read and checked
inside the releasing transaction, so a corrupt one is not released at all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.bootstrap import Container, build
from gateway.config import Settings
from gateway.domain.model import Status
from gateway.domain.principal import Principal, PrincipalKind
from gateway.errors import InvalidRequest
from gateway.services import notifications
from gateway.services.publishing import DocumentInput, PublicationRequest

COMPANY = "B12345674"
CALLER = Principal(PrincipalKind.ENTITY, COMPANY, "Empresa", "00" * 32)


@pytest.fixture
def container(database, tmp_path: Path) -> Iterator[Container]:
    built = build(Settings(data_dir=tmp_path, database_url=database.url))
    yield built
    built.dispose()


def publish_communication(container: Container, data: bytes) -> int:
    (item_id,) = container.publishing().publish([PublicationRequest(
        issuer="TGSS", issuer_reference=f"STREAM-{hashlib.sha256(data).hexdigest()[:12]}",
        kind="COMMUNICATION", procedure="p", subject="s", recipient=COMPANY, ccc=None,
        category="NORMAL", documents=(DocumentInput("big.pdf", "application/pdf", data),),
        made_available_at=datetime.now(UTC) - timedelta(hours=1))])
    return item_id


def corrupt(container: Container, item_id: int, at: int) -> None:
    """Flip one byte of the stored document, as a failing disk or a bad restore would."""
    with container.engine.begin() as connection:
        data = bytearray(connection.execute(text(
            "SELECT content FROM notification_content WHERE notification_id = :id"),
            {"id": item_id}).scalar_one())
        data[at] ^= 0x01
        connection.execute(text(
            "UPDATE notification_content SET content = :data WHERE notification_id = :id"),
            {"data": bytes(data), "id": item_id})


def test_a_large_document_is_read_in_slices_on_every_pass(container: Container) -> None:
    slices = notifications.CONTENT_INLINE_BYTES // notifications.CONTENT_SLICE_BYTES + 2
    data = os.urandom((slices - 1) * notifications.CONTENT_SLICE_BYTES + 12_345)
    item_id = publish_communication(container, data)

    stream = container.queries().open_content(CALLER, item_id)

    assert stream.notification.notification.status is Status.READ
    for _ in range(2):  # the SOAP layer digests it first, then sends it
        pieces = list(stream.chunks())
        assert len(pieces) == slices
        assert max(len(p) for p in pieces) <= notifications.CONTENT_SLICE_BYTES
        assert b"".join(pieces) == data


def test_a_corrupt_large_document_fails_its_pass(container: Container) -> None:
    data = os.urandom(notifications.CONTENT_INLINE_BYTES + 1)
    item_id = publish_communication(container, data)
    stream = container.queries().open_content(CALLER, item_id)
    corrupt(container, item_id, at=len(data) - 1)

    with pytest.raises(RuntimeError, match="corrupt"):
        for _ in stream.chunks():
            pass


def test_a_corrupt_small_document_is_not_released(container: Container) -> None:
    item_id = publish_communication(container, b"a small document")
    corrupt(container, item_id, at=0)

    with pytest.raises(RuntimeError, match="corrupt"):
        container.queries().open_content(CALLER, item_id)
    assert container.queries().get(CALLER, item_id).notification.status is Status.AVAILABLE


def test_a_corrupt_large_communication_is_not_marked_read(container: Container) -> None:
    """Opening a communication makes it READ for good, so a large document is checked once
    inside the releasing transaction: a corrupt one leaves it unread and releases nothing."""
    data = os.urandom(notifications.CONTENT_INLINE_BYTES + 1)
    item_id = publish_communication(container, data)
    corrupt(container, item_id, at=len(data) - 1)
    with container.engine.connect() as connection:
        events_before = connection.execute(text("SELECT count(*) FROM audit_event")).scalar_one()

    with pytest.raises(RuntimeError, match="corrupt"):
        container.queries().open_content(CALLER, item_id)

    assert container.queries().get(CALLER, item_id).notification.status is Status.AVAILABLE
    with container.engine.connect() as connection:
        assert connection.execute(text(
            "SELECT count(*) FROM audit_event")).scalar_one() == events_before


@pytest.mark.parametrize("offset", [1, notifications.CONTENT_SLICE_BYTES,
                                    notifications.CONTENT_SLICE_BYTES + 7, -1, 0])
def test_a_resumed_download_gets_the_bytes_from_its_offset(container: Container,
                                                           offset: int) -> None:
    data = os.urandom(notifications.CONTENT_INLINE_BYTES + 5_000)
    offset = len(data) if offset < 0 else offset
    item_id = publish_communication(container, data)

    stream = container.queries().open_content(CALLER, item_id, 0, offset)

    assert stream.offset == offset
    for _ in range(2):
        assert b"".join(stream.chunks()) == data[offset:]
    small = publish_communication(container, b"a small document")
    assert b"".join(container.queries().open_content(CALLER, small, 0, 2).chunks()) == \
        b"small document"


def test_a_resumed_pass_still_checks_the_bytes_before_its_offset(container: Container) -> None:
    """The part the client already holds is not sent again but still read and checked: a
    document corrupted there fails the pass as any other."""
    data = os.urandom(notifications.CONTENT_INLINE_BYTES + 5_000)
    item_id = publish_communication(container, data)
    stream = container.queries().open_content(CALLER, item_id, 0, len(data) - 10)
    corrupt(container, item_id, at=3)

    with pytest.raises(RuntimeError, match="corrupt"):
        for _ in stream.chunks():
            pass


@pytest.mark.parametrize("size", [16, notifications.CONTENT_INLINE_BYTES + 1])
def test_an_offset_beyond_the_document_is_refused(container: Container, size: int) -> None:
    item_id = publish_communication(container, os.urandom(size))
    with pytest.raises(InvalidRequest) as refused:
        container.queries().open_content(CALLER, item_id, 0, size + 1)
    assert refused.value.code == "INVALID_OFFSET"
