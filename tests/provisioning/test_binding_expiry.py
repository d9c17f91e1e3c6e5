"""Expiry through the service clock: metadata only, 410 on DELETE, kubectl refused, limit freed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Api, RunningServer, free_port, new_api
from tests.provisioning.test_binding_recovery import COLLECTIONS, Runtime, wait_for
from tests.provisioning.test_bindings_api import kubectl, put_binding


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Its own server: these tests move the clock hours ahead."""
    base = tmp_path_factory.mktemp("expiry")
    srv = RunningServer(base / "data", free_port(), free_port(), provisioning_seconds=0.5).start()
    yield srv
    srv.stop()


def test_binding_expiry_by_clock(server: RunningServer, tmp_path: Path) -> None:
    api = new_api(server, "expiry")
    env_id = api.create_kyma(name="exp-rt")
    api.wait_state(env_id)
    short = put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}})
    long = put_binding(api, env_id, {"parameters": {"expiration_seconds": 7200}})
    short_id, long_id = short.headers["location"], long.headers["location"]
    short_kc = short.json()["credentials"]["kubeconfig"]
    long_kc = long.json()["credentials"]["kubeconfig"]
    assert kubectl(short_kc, tmp_path, "get", "pods").returncode == 0

    server.admin("POST", "/admin/clock/advance", {"seconds": 601})

    # expired: metadata only, kubectl refused; the long one still works
    r = api.request("GET", f"/environments/{env_id}/bindings/{short_id}")
    assert r.status_code == 200
    assert set(r.json()) == {"bindingId", "instanceId", "createdBy", "createdDate", "expiresAt"}
    assert "credentials" not in r.json()
    refused = kubectl(short_kc, tmp_path, "get", "pods")
    assert refused.returncode != 0 and "You must be logged in to the server" in refused.stderr
    assert kubectl(long_kc, tmp_path, "get", "pods").returncode == 0
    assert "credentials" in api.request("GET", f"/environments/{env_id}/bindings/{long_id}").json()

    # expired bindings do not count toward the limit of 10
    ids = [put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}}) for _ in range(9)]
    assert [r.status_code for r in ids] == [202] * 9
    assert put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}}).status_code == 400

    # DELETE of the expired one: 410 in the envelope, then it is gone
    r = api.request("DELETE", f"/environments/{env_id}/bindings/{short_id}")
    assert r.status_code == 410
    assert r.json()["error"]["message"].startswith("The binding has expired on the environment broker side")
    assert api.request("GET", f"/environments/{env_id}/bindings/{short_id}").status_code == 404
    assert api.request("DELETE", f"/environments/{env_id}/bindings/{short_id}").status_code == 404

    # past the maximum TTL every binding is expired
    server.admin("POST", "/admin/clock/advance", {"seconds": 7200})
    refused = kubectl(long_kc, tmp_path, "get", "pods")
    assert refused.returncode != 0 and "You must be logged in to the server" in refused.stderr
    assert put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}}).status_code == 202


def test_api_tokens_expire_by_clock(server: RunningServer) -> None:
    api: Api = new_api(server, "tokenexp")
    assert api.request("GET", "/environments").status_code == 200
    server.admin("POST", "/admin/clock/advance", {"seconds": 43200})
    r = api.request("GET", "/environments")
    assert r.status_code == 401
    assert r.json()["error"]["message"].startswith("Invalid token")


def test_expired_bindings_objects_are_removed_from_the_runtime(server: RunningServer) -> None:
    """The sweep really deletes the ServiceAccount, ClusterRole and ClusterRoleBinding of an expired one."""
    api = new_api(server, "expobjects")
    env_id = api.create_kyma(name="expobj-rt")
    api.wait_state(env_id)
    short = put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}})
    long = put_binding(api, env_id, {"parameters": {"expiration_seconds": 7200}})
    short_id, long_id = short.headers["location"], long.headers["location"]
    runtime = Runtime(long.json()["credentials"]["kubeconfig"])
    all_kinds = set(COLLECTIONS)
    assert runtime.binding_objects() == {short_id: all_kinds, long_id: all_kinds}

    server.admin("POST", "/admin/clock/advance", {"seconds": 601})
    wait_for(lambda: short_id not in runtime.binding_objects(), "the expired binding's objects are gone")
    assert runtime.binding_objects() == {long_id: all_kinds}
    # its metadata stays until DELETE, which answers 410
    assert api.request("GET", f"/environments/{env_id}/bindings/{short_id}").status_code == 200
    assert api.request("DELETE", f"/environments/{env_id}/bindings/{short_id}").status_code == 410
    runtime.close()
