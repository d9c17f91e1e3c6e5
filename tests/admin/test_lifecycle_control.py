"""Lifecycle control (``/admin/lifecycle``, ``/admin/environments/{id}/...``) against a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Api, RunningServer, new_api

_names = iter(range(1_000_000))


@pytest.fixture(autouse=True)
def no_controls_left(server: RunningServer) -> Iterator[None]:
    yield
    server.admin("DELETE", "/admin/lifecycle")


def fresh_api(server: RunningServer) -> Api:
    return new_api(server, f"life-{next(_names)}-{time.monotonic_ns()}")


def put(server: RunningServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.put(f"{server.url}{path}", json=body, headers=server.admin_headers)


def state_after_worker_ran(api: Api, env_id: str) -> str:
    """The state once the worker has had several turns (provisioning takes 0.5 s on this server)."""
    time.sleep(1.5)
    return str(api.request("GET", f"/environments/{env_id}").json()["state"])


def test_a_held_plan_stays_creating_until_released(server: RunningServer) -> None:
    assert put(server, "/admin/lifecycle/plans/aws", {"hold": True}).status_code == 200
    api = fresh_api(server)
    env_id = api.create_kyma()
    server.admin("POST", "/admin/clock/advance", {"seconds": 7200})
    assert state_after_worker_ran(api, env_id) == "CREATING"
    assert server.admin("POST", f"/admin/environments/{env_id}/release") == {"id": env_id, "released": 1}
    api.wait_state(env_id)


def test_holding_one_environment_holds_its_next_operation(server: RunningServer) -> None:
    api = fresh_api(server)
    env_id = api.create_kyma()
    api.wait_state(env_id)
    assert put(server, f"/admin/environments/{env_id}/lifecycle", {"hold": True}).status_code == 200
    assert api.request("DELETE", f"/environments/{env_id}").status_code == 202
    assert state_after_worker_ran(api, env_id) == "DELETING"
    server.admin("POST", f"/admin/environments/{env_id}/release")
    api.wait_gone(env_id)


def test_a_plan_duration_is_service_time(server: RunningServer) -> None:
    assert put(server, "/admin/lifecycle/plans/azure", {"seconds": 3600}).json()["seconds"] == 3600
    api = fresh_api(server)
    env_id = api.create_kyma(plan="azure", region="westeurope")
    assert state_after_worker_ran(api, env_id) == "CREATING"
    server.admin("POST", "/admin/clock/advance", {"seconds": 3601})
    api.wait_state(env_id)


def test_an_environment_duration_beats_its_plans_and_retimes_the_pending_operation(
    server: RunningServer,
) -> None:
    put(server, "/admin/lifecycle/plans/aws", {"seconds": 3600})
    api = fresh_api(server)
    env_id = api.create_kyma()
    assert put(server, f"/admin/environments/{env_id}/lifecycle", {"seconds": 0}).status_code == 200
    api.wait_state(env_id)
    assert server.admin("GET", "/admin/lifecycle")["environments"][env_id] == {"seconds": 0, "hold": False}


def test_a_plan_fails_its_next_creation_then_a_retry_succeeds(server: RunningServer) -> None:
    put(
        server,
        "/admin/lifecycle/plans/aws",
        {"failTimes": 1, "failMessage": "quota exceeded in eu-central-1"},
    )
    api = fresh_api(server)
    failed = api.wait_state(api.create_kyma(), ("CREATION_FAILED",))
    assert failed["stateMessage"] == "quota exceeded in eu-central-1"
    assert api.request("DELETE", f"/environments/{failed['id']}").status_code == 202
    api.wait_gone(failed["id"])
    api.wait_state(api.create_kyma())
    assert server.admin("GET", "/admin/lifecycle")["plans"]["aws"]["failTimes"] == 0


@pytest.mark.parametrize(
    ("path", "body", "names"),
    [
        ("/admin/lifecycle/plans/nope", {"hold": True}, "unknown plan 'nope'"),
        ("/admin/lifecycle/plans/aws", {"hold": "yes"}, "'hold'"),
        ("/admin/lifecycle/plans/aws", {"seconds": -1}, "'seconds'"),
        ("/admin/lifecycle/plans/aws", {"failTimes": 1.5}, "'failTimes'"),
        ("/admin/lifecycle/plans/aws", {"hodl": True}, "'hodl'"),
    ],
)
def test_bad_controls_are_refused_naming_the_field(
    server: RunningServer, path: str, body: dict[str, Any], names: str
) -> None:
    r = put(server, path, body)
    assert r.status_code == 400 and names in r.json()["error"], r.text
    assert server.admin("GET", "/admin/lifecycle") == {"plans": {}, "environments": {}}


def test_controls_of_a_missing_environment_are_404(server: RunningServer) -> None:
    r = put(server, "/admin/environments/nope/lifecycle", {"hold": True})
    assert r.status_code == 404 and r.json() == {"error": "environment nope not found"}
    r = httpx.post(f"{server.url}/admin/environments/nope/release", headers=server.admin_headers)
    assert r.status_code == 404 and r.json() == {"error": "environment nope not found"}


def test_reset_clears_controls(server: RunningServer) -> None:
    put(server, "/admin/lifecycle/plans/aws", {"hold": True})
    server.admin("POST", "/admin/reset")
    assert server.admin("GET", "/admin/lifecycle") == {"plans": {}, "environments": {}}
