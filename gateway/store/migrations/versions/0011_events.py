"""Event subscriptions and deliveries (issue 17): the audit chain is the outbox.

Events are derived from the audit chain, which every state change already appends to in its own
transaction; ``event_cursor`` records how far the fan-out has read it, ``event_delivery`` holds
each event owed to each subscription (pending with its next attempt, delivered, or dead), and
``event_subscription`` the callbacks. The cursor starts at the chain's current end: history
before the feature is not replayed to subscribers.

Revision ID: 0011_events
Revises: 0010_access_and_cancellation
Create Date: 2026-12-07 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_events"
down_revision: str | None = "0010_access_and_cancellation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_subscription",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("owner_kind", sa.String(16), nullable=False),
        sa.Column("owner_identifier", sa.String(32), nullable=False),
        sa.Column("owner_person", sa.String(32), nullable=True),
        sa.Column("issuer", sa.String(16), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", sa.Text(), nullable=False),
        sa.Column("principals", sa.Text(), nullable=False),
        sa.Column("cccs", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("after_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_subscription"),
    )
    op.create_index("ix_event_subscription_owner", "event_subscription", ["owner_identifier"])
    op.create_table(
        "event_delivery",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", _ID, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("item_key", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_event_delivery"),
        sa.ForeignKeyConstraint(["subscription_id"], ["event_subscription.id"],
                                name="fk_event_delivery_event_subscription",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("subscription_id", "event_id",
                            name="uq_event_delivery_subscription_id_event_id"),
    )
    op.create_index("ix_event_delivery_due", "event_delivery", ["state", "next_attempt_at"])
    op.create_index("ix_event_delivery_order", "event_delivery",
                    ["subscription_id", "item_key", "seq"])
    op.create_table(
        "event_cursor",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_event_cursor"),
    )
    op.execute("INSERT INTO event_cursor (name, seq) "
               "SELECT 'fan-out', COALESCE(MAX(seq), 0) FROM audit_event")


def downgrade() -> None:
    op.drop_table("event_delivery")
    op.drop_table("event_subscription")
    op.drop_table("event_cursor")
