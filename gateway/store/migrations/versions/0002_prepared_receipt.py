"""Prepared acknowledgements waiting for their signed copy (issue 5, PrepareReceipt).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def UTCDateTime() -> sa.DateTime:
    """Aware UTC instants: timestamptz on PostgreSQL, naive-UTC text on SQLite."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "prepared_receipt",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("consumed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_prepared_receipt"),
        sa.UniqueConstraint("nonce", name="uq_prepared_receipt_nonce"),
    )
    op.create_index("ix_prepared_receipt_expires_at", "prepared_receipt", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_prepared_receipt_expires_at", table_name="prepared_receipt")
    op.drop_table("prepared_receipt")
