"""HTTP layer of the Provisioning Service API v1: routing, scopes, bodies and the error envelope.

Every route declares the scope the official spec requires; the subaccount comes from the token.
Errors are ``provisioning.exceptions``, rendered by the app's one handler in the Cloud Management
envelope (a GET of a missing binding: a 404 with an empty body, as the real service answers).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kymaprov.auth import BearerAuth
from kymaprov.context import Context
from kymaprov.provisioning import catalog, oidc
from kymaprov.provisioning.bindings import BindingService
from kymaprov.provisioning.environments import EnvironmentService
from kymaprov.provisioning.exceptions import BadRequest, Forbidden, PayloadTooLarge, Unauthorized
from kymaprov.uaa.models import Principal, TokenService
from kymaprov.web import BodyTooLarge, InvalidJSON, JSONResponse, nul_in_url, parse_json, threaded

READ = "subaccount.environment.read"
CREATE = "subaccount.environment.create"
DELETE = "subaccount.environment.delete"
ENTITLEMENT_READ = "subaccount.entitlement.read"
JOB_READ = "job.read"
NUL_IN_URL = "The request URL contains a NUL character"

Action = Callable[[Request, Principal], Response]


def json_body(request: Request, *, optional: bool = False) -> Any:
    """The parsed JSON body; malformed JSON is a 400 in the error envelope, never a 500."""
    raw: bytes | None = request.state.body
    if raw is not None and not raw.strip():
        if optional:
            return None
        raise BadRequest("Request body is missing; a JSON object is expected")
    try:
        return parse_json(raw)
    except BodyTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from exc
    except InvalidJSON as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}") from exc


def json_object(request: Request) -> dict[str, Any]:
    body = json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object")
    return body


def routes(
    ctx: Context, tokens: TokenService, envs: EnvironmentService, bindings: BindingService
) -> list[Route]:
    base_url = ctx.settings.base_url

    authenticate = BearerAuth(
        tokens.verify,
        lambda reason: Unauthorized("Missing bearer token" if reason is None else f"Invalid token: {reason}"),
    )

    def authorize(request: Request, scope: str) -> Principal:
        principal = authenticate(request)
        if not principal.has_scope(scope):
            raise Forbidden(f"Insufficient scope: '{principal.xsappname}.{scope}' is required")
        return principal

    def endpoint(scope: str, action: Action) -> Callable[[Request], Any]:
        def handle(request: Request) -> Response:
            principal = authorize(request, scope)
            if nul_in_url(request):
                raise BadRequest(NUL_IN_URL)
            return action(request, principal)

        return threaded(handle)

    def env_id(request: Request) -> str:
        return str(request.path_params["environmentInstanceId"])

    # -- environments ---------------------------------------------------------------------------

    def available(_: Request, __: Principal) -> Response:
        return Response(catalog.available_environments_body(), media_type="application/json")

    def list_envs(_: Request, p: Principal) -> Response:
        return JSONResponse({"environmentInstances": [e.to_wire(base_url) for e in envs.list_all(p)]})

    def create_env(request: Request, p: Principal) -> Response:
        env, job_id = envs.create(p, json_object(request))
        return JSONResponse({**env.to_wire(base_url), "jobId": job_id}, status_code=202)

    def get_env(request: Request, p: Principal) -> Response:
        return JSONResponse(envs.get(p, env_id(request)).to_wire(base_url))

    def update_env(request: Request, p: Principal) -> Response:
        return JSONResponse({"jobId": envs.update(p, env_id(request), json_object(request))}, status_code=202)

    def delete_env(request: Request, p: Principal) -> Response:
        env, job_id = envs.delete(p, env_id(request))
        return JSONResponse({**env.to_wire(base_url), "jobId": job_id}, status_code=202)

    def delete_all(_: Request, p: Principal) -> Response:
        deleted = envs.delete_all(p)
        return JSONResponse({"environmentInstances": [e.to_wire(base_url) for e in deleted]}, status_code=202)

    # -- bindings -------------------------------------------------------------------------------

    def create_binding(request: Request, p: Principal) -> Response:
        created = bindings.create(p, env_id(request), json_body(request, optional=True))
        # the SAP procedure scrapes the id with a case-sensitive `sed -n 's/^.*location: //p'`
        return JSONResponse(created.body, status_code=202, headers={"location": created.id})

    def list_bindings(request: Request, p: Principal) -> Response:
        return JSONResponse(bindings.list_all(p, env_id(request)))

    def get_binding(request: Request, p: Principal) -> Response:
        return JSONResponse(bindings.get(p, env_id(request), request.path_params["bindingId"]))

    def delete_binding(request: Request, p: Principal) -> Response:
        return JSONResponse(bindings.delete(p, env_id(request), request.path_params["bindingId"]))

    # -- labels, quotas, jobs -------------------------------------------------------------------

    def get_labels(request: Request, p: Principal) -> Response:
        return JSONResponse({"labels": envs.get_labels(p, env_id(request))})

    def put_labels(request: Request, p: Principal) -> Response:
        return JSONResponse({"labels": envs.set_labels(p, env_id(request), json_object(request))})

    def delete_labels(request: Request, p: Principal) -> Response:
        return JSONResponse({"labels": envs.delete_labels(p, env_id(request))})

    def plan_assignments(_: Request, p: Principal) -> Response:
        return JSONResponse(envs.plan_assignments(p))

    def job_status(request: Request, p: Principal) -> Response:
        return JSONResponse(envs.job_status(p, request.path_params["jobId"]))

    def kubeconfig(request: Request) -> Response:
        """``labels.KubeconfigURL``: like KEB's, it carries no secret (OIDC login), so needs no token."""
        if nul_in_url(request):
            raise BadRequest(NUL_IN_URL)
        env = envs.find_any(request.path_params["environmentInstanceId"])
        parameters = json.loads(env.row["parameters"])
        access = bindings.access(env)
        if access is None:  # not provisioned yet: the address it will have, no CA
            server = env.row["labels"].get("APIServerURL", "")
            text = oidc.kubeconfig(env.cluster_name, server, parameters, base_url)
        else:
            text = oidc.kubeconfig(
                env.cluster_name, access.server, parameters, base_url, access.ca_data, access.tls_server_name
            )
        return PlainTextResponse(text, media_type="application/x-yaml")

    p = "/provisioning/v1"
    e = f"{p}/environments/{{environmentInstanceId}}"
    return [
        Route(f"{p}/availableEnvironments", endpoint(READ, available), methods=["GET"]),
        Route(f"{p}/environments", endpoint(READ, list_envs), methods=["GET"]),
        Route(f"{p}/environments", endpoint(CREATE, create_env), methods=["POST"]),
        Route(f"{p}/environments", endpoint(DELETE, delete_all), methods=["DELETE"]),
        Route(e, endpoint(READ, get_env), methods=["GET"]),
        Route(e, endpoint(DELETE, update_env), methods=["PATCH"]),
        Route(e, endpoint(DELETE, delete_env), methods=["DELETE"]),
        Route(f"{e}/bindings", endpoint(READ, list_bindings), methods=["GET"]),
        Route(f"{e}/bindings", endpoint(CREATE, create_binding), methods=["PUT"]),
        Route(f"{e}/bindings/{{bindingId}}", endpoint(READ, get_binding), methods=["GET"]),
        Route(f"{e}/bindings/{{bindingId}}", endpoint(DELETE, delete_binding), methods=["DELETE"]),
        Route(f"{e}/labels", endpoint(READ, get_labels), methods=["GET"]),
        Route(f"{e}/labels", endpoint(CREATE, put_labels), methods=["PUT"]),
        Route(f"{e}/labels", endpoint(DELETE, delete_labels), methods=["DELETE"]),
        Route(f"{p}/servicePlanAssignments", endpoint(ENTITLEMENT_READ, plan_assignments), methods=["GET"]),
        Route("/jobs-management/v1/jobs/{jobId}/status", endpoint(JOB_READ, job_status), methods=["GET"]),
        Route("/kubeconfig/{environmentInstanceId}", threaded(kubeconfig), methods=["GET"]),
    ]
