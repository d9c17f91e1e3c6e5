"""Failed authentications at ``/oauth/token`` are limited; correct ones never are.

Each test speaks from an address of its own (``X-Forwarded-For``, which uvicorn honours from the
local proxy address 127.0.0.1), so the per-address limit of one test never blocks another.
"""

from __future__ import annotations

import itertools
import time
import uuid

import httpx
import pytest

from tests.conftest import RunningServer

_hosts = itertools.count(1)


def address() -> dict[str, str]:
    """An address no other request of this module used (a random one collided now and then with an address
    an earlier test had throttled)."""
    return {"x-forwarded-for": f"198.51.100.{next(_hosts)}"}


def client_token(url: str, client_id: str, secret: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        headers=headers,
    )


def assert_throttled(r: httpx.Response) -> None:
    """429 in the token endpoint's error format, with the reset in epoch ms (checked by magnitude)."""
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["error"] == "too_many_requests" and "Too many failed" in body["error_description"]
    now_ms = time.time() * 1000
    reset = int(r.headers["x-ratelimit-reset"])
    assert now_ms < reset <= now_ms + 61_000, (reset, now_ms)
    assert 1 <= int(r.headers["retry-after"]) <= 60


@pytest.fixture(scope="module")
def two_clients(server: RunningServer) -> tuple[dict[str, str], dict[str, str]]:
    return server.cis_credentials()["uaa"], server.cis_credentials()["uaa"]


def test_wrong_secrets_are_throttled_per_client(
    server: RunningServer, two_clients: tuple[dict[str, str], dict[str, str]]
) -> None:
    a, b = two_clients
    headers = address()
    statuses = [client_token(server.url, a["clientid"], f"wrong-{i}", headers).status_code for i in range(20)]
    assert statuses == [401] * 10 + [429] * 10  # before: twenty 401s, as fast as the server could answer
    assert_throttled(client_token(server.url, a["clientid"], "wrong", headers))
    # blocked means blocked: the right secret is not even checked, so a guesser learns nothing
    assert_throttled(client_token(server.url, a["clientid"], a["clientsecret"], headers))
    # another client, from the same address and from another one, is untouched
    assert client_token(server.url, b["clientid"], b["clientsecret"], headers).status_code == 200
    assert client_token(server.url, b["clientid"], b["clientsecret"], address()).status_code == 200
    # and the blocked client id is blocked from everywhere
    assert_throttled(client_token(server.url, a["clientid"], a["clientsecret"], address()))


def test_an_address_spraying_client_ids_is_throttled(
    server: RunningServer, two_clients: tuple[dict[str, str], dict[str, str]]
) -> None:
    _, b = two_clients
    headers = address()
    statuses = [client_token(server.url, f"sb-{uuid.uuid4()}", "x", headers).status_code for _ in range(60)]
    assert statuses == [401] * 50 + [429] * 10
    assert_throttled(client_token(server.url, b["clientid"], b["clientsecret"], headers))
    assert client_token(server.url, b["clientid"], b["clientsecret"], address()).status_code == 200


def test_successful_requests_are_never_throttled(
    server: RunningServer, two_clients: tuple[dict[str, str], dict[str, str]]
) -> None:
    _, b = two_clients
    headers = address()
    assert {
        client_token(server.url, b["clientid"], b["clientsecret"], headers).status_code for _ in range(60)
    } == {200}


def test_wrong_passwords_are_throttled_per_user_not_per_public_client(server: RunningServer) -> None:
    """``btp-cli`` is one public client for every user: its failures count against the user name."""
    headers = address()

    def password(user: str, pw: str, hdrs: dict[str, str]) -> httpx.Response:
        data = {"grant_type": "password", "client_id": "btp-cli", "username": user, "password": pw}
        return httpx.post(f"{server.url}/oauth/token", data=data, headers=hdrs)

    login = server.login
    statuses = [password(login["user"], f"wrong-{i}", headers).status_code for i in range(12)]
    assert statuses == [401] * 10 + [429] * 2
    assert_throttled(password(login["user"], login["password"], address()))
    # the same public client still serves another user name (unknown here: a plain 401, not a 429)
    assert password("someone-else@example.com", "x", address()).status_code == 401
