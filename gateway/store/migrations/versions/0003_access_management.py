"""Representation and access management (issue 6): who accepted each notification, when a
mandate was given, entity access managers and their grants (invitations until activated), and
one change counter over all of it; PostgreSQL keeps document content uncompressed (streamed in
slices since issue 7).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def UTCDateTime() -> sa.DateTime:
    """Aware UTC instants: timestamptz on PostgreSQL, naive-UTC text on SQLite."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("acted_by", sa.String(32), nullable=True))
    with op.batch_alter_table("mandate") as batch:
        batch.add_column(sa.Column("granted_at", UTCDateTime(), nullable=True))

    op.create_table(
        "access_manager",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("person", sa.String(32), nullable=False),
        sa.Column("named_by", sa.String(32), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_to", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_manager"),
    )
    op.create_index("ix_access_manager_entity", "access_manager", ["entity"])
    op.create_index("ix_access_manager_person", "access_manager", ["person"])

    op.create_table(
        "access_grant",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("grantee", sa.String(32), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("cccs", sa.Text(), nullable=True),
        sa.Column("special_category", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("granted_by", sa.String(32), nullable=False),
        sa.Column("invited_at", UTCDateTime(), nullable=False),
        sa.Column("activated_at", UTCDateTime(), nullable=True),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_to", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_grant"),
    )
    op.create_index("ix_access_grant_entity", "access_grant", ["entity"])
    op.create_index("ix_access_grant_grantee", "access_grant", ["grantee"])

    if op.get_bind().dialect.name == "postgresql":
        # Content is streamed in slices (substring); a compressed value would be decompressed
        # from its start for every slice (quadratic in the document's size). Documents are
        # mostly PDFs, already compressed: store them uncompressed, out of line.
        op.execute("ALTER TABLE notification_content ALTER COLUMN content SET STORAGE EXTERNAL")

    version = op.create_table(
        "representation_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_representation_version"),
    )
    op.bulk_insert(version, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("representation_version")
    op.drop_table("access_grant")
    op.drop_table("access_manager")
    with op.batch_alter_table("mandate") as batch:
        batch.drop_column("granted_at")
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("acted_by")
