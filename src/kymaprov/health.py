"""Health endpoints of the HTTP API, for load balancers, compose health checks and orchestrators.

``/healthz`` says the process answers; ``/readyz`` that it can do its work (the database answers and the
lifecycle worker runs), 503 with the failing checks otherwise; ``/version`` which kymaprov this is.
They need no token and reveal nothing but the version.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from kymaprov import __version__
from kymaprov.context import Context
from kymaprov.web import threaded


def routes(ctx: Context, worker_alive: Callable[[], bool]) -> list[Route]:
    def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    def readyz(_: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            with ctx.store.read() as conn:
                conn.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
        except sa.exc.SQLAlchemyError as exc:
            checks["database"] = f"failed: {type(exc).__name__}"
        checks["lifecycle-worker"] = "ok" if worker_alive() else "failed: not running"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ready else "failed", "checks": checks}, 200 if ready else 503)

    def version(_: Request) -> Response:
        return JSONResponse({"version": __version__})

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", threaded(readyz), methods=["GET", "HEAD"]),
        Route("/version", version, methods=["GET"]),
    ]
