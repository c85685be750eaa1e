"""Logging set-up for commands and the server: one JSON object per line (DESIGN.md §6).

Every line carries the time, level, logger and message; request-scoped lines carry the request's
correlation id in their text (``correlation_id=…``), the same id the client gets in
``X-Request-Id`` and in fault details.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


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
