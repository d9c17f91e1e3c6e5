"""Assembles the HTTP API (token service, cis, Provisioning Service, admin) into one ASGI app."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kymaprov import health
from kymaprov.admin import responses as admin
from kymaprov.cis import responses as cis_http
from kymaprov.cis.models import CisService
from kymaprov.context import Context
from kymaprov.provisioning import responses as provisioning
from kymaprov.provisioning.bindings import BindingService
from kymaprov.uaa import responses as uaa_http
from kymaprov.uaa.models import TokenService

log = logging.getLogger(__name__)


def _envelope(request: Request, status: int, message: str) -> Response:
    return JSONResponse(
        {
            "error": {
                "code": 11000 if status < 500 else 10000,
                "message": message,
                "target": request.url.path,
                "correlationID": str(uuid.uuid4()),
            }
        },
        status_code=status,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _envelope(request, exc.status_code, exc.detail or "Request failed")


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _envelope(request, 500, "Internal server error")


def create_api_app(
    ctx: Context,
    tokens: TokenService,
    bindings: BindingService,
    on_reset: Callable[[], None] | None = None,
    worker_alive: Callable[[], bool] = lambda: True,
) -> Starlette:
    cis = CisService(ctx, tokens)
    routes = [
        *health.routes(ctx, worker_alive),
        *uaa_http.routes(tokens),
        *cis_http.routes(ctx, tokens, cis),
        *provisioning.routes(ctx, tokens, bindings),
        *admin.routes(ctx, on_reset),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
