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

Metrics (issue 14): every worker has its own counters, so ``/metrics`` answered by one worker
showed only its share. The master (``on_starting``) puts prometheus-client in multiprocess
mode: ``PROMETHEUS_MULTIPROC_DIR`` (when the environment does not name one,
``<data_dir>/run/prometheus``), emptied at start so a previous run's counts do not linger;
``child_exit`` marks a dead worker's files so its live gauges go (its counters stay counted).
Any worker then answers ``/metrics`` with the sum over all of them.

Event delivery (issue 17) is a process of its own, ``gateway events deliver``, never a thread of
the server: ``gateway demo --serve`` starts one beside the server (``delivery_beside``) and
stops it when the server stops; production runs it as its own service, on one host or several.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from gateway import logs
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
        # JSON on stderr (JsonGunicornLogger): access lines carry the correlation id, which
        # gateway.logs lifts into its own field.
        "access_log_format": ('%(h)s "%(r)s" %(s)s %(b)s %(L)ss '
                              'correlation_id=%({x-request-id}o)s'),
        "errorlog": "-",
        "logger_class": JsonGunicornLogger,
        "loglevel": "info",
        "proc_name": "notess-gateway",
        # gateway.process_memory: keep the master's imports shared with the workers, and
        # bound each worker's allocator.
        "pre_fork": _pre_fork,
        "post_fork": _post_fork,
        # Metrics of all workers in /metrics (prometheus-client's multiprocess mode).
        "on_starting": lambda server: prepare_multiprocess_metrics(settings.data_dir),
        "child_exit": _child_exit,
    }


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_metrics(data_dir: Path) -> Path:
    """Point prometheus-client at a fresh multiprocess directory, before any worker forks.

    The directory named by ``PROMETHEUS_MULTIPROC_DIR`` (the systemd unit's) or
    ``<data_dir>/run/prometheus``; the previous run's files are removed, since their counts
    would be added to this run's. Metrics created after this call (each worker's, in
    ``create_app``) write to it.
    """
    directory = Path(os.environ.get(MULTIPROC_ENV) or data_dir / "run" / "prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    # prometheus-client chooses its value class when first imported; the master may have
    # imported it already (the start-up probe builds an application), so choose again.
    from prometheus_client import values

    values.ValueClass = values.get_value_class()
    return directory


def _child_exit(server: Any, worker: Any) -> None:
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class JsonGunicornLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn is untyped
    """Gunicorn's error and access lines as ``gateway.logs`` JSON objects, all on stderr.

    Gunicorn writes plain text by default, and its access log ``-`` to stdout; here every
    line either writes is one JSON object on stderr, as the application's own lines are
    (stdout keeps ``gateway serve``'s banner for the person who started it). Run directly
    (``deploy/gunicorn.conf.py``), the application's loggers get the same JSON handler.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if not logging.getLogger().handlers:
            logs.configure()

    def _set_handler(self, log: logging.Logger, output: str | None, fmt: logging.Formatter,
                     stream: Any = None) -> None:
        if output == "-":
            stream = sys.stderr
        super()._set_handler(log, output, logs.JsonFormatter(), stream=stream)


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


DELIVERY_STOP_TIMEOUT_S = 30.0


@contextmanager
def delivery_beside(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """``gateway events deliver`` as a child process on the settings' database while the
    ``with`` block runs (the server), then stopped: SIGTERM (it finishes the round it is in
    and exits 0), SIGKILL only if it has not ended after ``DELIVERY_STOP_TIMEOUT_S``.

    It inherits the environment (every other ``GATEWAY_*`` setting: the callback allow-list,
    retries ...) and the terminal: a Ctrl-C reaches it as it reaches the server, and its log
    lines join the server's."""
    # The URL through the environment, not the command line: ``ps`` would show a password.
    environment = {**os.environ, "GATEWAY_DATABASE_URL": settings.effective_database_url}
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "events", "deliver"],
                               env=environment, stdin=subprocess.DEVNULL)
    owner = os.getpid()
    try:
        yield process
    finally:
        # gunicorn's forked workers leave through this block too (their SystemExit): only the
        # process that started the deliverer stops it.
        if os.getpid() == owner and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=DELIVERY_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
