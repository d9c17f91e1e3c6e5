"""Small helpers shared by the HTTP layers."""

from __future__ import annotations

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
