"""All runtime state is in the database: a new process on the same data dir serves the same clusters."""

from __future__ import annotations

from pathlib import Path

from tests.kubeapi.conftest import Kube, Kubectl, KubeServer, binding_token


def test_clusters_survive_a_restart(tmp_path: Path) -> None:
    first = KubeServer(tmp_path / "data")
    try:
        access = first.runtimes.create_cluster("durable-1", "durable")
        admin = Kube(access)
        admin.create(
            "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "kept"}, "data": {"a": "b"}}
        )
        token = binding_token(admin)
        admin.close()
    finally:
        first.stop()

    second = KubeServer(tmp_path / "data")
    try:
        again = second.runtimes.create_cluster("durable-1", "durable")
        assert (again.ca_data, again.token) == (access.ca_data, access.token)
        kept = Kube(again).get("/api/v1/namespaces/default/configmaps/kept")
        assert kept.status_code == 200 and kept.json()["data"] == {"a": "b"}
        kubectl = Kubectl(tmp_path, again, token=token)
        result = kubectl("get", "configmaps")
        assert result.returncode == 0, result.stderr
        assert "kept" in result.stdout
    finally:
        second.stop()
