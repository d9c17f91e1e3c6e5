"""Two replicas on one PostgreSQL: any replica serves any runtime's bindings, even once the
replica that provisioned it is gone; ``--kube-public-url`` is the address kubeconfigs name.
"""

from __future__ import annotations

import base64
import json
import os
import signal
from pathlib import Path

from tests.conftest import Api, RunningServer, free_port, kubeconfig_server, requires_postgres
from tests.provisioning.test_bindings_api import kubectl, put_binding

pytestmark = requires_postgres


def replicas(
    tmp_path: Path, database: str, kube_public_url: str | None = None
) -> tuple[RunningServer, RunningServer]:
    key = base64.b64encode(os.urandom(32)).decode()
    port_a = free_port()  # tokens are got from a before it is killed
    shared = {"KYMAPROV_SECRET_KEY": key, "KYMAPROV_PUBLIC_URL": f"http://127.0.0.1:{port_a}"}
    if kube_public_url:
        shared["KYMAPROV_KUBE_PUBLIC_URL"] = kube_public_url
    a = RunningServer(tmp_path / "a", port_a, free_port(), 0.3, database, extra_env=shared)
    b = RunningServer(tmp_path / "b", free_port(), free_port(), 0.3, database, extra_env=shared)
    a.start()
    b.start()
    b.data_dir.joinpath("local-login.json").write_text(a.data_dir.joinpath("local-login.json").read_text())
    return a, b


def test_bindings_outlive_the_replica_that_provisioned_the_runtime(
    tmp_path: Path, postgres_database: str
) -> None:
    a, b = replicas(tmp_path, postgres_database)
    try:
        token = a.token_for(a.cis_credentials())
        env_id = Api(a, token).create_kyma(name="outlive-rt")
        env = Api(a, token).wait_state(env_id)
        # whichever replica's worker provisioned it (its label names that replica) is killed
        if json.loads(env["labels"])["APIServerURL"].startswith(f"https://127.0.0.1:{b.kube_port}/"):
            a, b = b, a
        api_a, api_b = Api(a, token), Api(b, token)
        before = put_binding(api_a, env_id, {"parameters": {"expiration_seconds": 900}})
        assert before.status_code == 202, before.text
        assert a.stop(signal.SIGKILL) == -signal.SIGKILL

        made = put_binding(api_b, env_id, {"parameters": {"expiration_seconds": 900}})
        assert made.status_code == 202, made.text
        kubeconfig = made.json()["credentials"]["kubeconfig"]
        assert kubeconfig_server(kubeconfig) == f"https://127.0.0.1:{b.kube_port}/clusters/{env_id.lower()}"
        assert kubectl(kubeconfig, tmp_path, "get", "pods", "-A").returncode == 0
        for binding in (made, before):  # also the one whose kubeconfig names the dead replica
            r = api_b.request("DELETE", f"/environments/{env_id}/bindings/{binding.headers['location']}")
            assert r.status_code == 200, r.text
        refused = kubectl(kubeconfig, tmp_path, "get", "pods")
        assert refused.returncode != 0 and "You must be logged in to the server" in refused.stderr
        assert api_b.request("GET", f"/environments/{env_id}/bindings").json() == {"bindings": []}
    finally:
        a.stop()
        b.stop()


def test_kubeconfigs_and_labels_name_the_kube_public_url(tmp_path: Path, postgres_database: str) -> None:
    # stand-in for a TLS pass-through load balancer: the public address is replica b's listener
    b_kube_port = free_port()
    public = f"https://127.0.0.1:{b_kube_port}"
    a, b = replicas(tmp_path, postgres_database, kube_public_url=public)
    b.stop()
    b.kube_port = b_kube_port
    b.start()
    try:
        token = a.token_for(a.cis_credentials())
        api_a = Api(a, token)
        env_id = api_a.create_kyma(name="public-rt")
        env = api_a.wait_state(env_id)
        server = f"{public}/clusters/{env_id.lower()}"
        assert json.loads(env["labels"])["APIServerURL"] == server

        made = put_binding(api_a, env_id, {"parameters": {"expiration_seconds": 900}})
        assert made.status_code == 202, made.text
        kubeconfig = made.json()["credentials"]["kubeconfig"]
        assert kubeconfig_server(kubeconfig) == server
        assert a.stop(signal.SIGKILL) == -signal.SIGKILL  # the replica that made it is gone
        assert kubectl(kubeconfig, tmp_path, "get", "pods", "-A").returncode == 0
        r = Api(b, token).request("DELETE", f"/environments/{env_id}/bindings/{made.headers['location']}")
        assert r.status_code == 200, r.text
    finally:
        a.stop()
        b.stop()
