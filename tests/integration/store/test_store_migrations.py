"""The hand-written alembic migrations produce exactly the models' schema, on both backends."""

from __future__ import annotations

import os
import secrets

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gateway.store.engine import create_engine_for, url_with_schema
from gateway.store.migrate import current_revision, upgrade
from gateway.store.models import Base


def test_migrated_schema_has_no_difference_from_the_models(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": False}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_every_model_table_exists_after_upgrade(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        names = set(context.dialect.get_table_names(connection))
    assert set(Base.metadata.tables) | {"alembic_version"} == names


def test_upgrade_of_an_empty_database_records_head_and_is_idempotent(database, tmp_path):
    if database.backend == "sqlite":
        engine = create_engine_for(f"sqlite:///{(tmp_path / 'nested' / 'fresh.db').as_posix()}")
        cleanup = None
    else:
        schema = f"t_{os.getpid()}_{secrets.token_hex(4)}"
        with database.engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine = create_engine_for(url_with_schema(database.url.split("?")[0], schema))
        cleanup = schema
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == "0011_events"
        upgrade(engine)  # nothing left to do
        assert current_revision(engine) == "0011_events"
    finally:
        engine.dispose()
        if cleanup:
            with database.engine.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{cleanup}" CASCADE')
