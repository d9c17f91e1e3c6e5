"""HTTP layer of the cis service-instance API that ``btp`` drives.

Routes live under ``/cis/v1``. Callers authenticate with a platform token (password grant of the
``btp-cli`` client); a subaccount is reachable only from its own global account.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kymaprov.accounts.models import (
    Subaccount,
    create_subaccount,
    get_subaccount,
    get_user,
    list_subaccounts,
)
from kymaprov.auth import BearerAuth
from kymaprov.cis.exceptions import CisError, CisForbidden, CisNotFound, CisPayloadTooLarge, CisUnauthorized
from kymaprov.cis.models import OPERATOR_SCOPES, CisService
from kymaprov.context import Context
from kymaprov.uaa.models import PLATFORM_SCOPE, Principal, TokenService
from kymaprov.web import BodyTooLarge, InvalidJSON, nul_in_url, parse_json, threaded

Handler = Callable[[Request], Response]


def routes(ctx: Context, tokens: TokenService, cis: CisService) -> list[Route]:
    authenticate = BearerAuth(
        tokens.verify,
        lambda reason: CisUnauthorized(
            "Authentication required; run 'btp login'"
            if reason is None
            else f"Invalid or expired session ({reason}); run 'btp login'"
        ),
    )

    def principal(request: Request, operator: bool) -> Principal:
        """A platform user's token; on instance and binding routes (``operator``) also the token of a
        subaccount's service operator credentials (``issue_operator_credentials``)."""
        p = authenticate(request)
        if PLATFORM_SCOPE not in p.scopes and not (operator and set(OPERATOR_SCOPES) <= p.scopes):
            raise CisForbidden("This token is not a platform user's token")
        return p

    def subaccount(request: Request, p: Principal) -> Subaccount:
        sub = get_subaccount(ctx, request.path_params["subaccount"])
        if sub is None:
            raise CisNotFound(f"Subaccount '{request.path_params['subaccount']}' not found")
        if sub.global_account_id != p.global_account_id:
            raise CisForbidden("The subaccount belongs to another global account")
        if PLATFORM_SCOPE not in p.scopes and p.subaccount_id != sub.id:
            raise CisForbidden("These service operator credentials are for another subaccount")
        return sub

    def handle(fn: Callable[[Request, Principal], Any], status: int = 200, operator: bool = False) -> Handler:
        def endpoint(request: Request) -> Response:
            caller = principal(request, operator)
            if nul_in_url(request):
                raise CisError("The request URL contains a NUL character")
            result = fn(request, caller)
            if result is None:
                return Response(status_code=204)
            return JSONResponse(result, status_code=status)

        return endpoint

    def body(request: Request) -> dict[str, Any]:
        raw = request.state.body
        try:
            data = parse_json(b"{}" if raw == b"" else raw)
        except BodyTooLarge as exc:
            raise CisPayloadTooLarge(str(exc)) from exc
        except InvalidJSON as exc:
            raise CisError(f"Request body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise CisError("Request body must be a JSON object")
        return data

    def whoami(_: Request, p: Principal) -> dict[str, Any]:
        user = get_user(ctx, p.user_name or "")
        return {
            "user": p.user_name,
            "globalAccount": p.global_account_id,
            "defaultSubaccount": user.default_subaccount_id if user else None,
        }

    def list_subs(_: Request, p: Principal) -> dict[str, Any]:
        return {"value": [s.to_json() for s in list_subaccounts(ctx, p.global_account_id)]}

    def create_sub(request: Request, p: Principal) -> dict[str, Any]:
        data = body(request)
        name = data.get("displayName")
        subdomain = data.get("subdomain")
        if not isinstance(name, str) or not isinstance(subdomain, str) or not name or not subdomain:
            raise CisError("'displayName' and 'subdomain' are required strings")
        region = data.get("region", "eu10")
        if not isinstance(region, str):
            raise CisError("'region' must be a string")
        return create_subaccount(ctx, p.global_account_id or "", name, subdomain, region).to_json()

    def get_sub(request: Request, p: Principal) -> dict[str, Any]:
        return subaccount(request, p).to_json()

    def create_instance(request: Request, p: Principal) -> dict[str, Any]:
        data = body(request)
        return cis.create_instance(
            subaccount(request, p),
            data.get("name", ""),
            data.get("offering_name", ""),
            data.get("plan_name", ""),
            data.get("parameters"),
        )

    def list_instances(request: Request, p: Principal) -> dict[str, Any]:
        sub = subaccount(request, p)
        name = request.query_params.get("name")
        items = [cis.get_instance(sub, name=name)] if name else cis.list_instances(sub)
        return {"items": items, "num_items": len(items)}

    def get_instance(request: Request, p: Principal) -> dict[str, Any]:
        return cis.get_instance(subaccount(request, p), instance_id=request.path_params["id"])

    def delete_instance(request: Request, p: Principal) -> None:
        cis.delete_instance(subaccount(request, p), instance_id=request.path_params["id"])

    def create_binding(request: Request, p: Principal) -> dict[str, Any]:
        data = body(request)
        return cis.create_binding(
            subaccount(request, p),
            data.get("name", ""),
            instance_name=data.get("service_instance_name"),
            instance_id=data.get("service_instance_id"),
        )

    def list_bindings(request: Request, p: Principal) -> dict[str, Any]:
        sub = subaccount(request, p)
        name = request.query_params.get("name")
        items = [cis.get_binding(sub, name=name)] if name else cis.list_bindings(sub)
        return {"items": items, "num_items": len(items)}

    def get_binding(request: Request, p: Principal) -> dict[str, Any]:
        return cis.get_binding(subaccount(request, p), binding_id=request.path_params["id"])

    def delete_binding(request: Request, p: Principal) -> None:
        cis.delete_binding(subaccount(request, p), binding_id=request.path_params["id"])

    base = "/cis/v1/subaccounts/{subaccount}"
    return [
        Route("/cis/v1/me", threaded(handle(whoami)), methods=["GET"]),
        Route("/cis/v1/subaccounts", threaded(handle(list_subs)), methods=["GET"]),
        Route("/cis/v1/subaccounts", threaded(handle(create_sub, 201)), methods=["POST"]),
        Route(base, threaded(handle(get_sub)), methods=["GET"]),
        Route(f"{base}/service_instances", threaded(handle(list_instances, operator=True)), methods=["GET"]),
        Route(
            f"{base}/service_instances",
            threaded(handle(create_instance, 201, operator=True)),
            methods=["POST"],
        ),
        Route(
            f"{base}/service_instances/{{id}}", threaded(handle(get_instance, operator=True)), methods=["GET"]
        ),
        Route(
            f"{base}/service_instances/{{id}}",
            threaded(handle(delete_instance, operator=True)),
            methods=["DELETE"],
        ),
        Route(f"{base}/service_bindings", threaded(handle(list_bindings, operator=True)), methods=["GET"]),
        Route(
            f"{base}/service_bindings", threaded(handle(create_binding, 201, operator=True)), methods=["POST"]
        ),
        Route(
            f"{base}/service_bindings/{{id}}", threaded(handle(get_binding, operator=True)), methods=["GET"]
        ),
        Route(
            f"{base}/service_bindings/{{id}}",
            threaded(handle(delete_binding, operator=True)),
            methods=["DELETE"],
        ),
    ]
