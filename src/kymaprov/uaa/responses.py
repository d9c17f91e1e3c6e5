"""HTTP layer of the token service: ``POST /oauth/token`` and ``GET /token_keys``.

Failed authentications are limited per client id (per user name for the password grant) and per
remote address (``ratelimit``); a blocked request is a 429 with ``X-Ratelimit-Reset`` (epoch ms, as
SAP's services send it) and ``Retry-After`` (seconds), before any credential is checked.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kymaprov.uaa import ratelimit
from kymaprov.uaa.exceptions import BadCredentials, OAuthError, TooManyFailures
from kymaprov.uaa.models import TokenService
from kymaprov.web import JSONResponse, read_limited_body


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


@dataclass
class FailureLimits:
    """Per-process failure counters: one per client id or user name, one per remote address."""

    subjects: ratelimit.FailureLimiter = field(
        default_factory=lambda: ratelimit.FailureLimiter.from_env(
            ratelimit.CLIENT_FAILURES_ENV, ratelimit.CLIENT_FAILURES
        )
    )
    addresses: ratelimit.FailureLimiter = field(
        default_factory=lambda: ratelimit.FailureLimiter.from_env(
            ratelimit.ADDRESS_FAILURES_ENV, ratelimit.ADDRESS_FAILURES
        )
    )


def routes(tokens: TokenService, limits: FailureLimits | None = None) -> list[Route]:
    failures = limits or FailureLimits()

    async def token(request: Request) -> Response:
        raw = await read_limited_body(request)  # None if oversized: then no grant_type, a 400
        try:
            fields = dict(parse_qsl((raw or b"").decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            fields = {}
        address = request.client.host if request.client else ""
        authorization = request.headers.get("authorization", "")
        body = await run_in_threadpool(_grant, authorization, fields, tokens, failures, address)
        return JSONResponse(body, headers={"cache-control": "no-store"})

    def token_keys(_: Request) -> Response:
        return JSONResponse(tokens.jwks())

    return [
        Route("/oauth/token", token, methods=["POST"]),
        Route("/token_keys", token_keys, methods=["GET"]),
    ]


def _grant(
    authorization: str, form: dict[str, str], tokens: TokenService, failures: FailureLimits, address: str
) -> dict[str, object]:
    if "grant_type" not in form:
        raise OAuthError("Missing grant type")
    basic = _basic_auth(authorization)
    if basic:
        client_id, client_secret = basic
    else:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id:
        raise BadCredentials("Full authentication is required to access this resource")
    username = form.get("username")
    client_key, user_key = f"client:{client_id}", f"user:{username or ''}"
    subjects = [client_key, user_key] if form["grant_type"] == "password" else [client_key]
    wait = max(failures.subjects.retry_after(subjects), failures.addresses.retry_after([address]))
    if wait > 0:
        raise TooManyFailures(wait)
    try:
        return tokens.grant(
            form["grant_type"],
            client_id,
            client_secret or None,
            username=username,
            password=form.get("password"),
        )
    except BadCredentials as exc:
        failures.subjects.failed([user_key if exc.user else client_key])
        failures.addresses.failed([address])
        raise
