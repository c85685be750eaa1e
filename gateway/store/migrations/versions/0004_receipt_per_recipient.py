"""One receipt per recipient (issue 20): a signed acknowledgement that changed the notifications
of several recipients, or mixed special-category items with ordinary ones, yields one receipt
per part, all certifying the same acknowledgement digest -- so the digest is indexed, no longer
unique -- and each receipt records whose items it certifies. Existing receipts keep their
numbers and content; their ``recipient`` stays NULL (they may list several recipients).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("receipt") as batch:
        batch.drop_constraint("uq_receipt_client_ack_digest", type_="unique")
        batch.add_column(sa.Column("recipient", sa.String(32), nullable=True))
        batch.create_index("ix_receipt_client_ack_digest", ["client_ack_digest"])


def downgrade() -> None:
    # Only possible while no acknowledgement has more than one receipt.
    with op.batch_alter_table("receipt") as batch:
        batch.drop_index("ix_receipt_client_ack_digest")
        batch.drop_column("recipient")
        batch.create_unique_constraint("uq_receipt_client_ack_digest", ["client_ack_digest"])
