"""Alembic migrations of the gateway's store (run through ``gateway.store.migrate``).

A package (rather than a plain data folder) so that ``env.py`` ships in the wheel with the code.
"""
