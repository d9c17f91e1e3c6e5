"""Several replicas on one PostgreSQL: shared state, one winner per operation, a global binding limit.

Runs when ``KYMAPROV_TEST_POSTGRES`` names a server (``.ci/run`` starts one and sets it).
"""

from __future__ import annotations

import base64
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.conftest import Api, RunningServer, free_port, requires_postgres
from tests.provisioning.test_bindings_api import kubectl

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
