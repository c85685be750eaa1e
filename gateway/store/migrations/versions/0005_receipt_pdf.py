"""One PDF per receipt (issue 15): the justificante is rendered and PAdES-signed once, stored
with its SHA-256, and served byte-identical ever after (GetReceipt format=PDF, the public
verification page). ``receipt.signer_name`` keeps the signer's name from the certificate at
submission, for the justificante and the verification page; NULL on receipts issued before.

Revision ID: 0005_receipt_pdf
Revises: 0004
Create Date: 2026-12-07 05:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_receipt_pdf"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("receipt") as batch:
        batch.add_column(sa.Column("signer_name", sa.String(256), nullable=True))
        batch.add_column(sa.Column("signer_role", sa.String(64), nullable=True))
    op.create_table(
        "receipt_pdf",
        sa.Column("receipt_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  sa.ForeignKey("receipt.id", ondelete="CASCADE",
                                name="fk_receipt_pdf_receipt"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("receipt_id", name="pk_receipt_pdf"),
    )


def downgrade() -> None:
    op.drop_table("receipt_pdf")
    with op.batch_alter_table("receipt") as batch:
        batch.drop_column("signer_role")
        batch.drop_column("signer_name")
