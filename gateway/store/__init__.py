"""Persistence: SQLAlchemy 2.x models, repositories, unit of work and alembic migrations.

DESIGN.md §3. SQLite (WAL) is the default so the demo needs nothing installed; PostgreSQL is the
production store shared by every gateway host. Repositories return domain objects; ORM rows and
SQLAlchemy exceptions never leave this package.
"""
