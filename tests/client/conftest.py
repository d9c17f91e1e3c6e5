"""Helpers for the client SDK tests: a fake clock, and clients wired to an ``httpx.MockTransport``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from kymaprov.client import AsyncProvisioningClient, Credentials, ProvisioningClient

UAA = "https://sub.authentication.eu10.hana.ondemand.com"
API = "https://provisioning-service.cfapps.eu10.hana.ondemand.com"
CREDENTIALS = Credentials(
    client_id="sb-1234!b5|cis-local!b4", client_secret="s3cret", uaa_url=UAA, provisioning_url=API
)

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeClock:
    """Epoch seconds that only move when someone sleeps (or a test says so)."""

    now: float = 1_700_000_000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


@dataclass
class FakeUaa:
    """Answers ``POST /oauth/token``; everything else goes to ``api``."""

    api: Handler
    expires_in: int = 43199
    issued: int = 0
    token_requests: list[httpx.Request] = field(default_factory=list)
    api_requests: list[httpx.Request] = field(default_factory=list)
    api_auth: list[str] = field(default_factory=list)  # Authorization of each API request when sent

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.token_requests.append(request)
            self.issued += 1
            return httpx.Response(
                200,
                json={
                    "access_token": f"token-{self.issued}",
                    "token_type": "bearer",
                    "expires_in": self.expires_in,
                    "scope": "cis-local!b4.subaccount.environment.read",
                },
            )
        self.api_requests.append(request)
        self.api_auth.append(request.headers.get("authorization", ""))
        return self.api(request)


def error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "target": "/x", "correlationID": "c-1"}}
    return httpx.Response(status, json=body, headers=headers)


def scripted(*responses: httpx.Response | Exception) -> Handler:
    """Answer API requests with ``responses`` in order (an exception is raised instead)."""
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        if not queue:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock) -> Callable[..., tuple[ProvisioningClient, FakeUaa]]:
    def make(api: Handler, **kwargs: Any) -> tuple[ProvisioningClient, FakeUaa]:
        uaa = FakeUaa(api)
        kwargs.setdefault("random", lambda: 1.0)  # no jitter: delays are exactly 0.5, 1, 2, ...
        client = ProvisioningClient(
            CREDENTIALS, transport=httpx.MockTransport(uaa), sleep=clock.sleep, clock=clock, **kwargs
        )
        return client, uaa

    return make


@pytest.fixture
def make_async_client(clock: FakeClock) -> Callable[..., tuple[AsyncProvisioningClient, FakeUaa]]:
    def make(api: Handler, **kwargs: Any) -> tuple[AsyncProvisioningClient, FakeUaa]:
        uaa = FakeUaa(api)
        kwargs.setdefault("random", lambda: 1.0)
        client = AsyncProvisioningClient(
            CREDENTIALS, transport=httpx.MockTransport(uaa), sleep=clock.asleep, clock=clock, **kwargs
        )
        return client, uaa

    return make
