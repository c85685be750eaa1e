"""Logging set-up for commands and the server: one JSON object per line (DESIGN.md §6).

Every line carries the time, level, logger and message; request-scoped lines carry the request's
correlation id in their text (``correlation_id=…``), the same id the client gets in
``X-Request-Id`` and in fault details, and the formatter copies it into a ``correlation_id``
field so it can be searched without parsing messages. Under gunicorn
(``gateway.serving.JsonGunicornLogger``) its own error lines and access lines go through the
same formatter, on stderr, the access lines with the response's ``X-Request-Id``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

_CORRELATION = re.compile(r"correlation_id=([A-Za-z0-9._-]{8,64})")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        if found := _CORRELATION.search(message):
            entry["correlation_id"] = found.group(1)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def json_wanted(command: str | None, flag: bool, environ: Mapping[str, str]) -> bool:
    """JSON lines for ``serve`` always, for any command given ``--json-logs`` or
    ``GATEWAY_JSON_LOGS=true`` (the systemd unit and the image set it, so ``db upgrade`` and
    ``sweep`` write the same lines as the server to the same journal)."""
    wanted = environ.get("GATEWAY_JSON_LOGS", "").strip().lower() in ("1", "true", "yes", "on")
    return command == "serve" or flag or wanted


def configure(*, verbose: bool = False, json_lines: bool = True) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # soap.faults logs every fault once, with its code and correlation id; Spyne would log each
    # client fault again at ERROR with a traceback, flooding the log on hostile traffic.
    logging.getLogger("spyne.application.client").setLevel(logging.CRITICAL)
    logging.getLogger("spyne.application.server").setLevel(logging.CRITICAL)
    logging.getLogger("spyne").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


class LogThrottle:
    """At most one log line per key (a failure class, a refusal code and source) per interval.

    Under a flood or an outage every request fails the same way: the first line of each kind
    says so with its correlation id, the next ones in the interval are only counted, and that
    count rides on the following line (issue 14: no log flood).
    """

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def log(self, level: int, key: str, message: str, *args: object) -> None:
        now = self._clock()
        with self._lock:
            opened, suppressed = self._windows.get(key, (float("-inf"), 0))
            if now - opened < self._interval_s:
                self._windows[key] = (opened, suppressed + 1)
                return
            self._windows[key] = (now, 0)
            if len(self._windows) > 10_000:  # keys come from clients: keep the table bounded
                self._windows = {key: (now, 0)}
        if suppressed:
            message += " (%d similar lines suppressed)"
            args = (*args, suppressed)
        self._logger.log(level, message, *args)
