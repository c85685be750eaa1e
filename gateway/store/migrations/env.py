"""Alembic environment for the gateway store.

Normally run by ``gateway.store.migrate``, which hands over an open connection through
``config.attributes["connection"]``; the migration then runs inside that connection's
transaction. Run by hand (``alembic -c .../alembic.ini``) it builds its own engine from
``GATEWAY_DATABASE_URL``. Either way the version table goes into the connection's current schema,
so a ``search_path`` pinned by ``create_engine_for(url, schema=...)`` keeps everything in that
schema.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from gateway.store.engine import create_engine_for
from gateway.store.models import Base

config = context.config


def run_with(connection: Connection) -> None:
    version_schema = None
    if connection.dialect.name == "postgresql":
        version_schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table_schema=version_schema,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("GATEWAY_DATABASE_URL")
    if not url:
        raise SystemExit("set GATEWAY_DATABASE_URL (or sqlalchemy.url) to run alembic by hand")
    engine = create_engine_for(url)
    try:
        with engine.begin() as own_connection:
            run_with(own_connection)
    finally:
        engine.dispose()


main()
