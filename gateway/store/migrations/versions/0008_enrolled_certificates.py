"""Certificates enrolled for a principal (issue 14): key references other than an embedded token.

Default-configured Java clients (CXF/WSS4J: IssuerSerial) and others (SubjectKeyIdentifier,
ThumbprintSHA1, an X509v3 KeyIdentifier) do not put a BinarySecurityToken in the message. The
gate accepts such a reference only when it names a certificate enrolled here with
``gateway certs enrol`` (audited) and not revoked with ``gateway certs revoke``; the certificate
is still validated against the trust store and its CRLs at every use. Each lookup column is
indexed: the gate asks by exactly one of them per request.

Revision ID: 0008_enrolled_certificates
Revises: 0007_issuers
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_enrolled_certificates"
down_revision: str | None = "0007_issuers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enrolled_certificate",
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("thumbprint_sha1", sa.String(40), nullable=False),
        sa.Column("subject_key_identifier", sa.String(128), nullable=False),
        sa.Column("serial_number", sa.String(64), nullable=False),
        sa.Column("issuer_name", sa.Text(), nullable=False),
        sa.Column("principal_identifier", sa.String(32), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_enrolled_certificate"),
    )
    op.create_index("ix_enrolled_certificate_thumbprint", "enrolled_certificate",
                    ["thumbprint_sha1"])
    op.create_index("ix_enrolled_certificate_ski", "enrolled_certificate",
                    ["subject_key_identifier"])
    op.create_index("ix_enrolled_certificate_serial", "enrolled_certificate", ["serial_number"])
    op.create_index("ix_enrolled_certificate_principal", "enrolled_certificate",
                    ["principal_identifier"])


def downgrade() -> None:
    op.drop_table("enrolled_certificate")
