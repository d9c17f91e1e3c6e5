"""Assembles the HTTP API (token service, cis, Provisioning Service, admin) into one ASGI app.

Every error is a ``kymaprov.errors.ServiceError`` that renders itself in its API's format; this module
registers the one handler that answers them, and turns what no route answers (404, 405), a database
that cannot answer (503) and any other unexpected failure (500) into the Cloud Management envelope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from kymaprov import health, openapi
from kymaprov.admin import responses as admin
from kymaprov.cis import responses as cis_http
from kymaprov.cis.models import CisService
from kymaprov.cliserver import responses as cliserver
from kymaprov.cliserver.sessions import SessionStore
from kymaprov.context import Context
from kymaprov.dashboard import views as dashboard
from kymaprov.errors import ServiceError, unrouted
from kymaprov.faults import FaultMiddleware, Faults
from kymaprov.metrics import Metrics, RequestMetrics
from kymaprov.provisioning import responses as provisioning
from kymaprov.provisioning.bindings import BindingService
from kymaprov.provisioning.environments import EnvironmentService
from kymaprov.uaa import responses as uaa_http
from kymaprov.uaa.models import TokenService

log = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_SECONDS = 1


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if exc.status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    return exc.response(request)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return unrouted(exc.status_code, exc.detail).response(request)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """The database is unreachable or restarting, or rolled the request's transaction back (a deadlock's
    victim): nothing the caller did, nothing was written, and the same request may well work in a
    moment. Logged by the driver error's class only, as its message may name the database server."""
    assert isinstance(exc, sa.exc.OperationalError)
    log.warning("%s %s: the database failed: %s", request.method, request.url.path, type(exc.orig).__name__)
    response = unrouted(503, "Service temporarily unavailable").response(request)
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return unrouted(500, "Internal server error").response(request)


def create_api_app(
    ctx: Context,
    tokens: TokenService,
    bindings: BindingService,
    worker_alive: Callable[[], bool] = lambda: True,
    metrics: Metrics | None = None,
) -> Starlette:
    """``metrics``: served at ``/metrics`` and counting every request (``kymaprov.metrics``)."""
    cis = CisService(ctx, tokens)
    envs = EnvironmentService(ctx)
    faults = Faults(ctx.store, ctx.clock)
    sessions = SessionStore(ctx)
    # failed passwords count alike at /oauth/token, /login and the dashboard's sign-in
    limits = uaa_http.FailureLimits()
    # what POST /admin/reset asks to reset itself; tenancy, users, keys and settings stay
    resettables: list[admin.Resettable] = [
        bindings,
        envs,
        cis,
        tokens,
        sessions,
        bindings.backend,
        ctx.clock,
        faults,
    ]
    # the router tries routes in order, ~1 us each: the busiest APIs first (no two APIs share a path)
    routes = [
        *uaa_http.routes(tokens, limits),
        *provisioning.routes(ctx, tokens, envs, bindings),
        *health.routes(ctx, worker_alive),
        *openapi.routes(ctx.settings.base_url),
        *cis_http.routes(ctx, tokens, cis),
        *cliserver.routes(ctx, sessions, cis, envs, limits),
        *admin.routes(ctx, envs, faults, resettables),
        *dashboard.routes(ctx, tokens, bindings.backend, limits),
    ]
    middleware = [Middleware(FaultMiddleware, faults=faults)]
    if metrics is not None:
        routes.append(metrics.route())
        middleware.insert(0, Middleware(RequestMetrics, metrics=metrics))  # outermost: counts faults too
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            ServiceError: _service_error,
            HTTPException: _http_error,
            sa.exc.OperationalError: _database_unavailable,
            Exception: _server_error,
        },
    )
