"""Gunicorn configuration for running the gateway directly:

    GATEWAY_DATABASE_URL=postgresql+psycopg://... gunicorn -c deploy/gunicorn.conf.py 'gateway.wsgi:create_app()'

The values come from the same function ``gateway serve`` uses, so both stay in step.
Several hosts may run this against one PostgreSQL: replay cache, sequences and audit chain
live in the database.
"""

from gateway.config import Settings
from gateway.serving import gunicorn_options

globals().update(gunicorn_options(Settings.from_env()))
