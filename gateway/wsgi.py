"""WSGI entry point for any WSGI server: ``gunicorn 'gateway.wsgi:create_app()'``.

Each worker process builds its own application (engine, trust store, gate) after the fork;
nothing is built when this module is imported.
"""

from __future__ import annotations

from gateway.bootstrap import build
from gateway.config import Settings
from gateway.soap.wsgi import GatewayFront


def create_app(settings: Settings | None = None) -> GatewayFront:
    container = build(settings or Settings.from_env())
    container.upgrade_database()
    return container.wsgi_app()
