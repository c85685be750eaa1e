"""WSGI entry point for any WSGI server: ``gunicorn 'gateway.wsgi:create_app()'``.

Each worker process builds its own application (engine, trust store, gate) after the fork;
nothing is built when this module is imported.
"""

from __future__ import annotations

from gateway.bootstrap import build, import_server_modules
from gateway.config import Settings
from gateway.soap.wsgi import GatewayFront

# The gunicorn master imports this module (directly, or through gateway.serving) before it
# forks: load the whole server here so the workers share it (gateway.process_memory).
import_server_modules()


def create_app(settings: Settings | None = None) -> GatewayFront:
    container = build(settings or Settings.from_env())
    container.upgrade_database()
    return container.wsgi_app()
