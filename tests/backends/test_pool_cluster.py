"""A pool member without ``kyma-system`` (a plain cluster): the claim creates it, the release deletes
it with the namespaces the environment made, and the next claim waits until its termination ended."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kymaprov.backends.base import ClusterAccess, ClusterShape
from kymaprov.backends.kubeclient import KubeClient
from kymaprov.backends.pool import PoolMember, PoolRuntimes
from tests.kubeapi.conftest import KubeServer

NAMESPACES = "/api/v1/namespaces"


def namespaces(access: ClusterAccess) -> dict[str, bool]:
    """Name -> terminating."""
    with KubeClient(access) as kube:
        return {
            n["metadata"]["name"]: bool(n["metadata"].get("deletionTimestamp")) for n in kube.list(NAMESPACES)
        }


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


def test_a_plain_cluster_gets_kyma_system_and_is_given_back_without_it(tmp_path: Path) -> None:
    kube = KubeServer(tmp_path / "data")
    try:
        access = kube.cluster()
        with KubeClient(access) as client:
            client.delete(f"{NAMESPACES}/kyma-system")
        wait_until(lambda: "kyma-system" not in namespaces(access), "kyma-system is gone")
        pool = PoolRuntimes(kube.ctx, "lab", [PoolMember("plain", access)], clean_namespaces=True)

        assert pool.create("env-1", "one", ClusterShape()).done
        assert namespaces(access).get("kyma-system") is False
        assert pool.access("env-1") == access
        held = f"{NAMESPACES}/kyma-system/configmaps/held"
        with KubeClient(access) as client:
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "user-app"}}
            client.create(NAMESPACES, namespace)
            # something of the environment's in kyma-system whose finalizer keeps the namespace terminating
            configmap = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "held", "finalizers": ["t/h"]},
            }
            client.create(f"{NAMESPACES}/kyma-system/configmaps", configmap)

        assert pool.delete("env-1").done
        assert pool.access("env-1") is None
        assert namespaces(access)["kyma-system"] is True

        waiting = pool.create("env-2", "two", ClusterShape())
        assert not waiting.done and waiting.failed is None
        assert waiting.message == "Cluster plain is still removing kyma-system of its previous environment"
        with KubeClient(access) as client:
            client.merge_patch(held, {"metadata": {"finalizers": None}})
        wait_until(lambda: "kyma-system" not in namespaces(access), "kyma-system is gone")
        assert pool.create("env-2", "two", ClusterShape()).done
        assert namespaces(access).get("kyma-system") is False  # made again for the new environment
        wait_until(lambda: "user-app" not in namespaces(access), "the environment's namespace is gone")
    finally:
        kube.stop()
