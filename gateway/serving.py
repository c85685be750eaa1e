"""``gateway serve``: gunicorn running the WSGI application with the settings' database.

``deploy/gunicorn.conf.py`` holds the same defaults for operators who run gunicorn directly,
and the measurements behind them (issue 7): one process per core, because request handling is
CPU-bound (XML, signatures) and threads of one process share one core; a few threads in each
(``gthread``), because downloads are streamed and may outlast ``timeout``, which a sync worker
would be killed for, and because clients keep their connections alive.

Connections (issue 14): the worker class is gthread with the requests read by its event loop
(``gateway.connections``), so slow or idle clients hold no thread; deadlines for headers and
whole requests, an idle keep-alive limit, a bounded accept queue and per-worker connection cap
come from ``Settings``.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from gateway.config import Settings
from gateway.connections import FrontLimits, fronted_worker
from gateway.process_memory import bound_allocator, freeze_before_fork
from gateway.wsgi import create_app


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "bind": settings.bind,
        "workers": settings.workers,
        "worker_class": fronted_worker(FrontLimits(
            header_timeout=float(settings.header_timeout_seconds),
            request_timeout=float(settings.request_timeout_seconds),
            max_body_bytes=settings.max_message_bytes,
        )),
        "threads": 4,
        "timeout": 120,
        "graceful_timeout": 30,
        "keepalive": settings.keepalive_seconds,
        "backlog": settings.accept_backlog,
        "worker_connections": settings.max_connections_per_worker,
        # Request-line and header limits: the body cap is enforced by the gateway itself.
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "accesslog": "-",
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(L)ss rid=%({x-request-id}o)s',
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "notess-gateway",
        # gateway.process_memory: keep the master's imports shared with the workers, and
        # bound each worker's allocator.
        "pre_fork": _pre_fork,
        "post_fork": _post_fork,
    }


def _pre_fork(server: Any, worker: Any) -> None:
    if not getattr(server, "notess_frozen", False):
        freeze_before_fork()
        server.notess_frozen = True


def _post_fork(server: Any, worker: Any) -> None:
    bound_allocator()


class GatewayServer(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    def __init__(self, settings: Settings, options: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.options = {**gunicorn_options(settings), **(options or {})}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        # Called in each worker after the fork: every worker owns its engine and pools.
        return create_app(self.settings)


def serve(settings: Settings) -> None:
    GatewayServer(settings).run()
