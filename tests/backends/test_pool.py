"""The ``pool`` backend over real clusters: kymaprov A's runtimes are kymaprov B's embedded runtime,
which A reaches only through the kubeconfig of one of B's (long-lived) Kyma bindings.

What A does in the cluster is read back through the same kubeconfig: the binding's ServiceAccount,
ClusterRole and ClusterRoleBinding appear and disappear, and deprovisioning leaves the cluster as A
found it. A second environment while the only cluster is taken fails ``CREATION_FAILED``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kymaprov.backends.kubeclient import KubeClient
from kymaprov.backends.kubeconfig import load_access
from tests.conftest import KUBECTL_DIR, Api, RunningServer, free_port, new_api
from tests.e2e.test_seed_procedure import build_script, sections
from tests.provisioning.test_bindings_api import put_binding

RBAC = "/apis/rbac.authorization.k8s.io/v1"
PATHS = {
    "ServiceAccount": "/api/v1/namespaces/kyma-system/serviceaccounts",
    "ClusterRole": f"{RBAC}/clusterroles",
    "ClusterRoleBinding": f"{RBAC}/clusterrolebindings",
}


class Cluster:
    """B's runtime as A's pool sees it: through the kubeconfig file, nothing else."""

    def __init__(self, kubeconfig: Path) -> None:
        self.access = load_access(kubeconfig)

    def names(self, kind: str) -> set[str]:
        with KubeClient(self.access) as kube:
            return {str(i["metadata"]["name"]) for i in kube.list(PATHS[kind])}

    def snapshot(self) -> dict[str, Any]:
        """What deprovisioning must give back unchanged."""
        with KubeClient(self.access) as kube:
            secret = kube.get("/api/v1/namespaces/kyma-system/secrets/sap-btp-manager")
            admins = kube.list(f"{RBAC}/clusterrolebindings", "reconciler.kyma-project.io/managed-by")
            namespaces = {str(i["metadata"]["name"]) for i in kube.list("/api/v1/namespaces")}
        return {
            **{kind: self.names(kind) for kind in PATHS},
            "namespaces": namespaces,
            "admins": sorted((a["metadata"]["name"], str(a["subjects"])) for a in admins),
            "btpSecret": secret["data"],
        }


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Cluster]]:
    """B with one environment and a 7200 s binding; A whose ``aws`` plan uses that runtime as its pool."""
    base = tmp_path_factory.mktemp("pool")
    (base / "a").mkdir()
    (base / "b").mkdir()
    b = RunningServer(base / "b" / "data", free_port(), free_port(), provisioning_seconds=0).start()
    a: RunningServer | None = None
    try:
        b_api = new_api(b)
        env_id = b_api.create_kyma(name="pool-member")
        b_api.wait_state(env_id)
        r = put_binding(b_api, env_id, {"parameters": {"expiration_seconds": 7200}})
        assert r.status_code == 202, r.text
        kubeconfig = base / "member-1.yaml"
        kubeconfig.write_text(r.json()["credentials"]["kubeconfig"])
        config = base / "runtimes.yaml"
        config.write_text(
            "plans:\n  aws: lab\n"
            "backends:\n  lab:\n    type: pool\n    cleanNamespaces: true\n"
            "    clusters:\n      - name: member-1\n        kubeconfig: member-1.yaml\n"
        )
        a = RunningServer(
            base / "a" / "data",
            free_port(),
            free_port(),
            provisioning_seconds=0,
            extra_env={"KYMAPROV_RUNTIMES_CONFIG": str(config)},
        ).start()
        yield a, Cluster(kubeconfig)
    finally:
        if a is not None:
            a.stop()
        b.stop()


def test_an_environment_takes_the_cluster_binds_in_it_and_gives_it_back_clean(
    pool: tuple[RunningServer, Cluster], tmp_path: Path
) -> None:
    a, cluster = pool
    before = cluster.snapshot()
    api = new_api(a, "pool-first")
    env_id = api.create_kyma(name="on-a-pool")
    env = api.wait_state(env_id, timeout=60)
    assert env["stateMessage"] == "Environment instance created."
    assert '"APIServerURL":"' + cluster.access.server + '"' in env["labels"]

    r = put_binding(api, env_id, {"parameters": {"expiration_seconds": 600}})
    assert r.status_code == 202, r.text
    name = f"kyma-binding-{r.headers['location']}"
    for kind in PATHS:  # the binding's three objects, in B's runtime
        assert name in cluster.names(kind), kind
    kubeconfig = tmp_path / "a-binding.yaml"
    kubeconfig.write_text(r.json()["credentials"]["kubeconfig"])
    with KubeClient(load_access(kubeconfig)) as kube:  # A's binding works against B's runtime
        assert kube.get("/api/v1/namespaces/default")["metadata"]["name"] == "default"
        kube.create(
            "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}
        )

    other = new_api(a, "pool-second")  # the only cluster is taken
    failed = api_wait(other, other.create_kyma(name="no-cluster"), ("CREATION_FAILED",))
    assert failed["stateMessage"] == (
        "No free cluster in the pool 'lab': all 1 clusters are in use by other environments"
    )

    assert (
        api.request("DELETE", f"/environments/{env_id}/bindings/{r.headers['location']}").status_code == 200
    )
    for kind in PATHS:
        assert name not in cluster.names(kind), kind

    assert api.request("DELETE", f"/environments/{env_id}").status_code == 202
    api.wait_gone(env_id, timeout=60)
    assert cluster.snapshot() == before  # the user namespace is gone, the admins and Secret restored


def api_wait(api: Api, env_id: str, states: tuple[str, ...]) -> dict[str, Any]:
    return api.wait_state(env_id, states, timeout=60)


@pytest.mark.skipif(not shutil.which("jq") or not shutil.which("curl"), reason="needs curl and jq")
def test_the_seed_procedure_runs_against_a_pool_runtime(
    pool: tuple[RunningServer, Cluster], tmp_path: Path
) -> None:
    a, cluster = pool
    before = cluster.snapshot()
    script = tmp_path / "procedure.sh"
    script.write_text(build_script())
    env = a.env
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), str(KUBECTL_DIR), env.get("PATH", "")])
    env["KUBECACHEDIR"] = str(tmp_path / "kube-cache")
    env["HOME"] = str(tmp_path)
    result = subprocess.run(
        ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    steps = sections(result.stdout)
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\nA's log:\n{a.log()}"
    assert len(steps) == 17, report
    kubeconfig = (tmp_path / "kubeconfig.yaml").read_text()
    assert f"server: {cluster.access.server}" in kubeconfig, report  # the binding points at B's runtime
    assert steps[12][1] == 0 and "No resources found in default namespace." in result.stderr, report
    assert steps[15][1] != 0 and "You must be logged in to the server" in result.stderr, report
    assert re.search(r"HTTP 404", result.stdout) and "Environment instance not found" in result.stdout, report
    assert cluster.snapshot() == before
