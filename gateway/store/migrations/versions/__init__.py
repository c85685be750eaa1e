"""Alembic revision scripts (a package so they ship in the wheel like any module)."""
