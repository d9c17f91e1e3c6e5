"""Small helpers shared by the HTTP layers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

SyncHandler = Callable[[Request], Response]


def threaded(handler: SyncHandler) -> Callable[[Request], Any]:
    """Read the body in the event loop (``request.state.body``), then run ``handler`` in a thread.

    Domain code is synchronous (database, Kubernetes calls); this keeps the event loop free.
    """

    async def endpoint(request: Request) -> Response:
        request.state.body = await request.body()
        return await run_in_threadpool(handler, request)

    return endpoint


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; the scheme is case-insensitive."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class InvalidJSON(ValueError):
    """A request body that is not strict JSON; the message says why, for the 400."""


def _no_constants(name: str) -> Any:
    raise InvalidJSON(f"{name} is not a JSON value")


def parse_json(raw: bytes) -> Any:
    """Parse a request body as strict JSON (no NaN or Infinity); ``InvalidJSON`` for anything else.

    Every malformed body ends here as a clear 400, including ones that would otherwise surface as a
    500: invalid UTF-8, and nesting deep enough to exhaust the parser's recursion.
    """
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except InvalidJSON:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidJSON(reason) from exc
