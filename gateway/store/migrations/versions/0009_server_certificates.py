"""Server certificate rotation announced in advance, and document byte rates (issue 14).

``server_certificate``: the response-signing certificates ``gateway pki rotate`` scheduled, each
with the instant it signs from and the path of its key on every host (keys never enter the
database). Every worker reads the schedule and picks the key by the clock for each response;
``GetServerCertificates`` announces the next one before it is used.

``byte_rate_override``: a principal's own document bytes per hour (``gateway limits set
--bytes-per-hour``), replacing its kind's.

Revision ID: 0009_server_certificates
Revises: 0008_enrolled_certificates
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_server_certificates"
down_revision: str | None = "0008_enrolled_certificates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "server_certificate",
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("key_path", sa.Text(), nullable=False),
        sa.Column("active_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_server_certificate"),
    )
    op.create_table(
        "byte_rate_override",
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("bytes_per_hour", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("principal", name="pk_byte_rate_override"),
    )


def downgrade() -> None:
    op.drop_table("byte_rate_override")
    op.drop_table("server_certificate")
