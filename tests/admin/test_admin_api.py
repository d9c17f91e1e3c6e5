"""The admin API: token-protected clock, failure injection and reset."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import RunningServer, new_api


def test_admin_requires_the_admin_token(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/admin/clock").status_code == 401
    assert (
        httpx.get(f"{server.url}/admin/clock", headers={"authorization": "Bearer wrong"}).status_code == 401
    )
    client_token = server.token_for(server.cis_credentials())
    assert (
        httpx.get(
            f"{server.url}/admin/clock", headers={"authorization": f"Bearer {client_token}"}
        ).status_code
        == 401
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'{"seconds": -1}',
        b'{"seconds": "5"}',
        b"{}",
        b'{"seconds": true}',
        b'{"seconds": 1e999}',
        b'{"seconds": NaN}',
        b'{"seconds": 1e13}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_clock_advance_validation(server: RunningServer, raw: bytes) -> None:
    before = httpx.get(f"{server.url}/admin/clock", headers=server.admin_headers).json()["offsetSeconds"]
    r = httpx.post(f"{server.url}/admin/clock/advance", content=raw, headers=server.admin_headers)
    assert r.status_code == 400 and "error" in r.json()
    # nothing was stored: the clock still works and has not moved
    after = httpx.get(f"{server.url}/admin/clock", headers=server.admin_headers)
    assert after.status_code == 200 and after.json()["offsetSeconds"] == before


def test_fail_next_validation(server: RunningServer) -> None:
    r = httpx.post(
        f"{server.url}/admin/environments/nope/fail-next", json={"message": "x"}, headers=server.admin_headers
    )
    assert r.status_code == 404
    r = httpx.post(
        f"{server.url}/admin/environments/nope/fail-next", json={"message": "x", "operation": "explode"},
        headers=server.admin_headers,
    )  # fmt: skip
    assert r.status_code == 400


def test_reset_removes_environments_and_cis_clients(server: RunningServer) -> None:
    api = new_api(server, "resetme")
    env_id = api.create_kyma()
    api.wait_state(env_id)
    server.admin("POST", "/admin/clock/advance", {"seconds": 10})
    assert server.admin("POST", "/admin/reset") == {"reset": True}
    assert server.admin("GET", "/admin/clock")["offsetSeconds"] == 0
    # the cis clients are gone, so the old token is refused
    assert api.request("GET", "/environments").status_code == 401
    fresh = new_api(server)
    assert fresh.request("GET", "/environments").json()["environmentInstances"] == []
