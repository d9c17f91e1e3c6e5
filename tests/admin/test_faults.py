"""Fault injection (``/admin/faults``) against a real server, seen through raw HTTP and the real SDK."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kymaprov.client import AsyncProvisioningClient, Credentials, ProvisioningClient
from kymaprov.client.exceptions import ServerError
from tests.conftest import RunningServer, new_api

ENVIRONMENTS = "/provisioning/v1/environments*"


@pytest.fixture(autouse=True)
def no_rules_left(server: RunningServer) -> Iterator[None]:
    yield
    server.admin("DELETE", "/admin/faults")
    server.admin("DELETE", "/admin/lifecycle")


def add_rule(server: RunningServer, **rule: Any) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/admin/faults", json=rule, headers=server.admin_headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def sdk_client(server: RunningServer, **kwargs: Any) -> ProvisioningClient:
    credentials = Credentials.from_service_key(
        server.cis_credentials(server.new_subaccount(f"f{time.monotonic_ns()}"))
    )
    return ProvisioningClient(credentials, **kwargs)


def test_429_carries_x_ratelimit_reset_in_epoch_ms_retry_after_and_the_envelope(
    server: RunningServer,
) -> None:
    api = new_api(server)
    add_rule(server, method="GET", path=ENVIRONMENTS, status=429, retryAfter=7, count=1)
    before_ms = time.time() * 1000
    r = api.request("GET", "/environments")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    reset_ms = int(r.headers["x-ratelimit-reset"])
    assert before_ms + 6000 <= reset_ms <= time.time() * 1000 + 7000
    error = r.json()["error"]
    assert error["target"] == "/provisioning/v1/environments" and error["message"] and error["correlationID"]
    # counted: the next request is answered normally and the rule is gone
    assert api.request("GET", "/environments").status_code == 200
    assert server.admin("GET", "/admin/faults") == {"rules": []}


def test_a_rule_matches_its_method_and_path_only(server: RunningServer) -> None:
    api = new_api(server)
    add_rule(server, method="POST", path=ENVIRONMENTS, status=500)
    assert api.request("GET", "/environments").status_code == 200
    assert api.request("POST", "/environments", json={}).status_code == 500
    assert httpx.get(f"{server.url}/token_keys").status_code == 200


def test_faults_answer_in_the_format_of_the_api_they_hit(server: RunningServer) -> None:
    add_rule(server, method="POST", path="/oauth/token", status=503, retryAfter=2, count=1)
    r = httpx.post(f"{server.url}/oauth/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert set(r.json()) == {"error", "error_description"}


def test_a_window_ends_with_service_time(server: RunningServer) -> None:
    api = new_api(server)
    add_rule(server, method="*", path=ENVIRONMENTS, status=502, seconds=3600)
    assert api.request("GET", "/environments").status_code == 502
    server.admin("POST", "/admin/clock/advance", {"seconds": 3601})
    time.sleep(0.6)  # the rules' cache refreshes within half a second
    assert api.request("GET", "/environments").status_code == 200


def test_a_delay_holds_the_request_then_lets_it_through(server: RunningServer) -> None:
    api = new_api(server)
    add_rule(server, method="GET", path=ENVIRONMENTS, delayMs=3000)
    with pytest.raises(httpx.ReadTimeout):
        api.request("GET", "/environments", timeout=0.5)
    assert api.request("GET", "/environments", timeout=30).status_code == 200


def test_admin_and_health_are_never_faulted(server: RunningServer) -> None:
    add_rule(server, method="*", path="*", status=500)
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert httpx.get(f"{server.url}/admin/faults", headers=server.admin_headers).status_code == 200
    assert httpx.get(f"{server.url}/token_keys").status_code == 500
    assert server.admin("DELETE", "/admin/faults") == {"removed": 1}
    assert httpx.get(f"{server.url}/token_keys").status_code == 200


@pytest.mark.parametrize(
    ("rule", "names"),
    [
        ({"path": "/x", "status": 200}, "'status'"),
        ({"path": "/x"}, "'status'"),
        ({"path": "x", "status": 500}, "'path'"),
        ({"path": "/x", "status": 500, "count": 0}, "'count'"),
        ({"path": "/x", "status": 500, "method": "FETCH"}, "'method'"),
        ({"path": "/x", "status": 500, "seconds": -1}, "'seconds'"),
        ({"path": "/x", "status": 500, "stauts": 1}, "'stauts'"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    server: RunningServer, rule: dict[str, Any], names: str
) -> None:
    r = httpx.post(f"{server.url}/admin/faults", json=rule, headers=server.admin_headers)
    assert r.status_code == 400 and names in r.json()["error"]
    assert server.admin("GET", "/admin/faults") == {"rules": []}


def test_removing_one_rule_and_reset(server: RunningServer) -> None:
    first = add_rule(server, path="/a", status=500)
    add_rule(server, path="/b", status=500)
    assert httpx.delete(f"{server.url}/admin/faults/nope", headers=server.admin_headers).status_code == 404
    assert server.admin("DELETE", f"/admin/faults/{first['id']}") == {"removed": 1}
    assert [r["path"] for r in server.admin("GET", "/admin/faults")["rules"]] == ["/b"]
    server.admin("POST", "/admin/reset")
    assert server.admin("GET", "/admin/faults") == {"rules": []}


def test_sdk_retries_wait_until_the_injected_x_ratelimit_reset(server: RunningServer) -> None:
    """The client's clock runs 10 s ahead: waiting by X-Ratelimit-Reset (retryAfter 30) is 20 s, by
    Retry-After 30 s, by backoff under 1 s; the SDK must choose the first."""
    pauses: list[float] = []
    with sdk_client(server, sleep=pauses.append, clock=lambda: time.time() + 10) as client:
        client.list_environments()  # the token is fetched before the rule exists
        add_rule(server, method="GET", path=ENVIRONMENTS, status=429, retryAfter=30, count=2)
        assert client.list_environments() == []
    assert len(pauses) == 2
    assert all(18 <= p <= 20.5 for p in pauses), pauses


def test_sdk_gives_up_after_its_retries_on_a_lasting_fault(server: RunningServer) -> None:
    with sdk_client(server, sleep=lambda _: None, retries=2) as client:
        client.list_environments()
        add_rule(server, method="GET", path=ENVIRONMENTS, status=500)
        with pytest.raises(ServerError):
            client.list_environments()


def test_waiter_survives_injected_504s_while_polling(server: RunningServer) -> None:
    with sdk_client(server, backoff=0.01) as client:
        env = client.create_environment(
            name="polled", plan="aws", region="eu-central-1", user="dev@example.com"
        )
        add_rule(server, method="GET", path="/provisioning/v1/environments/*", status=504, count=3)
        ready = client.wait_until_ready(env.id, interval=0.2, timeout=60)
    assert ready.state == "OK"
    assert server.admin("GET", "/admin/faults") == {"rules": []}  # all three 504s were answered


def test_async_sdk_retries_wait_until_the_injected_x_ratelimit_reset(server: RunningServer) -> None:
    credentials = Credentials.from_service_key(
        server.cis_credentials(server.new_subaccount(f"a{time.monotonic_ns()}"))
    )
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    async def scenario() -> list[Any]:
        async with AsyncProvisioningClient(
            credentials, sleep=record, clock=lambda: time.time() + 10
        ) as client:
            await client.list_environments()
            add_rule(server, method="GET", path=ENVIRONMENTS, status=429, retryAfter=30, count=1)
            return list(await client.list_environments())

    assert asyncio.run(scenario()) == []
    assert len(pauses) == 1 and 18 <= pauses[0] <= 20.5, pauses
