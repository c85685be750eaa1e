"""Issuing bodies over the wire (issue 17): which organisations may call ``IssuerService``.

``issuer_organisation`` maps the organisation identifier (CIF) of an entity seal to the issuer
it publishes as (TGSS, INSS, ISM); ``gateway issuers add|list|remove`` maintains it, audited.
One organisation publishes as exactly one issuer; an issuer may have several seals'
organisations. Nothing else changes: idempotency by ``(issuer, issuer_reference)`` already has
its unique constraint on ``notification`` (0001).

Revision ID: 0007_issuers
Revises: 0006
Create Date: 2026-12-07 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_issuers"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issuer_organisation",
        sa.Column("organisation_identifier", sa.String(32), nullable=False),
        sa.Column("issuer", sa.String(16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organisation_identifier", name="pk_issuer_organisation"),
    )


def downgrade() -> None:
    op.drop_table("issuer_organisation")
