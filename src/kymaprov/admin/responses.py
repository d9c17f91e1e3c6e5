"""HTTP layer of the admin API (``/admin/...``), guarded by the installation's admin token.

- ``GET /admin/clock`` / ``POST /admin/clock/advance {"seconds": N}``: read or move service time.
- ``POST /admin/environments/{id}/fail-next {"message": "...", "operation": "provision|update|deprovision"}``:
  make that environment's next (matching) operation end in its ``*_FAILED`` state with the message.
- ``GET|POST /admin/subaccounts``: list or create subaccounts of the default global account.
- ``POST /admin/reset``: delete every environment, binding, runtime and cis instance; reset the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kymaprov.accounts.models import (
    AccountError,
    check_admin_token,
    create_subaccount,
    default_global_account_id,
    list_subaccounts,
)
from kymaprov.context import Context
from kymaprov.store import metadata
from kymaprov.web import BodyTooLarge, InvalidJSON, bearer_token, nul_in_url, parse_json, threaded

# tenancy, users, keys and settings survive a reset; everything users created does not
_RESET_TABLES = (
    "kyma_bindings",
    "operations",
    "environments",
    "cis_bindings",
    "cis_instances",
    "kube_objects",
    "kube_clusters",
)
_OPERATIONS = ("provision", "update", "deprovision")
MAX_OFFSET = 10 * 365 * 24 * 3600  # dates stay printable and tokens' exp stays an integer


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def routes(ctx: Context, on_reset: Callable[[], None] | None = None) -> list[Route]:
    def guarded(fn: Callable[[Request], Any], status: int = 200) -> Callable[[Request], Any]:
        def handle(request: Request) -> Response:
            token = bearer_token(request)
            if token is None or not check_admin_token(ctx, token):
                return JSONResponse({"error": "a valid admin token is required"}, status_code=401)
            try:
                if nul_in_url(request):
                    raise AdminError(400, "the request URL contains a NUL character")
                return JSONResponse(fn(request), status_code=status)
            except AdminError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status)
            except AccountError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

        return threaded(handle)

    def body(request: Request) -> dict[str, Any]:
        raw = request.state.body
        try:
            data = parse_json(b"{}" if raw == b"" else raw)
        except BodyTooLarge as exc:
            raise AdminError(413, str(exc)) from exc
        except InvalidJSON as exc:
            raise AdminError(400, f"request body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise AdminError(400, "request body must be a JSON object")
        return data

    def clock(_: Request) -> dict[str, Any]:
        return {"now": ctx.clock.now(), "nowMs": ctx.clock.now_ms(), "offsetSeconds": ctx.clock.offset()}

    def advance(request: Request) -> dict[str, Any]:
        seconds = body(request).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < MAX_OFFSET:
            raise AdminError(400, "'seconds' must be a number from 0 to 10 years (315360000)")
        if ctx.clock.offset() + seconds > MAX_OFFSET:
            raise AdminError(400, "the service clock may run at most 10 years ahead; reset it first")
        ctx.clock.advance(float(seconds))
        return clock(request)

    def fail_next(request: Request) -> dict[str, Any]:
        from kymaprov.provisioning.models import environments

        data = body(request)
        message = data.get("message")
        operation = data.get("operation")
        if not isinstance(message, str) or not message:
            raise AdminError(400, "'message' must be a non-empty string")
        if operation is not None and operation not in _OPERATIONS:
            raise AdminError(400, f"'operation' must be one of {', '.join(_OPERATIONS)}")
        env_id = request.path_params["id"]
        with ctx.store.write() as conn:
            updated = conn.execute(
                sa.update(environments)
                .where(environments.c.id == env_id)
                .values(fail_next={"message": message, "operation": operation})
            )
        if updated.rowcount == 0:
            raise AdminError(404, f"environment {env_id} not found")
        return {"id": env_id, "failNext": {"message": message, "operation": operation}}

    def subaccounts(_: Request) -> dict[str, Any]:
        return {"value": [s.to_json() for s in list_subaccounts(ctx)]}

    def new_subaccount(request: Request) -> dict[str, Any]:
        data = body(request)
        name, subdomain = data.get("displayName"), data.get("subdomain")
        region = data.get("region", "eu10")
        if not (isinstance(name, str) and isinstance(subdomain, str) and isinstance(region, str)) or not (
            name and subdomain and region
        ):
            raise AdminError(
                400, "'displayName', 'subdomain' (and optional 'region') must be non-empty strings"
            )
        return create_subaccount(ctx, default_global_account_id(ctx), name, subdomain, region).to_json()

    def reset(_: Request) -> dict[str, Any]:
        with ctx.store.write() as conn:
            for name in _RESET_TABLES:
                table = metadata.tables.get(name)
                if table is not None:
                    conn.execute(sa.delete(table))
            from kymaprov.uaa.models import oauth_clients

            conn.execute(sa.delete(oauth_clients).where(oauth_clients.c.service_instance_id.is_not(None)))
        ctx.clock.reset()
        if on_reset:
            on_reset()
        return {"reset": True}

    return [
        Route("/admin/clock", guarded(clock), methods=["GET"]),
        Route("/admin/clock/advance", guarded(advance), methods=["POST"]),
        Route("/admin/environments/{id}/fail-next", guarded(fail_next), methods=["POST"]),
        Route("/admin/subaccounts", guarded(subaccounts), methods=["GET"]),
        Route("/admin/subaccounts", guarded(new_subaccount, 201), methods=["POST"]),
        Route("/admin/reset", guarded(reset), methods=["POST"]),
    ]
