"""When an item was first accessed and by whom, and why its issuer cancelled it (issue 17).

One row per notification or communication, written once -- the first time anyone who may see it
opens its detail (GetNotification), prepares a receipt for it or is released its content
(``INSERT ... ON CONFLICT DO NOTHING``) -- and never changed. ``GetEvidence`` reports it as the
"accessed" step of the item's life. A table of its own rather than columns of ``notification``:
the listing queries and their indexes stay as they are.

``notification_cancellation`` holds the issuer's reason for an item it cancelled
(``CancelNotification``); the cancellation itself is the item's status ``CANCELLED``, its time
``status_at`` and who ``acted_by``, like any other final state.

Revision ID: 0010_access_and_cancellation
Revises: 0009_server_certificates
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_access_and_cancellation"
down_revision: str | None = "0009_server_certificates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notification_access",
        sa.Column("notification_id", BigId, nullable=False),
        sa.Column("accessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accessed_by", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", name="pk_notification_access"),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"],
                                name="fk_notification_access_notification",
                                ondelete="CASCADE"),
    )
    op.create_table(
        "notification_cancellation",
        sa.Column("notification_id", BigId, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", name="pk_notification_cancellation"),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"],
                                name="fk_notification_cancellation_notification",
                                ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("notification_cancellation")
    op.drop_table("notification_access")
