"""HTTP layer of the admin API (``/admin/...``), guarded by the installation's admin token.

- ``GET /admin/clock`` / ``POST /admin/clock/advance {"seconds": N}``: read or move service time.
- ``POST /admin/environments/{id}/fail-next {"message": "...", "operation": "provision|update|deprovision"}``:
  make that environment's next (matching) operation end in its ``*_FAILED`` state with the message.
- ``GET|POST /admin/subaccounts``: list or create subaccounts of the default global account.
- ``POST /admin/reset``: delete every environment, binding, runtime and cis instance, every fault rule
  and lifecycle control; reset the clock.
- ``GET|POST|DELETE /admin/faults``, ``DELETE /admin/faults/{id}``: fault rules (``kymaprov.faults``).
- ``GET|DELETE /admin/lifecycle``, ``PUT /admin/lifecycle/plans/{plan}``,
  ``PUT /admin/environments/{id}/lifecycle``, ``POST /admin/environments/{id}/release``: how long
  operations take, holding them, failing creations (``kymaprov.provisioning.control``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kymaprov.accounts.models import (
    check_admin_token,
    create_subaccount,
    default_global_account_id,
    list_subaccounts,
)
from kymaprov.auth import BearerAuth
from kymaprov.context import Context
from kymaprov.errors import MessageError
from kymaprov.faults import Faults
from kymaprov.provisioning.environments import EnvironmentService
from kymaprov.uaa.exceptions import TokenRejected
from kymaprov.web import BodyTooLarge, InvalidJSON, nul_in_url, parse_json, threaded

_OPERATIONS = ("provision", "update", "deprovision")
MAX_OFFSET = 10 * 365 * 24 * 3600  # dates stay printable and tokens' exp stays an integer


class AdminError(MessageError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status=status)


class Resettable(Protocol):
    def reset(self) -> None:
        """Delete what users made; tenancy, users, keys and settings stay."""


def routes(
    ctx: Context, envs: EnvironmentService, faults: Faults, resettables: Sequence[Resettable]
) -> list[Route]:
    """``resettables``: every part holding state, each asked to reset itself by ``POST /admin/reset``."""

    def admin_token(token: str) -> None:
        if not check_admin_token(ctx, token):
            raise TokenRejected("not the admin token")

    authenticate = BearerAuth(admin_token, lambda _: AdminError(401, "a valid admin token is required"))

    def guarded(fn: Callable[[Request], Any], status: int = 200) -> Callable[[Request], Any]:
        def handle(request: Request) -> Response:
            authenticate(request)
            if nul_in_url(request):
                raise AdminError(400, "the request URL contains a NUL character")
            return JSONResponse(fn(request), status_code=status)

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
        data = body(request)
        message = data.get("message")
        operation = data.get("operation")
        if not isinstance(message, str) or not message:
            raise AdminError(400, "'message' must be a non-empty string")
        if operation is not None and operation not in _OPERATIONS:
            raise AdminError(400, f"'operation' must be one of {', '.join(_OPERATIONS)}")
        env_id = request.path_params["id"]
        if not envs.fail_next(env_id, message, operation):
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
        for part in resettables:
            part.reset()
        return {"reset": True}

    def fault_list(_: Request) -> dict[str, Any]:
        return {"rules": [r.to_json() for r in faults.fresh()]}

    def fault_add(request: Request) -> dict[str, Any]:
        return faults.add(body(request)).to_json()

    def fault_clear(_: Request) -> dict[str, Any]:
        return {"removed": faults.remove()}

    def fault_remove(request: Request) -> dict[str, Any]:
        rule_id = request.path_params["id"]
        if not faults.remove(rule_id):
            raise AdminError(404, f"fault rule {rule_id} not found")
        return {"removed": 1}

    def lifecycle(_: Request) -> dict[str, Any]:
        return envs.controls()

    def lifecycle_clear(_: Request) -> dict[str, Any]:
        envs.clear_controls()
        return envs.controls()

    def lifecycle_plan(request: Request) -> dict[str, Any]:
        return envs.control_plan(request.path_params["plan"], body(request))

    def lifecycle_environment(request: Request) -> dict[str, Any]:
        env_id = request.path_params["id"]
        found = envs.control_environment(env_id, body(request))
        if found is None:
            raise AdminError(404, f"environment {env_id} not found")
        return found

    def release(request: Request) -> dict[str, Any]:
        env_id = request.path_params["id"]
        released = envs.release(env_id)
        if released is None:
            raise AdminError(404, f"environment {env_id} not found")
        return {"id": env_id, "released": released}

    return [
        Route("/admin/faults", guarded(fault_list), methods=["GET"]),
        Route("/admin/faults", guarded(fault_add, 201), methods=["POST"]),
        Route("/admin/faults", guarded(fault_clear), methods=["DELETE"]),
        Route("/admin/faults/{id}", guarded(fault_remove), methods=["DELETE"]),
        Route("/admin/lifecycle", guarded(lifecycle), methods=["GET"]),
        Route("/admin/lifecycle", guarded(lifecycle_clear), methods=["DELETE"]),
        Route("/admin/lifecycle/plans/{plan}", guarded(lifecycle_plan), methods=["PUT"]),
        Route("/admin/environments/{id}/lifecycle", guarded(lifecycle_environment), methods=["PUT"]),
        Route("/admin/environments/{id}/release", guarded(release), methods=["POST"]),
        Route("/admin/clock", guarded(clock), methods=["GET"]),
        Route("/admin/clock/advance", guarded(advance), methods=["POST"]),
        Route("/admin/environments/{id}/fail-next", guarded(fail_next), methods=["POST"]),
        Route("/admin/subaccounts", guarded(subaccounts), methods=["GET"]),
        Route("/admin/subaccounts", guarded(new_subaccount, 201), methods=["POST"]),
        Route("/admin/reset", guarded(reset), methods=["POST"]),
    ]
