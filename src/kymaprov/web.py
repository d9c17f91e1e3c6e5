"""Small helpers shared by the HTTP layers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

SyncHandler = Callable[[Request], Response]
MAX_BODY_BYTES = 1 << 20  # every request body of these APIs is a small JSON document


async def read_limited_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The body, or None if it is larger than ``limit`` bytes (it is not buffered beyond that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def threaded(handler: SyncHandler) -> Callable[[Request], Any]:
    """Read the body in the event loop (``request.state.body``), then run ``handler`` in a thread.

    Domain code is synchronous (database, Kubernetes calls); this keeps the event loop free. A body
    over ``MAX_BODY_BYTES`` is left as None, so that parsing it answers 413 in the layer's own format.
    """

    async def endpoint(request: Request) -> Response:
        request.state.body = await read_limited_body(request)
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


class BodyTooLarge(InvalidJSON):
    """A request body over ``MAX_BODY_BYTES``: a 413, not a 400."""

    def __init__(self) -> None:
        super().__init__(f"Request body is larger than {MAX_BODY_BYTES} bytes")


def _no_constants(name: str) -> Any:
    raise InvalidJSON(f"{name} is not a JSON value")


def parse_json(raw: bytes | None) -> Any:
    """Parse a request body as strict JSON (no NaN or Infinity); ``InvalidJSON`` for anything else.

    Every malformed body ends here as a clear 400, including ones that would otherwise surface as a
    500: invalid UTF-8, and nesting deep enough to exhaust the parser's recursion.
    """
    if raw is None:
        raise BodyTooLarge()
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except InvalidJSON:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidJSON(reason) from exc
