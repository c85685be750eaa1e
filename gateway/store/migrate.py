"""Run the store's alembic migrations programmatically (``gateway db upgrade``).

The migration scripts are located next to this module, so this works from a source checkout and
from an installed wheel alike. On PostgreSQL the upgrade holds a transaction-scoped advisory lock,
so several hosts starting at once run it one after the other (the later ones find nothing to do).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# An arbitrary constant shared by every host: "the store's schema is being migrated".
_MIGRATION_LOCK_KEY = 0x6E6F74657373  # "notess"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` up to ``revision``, in one transaction."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated."""
    with engine.connect() as connection:
        version_schema = None
        if connection.dialect.name == "postgresql":
            version_schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
        context = MigrationContext.configure(
            connection, opts={"version_table_schema": version_schema}
        )
        return context.get_current_revision()
