"""OAuth for the Provisioning Service: client-credentials tokens, cached, as an ``httpx.Auth``.

``ClientCredentialsAuth`` fetches ``POST {uaa_url}/oauth/token`` (HTTP Basic, ``grant_type=
client_credentials``) through the same client that sends the API request, caches the token until
shortly before it expires (60 s or 10 % of ``expires_in``, whichever is less), and on a 401 from the
API drops the token, fetches a new one and repeats the request once. The cache is shared by threads
and by sync and async clients; concurrent callers wait for one fetch instead of each fetching.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass

import httpx

from kymaprov.client.credentials import Credentials
from kymaprov.client.exceptions import UnauthorizedError, error_from_response

__all__ = ["BearerAuth", "ClientCredentialsAuth", "Token"]

Clock = Callable[[], float]
DEFAULT_EXPIRES_IN = 300.0  # if the token response has no expires_in
MAX_MARGIN = 60.0
MARGIN_FRACTION = 0.1


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float  # clock time the token expires
    refresh_at: float  # clock time the cache stops handing it out
    scopes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at!r}, scopes={self.scopes!r})"


def parse_token_response(response: httpx.Response, now: float) -> Token:
    """The token of a 200 response; the mapped error for anything else."""
    if response.status_code != 200:
        raise error_from_response(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    access_token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(access_token, str) or not access_token:
        raise UnauthorizedError(
            "the token endpoint answered 200 without an access_token", status=200, response=response
        )
    assert isinstance(body, dict)
    raw_expires = body.get("expires_in")
    try:
        expires_in = float(raw_expires) if raw_expires is not None else DEFAULT_EXPIRES_IN
    except (TypeError, ValueError):
        expires_in = DEFAULT_EXPIRES_IN
    margin = min(MAX_MARGIN, expires_in * MARGIN_FRACTION)
    scope = body.get("scope")
    return Token(
        access_token=access_token,
        expires_at=now + expires_in,
        refresh_at=now + expires_in - margin,
        scopes=tuple(scope.split()) if isinstance(scope, str) else (),
    )


class ClientCredentialsAuth(httpx.Auth):
    """Bearer tokens of a cis binding's OAuth client, fetched and refreshed as needed."""

    def __init__(self, credentials: Credentials, *, clock: Clock = time.time) -> None:
        self.credentials = credentials
        self._clock = clock
        self._token: Token | None = None
        self._state = threading.Lock()  # guards _token; never held across I/O
        self._sync_fetch = threading.Lock()  # one fetch at a time among threads
        self._async_fetch: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.fetches = 0  # how many tokens were fetched (for diagnostics and tests)

    # -- cache ----------------------------------------------------------------------------------

    def cached_token(self) -> Token | None:
        """The cached token if it may still be used, else None."""
        with self._state:
            token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token
        return None

    def seed(self, token: Token) -> None:
        """Start from a token cached elsewhere (e.g. by an earlier process); used until ``refresh_at``."""
        with self._state:
            self._token = token

    def invalidate(self, token: Token | None = None) -> None:
        """Drop the cached token (only if it is still ``token``, when one is given)."""
        with self._state:
            if token is None or self._token is token:
                self._token = None

    def _store(self, response: httpx.Response) -> Token:
        token = parse_token_response(response, self._clock())
        with self._state:
            self._token = token
            self.fetches += 1
        return token

    def token_request(self) -> httpx.Request:
        # not URL-encoded: XSUAA client ids contain '!' and '|', and curl -u (SAP's procedure) sends them raw
        userpass = f"{self.credentials.client_id}:{self.credentials.client_secret}".encode()
        return httpx.Request(
            "POST",
            self.credentials.token_url,
            data={"grant_type": "client_credentials"},
            headers={
                "authorization": f"Basic {base64.b64encode(userpass).decode()}",
                "accept": "application/json",
            },
        )

    @staticmethod
    def _authorize(request: httpx.Request, token: Token) -> None:
        request.headers["authorization"] = f"Bearer {token.access_token}"

    # -- sync flow ------------------------------------------------------------------------------

    def _sync_token(self, stale: Token | None = None) -> Generator[httpx.Request, httpx.Response, Token]:
        if stale is not None:
            self.invalidate(stale)
        token = self.cached_token()
        if token is not None:
            return token
        with self._sync_fetch:
            token = self.cached_token()  # another thread may have fetched it meanwhile
            if token is None:
                response = yield self.token_request()
                response.read()
                token = self._store(response)
        return token

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()  # the body must be replayable for the retry after a 401
        token = yield from self._sync_token()
        self._authorize(request, token)
        response = yield request
        if response.status_code == 401:
            token = yield from self._sync_token(stale=token)
            self._authorize(request, token)
            yield request

    # -- async flow -----------------------------------------------------------------------------

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._state:
            lock = self._async_fetch.get(loop)
            if lock is None:
                lock = self._async_fetch[loop] = asyncio.Lock()
        return lock

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()  # the body must be replayable for the retry after a 401
        token = self.cached_token()
        for attempt in range(2):
            if token is None:
                async with self._loop_lock():
                    token = self.cached_token()  # another task may have fetched it meanwhile
                    if token is None:
                        token_response = yield self.token_request()
                        await token_response.aread()
                        token = self._store(token_response)
            self._authorize(request, token)
            response = yield request
            if response.status_code != 401 or attempt:
                return
            self.invalidate(token)
            token = None


class BearerAuth(httpx.Auth):
    """A token you already have, or a callable that returns the current one (called per request).

    On a 401 a callable is asked once more; if it returns a different token the request is repeated.
    """

    requires_request_body = True  # replayable after a 401

    def __init__(self, token: str | Callable[[], str]) -> None:
        self._token = token

    def _current(self) -> str:
        return self._token() if callable(self._token) else self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._current()
        request.headers["authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and callable(self._token):
            fresh = self._current()
            if fresh != token:
                request.headers["authorization"] = f"Bearer {fresh}"
                yield request
