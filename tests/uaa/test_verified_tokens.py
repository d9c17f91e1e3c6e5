"""Verified tokens are remembered per token, which must not outlive what makes a token good.

The token service keeps the claims of tokens whose signature it checked (``TokenService.verify``); each
test here first makes a token known by using it, then changes what should refuse it.
"""

from __future__ import annotations

import time

import httpx

from tests.conftest import RunningServer

ENVIRONMENTS = "/provisioning/v1/environments"


def get(server: RunningServer, token: str) -> httpx.Response:
    return httpx.get(f"{server.url}{ENVIRONMENTS}", headers={"authorization": f"Bearer {token}"})


def known_token(server: RunningServer) -> tuple[str, str]:
    """A fresh cis binding's token, used twice; and the binding's id."""
    sub = server.login["subaccount"]
    headers = {"authorization": f"Bearer {server.platform_token()}"}
    base = f"{server.url}/cis/v1/subaccounts/{sub}"
    name = f"cache-{time.monotonic_ns()}"
    body = {"name": name, "offering_name": "cis", "plan_name": "local"}
    assert httpx.post(f"{base}/service_instances", json=body, headers=headers).status_code == 201
    r = httpx.post(
        f"{base}/service_bindings",
        json={"name": f"{name}-b", "service_instance_name": name},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    token = server.token_for(r.json()["credentials"])
    for _ in range(2):
        assert get(server, token).status_code == 200
    return token, str(r.json()["id"])


def test_a_known_token_is_refused_once_its_binding_is_deleted(server: RunningServer) -> None:
    token, binding_id = known_token(server)
    sub = server.login["subaccount"]
    r = httpx.delete(
        f"{server.url}/cis/v1/subaccounts/{sub}/service_bindings/{binding_id}",
        headers={"authorization": f"Bearer {server.platform_token()}"},
    )
    assert r.status_code < 300, r.text
    r = get(server, token)
    assert r.status_code == 401
    assert "deleted" in r.json()["error"]["message"]


def test_a_known_token_with_another_signature_is_refused(server: RunningServer) -> None:
    token, _ = known_token(server)
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    r = get(server, forged)
    assert r.status_code == 401
    assert r.json()["error"]["message"].startswith("Invalid token")


def test_a_known_token_expires_by_the_service_clock(server: RunningServer) -> None:
    """Last in the module: it moves the server's clock past every token's expiry."""
    token, _ = known_token(server)
    server.admin("POST", "/admin/clock/advance", {"seconds": 43200})
    r = get(server, token)
    assert r.status_code == 401
    assert "expired" in r.json()["error"]["message"]
