"""Several replicas on one PostgreSQL: shared state, one winner per operation, a global binding limit.

Runs when ``KYMAPROV_TEST_POSTGRES`` names a server (``.ci/run`` starts one and sets it).
"""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.conftest import Api, RunningServer, free_port, requires_postgres
from tests.provisioning.test_bindings_api import kubectl
from tests.uaa.test_verified_tokens import get, known_token

pytestmark = requires_postgres


def replicas(
    tmp_path: Path, database: str, provisioning_seconds: float
) -> tuple[RunningServer, RunningServer]:
    key = base64.b64encode(os.urandom(32)).decode()
    port_a = free_port()
    shared = {"KYMAPROV_SECRET_KEY": key, "KYMAPROV_PUBLIC_URL": f"http://127.0.0.1:{port_a}"}
    a = RunningServer(tmp_path / "a", port_a, free_port(), provisioning_seconds, database, extra_env=shared)
    b = RunningServer(
        tmp_path / "b", free_port(), free_port(), provisioning_seconds, database, extra_env=shared
    )
    a.start()
    b.start()
    b.data_dir.joinpath("local-login.json").write_text(a.data_dir.joinpath("local-login.json").read_text())
    return a, b


def test_two_replicas_share_state_and_the_binding_limit(tmp_path: Path, postgres_database: str) -> None:
    a, b = replicas(tmp_path, postgres_database, provisioning_seconds=0.5)
    try:
        token = a.token_for(a.cis_credentials())
        api_a, api_b = Api(a, token), Api(b, token)  # a token from one replica works on the other
        env_id = api_a.create_kyma(name="pg-rt")
        env = api_b.wait_state(env_id)
        assert env["state"] == "OK"

        def put(i: int) -> httpx.Response:
            target = a if i % 2 else b
            return httpx.put(
                f"{target.url}/provisioning/v1/environments/{env_id}/bindings",
                json={"parameters": {"expiration_seconds": 600}},
                headers={"authorization": f"Bearer {token}"},
                timeout=60,
            )

        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(put, range(20)))
        assert sorted(r.status_code for r in responses) == [202] * 10 + [400] * 10, [
            r.text for r in responses
        ]
        kubeconfig = next(r for r in responses if r.status_code == 202).json()["credentials"]["kubeconfig"]
        assert kubectl(kubeconfig, tmp_path, "get", "pods").returncode == 0
        # the operation ran once: one provisioning job, completed
        assert len(api_b.request("GET", f"/environments/{env_id}/bindings").json()["bindings"]) == 10
    finally:
        a.stop()
        b.stop()


def test_a_crashed_replicas_operation_is_finished_by_another(tmp_path: Path, postgres_database: str) -> None:
    a, b = replicas(tmp_path, postgres_database, provisioning_seconds=2)
    try:
        token = a.token_for(a.cis_credentials())
        env_id = Api(a, token).create_kyma(name="pg-crash")
        assert a.stop(signal.SIGKILL) == -signal.SIGKILL
        env = Api(b, token).wait_state(env_id, timeout=60)
        assert env["stateMessage"] == "Environment instance created."
    finally:
        b.stop()


def race(n: int, send: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Send n requests at once (released together by a barrier) and return their responses."""
    barrier = threading.Barrier(n)

    def one(i: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return send(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_one_kyma_environment_per_subaccount_holds_under_concurrent_creates(
    tmp_path: Path, postgres_database: str
) -> None:
    a, b = replicas(tmp_path, postgres_database, provisioning_seconds=0.5)
    try:
        token = a.token_for(a.cis_credentials())

        def create(i: int) -> httpx.Response:
            return httpx.post(
                f"{(a, b)[i % 2].url}/provisioning/v1/environments",
                json={"environmentType": "kyma", "parameters": {"name": f"rt-{i}", "region": "eu-central-1"},
                      "planName": "aws", "serviceName": "kymaruntime", "user": "u@example.com"},
                headers={"authorization": f"Bearer {token}"},
                timeout=60,
            )  # fmt: skip

        responses = race(12, create)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [202] + [400] * 11, [r.text for r in responses]
        assert all(r.json()["error"]["code"] == 41005 for r in responses if r.status_code == 400)
        listed = Api(b, token).request("GET", "/environments").json()["environmentInstances"]
        assert len(listed) == 1
    finally:
        a.stop()
        b.stop()


def test_unique_names_under_concurrent_creates_answer_as_a_plain_duplicate_never_500(
    tmp_path: Path, postgres_database: str
) -> None:
    srv = RunningServer(tmp_path / "data", free_port(), free_port(), 0.5, postgres_database).start()
    try:
        sub = srv.login["subaccount"]
        headers = {"authorization": f"Bearer {srv.platform_token()}"}
        base = f"{srv.url}/cis/v1/subaccounts/{sub}"

        def instance(_: int) -> httpx.Response:
            body = {"name": "raced", "offering_name": "cis", "plan_name": "local",
                    "parameters": {"grantType": "clientCredentials"}}  # fmt: skip
            return httpx.post(f"{base}/service_instances", json=body, headers=headers, timeout=60)

        def binding(_: int) -> httpx.Response:
            body = {"name": "raced-binding", "service_instance_name": "raced"}
            return httpx.post(f"{base}/service_bindings", json=body, headers=headers, timeout=60)

        def subaccount(i: int) -> httpx.Response:
            body = {"displayName": f"raced-{i}", "subdomain": "raced-subdomain"}
            return httpx.post(
                f"{srv.url}/admin/subaccounts", json=body, headers=srv.admin_headers, timeout=60
            )

        for send, created, duplicate in ((instance, 201, 409), (binding, 201, 409), (subaccount, 201, 400)):
            responses = race(20, send)
            statuses = sorted(r.status_code for r in responses)
            assert statuses == sorted([created] + [duplicate] * 19), [r.text for r in responses]
            assert all("already" in r.json()["error"] or "taken" in r.json()["error"]
                       for r in responses if r.status_code == duplicate)  # fmt: skip
    finally:
        srv.stop()


def test_fault_rules_apply_on_every_replica_and_a_count_is_spent_across_them(
    tmp_path: Path, postgres_database: str
) -> None:
    a, b = replicas(tmp_path, postgres_database, provisioning_seconds=0.5)
    try:
        token = a.token_for(a.cis_credentials())
        api_a, api_b = Api(a, token), Api(b, token)
        assert api_b.request("GET", "/environments").status_code == 200  # b has read (no) rules
        rule = {"method": "GET", "path": "/provisioning/v1/environments*", "status": 429, "count": 2}
        assert httpx.post(f"{a.url}/admin/faults", json=rule, headers=a.admin_headers).status_code == 201
        time.sleep(0.6)  # b's cached rules are at most half a second old
        assert api_b.request("GET", "/environments").status_code == 429
        assert api_a.request("GET", "/environments").status_code == 429
        assert api_b.request("GET", "/environments").status_code == 200
        assert api_a.request("GET", "/environments").status_code == 200
    finally:
        a.stop()
        b.stop()


def test_a_deleted_cis_bindings_token_is_refused_by_another_replica_on_the_next_request(
    tmp_path: Path, postgres_database: str
) -> None:
    """Replica B knows the token (its signature checked and remembered); the binding is deleted through
    replica A; B's next answer to the token is a 401, with no wait for any cache to expire."""
    a, b = replicas(tmp_path, postgres_database, provisioning_seconds=0.5)
    try:
        token, binding_id = known_token(b)
        sub = a.login["subaccount"]
        r = httpx.delete(
            f"{a.url}/cis/v1/subaccounts/{sub}/service_bindings/{binding_id}",
            headers={"authorization": f"Bearer {a.platform_token()}"},
        )
        assert r.status_code < 300, r.text
        r = get(b, token)
        assert r.status_code == 401 and "deleted" in r.json()["error"]["message"], r.text
    finally:
        a.stop()
        b.stop()
