"""Fault injection: chosen requests of the HTTP API answer 429, a 5xx or 504, or come late.

Users test what their code does when the real service misbehaves: rate limits with
``X-Ratelimit-Reset``, gateway timeouts while polling, slow answers. A rule names a method (or ``*``)
and a path pattern (``fnmatch``: ``/provisioning/v1/environments*``), an answer (a status and/or a
delay) and how long it holds: ``count`` requests and/or until a service-clock time.

Rules are rows, so every replica applies them. The middleware keeps them in memory and re-reads them
at most every ``refresh_seconds`` (and at once in the process that changed them), so a request costs
one dictionary look-up when there are none. A counted rule is spent with an atomic decrement, so N
requests fail in total, whichever replicas answer them. ``/admin`` and the health endpoints are never
faulted: the faults must stay removable.
"""

from __future__ import annotations

import asyncio
import fnmatch
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from kymaprov.clock import Clock
from kymaprov.errors import EnvelopeError, MessageError, ServiceError
from kymaprov.store import Store, metadata
from kymaprov.uaa.exceptions import OAuthError

fault_rules = sa.Table(
    "fault_rules",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("method", sa.String(16), nullable=False),  # upper case, or "*"
    sa.Column("path", sa.String(1024), nullable=False),  # fnmatch pattern on the URL path
    sa.Column("status", sa.Integer, nullable=True),  # None: only the delay
    sa.Column("delay_ms", sa.Integer, nullable=False),
    sa.Column("retry_after", sa.Integer, nullable=False),  # seconds, for 429 and 503
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("remaining", sa.Integer, nullable=True),  # None: unlimited
    sa.Column("until_ms", sa.BigInteger, nullable=True),  # service clock; None: until removed
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

EXEMPT = ("/admin", "/healthz", "/readyz", "/version", "/metrics", "/openapi.json", "/dashboard")
MAX_DELAY_MS = 10 * 60 * 1000
_METHODS = {"*", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_MESSAGES = {
    429: "Request rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable",
    504: "Gateway timeout",
}


class FaultRuleError(MessageError):
    """A rule the admin API refuses (400)."""


@dataclass(frozen=True)
class Rule:
    id: str
    method: str
    path: str
    status: int | None
    delay_ms: int
    retry_after: int
    message: str
    remaining: int | None
    until_ms: int | None

    def matches(self, method: str, path: str, now_ms: int) -> bool:
        if self.until_ms is not None and now_ms >= self.until_ms:
            return False
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "delayMs": self.delay_ms,
            "retryAfter": self.retry_after,
            "message": self.message,
            "remaining": self.remaining,
            "untilMs": self.until_ms,
        }


def parse_rule(data: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """A rule's row from the admin API's JSON: ``method``, ``path``, ``status``, ``delayMs``,
    ``retryAfter``, ``message``, ``count``, ``seconds`` (the window, service clock)."""
    known = {"method", "path", "status", "delayMs", "retryAfter", "message", "count", "seconds"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise FaultRuleError(f"unknown field '{unknown[0]}'; known: {', '.join(sorted(known))}")
    method = str(data.get("method", "*")).upper()
    path = data.get("path")
    if method not in _METHODS:
        raise FaultRuleError(f"'method' must be one of {', '.join(sorted(_METHODS))}")
    if not isinstance(path, str) or not path.startswith(("/", "*")) or len(path) > 1024:
        raise FaultRuleError("'path' must be a pattern starting with '/' or '*', e.g. /provisioning/v1/*")
    status = _integer(data, "status", 400, 599)
    delay_ms = _integer(data, "delayMs", 0, MAX_DELAY_MS) or 0
    if status is None and not delay_ms:
        raise FaultRuleError("give 'status' (400-599), 'delayMs' or both")
    retry_after = _integer(data, "retryAfter", 0, 86400)
    message = data.get("message", _MESSAGES.get(status or 0, "Injected fault"))
    if not isinstance(message, str) or not message:
        raise FaultRuleError("'message' must be a non-empty string")
    count = _integer(data, "count", 1, 1_000_000)
    seconds = data.get("seconds")
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 366 * 86400
    ):
        raise FaultRuleError("'seconds' must be a number of seconds from 0 to a year")
    return {
        "id": uuid.uuid4().hex[:12],
        "method": method,
        "path": path,
        "status": status,
        "delay_ms": delay_ms,
        "retry_after": 1 if retry_after is None else retry_after,
        "message": message,
        "remaining": count,
        "until_ms": None if seconds is None else now_ms + int(seconds * 1000),
        "created_ms": now_ms,
    }


def _integer(data: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaultRuleError(f"'{key}' must be an integer from {low} to {high}")
    return value


class Faults:
    """The rules of one installation, cached per process."""

    refresh_seconds = 0.5

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._read_at = -1e9

    def rules(self) -> list[Rule]:
        """The cached rules; re-read when older than ``refresh_seconds`` (call from a thread)."""
        if time.monotonic() - self._read_at > self.refresh_seconds:
            with self._store.read() as conn:
                rows = conn.execute(sa.select(fault_rules).order_by(fault_rules.c.created_ms)).all()
            with self._lock:
                self._rules = [
                    Rule(**{k: v for k, v in r._asdict().items() if k != "created_ms"}) for r in rows
                ]
                self._read_at = time.monotonic()
        return self._rules

    @property
    def stale(self) -> bool:
        return time.monotonic() - self._read_at > self.refresh_seconds

    @property
    def cached(self) -> list[Rule]:
        """The rules as last read, without reading (safe in the event loop)."""
        return self._rules

    def _invalidate(self) -> None:
        self._read_at = -1e9

    def add(self, data: dict[str, Any]) -> Rule:
        row = parse_rule(data, self._clock.now_ms())
        with self._store.write() as conn:
            conn.execute(sa.insert(fault_rules).values(**row))
        self._invalidate()
        return Rule(**{k: v for k, v in row.items() if k != "created_ms"})

    def fresh(self) -> list[Rule]:
        """The rules as stored now (the admin API lists these)."""
        self._invalidate()
        return self.rules()

    def remove(self, rule_id: str | None = None) -> int:
        """Remove one rule, or all of them; return how many."""
        with self._store.write() as conn:
            query = sa.delete(fault_rules)
            if rule_id is not None:
                query = query.where(fault_rules.c.id == rule_id)
            removed = conn.execute(query).rowcount
        self._invalidate()
        return int(removed)

    def reset(self) -> None:
        self.remove()

    def take(self, method: str, path: str) -> Rule | None:
        """The first rule for this request that is still in force; a counted one is spent by one."""
        now_ms = self._clock.now_ms()
        for rule in self.rules():
            if not rule.matches(method, path, now_ms):
                continue
            if rule.remaining is None:
                return rule
            with self._store.write() as conn:
                spent = conn.execute(
                    sa.update(fault_rules)
                    .where(fault_rules.c.id == rule.id, fault_rules.c.remaining > 0)
                    .values(remaining=fault_rules.c.remaining - 1)
                ).rowcount
                conn.execute(sa.delete(fault_rules).where(fault_rules.c.remaining <= 0))
            self._invalidate()
            if spent:
                return rule
        return None


def injected_response(rule: Rule, request: Request, now_ms: int) -> Response:
    """The injected answer in the format of the API the path belongs to, with rate-limit headers."""
    assert rule.status is not None
    path = request.url.path
    error: ServiceError
    if path.startswith("/oauth"):
        error = OAuthError(rule.message, status=rule.status)
    elif path.startswith("/cis"):
        error = MessageError(rule.message, status=rule.status)
    else:
        error = EnvelopeError(rule.message, status=rule.status, code=11000 if rule.status < 500 else 10000)
    response = error.response(request)
    if rule.status in (429, 503):
        response.headers["Retry-After"] = str(rule.retry_after)
    if rule.status == 429:  # as SAP sends it: the epoch milliseconds at which the limit resets
        response.headers["X-Ratelimit-Reset"] = str(now_ms + rule.retry_after * 1000)
    return response


class FaultMiddleware:
    """ASGI middleware applying the rules; costs a list check per request when there are none."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        rule = None
        try:
            if self.faults.stale:
                await run_in_threadpool(self.faults.rules)
            if self.faults.cached:
                rule = await run_in_threadpool(self.faults.take, scope["method"], path)
        except sa.exc.OperationalError:
            # the database cannot answer: no fault to inject. The route meets the same failure and
            # answers it as routes do (503); out of a middleware, the error would end the connection.
            pass
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.delay_ms:
            await asyncio.sleep(rule.delay_ms / 1000)
        if rule.status is None:
            await self.app(scope, receive, send)
            return
        # X-Ratelimit-Reset is wall time, which clients compare with their own clocks
        response = injected_response(rule, Request(scope), int(time.time() * 1000))
        await response(scope, receive, send)
