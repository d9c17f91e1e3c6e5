"""HTTP layer of the token service: ``POST /oauth/token`` and ``GET /token_keys``."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kymaprov.uaa.exceptions import BadCredentials, OAuthError
from kymaprov.uaa.models import TokenService
from kymaprov.web import read_limited_body


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise BadCredentials("Malformed basic authorization header") from exc
    user, sep, password = decoded.partition(":")
    if not sep:
        raise BadCredentials("Malformed basic authorization header")
    # client ids contain '|' and '!'; clients may URL-encode them (RFC 6749 §2.3.1)
    return unquote(user), unquote(password)


def routes(tokens: TokenService) -> list[Route]:
    async def token(request: Request) -> Response:
        raw = await read_limited_body(request)  # None if oversized: then no grant_type, a 400
        try:
            fields = dict(parse_qsl((raw or b"").decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            fields = {}
        try:
            body = await run_in_threadpool(_grant, request.headers.get("authorization", ""), fields, tokens)
        except OAuthError as exc:
            return JSONResponse(
                {"error": exc.error, "error_description": exc.description},
                status_code=exc.status,
                headers={"www-authenticate": 'Basic realm="UAA/client"'} if exc.status == 401 else None,
            )
        return JSONResponse(body, headers={"cache-control": "no-store"})

    def token_keys(_: Request) -> Response:
        return JSONResponse(tokens.jwks())

    return [
        Route("/oauth/token", token, methods=["POST"]),
        Route("/token_keys", token_keys, methods=["GET"]),
    ]


def _grant(authorization: str, form: dict[str, str], tokens: TokenService) -> dict[str, object]:
    if "grant_type" not in form:
        raise OAuthError("Missing grant type")
    basic = _basic_auth(authorization)
    if basic:
        client_id, client_secret = basic
    else:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id:
        raise BadCredentials("Full authentication is required to access this resource")
    return tokens.grant(
        form["grant_type"],
        client_id,
        client_secret or None,
        username=form.get("username"),
        password=form.get("password"),
    )
