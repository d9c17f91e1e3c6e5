"""Logging for ``kymaprov serve``: one line per request and per lifecycle step, as text or JSON.

Request lines carry method, path (never the query string, which could carry a secret), status,
duration and a correlation id, which the response also carries in ``x-correlationid`` (taken from the
request's ``x-correlationid`` or ``x-request-id`` when the client sends one, so a client's log and
ours can be matched). Headers and bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_STANDARD = set(vars(logging.makeLogRecord({})))

log = logging.getLogger("kymaprov.requests")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's extra fields."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime(datefmt or "%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure(level: str = "info", fmt: str = "text") -> None:
    """Log ``kymaprov.*`` at ``level`` to stderr; other libraries only from warnings up."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        formatter = logging.Formatter(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("kymaprov").setLevel(level.upper())


class RequestLog:
    """ASGI middleware: a correlation id on every response and one log line per request."""

    def __init__(self, app: ASGIApp, name: str = "api") -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        sent = (headers.get(b"x-correlationid") or headers.get(b"x-request-id") or b"").decode("latin-1")
        correlation = sent if _ID.match(sent) else str(uuid.uuid4())
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-correlationid", correlation.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = (time.perf_counter() - started) * 1000
            log.info(
                "%s %s %s %d %.1fms %s",
                self.name,
                scope["method"],
                scope["path"],
                status,
                duration,
                correlation,
                extra={
                    "server": self.name,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(duration, 1),
                    "correlation_id": correlation,
                },
            )
