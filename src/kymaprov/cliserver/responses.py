"""HTTP layer of the CLI-server protocol: ``/login``, ``/logout`` and ``/command`` on the API port.

Every path carries the client's protocol version (``v2.106.1`` for the current provider). A client of
protocol major 2 from ``MIN_VERSION`` on is served; an older or other one gets 412, which the provider
reports as an outdated provider version.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kymaprov.accounts.models import authenticate_user, find_global_account
from kymaprov.cis.models import CisService
from kymaprov.cliserver.commands import Call, Commands
from kymaprov.cliserver.errors import BACKEND_MEDIATYPE, BACKEND_STATUS, ProtocolError
from kymaprov.cliserver.sessions import Session, SessionStore
from kymaprov.context import Context
from kymaprov.provisioning.environments import EnvironmentService
from kymaprov.uaa.responses import FailureLimits
from kymaprov.web import BodyTooLarge, InvalidJSON, nul_in_url, parse_json, threaded

SESSION_HEADER = "X-Cpcli-Sessionid"
SUBDOMAIN_HEADER = "X-Cpcli-Subdomain"
PROTOCOL_VERSION = (2, 106, 1)  # the newest protocol kymaprov knows (terraform-provider-btp's)
MIN_VERSION = (2, 38, 0)
_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


def check_version(text: str) -> None:
    match = _VERSION.match(text)
    if match is None:
        raise ProtocolError(f"'{text}' is not a protocol version", status=404)
    version = tuple(int(part) for part in match.groups())
    if version[0] != PROTOCOL_VERSION[0] or version < MIN_VERSION:
        raise ProtocolError(
            f"Protocol version {text} is not supported; update your client "
            f"(supported: v{'.'.join(map(str, MIN_VERSION))} to v{PROTOCOL_VERSION[0]}.x)",
            status=412,
        )


def _object(request: Request) -> dict[str, Any]:
    try:
        data = parse_json(request.state.body)
    except BodyTooLarge as exc:
        raise ProtocolError(str(exc), status=413) from exc
    except InvalidJSON as exc:
        raise ProtocolError(f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError("Request body must be a JSON object")
    return data


def routes(
    ctx: Context, sessions: SessionStore, cis: CisService, envs: EnvironmentService, limits: FailureLimits
) -> list[Route]:
    """``limits`` are the token endpoint's: a password guessed here counts there too, and the other way."""
    commands = Commands(ctx, cis, envs)
    # the one identity provider: kymaprov's own users, named by the API's host
    issuer = urlsplit(ctx.settings.base_url).netloc

    def versioned(request: Request) -> None:
        check_version(request.path_params["version"])
        if nul_in_url(request):
            raise ProtocolError("The request URL contains a NUL character")

    def login(request: Request) -> Response:
        versioned(request)
        body = _object(request)
        fields = {k: body.get(k) for k in ("customIdp", "subdomain", "userName", "password")}
        if any(v is not None and not isinstance(v, str) for v in fields.values()):
            raise ProtocolError("customIdp, subdomain, userName and password must be strings")
        if fields["customIdp"] not in (None, "", issuer):
            raise ProtocolError(f"Unknown identity provider '{fields['customIdp']}'", status=401)
        subdomain = fields["subdomain"]
        ga = find_global_account(ctx, subdomain=subdomain) if subdomain else None
        if subdomain and ga is None:
            raise ProtocolError(f"Global account '{subdomain}' not found", status=404)
        user_key, address = f"user:{fields['userName'] or ''}", request.client.host if request.client else ""
        wait = max(limits.subjects.retry_after([user_key]), limits.addresses.retry_after([address]))
        if wait > 0:
            raise ProtocolError("Too many failed logins; try again later", status=429, retry_after=wait)
        user = authenticate_user(ctx, fields["userName"] or "", fields["password"] or "")
        if user is None:
            limits.subjects.failed([user_key])
            limits.addresses.failed([address])
            raise ProtocolError("Login failed; check your credentials", status=401)
        if ga is None:  # no subdomain: the user's one global account
            ga = find_global_account(ctx, global_account_id=user.global_account_id)
        if ga is None or user.global_account_id != ga.id:
            raise ProtocolError(f"You cannot access global account '{subdomain}'", status=403)
        session_id = sessions.open(Session(user.username, ga.id, ga.subdomain, fields["customIdp"] or ""))
        answer = {"issuer": issuer, "refreshToken": session_id, "user": user.username, "mail": user.username}
        # the provider's transport sends a subdomain the server answers with on the next request
        return JSONResponse(answer, headers={SESSION_HEADER: session_id, SUBDOMAIN_HEADER: ga.subdomain})

    def session(request: Request) -> tuple[str, Session]:
        session_id = request.headers.get(SESSION_HEADER, "")
        found = sessions.find(session_id) if session_id else None
        if found is None:
            raise ProtocolError("Session expired or not logged in; log in again", status=401)
        return session_id, found

    def logout(request: Request) -> Response:
        versioned(request)
        session_id, _ = session(request)
        sessions.close(session_id)
        return JSONResponse({})

    def command(request: Request) -> Response:
        versioned(request)
        _, found = session(request)
        params = _object(request).get("paramValues", {})
        if not isinstance(params, dict) or not all(isinstance(value, str) for value in params.values()):
            raise ProtocolError("paramValues must be a JSON object of strings")
        name = f"{request.path_params['group']}/{request.path_params['object']}"
        answer, mediatype = commands.run(name, request.url.query, Call(found, params))
        headers = {BACKEND_STATUS: str(answer.status), BACKEND_MEDIATYPE: mediatype}
        return JSONResponse(answer.body, headers=headers)

    return [
        Route("/login/{version}", threaded(login), methods=["POST"]),
        Route("/logout/{version}", threaded(logout), methods=["POST"]),
        Route("/command/{version}/{group}/{object}", threaded(command), methods=["POST"]),
    ]
