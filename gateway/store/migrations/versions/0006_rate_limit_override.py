"""Per-principal rate-limit overrides (issue 14): ``gateway limits set`` writes here, every host
reads it (cached for a few seconds), so one override applies to the whole deployment.

Revision ID: 0006
Revises: 0005_receipt_pdf
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005_receipt_pdf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_override",
        sa.Column("principal", sa.String(64), primary_key=True),
        sa.Column("per_second", sa.Float(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_override")
