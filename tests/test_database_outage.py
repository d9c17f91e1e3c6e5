"""A database that cannot answer is the server's trouble, not the caller's: each API says so in its own
format with ``Retry-After``, writes nothing, and serves again once the database is back."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from tests.conftest import POSTGRES_URL, Api, RunningServer, free_port
from tests.provisioning.test_bindings_api import kubectl, put_binding

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="set KYMAPROV_TEST_POSTGRES to run against PostgreSQL"
)


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    assert POSTGRES_URL
    return psycopg.connect(
        POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://") + "/postgres", autocommit=True
    )


def _shut(database: str) -> None:
    """No new connection to ``database``, and its open ones ended: the server restarting, as seen by kymaprov."""
    with _admin() as conn:
        conn.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT 0')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )


def _open(database: str) -> None:
    with _admin() as conn:
        conn.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT -1')


def test_a_database_outage_answers_retry_later_in_each_apis_format(
    tmp_path: Path, postgres_database: str
) -> None:
    database = postgres_database.rsplit("/", 1)[1]
    srv = RunningServer(
        tmp_path / "data", free_port(), free_port(), provisioning_seconds=0, database_url=postgres_database
    ).start()
    try:
        api = Api(srv, srv.token_for(srv.cis_credentials()))
        env_id = api.create_kyma(name="outage")
        api.wait_state(env_id)
        binding = put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}})
        assert binding.status_code == 202, binding.text
        kubeconfig = yaml.safe_load(binding.json()["credentials"]["kubeconfig"])
        kube = httpx.Client(
            base_url=kubeconfig["clusters"][0]["cluster"]["server"],
            headers={"authorization": f"Bearer {kubeconfig['users'][0]['user']['token']}"},
            verify=False,
        )
        pods = "/api/v1/namespaces/default/pods"
        assert kube.get(pods).status_code == 200
        # the cluster's serving certificate is loaded (once, then kept) by a first handshake
        assert kubectl(binding.json()["credentials"]["kubeconfig"], tmp_path, "get", "pods").returncode == 0

        _shut(database)
        try:
            r = api.request("GET", f"/environments/{env_id}")
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "1"
            error = r.json()["error"]
            assert (error["code"], error["message"]) == (10000, "Service temporarily unavailable")
            assert error["target"] == f"/provisioning/v1/environments/{env_id}"
            r = api.request("POST", "/environments", json={"environmentType": "kyma"})  # nothing is written
            assert r.status_code == 503, r.text

            r = kube.get(pods)
            assert r.status_code == 500, r.text
            assert r.headers["retry-after"] == "2"
            status = r.json()
            assert status["reason"] == "ServerTimeout"
            assert status["details"] == {"kind": "pods", "name": "list", "retryAfterSeconds": 2}
            assert status["message"] == (
                "The list operation against pods could not be completed at this time, please try again."
            )
            r = kube.patch(f"{pods}/x", json={}, headers={"content-type": "application/merge-patch+json"})
            assert (r.status_code, r.json()["details"]["name"]) == (500, "update")

            # kubectl waits out the Retry-After and asks again: it outlasts a short outage
            with ThreadPoolExecutor(1) as pool:
                running = pool.submit(
                    kubectl, binding.json()["credentials"]["kubeconfig"], tmp_path, "get", "pods"
                )
                time.sleep(3)
                assert not running.done(), running.result().stderr
                _open(database)
                done = running.result(timeout=60)
            assert done.returncode == 0, done.stderr
        finally:
            _open(database)

        deadline = time.monotonic() + 20  # as a client told to retry does
        while (r := api.request("GET", f"/environments/{env_id}")).status_code == 503:
            assert time.monotonic() < deadline, "the service did not come back with its database"
            time.sleep(1)
        assert r.status_code == 200 and r.json()["state"] == "OK", r.text
        while (r := kube.get(pods)).status_code == 500:
            assert time.monotonic() < deadline, "the runtime's API did not come back with its database"
            time.sleep(1)
        assert r.status_code == 200, r.text
        names = [e["name"] for e in api.request("GET", "/environments").json()["environmentInstances"]]
        assert names == ["outage"]
        kube.close()
    finally:
        srv.stop()
        _open(database)
