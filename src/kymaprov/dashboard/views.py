"""The dashboard's routes: sign in and out, the environments, one environment with its runtime."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from kymaprov.backends.base import RuntimeBackend
from kymaprov.context import Context
from kymaprov.dashboard import data
from kymaprov.dashboard.session import COOKIE, TooManyFailures, sign_in, signed_in
from kymaprov.dashboard.templates import pages, when
from kymaprov.provisioning.models import Environment
from kymaprov.uaa.models import Principal, TokenService
from kymaprov.uaa.responses import FailureLimits
from kymaprov.web import threaded

HOME = "/dashboard/"
BUSY = ("CREATING", "UPDATING", "DELETING")


def _html(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    headers = {"cache-control": "no-store", "x-frame-options": "DENY"}
    return HTMLResponse(pages.get_template(template).render(**values), status_code=status, headers=headers)


def _safe_next(value: str | None) -> str:
    """Only a dashboard page: never a redirect elsewhere (``//evil.example`` included)."""
    if value and value.startswith(HOME) and not value.startswith("//"):
        return value
    return HOME


def _summary(env: Environment, now_ms: int, subaccounts: dict[str, str] | None = None) -> dict[str, Any]:
    row, state = env.row, env.state
    busy_for = (now_ms - row["modified_ms"]) // 1000
    return {
        "id": env.id,
        "name": env.cluster_name,
        "subaccount": (subaccounts or {}).get(row["subaccount_id"], row["subaccount_id"]),
        "plan": row["plan_name"],
        "region": data.parameters(env).get("region", ""),
        "state": state,
        "css": "busy" if state in BUSY else state,
        "operation": row["operation"],
        "message": row["state_message"],
        "modified": when(row["modified_ms"]),
        "progress": f"{row['operation']} in progress for {busy_for} s" if state in BUSY else "done",
        "api_server": (row["labels"] or {}).get("APIServerURL", ""),
    }


def routes(
    ctx: Context, tokens: TokenService, backend: RuntimeBackend, failures: FailureLimits
) -> list[Route]:
    def user(request: Request) -> Principal | None:
        return signed_in(tokens, request.cookies.get(COOKIE))

    def login_page(request: Request, error: str = "", status: int = 200) -> Response:
        return _html(
            "login",
            status,
            next=_safe_next(str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")),
            error=error,
            user=None,
        )

    def home(request: Request) -> Response:
        principal = user(request)
        if principal is None:
            return login_page(request)
        account = str(principal.global_account_id)
        now_ms = ctx.clock.now_ms()
        env_id = request.query_params.get("kubeconfigID")
        if env_id is None:
            names = data.subaccount_names(ctx, account)
            envs = [_summary(e, now_ms, names) for e in data.account_environments(ctx, account)]
            busy = any(e["state"] in BUSY for e in envs)
            return _html("index", environments=envs, user=principal.user_name, refresh=busy)
        env = data.environment(ctx, account, env_id)
        if env is None:
            return _html("not_found", 404, env_id=env_id, user=principal.user_name)
        bindings = [
            {
                "id": b["id"],
                "created_by": b["created_by"] or "",
                "created": when(b["created_ms"]),
                "expires": when(b["expires_ms"]),
                "status": "live" if b["expires_ms"] > now_ms else "expired",
            }
            for b in data.environment_bindings(ctx, env.id)
        ]
        operations = [
            {**o, "created": when(o["created_ms"]), "updated": when(o["updated_ms"])}
            for o in data.environment_operations(ctx, env.id)
        ]
        summary = _summary(env, now_ms)
        return _html(
            "environment",
            env=summary,
            operations=operations,
            bindings=bindings,
            runtime=data.runtime(backend, env),
            user=principal.user_name,
            refresh=env.state in BUSY,
        )

    def login(request: Request) -> Response:
        raw: bytes = request.state.body or b""
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        target = _safe_next(form.get("next"))
        address = request.client.host if request.client else ""
        try:
            granted = sign_in(tokens, failures, address, form.get("username", ""), form.get("password", ""))
        except TooManyFailures as exc:
            return _html("login", 429, next=target, error=f"{str(exc).capitalize()}.", user=None)
        if granted is None:
            return _html("login", 401, next=target, error="Wrong user or password.", user=None)
        token, lifetime = granted
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, token, max_age=lifetime, path=HOME, httponly=True, samesite="strict",
            secure=ctx.settings.base_url.startswith("https://"),
        )  # fmt: skip
        return response

    def logout(_: Request) -> Response:
        response = RedirectResponse(HOME, status_code=303)
        response.delete_cookie(COOKIE, path=HOME)
        return response

    def bare(_: Request) -> Response:
        return RedirectResponse(HOME, status_code=308)

    return [
        Route("/dashboard", bare, methods=["GET"]),
        Route(HOME, threaded(home), methods=["GET"]),
        Route(f"{HOME}login", threaded(login), methods=["POST"]),
        Route(f"{HOME}logout", logout, methods=["POST"]),
    ]
